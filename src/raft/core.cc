#include "raft/core.h"

#include <algorithm>
#include <functional>

#include "base/assert.h"
#include "base/fault_points.h"
#include "base/log.h"

namespace tessera::raft {
namespace {

// Committed entries handed out per Ready, so that a replica catching up applies in slices.
constexpr uint64_t kMaxCommittedBytesPerReady = uint64_t{4} * 1024 * 1024;
// Lease rounds remembered; older rounds cannot give a lease (conservative).
constexpr size_t kMaxRoundStamps = 256;

bool is_response(MessageType type) {
  return type == MessageType::kAppendResponse || type == MessageType::kHeartbeatResponse ||
         type == MessageType::kVoteResponse || type == MessageType::kPreVoteResponse ||
         type == MessageType::kHibernateResponse;
}

// The k-th highest (k >= 1) of `values`, or zero if there are fewer.
template <typename T>
T kth_highest(std::vector<T> values, size_t k) {
  if (k == 0 || values.size() < k) return T();
  std::sort(values.begin(), values.end(), std::greater<T>());
  return values[k - 1];
}

}  // namespace

const char* progress_state_name(Progress::State state) {
  switch (state) {
    case Progress::State::kProbe:
      return "probe";
    case Progress::State::kReplicate:
      return "replicate";
    case Progress::State::kSnapshot:
      return "snapshot";
  }
  return "?";
}

bool Ready::empty() const {
  return !soft_state && !hard_state && !recovered && !snapshot && entries.empty() &&
         messages.empty() && after_persist.empty() && committed.empty() && reads.empty() &&
         failed_reads.empty();
}

Core::Core(const CoreOptions& options, const InitialState& initial, const LogView* log, Time now)
    : options_(options),
      log_(log),
      hard_(initial.hard_state),
      persisted_hard_(initial.hard_state),
      config_(initial.config),
      applied_(initial.applied),
      applying_(initial.applied),
      recovering_(initial.recovering),
      durable_(),
      started_(now),
      last_now_(now),
      last_heard_leader_(Time::min()),
      rng_state_(options.seed ^ 0x2545f4914f6cdd1dULL) {
  TESS_ASSERT(log_ != nullptr, "a core needs a log");
  TESS_ASSERT(!options_.self.is_none(), "a core needs its replica id");
  TESS_ASSERT(options_.election_timeout_min > options_.heartbeat_interval,
              "election timeout must exceed the heartbeat interval");
  EntryId sp = log_->snapshot_point();
  TESS_ASSERT(applied_ <= hard_.commit || applied_ == sp.index, "applied {} beyond commit {}",
              applied_, hard_.commit);
  TESS_ASSERT(hard_.commit <= log_->last_index(), "commit {} beyond the log's last index {}",
              hard_.commit, log_->last_index());
  TESS_ASSERT(config_.voters.empty() || sp.index.value() >= 1,
              "a replica created with a configuration starts from a snapshot (bootstrap rule)");
  if (applied_ < sp.index) applied_ = applying_ = sp.index;
  if (hard_.commit < sp.index) hard_.commit = sp.index;
  soft_.term = hard_.term;
  reported_soft_ = soft_;
  reset_election_timer(now);
}

// ---- Inputs ----------------------------------------------------------------------------------

void Core::step(const Message& m, Time now) {
  last_now_ = std::max(last_now_, now);
  if (broken_ || m.to != options_.self) return;
  if (hibernated_ && stale_for_hibernation(m)) {
    // Sent before the group fell asleep and overtaken on the way (frames may be reordered): it
    // says nothing new, and waking on it would undo the hibernation it raced with.
    TESS_COVER("raft.stale_message_kept_asleep");
    if (soft_.role == Role::kLeader) return;
  } else if (hibernated_) {
    bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (soft_.role == Role::kLeader) {
      // Someone needs the group: a replica that restarted, or one that missed the hibernation
      // and is campaigning. Heartbeats bring it back under this leader.
      TESS_COVER("raft.leader_woken_by_message");
      wake_leader(now);
    } else if ((!vote_request && m.term >= hard_.term) || m.from == soft_.leader) {
      // Also a vote request from the leader itself: it gave up leading (CheckQuorum, or while
      // its request to hibernate was out), and its liveness frames keep coming, so nothing else
      // would ever wake this follower.
      TESS_COVER("raft.follower_woken_by_message");
      hibernated_ = false;
      reset_election_timer(now);
    }
  }
  if (!step_term(m, now)) return;
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      handle_vote_request(m, now);
      return;
    default:
      break;
  }
  switch (soft_.role) {
    case Role::kLeader:
      step_leader(m, now);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      step_candidate(m, now);
      break;
    case Role::kFollower:
      step_follower(m, now);
      break;
  }
}

// Term rules common to every role. Returns false if the message is finished with.
bool Core::step_term(const Message& m, Time now) {
  peer_incarnation_[m.from] = std::max(peer_incarnation_[m.from], m.from_incarnation);
  bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  if (m.term > hard_.term) {
    if (vote_request && !m.transfer && promise_holds(now)) {
      // The promise (design 2.2): a voter that heard from a leader within election_timeout_min
      // takes part in no election, so the leader's lease holds.
      TESS_COVER("raft.vote_refused_by_promise");
      return false;
    }
    if (m.type == MessageType::kPreVote) return true;  // Changes no state.
    if (m.type == MessageType::kPreVoteResponse && !m.reject) return true;
    bool from_leader = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
                       m.type == MessageType::kSnapshot || m.type == MessageType::kTimeoutNow;
    become_follower(m.term, from_leader ? m.from : kNoReplica, now);
    return true;
  }
  if (m.term < hard_.term) {
    if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) {
      // A stale leader: tell it the term so that it steps down (PreVote and CheckQuorum mean it
      // may otherwise never learn).
      Message r = reply_to(m, MessageType::kAppendResponse);
      r.reject = true;
      r.log_index = m.log_index;
      r.reject_hint = last_index();
      r.reject_hint_term = last_term();
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r = reply_to(m, MessageType::kPreVoteResponse);
      r.reject = true;
      send(std::move(r));
    }
    return false;
  }
  return true;
}

void Core::tick(Time now) {
  last_now_ = std::max(last_now_, now);
  if (broken_ || hibernated_) return;
  if (soft_.role == Role::kLeader) {
    if (transfer_target_ && now >= transfer_deadline_) {
      TESS_COVER("raft.transfer_abandoned");
      transfer_target_.reset();
    }
    // CheckQuorum: a leader that has not heard from a quorum of voters within the election
    // timeout steps down, so a partitioned leader stops serving and a follower can be elected
    // without a vote from a leader that would refuse it.
    size_t active = 0;
    for (ReplicaId v : config_.voters) {
      if (v == options_.self) {
        ++active;
        continue;
      }
      auto it = last_heard_.find(v);
      if (it != last_heard_.end() && now - it->second < options_.election_timeout_min) ++active;
    }
    if (active < config_.quorum()) {
      TESS_COVER("raft.check_quorum_step_down");
      become_follower(hard_.term, kNoReplica, now);
      return;
    }
    for (auto& [peer, pr] : progress_) {
      if (pr.state == Progress::State::kSnapshot &&
          now - pr.snapshot_sent > 2 * options_.election_timeout_min) {
        // Its answer never came (lost, or the follower restarted): probe again; the probe finds
        // out whether it still needs a snapshot.
        TESS_COVER("raft.snapshot_abandoned");
        pr.become_probe();
      }
    }
    if (now >= next_heartbeat_) broadcast_heartbeat(now);
    maybe_hibernate(now);
    return;
  }
  if (now >= election_deadline_) {
    if (config_.is_voter(options_.self)) {
      campaign(now, /*pre_vote=*/true, /*transfer=*/false);
    } else {
      reset_election_timer(now);
    }
  }
}

