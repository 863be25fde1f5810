#include "bucket/raft_codec.h"

#include <algorithm>

#include "base/assert.h"
#include "base/endian.h"
#include "bucket/log_format.h"

namespace tessera::bucket {
namespace {

using raft::LogIndex;
using raft::MessageType;

bool known_kind(int kind) { return kind >= 1 && kind <= 12; }

proto::ReplicaRef to_proto(raft::ReplicaId r) {
  proto::ReplicaRef out;
  out.set_host(r.host.value());
  out.set_store(r.store.value());
  return out;
}

raft::ReplicaId from_proto(const proto::ReplicaRef& r) {
  return raft::ReplicaId{HostId(r.host()), raft::StoreId(r.store())};
}

void to_proto(const raft::SnapshotMeta& meta, proto::RaftSnapshotMeta* out) {
  out->set_format_version(1);
  out->set_index(meta.index.value());
  out->set_term(meta.term.value());
  for (auto r : meta.config.voters) *out->mutable_config()->add_voters() = to_proto(r);
  for (auto r : meta.config.learners) *out->mutable_config()->add_learners() = to_proto(r);
}

Result<raft::SnapshotMeta> from_proto(const proto::RaftSnapshotMeta& meta) {
  if (meta.format_version() != 1) {
    return error(StatusCode::kInvalidArgument, "snapshot metadata of unknown version {}",
                 meta.format_version());
  }
  raft::SnapshotMeta out{LogIndex(meta.index()), Term(meta.term()), {}};
  for (const auto& r : meta.config().voters()) out.config.voters.push_back(from_proto(r));
  for (const auto& r : meta.config().learners()) out.config.learners.push_back(from_proto(r));
  std::sort(out.config.voters.begin(), out.config.voters.end());
  std::sort(out.config.learners.begin(), out.config.learners.end());
  if (out.config.voters.empty()) {
    return error(StatusCode::kInvalidArgument, "snapshot {} has no voters", out.index);
  }
  for (auto r : out.config.learners) {
    if (out.config.is_voter(r)) {
      return error(StatusCode::kInvalidArgument, "snapshot lists {} as voter and learner", r);
    }
  }
  return out;
}

}  // namespace

EncodedRaftBatch encode_raft_batch(std::span<const BucketMessage> messages) {
  EncodedRaftBatch out;
  if (messages.empty()) return out;
  const raft::Message& first = messages.front().message;
  out.batch.set_from_host(first.from.host.value());
  out.batch.set_from_store(first.from.store.value());
  out.batch.set_from_start_seq(first.from_incarnation);
  out.batch.set_to_host(first.to.host.value());
  out.batch.set_to_store(first.to.store.value());
  out.batch.set_to_start_seq(first.to_incarnation);
  for (const BucketMessage& bm : messages) {
    const raft::Message& m = bm.message;
    TESS_ASSERT(
        m.from == first.from && m.to == first.to && m.from_incarnation == first.from_incarnation,
        "a batch is from one store to one store");
    proto::RaftMessage* pm = out.batch.add_messages();
    pm->set_bucket(bm.bucket.value());
    pm->set_kind(static_cast<proto::RaftMessage::Kind>(m.type));
    pm->set_term(m.term.value());
    pm->set_log_index(m.log_index.value());
    pm->set_log_term(m.log_term.value());
    pm->set_commit(m.commit.value());
    pm->set_reject(m.reject);
    pm->set_reject_hint_index(m.reject_hint.value());
    pm->set_reject_hint_term(m.reject_hint_term.value());
    pm->set_round(m.round);
    pm->set_durable(m.durable.value());
    pm->set_durable_term(m.durable_term.value());
    pm->set_sync_index(m.sync_index.value());
    pm->set_to_start_seq(m.to_incarnation);
    pm->set_transfer(m.transfer);
    pm->set_recovering(m.recovering);
    pm->set_recovering_quorum(m.recovering_quorum);
    if (m.snapshot) to_proto(*m.snapshot, pm->mutable_snapshot());
    if (m.snapshot_data && !m.snapshot_data->empty()) {
      // A snapshot sent inline (replica.h) rides in the payload like entries.
      pm->set_payload_offset(out.payload.size());
      out.payload += *m.snapshot_data;
      pm->set_payload_bytes(m.snapshot_data->size());
    }
    if (!m.entries.empty()) {
      pm->set_entry_count(static_cast<uint32_t>(m.entries.size()));
      pm->set_payload_offset(out.payload.size());
      for (const raft::Entry& e : m.entries) out.payload += encode_log_entry(bm.bucket, e);
      pm->set_payload_bytes(out.payload.size() - pm->payload_offset());
    }
  }
  return out;
}

Result<std::vector<BucketMessage>> decode_raft_batch(const proto::RaftBatch& batch,
                                                     std::string_view payload,
                                                     const RaftBatchLimits& limits) {
  if (static_cast<size_t>(batch.messages_size()) > limits.max_messages) {
    return error(StatusCode::kInvalidArgument, "raft batch of {} messages exceeds {}",
                 batch.messages_size(), limits.max_messages);
  }
  raft::ReplicaId from{HostId(batch.from_host()), raft::StoreId(batch.from_store())};
  raft::ReplicaId to{HostId(batch.to_host()), raft::StoreId(batch.to_store())};
  if (from.is_none() || to.is_none()) {
    return error(StatusCode::kInvalidArgument, "raft batch without sender or addressee");
  }
  std::vector<BucketMessage> out;
  out.reserve(batch.messages_size());
  // The messages' entries tile the payload in order: no byte unaccounted for.
  uint64_t payload_used = 0;
  for (const proto::RaftMessage& pm : batch.messages()) {
    if (pm.bucket() >= kBucketIdLimit) {
      return error(StatusCode::kInvalidArgument, "raft message for bucket {} out of range",
                   pm.bucket());
    }
    if (!known_kind(pm.kind())) {
      return error(StatusCode::kInvalidArgument, "raft message of unknown kind {}", pm.kind());
    }
    BucketMessage bm;
    bm.bucket = BucketId(pm.bucket());
    raft::Message& m = bm.message;
    m.type = static_cast<MessageType>(pm.kind());
    m.from = from;
    m.to = to;
    m.from_incarnation = batch.from_start_seq();
    m.to_incarnation = pm.to_start_seq();
    m.term = Term(pm.term());
    m.log_index = LogIndex(pm.log_index());
    m.log_term = Term(pm.log_term());
    m.commit = LogIndex(pm.commit());
    m.reject = pm.reject();
    m.reject_hint = LogIndex(pm.reject_hint_index());
    m.reject_hint_term = Term(pm.reject_hint_term());
    m.round = pm.round();
    m.durable = LogIndex(pm.durable());
    m.durable_term = Term(pm.durable_term());
    m.sync_index = LogIndex(pm.sync_index());
    m.transfer = pm.transfer();
    m.recovering = pm.recovering();
    m.recovering_quorum = pm.recovering_quorum();
    if (m.type == MessageType::kSnapshot) {
      if (!pm.has_snapshot()) {
        return error(StatusCode::kInvalidArgument, "snapshot message without metadata");
      }
      auto meta = from_proto(pm.snapshot());
      if (!meta.ok()) return meta.status();
      m.snapshot = std::move(*meta);
      if (pm.payload_bytes() > 0) {
        if (pm.payload_offset() != payload_used || pm.payload_offset() > payload.size() ||
            pm.payload_bytes() > payload.size() - pm.payload_offset()) {
          return error(StatusCode::kInvalidArgument,
                       "snapshot data at [{}, +{}) outside a payload of {} bytes",
                       pm.payload_offset(), pm.payload_bytes(), payload.size());
        }
        m.snapshot_data = std::make_shared<const std::string>(
            payload.substr(pm.payload_offset(), pm.payload_bytes()));
        payload_used += pm.payload_bytes();
      }
    } else if (pm.entry_count() == 0 && pm.payload_bytes() > 0) {
      return error(StatusCode::kInvalidArgument, "payload bytes in a raft message of kind {}",
                   pm.kind());
    }
    if (pm.entry_count() > 0) {
      if (m.type != MessageType::kAppend || pm.entry_count() > limits.max_entries_per_message) {
        return error(StatusCode::kInvalidArgument, "{} entries in a raft message of kind {}",
                     pm.entry_count(), pm.kind());
      }
      if (pm.payload_offset() != payload_used || pm.payload_offset() > payload.size() ||
          pm.payload_bytes() > payload.size() - pm.payload_offset()) {
        return error(StatusCode::kInvalidArgument,
                     "entries at [{}, +{}) outside a payload of {} bytes", pm.payload_offset(),
                     pm.payload_bytes(), payload.size());
      }
      std::string_view rest = payload.substr(pm.payload_offset(), pm.payload_bytes());
      payload_used += pm.payload_bytes();
      m.entries.reserve(pm.entry_count());
      for (uint32_t i = 0; i < pm.entry_count(); ++i) {
        if (rest.size() < kEntryHeaderBytes) {
          return error(StatusCode::kInvalidArgument, "entry {} of {} cut short", i,
                       pm.entry_count());
        }
        uint32_t payload_bytes =
            load_le<uint32_t>(reinterpret_cast<const std::byte*>(rest.data()) + 4);
        if (payload_bytes > kMaxEntryPayloadBytes ||
            rest.size() < kEntryHeaderBytes + payload_bytes) {
          return error(StatusCode::kInvalidArgument, "entry {} of {} cut short", i,
                       pm.entry_count());
        }
        LogIndex index = m.log_index.plus(i + 1);
        auto entry =
            decode_log_entry(rest.substr(0, kEntryHeaderBytes + payload_bytes), bm.bucket, index);
        if (!entry.ok()) return entry.status().with_context("raft batch");
        // Terms in a log never decrease, and no leader sends an entry of a later term than its
        // own: anything else is not a log the core could accept.
        Term floor = m.entries.empty() ? m.log_term : m.entries.back().term;
        if (entry->term > m.term || entry->term < floor) {
          return error(StatusCode::kInvalidArgument,
                       "entry {} of term {} in a message of term {} after term {}", index,
                       entry->term, m.term, floor);
        }
        rest.remove_prefix(kEntryHeaderBytes + payload_bytes);
        m.entries.push_back(std::move(*entry));
      }
      if (!rest.empty()) {
        return error(StatusCode::kInvalidArgument, "{} bytes after the entries", rest.size());
      }
    }
    out.push_back(std::move(bm));
  }
  if (payload_used != payload.size()) {
    return error(StatusCode::kInvalidArgument, "{} payload bytes belong to no message",
                 payload.size() - payload_used);
  }
  return out;
}

}  // namespace tessera::bucket
