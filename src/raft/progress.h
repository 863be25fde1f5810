// Progress: what a leader knows of one follower's log (etcd's tracker.Progress), and the flow
// control that bounds what it sends (design 2.3).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace tessera::raft {

struct Progress {
  enum class State : uint8_t {
    kProbe,      // Next is a guess: one append at a time until it is accepted.
    kReplicate,  // Streaming: appends sent optimistically, up to the in-flight limits.
    kSnapshot,   // A snapshot is being sent; nothing else until it is acknowledged.
  };
  State state = State::kProbe;
  LogIndex match;
  LogIndex next;
  // The follower's durable index of this leader's log (min of what it reported and match).
  LogIndex durable;
  // The follower's process incarnation as last seen.
  uint64_t incarnation = 0;
  // Probe: an append is outstanding (until a response or the next heartbeat).
  bool probe_sent = false;
  // Snapshot: the index it was taken at (a lower bound of the one actually sent), and when.
  LogIndex pending_snapshot;
  std::chrono::steady_clock::time_point snapshot_sent;
  // Replicate: appends in flight, as (last index, bytes), oldest first.
  std::deque<std::pair<LogIndex, uint64_t>> inflight;
  uint64_t inflight_bytes = 0;
  bool recent_active = false;

  bool inflight_full(uint32_t max_msgs, uint64_t max_bytes) const {
    return inflight.size() >= max_msgs || inflight_bytes >= max_bytes;
  }
  // Frees the in-flight appends up to `index`.
  void free_inflight_through(LogIndex index) {
    while (!inflight.empty() && inflight.front().first <= index) {
      inflight_bytes -= inflight.front().second;
      inflight.pop_front();
    }
  }
  void reset_inflight() {
    inflight.clear();
    inflight_bytes = 0;
  }
  void become_probe() {
    state = State::kProbe;
    next = match.next();
    probe_sent = false;
    reset_inflight();
  }
  void become_replicate() {
    state = State::kReplicate;
    next = match.next();
    reset_inflight();
  }
  void become_snapshot(LogIndex index) {
    state = State::kSnapshot;
    pending_snapshot = index;
    reset_inflight();
  }
  bool paused(uint32_t max_msgs, uint64_t max_bytes) const {
    switch (state) {
      case State::kProbe:
        return probe_sent;
      case State::kReplicate:
        return inflight_full(max_msgs, max_bytes);
      case State::kSnapshot:
        return true;
    }
    return true;
  }
};

const char* progress_state_name(Progress::State state);

}  // namespace tessera::raft
