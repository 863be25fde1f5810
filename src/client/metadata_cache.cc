#include "client/metadata_cache.h"

#include <cstring>

#include "base/assert.h"

namespace tessera::client {

MetadataCache::MetadataCache(MetadataCacheOptions options) : options_(std::move(options)) {
  TESS_ASSERT(options_.clock != nullptr && options_.max_items > 0,
              "a metadata cache needs a clock "
              "and room");
}

MetadataCache::EntryKey MetadataCache::entry_key(InodeId parent, std::string_view name) {
  EntryKey key(sizeof(uint64_t), '\0');
  uint64_t id = parent.value();
  std::memcpy(key.data(), &id, sizeof(id));
  key.append(name);
  return key;
}

template <typename Key, typename Value>
void MetadataCache::put(Table<Key, Value>& table, const Key& key, Value value,
                        Clock::TimePoint valid_until) {
  if (valid_until <= options_.clock->now()) return;  // Already too old to use.
  erase(table, key);
  if (table.size() >= options_.max_items) {
    // Expired items first, then the oldest stored.
    Clock::TimePoint now = options_.clock->now();
    for (auto it = table.order.begin();
         it != table.order.end() && table.size() >= options_.max_items;) {
      auto next = std::next(it);
      if (table.items.at(*it).cached.valid_until <= now) erase(table, Key(*it));
      it = next;
    }
    while (table.size() >= options_.max_items) erase(table, Key(table.order.front()));
  }
  table.order.push_back(key);
  table.items.emplace(key,
                      typename Table<Key, Value>::Slot{Cached<Value>{std::move(value), valid_until},
                                                       std::prev(table.order.end())});
}

template <typename Key, typename Value>
void MetadataCache::erase(Table<Key, Value>& table, const Key& key) {
  auto found = table.items.find(key);
  if (found == table.items.end()) return;
  table.order.erase(found->second.position);
  table.items.erase(found);
}

template <typename Key, typename Value>
std::optional<MetadataCache::Cached<Value>> MetadataCache::find(const Table<Key, Value>& table,
                                                                const Key& key) const {
  auto found = table.items.find(key);
  if (found == table.items.end() || found->second.cached.valid_until <= options_.clock->now()) {
    return std::nullopt;
  }
  return found->second.cached;
}

std::optional<MetadataCache::Cached<proto::Inode>> MetadataCache::attr(InodeId inode) const {
  return find(attrs_, inode.value());
}

std::optional<MetadataCache::Cached<InodeId>> MetadataCache::entry(InodeId parent,
                                                                   std::string_view name) const {
  return find(entries_, entry_key(parent, name));
}

void MetadataCache::put_attr(const proto::Inode& inode, Clock::TimePoint asked) {
  put(attrs_, inode.id(), inode, asked + options_.attr_ttl);
}

void MetadataCache::put_entry(InodeId parent, std::string_view name, InodeId child,
                              Clock::TimePoint asked) {
  TESS_ASSERT(child.value() != 0, "an entry naming inode 0");
  put(entries_, entry_key(parent, name), child, asked + options_.entry_ttl);
}

void MetadataCache::put_absent(InodeId parent, std::string_view name, Clock::TimePoint asked) {
  if (options_.negative_ttl <= Clock::Duration::zero()) {
    forget_entry(parent, name);
    return;
  }
  put(entries_, entry_key(parent, name), InodeId(), asked + options_.negative_ttl);
}

void MetadataCache::forget_attr(InodeId inode) { erase(attrs_, inode.value()); }

void MetadataCache::forget_entry(InodeId parent, std::string_view name) {
  erase(entries_, entry_key(parent, name));
}

void MetadataCache::forget_entry_and_child(InodeId parent, const std::string& name) {
  EntryKey key = entry_key(parent, name);
  auto found = entries_.items.find(key);
  // Even an expired entry names the child whose link count the command changes.
  if (found != entries_.items.end() && found->second.cached.value.value() != 0) {
    forget_attr(found->second.cached.value);
  }
  erase(entries_, key);
}

void MetadataCache::observe(const proto::MetaCommand& command, const proto::MetaResult& answer,
                            Clock::TimePoint asked) {
  switch (command.op_case()) {
    case proto::MetaCommand::kCreate:
      forget_attr(InodeId(command.create().parent()));
      forget_entry_and_child(InodeId(command.create().parent()), command.create().name());
      if (answer.errno_value() == 0 && answer.inode().id() != 0) {
        put_entry(InodeId(command.create().parent()), command.create().name(),
                  InodeId(answer.inode().id()), asked);
      }
      break;
    case proto::MetaCommand::kUnlink:
      forget_attr(InodeId(command.unlink().parent()));
      forget_entry_and_child(InodeId(command.unlink().parent()), command.unlink().name());
      break;
    case proto::MetaCommand::kLink:
      forget_attr(InodeId(command.link().inode()));
      forget_attr(InodeId(command.link().new_parent()));
      forget_entry_and_child(InodeId(command.link().new_parent()), command.link().new_name());
      break;
    case proto::MetaCommand::kRename:
      forget_attr(InodeId(command.rename().parent()));
      forget_attr(InodeId(command.rename().new_parent()));
      forget_entry_and_child(InodeId(command.rename().parent()), command.rename().name());
      forget_entry_and_child(InodeId(command.rename().new_parent()), command.rename().new_name());
      break;
    case proto::MetaCommand::kSetattr:
      forget_attr(InodeId(command.setattr().inode()));
      break;
    case proto::MetaCommand::kSetxattr:
      forget_attr(InodeId(command.setxattr().inode()));
      break;
    case proto::MetaCommand::kRemovexattr:
      forget_attr(InodeId(command.removexattr().inode()));
      break;
    case proto::MetaCommand::kMakeRoot:
    case proto::MetaCommand::OP_NOT_SET:
      break;
  }
  if (answer.released().id() != 0) forget_attr(InodeId(answer.released().id()));
  // The inode the answer carries, as the mutation left it (after `asked`): for a create (the new
  // inode) and a setattr (the changed one). Others are not stored: a cross-bucket operation's
  // answer is planned before it runs, so its inode may show what the operation changed.
  bool stores = command.has_create() || command.has_setattr();
  if (stores && answer.errno_value() == 0 && answer.inode().id() != 0) {
    put_attr(answer.inode(), asked);
  }
}

}  // namespace tessera::client
