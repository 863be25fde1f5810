#include "sim/namespace_model.h"

#include <fmt/format.h>

#include <cerrno>
#include <utility>

#include "base/assert.h"

namespace tessera::sim {
namespace {

constexpr uint32_t kNoReplace = 1;
constexpr uint32_t kExchange = 2;

bool is_directory(const NamespaceModel::Node& node) {
  return node.type == proto::FILE_TYPE_DIRECTORY;
}

}  // namespace

const NamespaceModel::Node* NamespaceModel::find(InodeId id) const {
  auto found = nodes_.find(id);
  return found == nodes_.end() ? nullptr : &found->second;
}

std::optional<InodeId> NamespaceModel::entry(InodeId dir, const std::string& name) const {
  const Node* node = find(dir);
  if (node == nullptr) return std::nullopt;
  auto found = node->entries.find(name);
  if (found == node->entries.end()) return std::nullopt;
  return found->second;
}

std::vector<InodeId> NamespaceModel::of_type(bool directories) const {
  std::vector<InodeId> out;
  for (const auto& [id, node] : nodes_) {
    if (is_directory(node) == directories) out.push_back(id);
  }
  return out;
}

bool NamespaceModel::is_ancestor(InodeId ancestor, InodeId dir) const {
  // The tree is acyclic in the model (apply refuses nothing, but expect() refuses every move that
  // would close a cycle), so the walk ends at the root, whose parent is itself or unknown.
  for (size_t depth = 0; depth <= nodes_.size(); ++depth) {
    if (dir == ancestor) return true;
    const Node* node = find(dir);
    if (node == nullptr || !root_ || dir == *root_) return false;
    dir = node->parent;
  }
  TESS_ASSERT(false, "the model's tree has a cycle");
  return false;
}

int NamespaceModel::directory_errno(InodeId dir) const {
  const Node* node = find(dir);
  if (node == nullptr) return ENOENT;
  return is_directory(*node) ? 0 : ENOTDIR;
}

int NamespaceModel::expect(const proto::MetaCommand& command) const {
  switch (command.op_case()) {
    case proto::MetaCommand::kMakeRoot:
      return 0;
    case proto::MetaCommand::kCreate:
      return expect_create(command.create());
    case proto::MetaCommand::kUnlink:
      return expect_unlink(command.unlink());
    case proto::MetaCommand::kLink:
      return expect_link(command.link());
    case proto::MetaCommand::kRename:
      return expect_rename(command.rename());
    case proto::MetaCommand::kSetattr:
      return find(InodeId(command.setattr().inode())) == nullptr ? ENOENT : 0;
    default:
      TESS_ASSERT(false, "the namespace model has no rule for this command");
      return EINVAL;
  }
}

int NamespaceModel::expect_create(const proto::MetaCreate& op) const {
  InodeId parent(op.parent());
  if (int bad = directory_errno(parent); bad != 0) return bad;
  auto existing = entry(parent, op.name());
  if (!existing) return 0;
  if (op.type() != proto::FILE_TYPE_REGULAR || op.exclusive()) return EEXIST;
  return is_directory(*find(*existing)) ? EISDIR : 0;
}

int NamespaceModel::expect_unlink(const proto::MetaUnlink& op) const {
  InodeId parent(op.parent());
  if (int bad = directory_errno(parent); bad != 0) return bad;
  auto child = entry(parent, op.name());
  if (!child) return ENOENT;
  const Node& node = *find(*child);
  if (op.directory() && !is_directory(node)) return ENOTDIR;
  if (!op.directory() && is_directory(node)) return EISDIR;
  if (op.directory() && !node.entries.empty()) return ENOTEMPTY;
  return 0;
}

int NamespaceModel::expect_link(const proto::MetaLink& op) const {
  if (int bad = directory_errno(InodeId(op.new_parent())); bad != 0) return bad;
  const Node* inode = find(InodeId(op.inode()));
  if (inode == nullptr) return ENOENT;
  if (is_directory(*inode)) return EPERM;
  if (entry(InodeId(op.new_parent()), op.new_name())) return EEXIST;
  return 0;
}

int NamespaceModel::expect_rename(const proto::MetaRename& op) const {
  InodeId from(op.parent());
  InodeId to(op.new_parent());
  if (int bad = directory_errno(from); bad != 0) return bad;
  if (int bad = directory_errno(to); bad != 0) return bad;
  auto source = entry(from, op.name());
  if (!source) return ENOENT;
  auto target = entry(to, op.new_name());
  bool exchange = (op.flags() & kExchange) != 0;
  if (target && (op.flags() & kNoReplace) != 0) return EEXIST;
  if (!target && exchange) return ENOENT;
  const Node& moved = *find(*source);
  if (is_directory(moved) && is_ancestor(*source, to)) return EINVAL;
  if (exchange && is_directory(*find(*target)) && is_ancestor(*target, from)) return EINVAL;
  if (target && *target == *source) return 0;
  if (!target || exchange) return 0;
  const Node& replaced = *find(*target);
  if (is_directory(moved) && !is_directory(replaced)) return ENOTDIR;
  if (!is_directory(moved) && is_directory(replaced)) return EISDIR;
  if (is_directory(replaced) && !replaced.entries.empty()) return ENOTEMPTY;
  return 0;
}

std::string NamespaceModel::apply(const proto::MetaCommand& command,
                                  const proto::MetaResult& answer) {
  if (int expected = expect(command); expected != 0) {
    return fmt::format("the model expected errno {} for a command that succeeded", expected);
  }
  switch (command.op_case()) {
    case proto::MetaCommand::kMakeRoot: {
      InodeId id(answer.inode().id());
      if (root_ && *root_ != id) return fmt::format("a second root {:x}", id.value());
      if (!root_) {
        root_ = id;
        nodes_[id] = Node{proto::FILE_TYPE_DIRECTORY, 2, id, {}};
      }
      return {};
    }
    case proto::MetaCommand::kCreate:
      return apply_create(command.create(), answer);
    case proto::MetaCommand::kUnlink:
      apply_unlink(InodeId(command.unlink().parent()), command.unlink().name());
      return {};
    case proto::MetaCommand::kLink: {
      const proto::MetaLink& op = command.link();
      nodes_[InodeId(op.inode())].nlink++;
      nodes_[InodeId(op.new_parent())].entries[op.new_name()] = InodeId(op.inode());
      return {};
    }
    case proto::MetaCommand::kRename:
      apply_rename(command.rename());
      return {};
    default:
      return {};
  }
}

std::string NamespaceModel::apply_create(const proto::MetaCreate& op,
                                         const proto::MetaResult& answer) {
  InodeId parent(op.parent());
  InodeId id(answer.inode().id());
  if (auto existing = entry(parent, op.name())) {
    // open(O_CREAT) of an existing file: nothing changes.
    if (*existing != id) {
      return fmt::format("'{}' names {:x}, the answer {:x}", op.name(), existing->value(),
                         id.value());
    }
    return {};
  }
  if (id.value() == 0 || nodes_.count(id) != 0) {
    return fmt::format("create answered inode {:x}, which is not new", id.value());
  }
  bool directory = op.type() == proto::FILE_TYPE_DIRECTORY;
  nodes_[id] = Node{op.type(), directory ? 2u : 1u, directory ? parent : InodeId(), {}};
  Node& dir = nodes_[parent];
  dir.entries[op.name()] = id;
  if (directory) dir.nlink++;
  return {};
}

void NamespaceModel::drop(InodeId parent, InodeId id) {
  Node& node = nodes_[id];
  if (is_directory(node)) {
    nodes_[parent].nlink--;
    nodes_.erase(id);
    return;
  }
  if (--node.nlink == 0) nodes_.erase(id);
}

void NamespaceModel::apply_unlink(InodeId parent, const std::string& name) {
  InodeId child = nodes_[parent].entries.at(name);
  nodes_[parent].entries.erase(name);
  drop(parent, child);
}

void NamespaceModel::apply_rename(const proto::MetaRename& op) {
  InodeId from(op.parent());
  InodeId to(op.new_parent());
  InodeId source = *entry(from, op.name());
  auto target = entry(to, op.new_name());
  if (target && *target == source) return;
  // A directory that changes parent moves its `..` link.
  auto move = [&](InodeId id, InodeId old_parent, InodeId new_parent) {
    Node& node = nodes_[id];
    if (!is_directory(node) || old_parent == new_parent) return;
    nodes_[old_parent].nlink--;
    nodes_[new_parent].nlink++;
    node.parent = new_parent;
  };
  if ((op.flags() & kExchange) != 0) {
    nodes_[from].entries[op.name()] = *target;
    nodes_[to].entries[op.new_name()] = source;
    move(source, from, to);
    move(*target, to, from);
    return;
  }
  if (target) {
    nodes_[to].entries.erase(op.new_name());
    drop(to, *target);
  }
  nodes_[from].entries.erase(op.name());
  nodes_[to].entries[op.new_name()] = source;
  move(source, from, to);
}

}  // namespace tessera::sim