Result<EntryId> Core::propose(std::string payload, Time now) {
  last_now_ = std::max(last_now_, now);
  return propose_entry(EntryType::kCommand, std::move(payload));
}

Status Core::not_leader() const {
  if (soft_.leader.is_none()) {
    return error(StatusCode::kFailedPrecondition, "not leader (no leader known)");
  }
  return error(StatusCode::kFailedPrecondition, "not leader (leader {})", soft_.leader);
}

Result<EntryId> Core::propose_entry(EntryType type, std::string payload) {
  if (broken_) return error(StatusCode::kFailedPrecondition, "replica is broken");
  if (soft_.role != Role::kLeader) return not_leader();
  note_activity(last_now_);
  if (transfer_target_) {
    return error(StatusCode::kAborted, "leadership is being transferred to {}", *transfer_target_);
  }
  if (payload.size() > options_.max_payload_bytes) {
    return error(StatusCode::kInvalidArgument, "command of {} bytes exceeds the limit of {}",
                 payload.size(), options_.max_payload_bytes);
  }
  if (!uncommitted_.empty() &&
      uncommitted_bytes_ + payload.size() + 32 > options_.max_uncommitted_bytes) {
    TESS_COVER("raft.proposal_busy");
    return error(StatusCode::kBusy, "{} bytes proposed and not yet committed", uncommitted_bytes_);
  }
  append_entry(type, std::move(payload));
  return EntryId{last_index(), hard_.term};
}

Result<EntryId> Core::propose_conf_change(const ConfChange& change, Time now) {
  last_now_ = std::max(last_now_, now);
  if (soft_.role != Role::kLeader) return not_leader();
  // Rules 1 and 2 of design 2.5: one change at a time, and none before this leader committed an
  // entry of its own term (pending_conf_index_ is its last index at election).
  if (pending_conf_index_ > applied_) {
    return error(StatusCode::kFailedPrecondition,
                 "a configuration change (index {}) is not applied yet", pending_conf_index_);
  }
  if (std::string why = config_.refusal(change); !why.empty()) {
    return error(StatusCode::kFailedPrecondition, "{}", why);
  }
  if (change.kind == ConfChange::Kind::kRemoveReplica && change.replica == options_.self) {
    return error(StatusCode::kFailedPrecondition,
                 "a leader does not remove itself; transfer leadership first");
  }
  if (change.kind == ConfChange::Kind::kPromoteLearner) {
    auto it = progress_.find(change.replica);
    if (it == progress_.end() || it->second.match < hard_.commit) {
      return error(StatusCode::kFailedPrecondition, "learner {} has not caught up ({} < {})",
                   change.replica, it == progress_.end() ? LogIndex() : it->second.match,
                   hard_.commit);
    }
  }
  auto id = propose_entry(EntryType::kConfChange, encode_conf_change(change));
  if (id.ok()) pending_conf_index_ = id->index;
  return id;
}

Status Core::request_read(ReadId id, Time now) {
  last_now_ = std::max(last_now_, now);
  if (broken_) return error(StatusCode::kFailedPrecondition, "replica is broken");
  if (soft_.role != Role::kLeader) return not_leader();
  note_activity(now);
  if (!committed_own_term_) {
    // Until its term's first entry commits, a new leader may not know the latest commit.
    TESS_COVER("raft.read_waits_for_own_term_commit");
    reads_waiting_for_commit_.push_back(id);
    return Status();
  }
  serve_read(id, now);
  return Status();
}

Status Core::transfer_leadership(ReplicaId target, Time now) {
  last_now_ = std::max(last_now_, now);
  if (soft_.role != Role::kLeader) return not_leader();
  note_activity(now);
  if (target == options_.self) return Status();
  if (!config_.is_voter(target)) {
    return error(StatusCode::kFailedPrecondition, "{} is not a voter", target);
  }
  if (transfer_target_ == target) return Status();
  transfer_target_ = target;
  transfer_deadline_ = now + options_.election_timeout_min;
  TESS_COVER("raft.transfer_started");
  auto pr = progress_.find(target);
  if (pr == progress_.end())
    return error(StatusCode::kFailedPrecondition, "{} has no progress", target);
  if (pr->second.match == last_index()) {
    send_timeout_now(target);
  } else {
    send_append(target, /*send_if_empty=*/true);
  }
  return Status();
}

void Core::report_unreachable(ReplicaId peer) {
  if (soft_.role != Role::kLeader) return;
  auto it = progress_.find(peer);
  if (it == progress_.end()) return;
  // A snapshot message may have been among what was lost: probe again rather than wait for an
  // answer that will not come.
  if (it->second.state != Progress::State::kProbe) it->second.become_probe();
}

void Core::report_snapshot_failed(ReplicaId peer) {
  if (soft_.role != Role::kLeader) return;
  auto it = progress_.find(peer);
  if (it == progress_.end() || it->second.state != Progress::State::kSnapshot) return;
  it->second.become_probe();
  // Wait for the next heartbeat answer before probing again.
  it->second.probe_sent = true;
}

void Core::report_durable(EntryId durable) {
  if (durable.index <= durable_.index) return;
  auto term = term_at(durable.index);
  // A sync that covered entries since replaced (a follower's tail overwritten) says nothing of
  // the log as it is: by the log matching property, a same (index, term) means the same prefix.
  if (!term.ok() || *term != durable.term) return;
  durable_ = durable;
  if (soft_.role == Role::kLeader) {
    update_quorum_durable();
  } else if (soft_.role == Role::kFollower && !soft_.leader.is_none() &&
             sync_wanted_ > durable_reported_) {
    // The leader asked (a SyncTo waits): tell it at once, as a heartbeat answer of no round.
    // Otherwise the next answer carries it.
    TESS_COVER("raft.durable_notice_sent");
    Message r;
    r.type = MessageType::kHeartbeatResponse;
    r.from = options_.self;
    r.to = soft_.leader;
    r.term = hard_.term;
    r.from_incarnation = options_.incarnation;
    r.to_incarnation = peer_incarnation_[soft_.leader];
    set_durable(r);
    send(std::move(r));
  }
}

// ---- Roles -----------------------------------------------------------------------------------

void Core::become_follower(Term term, ReplicaId leader, Time now) {
  bool was_leader = soft_.role == Role::kLeader;
  if (term > hard_.term || leader != soft_.leader) {
    // Asked by another leader, or of another term: nothing asked of us yet.
    sync_wanted_ = LogIndex();
    durable_reported_ = LogIndex();
  }
  if (term > hard_.term) {
    hard_.term = term;
    hard_.vote = kNoReplica;
  }
  soft_.role = Role::kFollower;
  soft_.leader = leader;
  soft_.term = hard_.term;
  hibernated_ = false;
  hibernate_index_.reset();
  if (!leader.is_none()) last_heard_leader_ = now;
  reset_election_timer(now);
  if (was_leader) {
    fail_pending_reads();
    progress_.clear();
    last_heard_.clear();
    acked_round_.clear();
    round_stamps_.clear();
    uncommitted_.clear();
    uncommitted_bytes_ = 0;
    transfer_target_.reset();
    lease_until_ = Time::min();
    quorum_durable_ = LogIndex();
  }
}

