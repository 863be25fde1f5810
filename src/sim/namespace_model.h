// NamespaceModel: a reference namespace in memory for the namespace workload
// (sim/namespace_workload.h): directories, files and symlinks by inode id, with entries, link
// counts and parents, and the POSIX rules of each mutation the workload issues, in the order of
// precedence the bucket's operations use (src/meta/ops). It knows nothing of buckets, locks or
// transactions: it is what the namespace must look like to anyone.
//
// Inode ids come from the system (a create's answer names the inode it made); the model checks
// that none is reused. Single-threaded; a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/strong_id.h"
#include "proto/meta.pb.h"

namespace tessera::sim {

class NamespaceModel {
 public:
  struct Node {
    proto::FileType type = proto::FILE_TYPE_REGULAR;
    uint32_t nlink = 0;
    InodeId parent;                          // Directories.
    std::map<std::string, InodeId> entries;  // Directories.
  };

  // The errno `command` gets in the current state (0: it succeeds). make_root, create, unlink,
  // link, rename and setattr; anything else is a bug of the workload.
  int expect(const proto::MetaCommand& command) const;
  // Applies `command`, which succeeded with `answer`. Returns what disagrees (empty: nothing):
  // the model expected a refusal, or the answer names an inode the model cannot accept.
  std::string apply(const proto::MetaCommand& command, const proto::MetaResult& answer);

  std::optional<InodeId> root() const { return root_; }
  const std::map<InodeId, Node>& nodes() const { return nodes_; }
  std::vector<InodeId> of_type(bool directories) const;
  // Whether `ancestor` is `dir` or one of its ancestors.
  bool is_ancestor(InodeId ancestor, InodeId dir) const;

 private:
  int expect_create(const proto::MetaCreate& op) const;
  int expect_unlink(const proto::MetaUnlink& op) const;
  int expect_link(const proto::MetaLink& op) const;
  int expect_rename(const proto::MetaRename& op) const;
  // ENOENT / ENOTDIR for a directory operand, else 0.
  int directory_errno(InodeId dir) const;
  const Node* find(InodeId id) const;
  std::optional<InodeId> entry(InodeId dir, const std::string& name) const;

  std::string apply_create(const proto::MetaCreate& op, const proto::MetaResult& answer);
  void apply_unlink(InodeId parent, const std::string& name);
  void apply_rename(const proto::MetaRename& op);
  // Drops one link of `id` from directory `parent` (its entry is already gone).
  void drop(InodeId parent, InodeId id);

  std::optional<InodeId> root_;
  std::map<InodeId, Node> nodes_;
};

}  // namespace tessera::sim
