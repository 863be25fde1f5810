// MetadataCache: the attributes and directory entries a client has read, each with the moment
// until which it may be used without asking the buckets again (its validity), for the FUSE
// layer's entry and attribute timeouts and for callers that accept that bound on staleness.
//
// What it promises: an answer read at time t is used until t + ttl at most (t: when the read was
// sent, so the answer is never older than its validity says). The client's own mutations through
// NamespaceClient update it at once: everything a command names (its inodes, its entries, the
// children those entries pointed to) is forgotten, and a create's or setattr's inode is stored. A
// change made by another client is seen once the validity ends: the same bound the kernel's own
// caches give with entry and attribute timeouts. The buckets do not recall cached metadata yet
// (the data path's leases will), so the default validity is short (1 s).
//
// Bounded: at most max_items attributes and as many entries; when full, expired items go first,
// then the items stored longest ago. A negative entry (the name does not exist) is kept only when
// negative_ttl is above zero.
//
// Executor: lives on one executor, that of the NamespaceClient that uses it; not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/strong_id.h"
#include "proto/meta.pb.h"
#include "runtime/clock.h"

namespace tessera::client {

struct MetadataCacheOptions {
  const Clock* clock = &RealClock::instance();
  Clock::Duration attr_ttl = std::chrono::seconds(1);
  Clock::Duration entry_ttl = std::chrono::seconds(1);
  Clock::Duration negative_ttl = Clock::Duration::zero();  // Zero: names found absent not kept.
  size_t max_items = 100'000;
};

class MetadataCache {
 public:
  template <typename T>
  struct Cached {
    T value;
    Clock::TimePoint valid_until;
  };

  explicit MetadataCache(MetadataCacheOptions options);

  // The attributes of `inode`, while valid.
  std::optional<Cached<proto::Inode>> attr(InodeId inode) const;
  // The child that `name` in `parent` names while valid: an inode id, or InodeId() (0) for a name
  // known to be absent.
  std::optional<Cached<InodeId>> entry(InodeId parent, std::string_view name) const;

  // Stores what a read sent at `asked` answered.
  void put_attr(const proto::Inode& inode, Clock::TimePoint asked);
  void put_entry(InodeId parent, std::string_view name, InodeId child, Clock::TimePoint asked);
  void put_absent(InodeId parent, std::string_view name, Clock::TimePoint asked);

  void forget_attr(InodeId inode);
  void forget_entry(InodeId parent, std::string_view name);
  // A mutation the client sent at `asked` and its answer (any: a refusal may mean the cache was
  // wrong): forgets everything `command` names, then stores the inode a successful answer carries.
  void observe(const proto::MetaCommand& command, const proto::MetaResult& answer,
               Clock::TimePoint asked);

  size_t attr_count() const { return attrs_.size(); }
  size_t entry_count() const { return entries_.size(); }
  const MetadataCacheOptions& options() const { return options_; }

 private:
  // Keys in insertion order, for eviction; each map value holds its position.
  template <typename Key, typename Value>
  struct Table {
    struct Slot {
      Cached<Value> cached;
      typename std::list<Key>::iterator position;
    };
    std::unordered_map<Key, Slot> items;
    std::list<Key> order;
    size_t size() const { return items.size(); }
  };
  // The parent's id (8 bytes) followed by the name.
  using EntryKey = std::string;
  static EntryKey entry_key(InodeId parent, std::string_view name);

  template <typename Key, typename Value>
  void put(Table<Key, Value>& table, const Key& key, Value value, Clock::TimePoint valid_until);
  template <typename Key, typename Value>
  static void erase(Table<Key, Value>& table, const Key& key);
  template <typename Key, typename Value>
  std::optional<Cached<Value>> find(const Table<Key, Value>& table, const Key& key) const;
  // Forgets the entry and the attributes of the child it named.
  void forget_entry_and_child(InodeId parent, const std::string& name);

  MetadataCacheOptions options_;
  Table<uint64_t, proto::Inode> attrs_;
  Table<EntryKey, InodeId> entries_;
};

}  // namespace tessera::client