void Core::campaign(Time now, bool pre_vote, bool transfer, bool recovering_quorum) {
  if (soft_.role == Role::kLeader) return;
  hibernated_ = false;
  votes_.clear();
  pre_vote_recovering_.clear();
  campaign_transfer_ = transfer;
  campaign_recovering_quorum_ = recovering_quorum;
  if (pre_vote) {
    soft_.role = Role::kPreCandidate;
    soft_.leader = kNoReplica;
    TESS_COVER("raft.pre_vote");
  } else {
    soft_.role = Role::kCandidate;
    soft_.leader = kNoReplica;
    hard_.term = Term(hard_.term.value() + 1);
    hard_.vote = options_.self;
    soft_.term = hard_.term;
  }
  reset_election_timer(now);
  Term campaign_term = pre_vote ? Term(hard_.term.value() + 1) : hard_.term;
  // A recovering replica may have lost entries it acknowledged: its own vote does not count
  // unless the campaign is of a recovering quorum (design 2.8).
  if (!recovering_ || campaign_recovering_quorum_) votes_[options_.self] = true;
  if (recovering_) pre_vote_recovering_[options_.self] = true;
  for (ReplicaId v : config_.voters) {
    if (v == options_.self) continue;
    Message m;
    m.type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
    m.from = options_.self;
    m.to = v;
    m.term = campaign_term;
    m.from_incarnation = options_.incarnation;
    m.to_incarnation = peer_incarnation_[v];
    m.log_index = last_index();
    m.log_term = last_term();
    m.transfer = transfer;
    m.recovering_quorum = !pre_vote && campaign_recovering_quorum_;
    send(std::move(m));
  }
  // A single voter wins at once.
  handle_vote_response(
      Message{.type = pre_vote ? MessageType::kPreVoteResponse : MessageType::kVoteResponse,
              .from = kNoReplica,
              .to = options_.self,
              .term = campaign_term},
      now);
}

void Core::become_leader(Time now) {
  TESS_COVER("raft.became_leader");
  if (recovering_) {
    // Elected by a majority of voters that lost nothing (a recovering replica's own vote does not
    // count), each holding no committed entry it lacks: it holds every committed entry. (Elected
    // by a recovering quorum, the contract was already exceeded.)
    TESS_COVER("raft.recovered_by_election");
    recovering_ = false;
    recovered_to_report_ = true;
  }
  soft_.role = Role::kLeader;
  soft_.leader = options_.self;
  soft_.term = hard_.term;
  progress_.clear();
  last_heard_.clear();
  acked_round_.clear();
  round_stamps_.clear();
  uncommitted_.clear();
  uncommitted_bytes_ = 0;
  pending_reads_.clear();
  transfer_target_.reset();
  transferred_this_term_ = false;
  committed_own_term_ = false;
  lease_until_ = Time::min();
  quorum_durable_ = LogIndex();
  sync_wanted_ = LogIndex();
  round_ = 0;
  for (ReplicaId r : config_.voters) {
    if (r != options_.self) progress_[r] = Progress{.next = last_index().next()};
  }
  for (ReplicaId r : config_.learners) {
    if (r != options_.self) progress_[r] = Progress{.next = last_index().next()};
  }
  for (auto& [r, pr] : progress_) {
    pr.incarnation = peer_incarnation_[r];
    last_heard_[r] = now;
  }
  start_round(now);
  append_entry(EntryType::kEmpty, "");
  // Rule 2 of design 2.5 (the fix for the single-server change bug): no change before an entry
  // of this term is applied, so the empty entry counts as pending.
  pending_conf_index_ = last_index();
  next_heartbeat_ = now + options_.heartbeat_interval;
  hibernated_ = false;
  hibernate_index_.reset();
  last_activity_ = now;
}

void Core::reset_election_timer(Time now) { election_deadline_ = now + random_election_timeout(); }

Duration Core::random_election_timeout() {
  // xorshift64*: the jitter must come from the seed the host gave, never from the machine.
  rng_state_ ^= rng_state_ >> 12;
  rng_state_ ^= rng_state_ << 25;
  rng_state_ ^= rng_state_ >> 27;
  uint64_t r = rng_state_ * 0x2545f4914f6cdd1dULL;
  auto span = static_cast<uint64_t>(options_.election_timeout_min.count());
  return options_.election_timeout_min + Duration(static_cast<Duration::rep>(r % span));
}

bool Core::promise_holds(Time now) const {
  // A hibernated follower's leader is alive as far as its host knows (else it would have been
  // woken): it takes part in no election, as within the promise.
  if (soft_.role == Role::kLeader || hibernated_) return true;
  if (last_heard_leader_ != Time::min() && now - last_heard_leader_ < options_.election_timeout_min)
    return true;
  // After a restart the replica cannot know whom it heard from: it keeps the promise for a whole
  // timeout. A replica that never saw a term with a leader promised nothing.
  // Founding replicas start at term 1 (the bootstrap rule), where no leader ever existed.
  return hard_.term.value() > 1 && now - started_ < options_.election_timeout_min;
}

// ---- Elections -------------------------------------------------------------------------------

void Core::handle_vote_request(const Message& m, Time now) {
  bool pre_vote = m.type == MessageType::kPreVote;
  Message r = reply_to(m, pre_vote ? MessageType::kPreVoteResponse : MessageType::kVoteResponse);
  // A leader with a live quorum takes part in no election unless it is handing over.
  if (soft_.role == Role::kLeader && !m.transfer) return;
  bool can_vote = hard_.vote == m.from || (hard_.vote.is_none() && soft_.leader.is_none()) ||
                  (pre_vote && m.term > hard_.term);
  bool grant = can_vote && is_up_to_date(m.log_index, m.log_term);
  if (recovering_ && !(m.recovering_quorum && !pre_vote)) {
    grant = false;
    r.recovering = true;
  }
  r.reject = !grant;
  if (grant) {
    r.term = m.term;
    if (!pre_vote) {
      hard_.vote = m.from;
      reset_election_timer(now);
    }
  } else {
    r.term = hard_.term;
  }
  send(std::move(r));
}

void Core::step_candidate(const Message& m, Time now) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      become_follower(m.term, m.from, now);
      step_follower(m, now);
      return;
    case MessageType::kPreVoteResponse:
      if (soft_.role == Role::kPreCandidate) handle_vote_response(m, now);
      return;
    case MessageType::kVoteResponse:
      if (soft_.role == Role::kCandidate) handle_vote_response(m, now);
      return;
    default:
      return;
  }
}

void Core::handle_vote_response(const Message& m, Time now) {
  if (!m.from.is_none()) {
    if (!config_.is_voter(m.from)) return;
    if (TESS_MUTATION("raft.count_vote_twice") && !m.reject) {
      // The deliberate bug: the first grant counts for the candidate and the voter both.
      votes_.try_emplace(m.from, true);
      votes_[ReplicaId{HostId(0), StoreId(m.from.store.value() ^ 0xffff)}] = true;
    } else {
      votes_.try_emplace(m.from, !m.reject);
    }
    if (m.recovering) pre_vote_recovering_[m.from] = true;
  }
  size_t granted = 0;
  size_t rejected = 0;
  for (const auto& [r, g] : votes_) (g ? granted : rejected) += 1;
  size_t quorum = config_.quorum();
  bool pre_vote = soft_.role == Role::kPreCandidate;
  if (granted >= quorum) {
    if (pre_vote) {
      campaign(now, /*pre_vote=*/false, campaign_transfer_, /*recovering_quorum=*/false);
    } else {
      become_leader(now);
    }
    return;
  }
  if (pre_vote && pre_vote_recovering_.size() >= quorum) {
    // A majority of voters may have lost acknowledged entries (power lost in more than M
    // domains): beyond the contract, but the bucket must not stay without a leader.
    TESS_COVER("raft.recovering_quorum_campaign");
    campaign(now, /*pre_vote=*/false, campaign_transfer_, /*recovering_quorum=*/true);
    return;
  }
  if (rejected >= quorum) become_follower(hard_.term, kNoReplica, now);
}

bool Core::is_up_to_date(LogIndex index, Term term) const {
  Term mine = last_term();
  return term > mine || (term == mine && index >= last_index());
}

// ---- Follower --------------------------------------------------------------------------------

void Core::step_follower(const Message& m, Time now) {
  switch (m.type) {
    case MessageType::kAppend:
    case MessageType::kHeartbeat:
    case MessageType::kSnapshot:
      soft_.leader = m.from;
      last_heard_leader_ = now;
      reset_election_timer(now);
      if (m.type == MessageType::kAppend) handle_append(m, now);
      if (m.type == MessageType::kHeartbeat) handle_heartbeat(m, now);
      if (m.type == MessageType::kSnapshot) handle_snapshot(m, now);
      return;
    case MessageType::kTimeoutNow:
      if (config_.is_voter(options_.self)) {
        TESS_COVER("raft.transfer_campaign");
        // A transfer campaign skips PreVote: the leader asked for it.
        campaign(now, /*pre_vote=*/false, /*transfer=*/true);
      }
      return;
    case MessageType::kHibernate:
      soft_.leader = m.from;
      last_heard_leader_ = now;
      reset_election_timer(now);
      handle_hibernate(m, now);
      return;
    default:
      return;
  }
}

void Core::note_sync_wanted(const Message& m) {
  if (m.sync_index > sync_wanted_) sync_wanted_ = m.sync_index;
}

void Core::handle_append(const Message& m, Time now) {
  (void)now;
  note_sync_wanted(m);
  Message r = reply_to(m, MessageType::kAppendResponse);
  if (m.log_index < hard_.commit) {
    r.log_index = hard_.commit;
    set_durable(r);
    send(std::move(r));
    return;
  }
  auto prev_term = term_at(m.log_index);
  if (!prev_term.ok() && prev_term.status().code() == StatusCode::kCorruption) {
    mark_broken(prev_term.status());
    return;
  }
  if (!prev_term.ok() || *prev_term != m.log_term) {
    TESS_COVER("raft.append_rejected");
    r.reject = true;
    r.log_index = m.log_index;
    r.reject_hint = find_conflict_by_term(std::min(m.log_index, last_index()), m.log_term);
    auto hint_term = term_at(r.reject_hint);
    r.reject_hint_term = hint_term.ok() ? *hint_term : Term();
    set_durable(r);
    send(std::move(r));
    return;
  }
  LogIndex last_new = m.log_index.plus(m.entries.size());
  // Skip the entries already held; append from the first conflict or new one.
  size_t first_new = 0;
  for (; first_new < m.entries.size(); ++first_new) {
    const Entry& e = m.entries[first_new];
    TESS_ASSERT(e.index == m.log_index.plus(first_new + 1), "append entries not contiguous");
    auto t = term_at(e.index);
    if (!t.ok() || *t != e.term) break;
  }
  if (first_new < m.entries.size()) {
    std::vector<Entry> fresh(m.entries.begin() + static_cast<ptrdiff_t>(first_new),
                             m.entries.end());
    if (!append_unstable(std::move(fresh))) return;
  }
  LogIndex new_commit = std::min(m.commit, last_new);
  if (new_commit > hard_.commit) hard_.commit = new_commit;
  if (recovering_ && m.to_incarnation == options_.incarnation && m.commit <= last_new &&
      m.commit > LogIndex()) {
    // Design 2.8: holding the leader's commit at an entry of the leader's own term means holding
    // every entry committed before; after this Ready is persisted the replica lost nothing.
    auto t = term_at(m.commit);
    if (t.ok() && *t == m.term) {
      TESS_COVER("raft.recovered");
      recovering_ = false;
      recovered_to_report_ = true;
    }
  }
  r.log_index = last_new;
  set_durable(r);
  send(std::move(r));
}

void Core::handle_heartbeat(const Message& m, Time now) {
  (void)now;
  note_sync_wanted(m);
  // The leader sends min(its commit, our match): an index our log holds as the leader's, if the
  // match it knows is of this incarnation. A heartbeat addressed to an earlier one may name
  // entries a power loss took back (a synced older tail can reappear in their place).
  if (m.to_incarnation == options_.incarnation && m.commit > hard_.commit &&
      m.commit <= last_index()) {
    hard_.commit = m.commit;
  }
  Message r = reply_to(m, MessageType::kHeartbeatResponse);
  set_durable(r);
  r.recovering = recovering_;
  send(std::move(r));
}

void Core::handle_snapshot(const Message& m, Time now) {
  (void)now;
  if (!m.snapshot) return;
  const SnapshotMeta& meta = *m.snapshot;
  Message r = reply_to(m, MessageType::kAppendResponse);
  set_durable(r);
  if (meta.index <= hard_.commit) {
    r.log_index = hard_.commit;
    send(std::move(r));
    return;
  }
  auto t = term_at(meta.index);
  if (t.ok() && *t == meta.term) {
    // The log already holds the snapshot's last entry: only the commit moves.
    hard_.commit = meta.index;
    r.log_index = meta.index;
    send(std::move(r));
    return;
  }
  TESS_COVER("raft.snapshot_restore");
  pending_snapshot_ = meta;
  pending_snapshot_data_ = m.snapshot_data;
  snapshot_handed_ = false;
  if (!unstable_.empty()) {
    unstable_.clear();
    ++unstable_generation_;
  }
  hard_.commit = meta.index;
  config_ = meta.config;
  durable_ = EntryId{};  // The host reports the snapshot point once it is synced.
  // The answer must not claim the durability of the log the snapshot replaced.
  set_durable(r);
  r.log_index = meta.index;
  send(std::move(r));
}

// ---- Leader ----------------------------------------------------------------------------------

void Core::step_leader(const Message& m, Time now) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  if (m.from_incarnation < pr.incarnation) return;  // From a process that has since restarted.
  if (m.from_incarnation > pr.incarnation) {
    // The follower restarted and may have lost its tail: forget what it had acknowledged.
    TESS_COVER("raft.follower_restart_seen");
    pr.incarnation = m.from_incarnation;
    pr.match = LogIndex();
    pr.durable = LogIndex();
    pr.become_probe();
    pr.next = last_index().next();
    acked_round_.erase(m.from);
  }
  switch (m.type) {
    case MessageType::kAppendResponse:
      handle_append_response(m, pr, now);
      return;
    case MessageType::kHeartbeatResponse:
      handle_heartbeat_response(m, pr, now);
      return;
    case MessageType::kHibernateResponse:
      note_round_ack(m.from, 0, now);
      handle_hibernate_response(m, pr);
      return;
    default:
      return;
  }
}

void Core::note_round_ack(ReplicaId from, uint64_t round, Time now) {
  last_heard_[from] = now;
  progress_.at(from).recent_active = true;
  if (round == 0 || !config_.is_voter(from)) return;
  uint64_t& acked = acked_round_[from];
  if (round <= acked) return;
  acked = round;
  // The highest round acked by a quorum (the leader has acked every round it made).
  std::vector<uint64_t> rounds;
  for (ReplicaId v : config_.voters) {
    if (v == options_.self) {
      rounds.push_back(round_);
    } else {
      auto it = acked_round_.find(v);
      rounds.push_back(it == acked_round_.end() ? 0 : it->second);
    }
  }
  uint64_t quorum_round = kth_highest(rounds, config_.quorum());
  if (quorum_round == 0) return;
  if (!options_.lease_reads || transferred_this_term_) {
    release_reads();
    return;
  }
  for (const auto& [r, stamp] : round_stamps_) {
    if (r != quorum_round) continue;
    // Design 2.4: a quorum heard from us at or after `stamp`; none of them votes for another
    // before its own clock shows election_timeout_min more, which under the 10% rate bound is
    // after this on ours.
    auto lease_length = std::chrono::duration_cast<Duration>(options_.election_timeout_min *
                                                             options_.lease_fraction);
    Time until = stamp + lease_length - options_.lease_margin;
    if (until > lease_until_) lease_until_ = until;
    break;
  }
  release_reads();
}

void Core::handle_append_response(const Message& m, Progress& pr, Time now) {
  note_round_ack(m.from, m.round, now);
  if (m.reject) {
    // Stale rejections: of an append before the last accepted one, of another probe, or
    // arriving while a snapshot is on its way.
    if (pr.state == Progress::State::kReplicate && m.log_index <= pr.match) return;
    if (pr.state == Progress::State::kProbe && m.log_index.next() != pr.next) return;
    if (pr.state == Progress::State::kSnapshot) return;
    LogIndex probe = find_conflict_by_term(m.reject_hint, m.reject_hint_term);
    LogIndex next = std::max(std::min(m.log_index, probe.next()), pr.match.next());
    if (pr.state == Progress::State::kReplicate) pr.become_probe();
    pr.next = next;
    pr.probe_sent = false;
    send_append(m.from, /*send_if_empty=*/true);
    return;
  }
  note_durable(m, pr);
  bool advanced = false;
  if (m.log_index > pr.match) {
    pr.match = m.log_index;
    if (pr.next <= pr.match) pr.next = pr.match.next();
    advanced = true;
  }
  switch (pr.state) {
    case Progress::State::kProbe:
      pr.become_replicate();
      break;
    case Progress::State::kSnapshot:
      if (pr.match >= pr.pending_snapshot) pr.become_replicate();
      break;
    case Progress::State::kReplicate:
      pr.free_inflight_through(m.log_index);
      break;
  }
  update_quorum_durable();
  // A new commit travels with the next append or heartbeat, not in an empty append of its own
  // (2026-12-04 note, 2.1): nothing waits for a follower to learn it.
  if (advanced) maybe_commit();
  send_append(m.from, /*send_if_empty=*/false);
  if (transfer_target_ == m.from && pr.match == last_index()) send_timeout_now(m.from);
}

void Core::note_durable(const Message& m, Progress& pr) {
  // The follower's synced prefix is ours only if it holds our entry there: by log matching the
  // same (index, term) means the same prefix. A report made before its tail was replaced carries
  // the old term and is ignored.
  if (m.durable <= pr.durable) return;
  auto t = term_at(m.durable);
  if (!t.ok() || *t != m.durable_term) return;
  pr.durable = m.durable;
}

void Core::handle_heartbeat_response(const Message& m, Progress& pr, Time now) {
  note_round_ack(m.from, m.round, now);
  note_durable(m, pr);
  update_quorum_durable();
  if (m.round == 0) return;  // A durability notice, not an answer to a heartbeat.
  pr.probe_sent = false;
  if (m.recovering && pr.match == last_index() && pr.state != Progress::State::kSnapshot) {
    // A recovering follower ends its recovery only on an append carrying our commit; an idle
    // group would otherwise send it none.
    send_append(m.from, /*send_if_empty=*/true);
    return;
  }
  if (pr.state == Progress::State::kReplicate && !pr.inflight.empty() &&
      pr.inflight_full(options_.max_inflight_msgs, options_.max_inflight_bytes)) {
    // An append may have been lost: let one more through so the follower can say where it is.
    pr.inflight_bytes -= pr.inflight.front().second;
    pr.inflight.pop_front();
  }
  if (pr.match < last_index()) send_append(m.from, /*send_if_empty=*/true);
}

bool Core::maybe_commit() {
  std::vector<LogIndex> matches;
  for (ReplicaId v : config_.voters) {
    if (v == options_.self) {
      matches.push_back(persisted_last_index());
    } else {
      auto it = progress_.find(v);
      matches.push_back(it == progress_.end() ? LogIndex() : it->second.match);
    }
  }
  LogIndex candidate = kth_highest(matches, config_.quorum());
  if (candidate <= hard_.commit) return false;
  // Raft 5.4.2: only an entry of the current term commits by counting replicas.
  auto t = term_at(candidate);
  if (!t.ok() || *t != hard_.term) return false;
  hard_.commit = candidate;
  while (!uncommitted_.empty() && uncommitted_.front().first <= candidate) {
    uncommitted_bytes_ -= uncommitted_.front().second;
    uncommitted_.pop_front();
  }
  if (!committed_own_term_) {
    committed_own_term_ = true;
    auto waiting = std::move(reads_waiting_for_commit_);
    reads_waiting_for_commit_.clear();
    // last_now_ is at most the true time: a round stamped with it gives a shorter lease, never a
    // longer one, and its messages still leave after these reads arrived.
    for (ReadId id : waiting) serve_read(id, last_now_);
  }
  return true;
}

void Core::update_quorum_durable() {
  if (soft_.role != Role::kLeader) return;
  std::vector<LogIndex> durables;
  for (ReplicaId v : config_.voters) {
    if (v == options_.self) {
      durables.push_back(std::min(durable_.index, persisted_last_index()));
    } else {
      auto it = progress_.find(v);
      durables.push_back(it == progress_.end() ? LogIndex() : it->second.durable);
    }
  }
  LogIndex q = kth_highest(durables, config_.quorum());
  if (q > quorum_durable_) quorum_durable_ = q;
}

void Core::append_entry(EntryType type, std::string payload) {
  Entry e{.term = hard_.term,
          .index = last_index().next(),
          .type = type,
          .payload = std::move(payload)};
  uncommitted_.emplace_back(e.index, e.size_bytes());
  uncommitted_bytes_ += e.size_bytes();
  bool ok = append_unstable({std::move(e)});
  TESS_ASSERT(ok, "a leader's append cannot drop a committed entry");
  broadcast_append();
}

void Core::broadcast_append() {
  for (auto& [peer, pr] : progress_) send_append(peer, /*send_if_empty=*/false);
}

void Core::start_round(Time now) {
  ++round_;
  round_handed_ = false;
  round_stamps_.emplace_back(round_, now);
  while (round_stamps_.size() > kMaxRoundStamps) round_stamps_.pop_front();
}

void Core::broadcast_heartbeat(Time now) {
  start_round(now);
  next_heartbeat_ = now + options_.heartbeat_interval;
  for (auto& [peer, pr] : progress_) {
    Message m = to_follower(MessageType::kHeartbeat, peer, pr);
    m.commit = std::min(pr.match, hard_.commit);
    m.round = round_;
    send(std::move(m));
  }
  if (progress_.empty()) release_reads();
}

bool Core::send_append(ReplicaId peer, bool send_if_empty) {
  Progress& pr = progress_.at(peer);
  bool sent = false;
  while (!pr.paused(options_.max_inflight_msgs, options_.max_inflight_bytes)) {
    LogIndex prev = pr.next.prev();
    auto prev_term = term_at(prev);
    Result<std::vector<Entry>> entries = std::vector<Entry>();
    if (prev_term.ok() && pr.next <= last_index()) {
      entries = entries_between(pr.next, last_index().next(), options_.max_msg_bytes);
    }
    if (!prev_term.ok() || !entries.ok()) {
      Status why = prev_term.ok() ? entries.status() : prev_term.status();
      if (why.code() == StatusCode::kCorruption) {
        mark_broken(why);
        return sent;
      }
      // Compacted away: the follower needs a snapshot (if it is alive to take one).
      auto heard = last_heard_.find(peer);
      if (heard == last_heard_.end() || !pr.recent_active) return sent;
      TESS_COVER("raft.snapshot_sent");
      Message m = to_follower(MessageType::kSnapshot, peer, pr);
      m.round = round_;
      pr.become_snapshot(applied_);
      pr.snapshot_sent = last_now_;
      send(std::move(m));
      return true;
    }
    if (entries->empty() && !send_if_empty) return sent;
    Message m = to_follower(MessageType::kAppend, peer, pr);
    m.log_index = prev;
    m.log_term = *prev_term;
    m.commit = hard_.commit;
    m.round = round_;
    uint64_t bytes = 0;
    for (const Entry& e : *entries) bytes += e.size_bytes();
    m.entries = std::move(*entries);
    bool has_entries = !m.entries.empty();
    LogIndex last = has_entries ? m.entries.back().index : prev;
    send(std::move(m));
    sent = true;
    if (pr.state == Progress::State::kReplicate) {
      if (!has_entries) return sent;
      pr.next = last.next();
      pr.inflight.emplace_back(last, bytes);
      pr.inflight_bytes += bytes;
      send_if_empty = false;
    } else {
      pr.probe_sent = true;
    }
  }
  return sent;
}

void Core::send_timeout_now(ReplicaId peer) {
  Message m = to_follower(MessageType::kTimeoutNow, peer, progress_.at(peer));
  // Design 2.4: the target campaigns ignoring its promise, so this leader's lease ends now.
  transferred_this_term_ = true;
  lease_until_ = Time::min();
  send(std::move(m));
}

// ---- Reads -----------------------------------------------------------------------------------

bool Core::lease_usable(Time now) const {
  return options_.lease_reads && !transferred_this_term_ && committed_own_term_ &&
         now < lease_until_;
}

void Core::serve_read(ReadId id, Time now) {
  if (TESS_MUTATION("raft.read_without_lease_or_quorum") || lease_usable(now) ||
      config_.voters.size() == 1) {
    if (lease_usable(now)) TESS_COVER("raft.lease_read");
    ready_reads_.push_back(ReadState{id, hard_.commit});
    return;
  }
  // ReadIndex: the read is served at today's commit once a quorum acks a round whose messages
  // leave after the read arrived.
  TESS_COVER("raft.read_index");
  if (round_handed_) broadcast_heartbeat(now);
  pending_reads_.push_back(PendingRead{id, hard_.commit, round_});
}

void Core::release_reads() {
  if (pending_reads_.empty()) return;
  std::vector<uint64_t> rounds;
  for (ReplicaId v : config_.voters) {
    if (v == options_.self) {
      rounds.push_back(round_);
    } else {
      auto it = acked_round_.find(v);
      rounds.push_back(it == acked_round_.end() ? 0 : it->second);
    }
  }
  uint64_t quorum_round = kth_highest(rounds, config_.quorum());
  auto it = pending_reads_.begin();
  while (it != pending_reads_.end() && it->round <= quorum_round) {
    ready_reads_.push_back(ReadState{it->id, it->index});
    ++it;
  }
  pending_reads_.erase(pending_reads_.begin(), it);
}

void Core::fail_pending_reads() {
  for (const PendingRead& r : pending_reads_) failed_reads_.push_back(r.id);
  for (ReadId id : reads_waiting_for_commit_) failed_reads_.push_back(id);
  pending_reads_.clear();
  reads_waiting_for_commit_.clear();
}

// ---- Ready -----------------------------------------------------------------------------------

bool Core::has_ready() const {
  if (outstanding_ready_) return false;
  if (soft_ != reported_soft_ || hard_ != persisted_hard_ || recovered_to_report_) return true;
  if ((pending_snapshot_ && !snapshot_handed_) || !unstable_.empty()) return true;
  if (!messages_.empty() || !after_persist_.empty() || !ready_reads_.empty() ||
      !failed_reads_.empty()) {
    return true;
  }
  LogIndex first_unapplied = pending_snapshot_ ? pending_snapshot_->index.next() : applied_.next();
  return std::min(hard_.commit, last_index()) >= first_unapplied;
}

Ready Core::ready() {
  TESS_ASSERT(!outstanding_ready_, "ready() while Ready {} is outstanding", *outstanding_ready_);
  Ready rd;
  rd.id = next_ready_id_++;
  if (soft_ != reported_soft_) {
    rd.soft_state = soft_;
    reported_soft_ = soft_;
  }
  if (hard_ != persisted_hard_) {
    rd.hard_state = hard_;
    rd.must_sync = hard_.term != persisted_hard_.term || hard_.vote != persisted_hard_.vote;
  }
  rd.recovered = recovered_to_report_;
  recovered_to_report_ = false;
  if (pending_snapshot_ && !snapshot_handed_) {
    rd.snapshot = pending_snapshot_;
    rd.snapshot_data = pending_snapshot_data_;
    snapshot_handed_ = true;
  }
  rd.entries = unstable_;
  unstable_handed_ = unstable_.size();
  handed_generation_ = unstable_generation_;
  rd.messages = std::move(messages_);
  messages_.clear();
  rd.after_persist = std::move(after_persist_);
  after_persist_.clear();
  if (TESS_MUTATION("raft.ack_before_persist")) {
    // The deliberate bug: answers and votes leave before what they state was written.
    rd.messages.insert(rd.messages.end(), std::make_move_iterator(rd.after_persist.begin()),
                       std::make_move_iterator(rd.after_persist.end()));
    rd.after_persist.clear();
  } else if (rd.must_sync && !rd.messages.empty()) {
    // A term or vote not yet on disk: nothing of this term may leave before it is (a single
    // voter elects itself and sends appends to learners in the same turn).
    rd.messages.insert(rd.messages.end(), std::make_move_iterator(rd.after_persist.begin()),
                       std::make_move_iterator(rd.after_persist.end()));
    rd.after_persist = std::move(rd.messages);
    rd.messages.clear();
  }
  if (!rd.messages.empty()) round_handed_ = true;
  LogIndex first_unapplied = rd.snapshot ? rd.snapshot->index.next() : applied_.next();
  LogIndex last_committed = std::min(hard_.commit, last_index());
  if (last_committed >= first_unapplied) {
    auto committed =
        entries_between(first_unapplied, last_committed.next(), kMaxCommittedBytesPerReady);
    if (committed.ok()) {
      rd.committed = std::move(*committed);
    } else {
      mark_broken(committed.status());
    }
  }
  applying_ = rd.committed.empty() ? (rd.snapshot ? rd.snapshot->index : applied_)
                                   : rd.committed.back().index;
  rd.reads = std::move(ready_reads_);
  ready_reads_.clear();
  rd.failed_reads = std::move(failed_reads_);
  failed_reads_.clear();
  outstanding_ready_ = rd.id;
  return rd;
}

void Core::advance(const Ready& rd) {
  TESS_ASSERT(outstanding_ready_ == rd.id, "advance of Ready {} which is not outstanding", rd.id);
  outstanding_ready_.reset();
  if (rd.hard_state) persisted_hard_ = *rd.hard_state;
  if (rd.snapshot) {
    applied_ = rd.snapshot->index;
    if (pending_snapshot_ == rd.snapshot) pending_snapshot_.reset();
    pending_snapshot_data_.reset();
  }
  if (handed_generation_ == unstable_generation_) {
    unstable_.erase(unstable_.begin(),
                    unstable_.begin() + static_cast<ptrdiff_t>(unstable_handed_));
  }
  unstable_handed_ = 0;
  for (const Entry& e : rd.committed) {
    applied_ = e.index;
    if (e.type == EntryType::kConfChange) apply_config_change(e);
  }
  applying_ = applied_;
  if (soft_.role == Role::kLeader) {
    // The leader's own write counts only now that it is persisted.
    maybe_commit();
    update_quorum_durable();
  }
}

void Core::apply_config_change(const Entry& entry) {
  auto change = decode_conf_change(entry.payload);
  if (!change) {
    mark_broken(
        error(StatusCode::kCorruption, "malformed configuration change at {}", entry.index));
    return;
  }
  if (std::string why = config_.refusal(*change); !why.empty()) {
    // Both leaders' checks passed, so this is a change that raced another: skip it, on every
    // replica alike (the outcome depends only on the log).
    TESS_COVER("raft.conf_change_skipped");
    return;
  }
  TESS_COVER("raft.conf_change_applied");
  config_ = config_.applied(*change);
  if (soft_.role != Role::kLeader) return;
  if (change->replica == options_.self && !config_.contains(options_.self)) {
    become_follower(hard_.term, kNoReplica, last_now_);
    return;
  }
  if (change->kind == ConfChange::Kind::kAddLearner && change->replica != options_.self) {
    Progress pr{.next = last_index().next()};
    pr.incarnation = peer_incarnation_[change->replica];
    progress_[change->replica] = pr;
    last_heard_[change->replica] = last_now_;
    send_append(change->replica, /*send_if_empty=*/true);
  }
  if (change->kind == ConfChange::Kind::kRemoveReplica) {
    // The removed replica hears of its removal only from us, and commits no longer travel on
    // their own: one last append carries the commit that holds its removal (else it would go on
    // campaigning in the old configuration, waking the group).
    if (progress_.count(change->replica)) send_append(change->replica, /*send_if_empty=*/true);
    progress_.erase(change->replica);
    last_heard_.erase(change->replica);
    acked_round_.erase(change->replica);
    if (transfer_target_ == change->replica) transfer_target_.reset();
  }
  maybe_commit();
}

void Core::mark_broken(const Status& status) {
  if (broken_) return;
  TESS_LOG_ERROR("raft replica {} stops: {}", options_.self, status.to_string());
  broken_ = true;
  if (soft_.role == Role::kLeader) fail_pending_reads();
  soft_.role = Role::kFollower;
  soft_.leader = kNoReplica;
}

// ---- Messages --------------------------------------------------------------------------------

void Core::set_durable(Message& m) {
  m.durable = durable_.index;
  m.durable_term = durable_.term;
  durable_reported_ = std::max(durable_reported_, durable_.index);
}

void Core::want_durable(LogIndex index) {
  if (soft_.role != Role::kLeader || broken_ || index <= quorum_durable_) return;
  if (index <= sync_wanted_) return;  // Asked already; the answers are on their way.
  sync_wanted_ = std::min(index, last_index());
  for (auto& [peer, pr] : progress_) {
    if (pr.durable < sync_wanted_ && config_.is_voter(peer)) {
      send_append(peer, /*send_if_empty=*/true);
    }
  }
}

Message Core::to_follower(MessageType type, ReplicaId peer, const Progress& pr) const {
  Message m;
  m.type = type;
  m.from = options_.self;
  m.to = peer;
  m.term = hard_.term;
  m.from_incarnation = options_.incarnation;
  m.to_incarnation = pr.incarnation;
  if (sync_wanted_ > quorum_durable_) m.sync_index = sync_wanted_;
  return m;
}

Message Core::reply_to(const Message& m, MessageType type) const {
  Message r;
  r.type = type;
  r.from = options_.self;
  r.to = m.from;
  r.term = hard_.term;
  r.from_incarnation = options_.incarnation;
  r.to_incarnation = m.from_incarnation;
  r.round = m.round;
  return r;
}

void Core::send(Message m) {
  m.from_incarnation = options_.incarnation;
  // Answers and vote requests state what this replica wrote (its log, term and vote): they leave
  // only once that is on disk. A leader's appends depend on nothing unwritten (it counts its own
  // copy only after persisting it), so they leave at once.
  bool after_persist =
      is_response(m.type) || m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  if (after_persist) {
    after_persist_.push_back(std::move(m));
  } else {
    messages_.push_back(std::move(m));
  }
}

// ---- Log -------------------------------------------------------------------------------------

EntryId Core::snapshot_point() const {
  if (pending_snapshot_) return EntryId{pending_snapshot_->index, pending_snapshot_->term};
  return log_->snapshot_point();
}

LogIndex Core::last_index() const {
  if (!unstable_.empty()) return unstable_.back().index;
  if (pending_snapshot_) return pending_snapshot_->index;
  return log_->last_index();
}

LogIndex Core::persisted_last_index() const {
  if (pending_snapshot_) return LogIndex();
  LogIndex stored = log_->last_index();
  if (!unstable_.empty()) stored = std::min(stored, unstable_.front().index.prev());
  return stored;
}

Term Core::last_term() const {
  auto t = term_at(last_index());
  return t.ok() ? *t : Term();
}

Result<Term> Core::term_at(LogIndex index) const {
  EntryId sp = snapshot_point();
  if (index == sp.index) return sp.term;
  if (index < sp.index) {
    return error(StatusCode::kOutOfRange, "entry {} is compacted (snapshot at {})", index,
                 sp.index);
  }
  if (!unstable_.empty() && index >= unstable_.front().index) {
    if (index > unstable_.back().index) {
      return error(StatusCode::kOutOfRange, "no entry {} (last {})", index, last_index());
    }
    return unstable_[unstable_.front().index.count_to(index)].term;
  }
  if (pending_snapshot_) {
    return error(StatusCode::kOutOfRange, "no entry {} after snapshot {}", index, sp.index);
  }
  return log_->term(index);
}

Result<std::vector<Entry>> Core::entries_between(LogIndex from, LogIndex to,
                                                 uint64_t max_bytes) const {
  std::vector<Entry> out;
  if (from >= to) return out;
  EntryId sp = snapshot_point();
  if (from <= sp.index) {
    return error(StatusCode::kOutOfRange, "entry {} is compacted (snapshot at {})", from, sp.index);
  }
  LogIndex unstable_first = unstable_.empty() ? last_index().next() : unstable_.front().index;
  uint64_t bytes = 0;
  if (from < unstable_first) {
    LogIndex stored_to = std::min(to, unstable_first);
    auto stored = log_->entries(from, stored_to, max_bytes);
    if (!stored.ok()) return stored.status();
    for (auto& e : *stored) bytes += e.size_bytes();
    out = std::move(*stored);
    if (out.empty() || out.back().index.next() < stored_to) return out;  // Hit max_bytes.
    from = stored_to;
  }
  for (LogIndex i = from; i < to && !unstable_.empty(); i = i.next()) {
    const Entry& e = unstable_[unstable_.front().index.count_to(i)];
    if (!out.empty() && bytes + e.size_bytes() > max_bytes) break;
    bytes += e.size_bytes();
    out.push_back(e);
  }
  return out;
}

LogIndex Core::find_conflict_by_term(LogIndex index, Term term) const {
  // The largest index <= `index` whose term is <= `term`: entries above it cannot match.
  LogIndex i = std::min(index, last_index());
  while (i > snapshot_point().index) {
    auto t = term_at(i);
    if (!t.ok() || *t <= term) return i;
    i = i.prev();
  }
  return i;
}

bool Core::append_unstable(std::vector<Entry> entries) {
  if (entries.empty()) return true;
  LogIndex first = entries.front().index;
  if (first <= hard_.commit) {
    mark_broken(error(StatusCode::kInternal,
                      "append at {} would overwrite committed entries (commit {})", first,
                      hard_.commit));
    return false;
  }
  TESS_ASSERT(first <= last_index().next(), "append at {} leaves a gap after {}", first,
              last_index());
  if (!unstable_.empty() && first <= unstable_.back().index) {
    if (first < unstable_.front().index) {
      unstable_.clear();
    } else {
      unstable_.resize(unstable_.front().index.count_to(first));
    }
    ++unstable_generation_;
  }
  if (first <= durable_.index) {
    // The synced tail is being replaced: durability restarts below it.
    LogIndex keep = first.prev();
    auto t = term_at(keep);
    durable_ = t.ok() ? EntryId{keep, *t} : EntryId{};
  }
  for (auto& e : entries) unstable_.push_back(std::move(e));
  return true;
}

SnapshotMeta Core::snapshot_meta() const {
  auto t = term_at(applied_);
  return SnapshotMeta{applied_, t.ok() ? *t : Term(), config_};
}

// ---- Hibernation (design 5.2) ------------------------------------------------------------------

bool Core::stale_for_hibernation(const Message& m) const {
  if (m.term != hard_.term || m.round == 0 || m.round > hibernate_round_) return false;
  if (soft_.role == Role::kLeader) {
    return m.type == MessageType::kAppendResponse || m.type == MessageType::kHeartbeatResponse ||
           m.type == MessageType::kHibernateResponse;
  }
  return m.from == soft_.leader &&
         (m.type == MessageType::kHeartbeat || m.type == MessageType::kAppend);
}

void Core::wake(Time now) {
  last_now_ = std::max(last_now_, now);
  if (!hibernated_) return;
  if (soft_.role == Role::kLeader) {
    TESS_COVER("raft.leader_woken_by_host");
    wake_leader(now);
    return;
  }
  // The leader's process died or restarted. Campaign within a random election_timeout_min (the
  // followers woken together must not all campaign at once); the promise to the leader still
  // runs from when it was last heard, so a leader that was not really dead keeps its lease.
  TESS_COVER("raft.follower_woken_by_host");
  hibernated_ = false;
  election_deadline_ = now + (random_election_timeout() - options_.election_timeout_min);
}

void Core::wake_leader(Time now) {
  hibernated_ = false;
  // CheckQuorum counts from now: nobody was expected to speak while the group slept.
  for (auto& [peer, heard] : last_heard_) heard = now;
  note_activity(now);
  // Heartbeats at once: they wake the followers and start a round towards a lease.
  broadcast_heartbeat(now);
}

void Core::note_activity(Time now) {
  if (hibernated_) {
    TESS_COVER("raft.leader_woken_by_work");
    wake_leader(now);  // Calls back here, awake.
    return;
  }
  last_activity_ = std::max(last_activity_, now);
  hibernate_index_.reset();
}

bool Core::idle_and_caught_up() const {
  if (transfer_target_ || !committed_own_term_ || !pending_reads_.empty() ||
      !reads_waiting_for_commit_.empty() || !uncommitted_.empty() || recovering_) {
    return false;
  }
  LogIndex last = last_index();
  if (pending_conf_index_ > applied_ || hard_.commit != last || applied_ != last ||
      persisted_last_index() != last || durable_.index != last || pending_snapshot_) {
    return false;
  }
  for (const auto& [peer, pr] : progress_) {
    if (pr.state != Progress::State::kReplicate || pr.match != last || pr.durable != last ||
        !pr.inflight.empty()) {
      return false;
    }
  }
  return true;
}

void Core::maybe_hibernate(Time now) {
  if (options_.hibernate_after == Duration::zero()) return;
  // A request unanswered (a follower refused, or is away) is asked again after another period.
  if (now - last_activity_ < options_.hibernate_after || !idle_and_caught_up()) return;
  last_activity_ = now;
  hibernate_index_ = last_index();
  hibernate_accepted_.clear();
  TESS_COVER("raft.hibernate_requested");
  for (auto& [peer, pr] : progress_) {
    Message m = to_follower(MessageType::kHibernate, peer, pr);
    m.log_index = last_index();
    m.log_term = last_term();
    m.commit = hard_.commit;
    // Everything sent so far belongs to this round or an older one (stale_for_hibernation).
    m.round = round_;
    send(std::move(m));
  }
  if (progress_.empty()) {
    hibernated_ = true;
    lease_until_ = Time::min();
    hibernate_index_.reset();
  }
}

void Core::handle_hibernate(const Message& m, Time now) {
  (void)now;
  Message r = reply_to(m, MessageType::kHibernateResponse);
  r.log_index = m.log_index;
  auto t = term_at(m.log_index);
  // Exactly at the leader's point, in this incarnation: then its commit names our entries.
  bool at_point = m.to_incarnation == options_.incarnation && last_index() == m.log_index &&
                  t.ok() && *t == m.log_term;
  if (at_point && m.commit > hard_.commit && m.commit <= last_index()) hard_.commit = m.commit;
  bool accept = at_point && !recovering_ && hard_.commit == m.commit && !pending_snapshot_ &&
                persisted_last_index() == last_index() && durable_.index == last_index();
  r.reject = !accept;
  set_durable(r);
  send(std::move(r));
  if (accept) {
    TESS_COVER("raft.follower_hibernated");
    hibernated_ = true;
    hibernate_round_ = m.round;
  }
}

void Core::handle_hibernate_response(const Message& m, Progress& pr) {
  note_durable(m, pr);
  update_quorum_durable();
  if (!hibernate_index_ || m.reject || m.log_index != *hibernate_index_ ||
      last_index() != *hibernate_index_) {
    return;
  }
  hibernate_accepted_.insert(m.from);
  for (const auto& [peer, p] : progress_) {
    if (hibernate_accepted_.count(peer) == 0) return;
  }
  if (!idle_and_caught_up()) return;
  TESS_COVER("raft.leader_hibernated");
  hibernated_ = true;
  hibernate_round_ = round_;
  // A hibernated leader serves no read from its lease: waking starts a new round.
  lease_until_ = Time::min();
  hibernate_index_.reset();
}

}  // namespace tessera::raft
