#include "sim/linearizability.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <string_view>
#include <tuple>
#include <utility>

#include "base/assert.h"

namespace tessera::sim {
namespace {

using Kind = KvOperation::Kind;
using Verdict = LinearizabilityResult::Verdict;

// A register state: kAbsent, kUnobserved, or v + 2 for the v-th distinct value some operation of
// the key observes. Interned so that a state is one integer to compare, hash and remember.
//
// kUnobserved stands for every value that no get returned and no cas expected: no operation can
// tell such values apart (each get and each successful cas fails on all of them, each failed cas
// passes), so they are one state to the search. That makes all unknown puts of such values one
// class (see is_first_of_its_class), instead of m different ways to explain a failed cas.
using State = uint32_t;
constexpr State kAbsent = 0;
constexpr State kUnobserved = 1;

// One operation of one key, prepared for the search.
struct Op {
  Kind kind = Kind::kGet;
  bool unknown = false;      // No response: its return is at +infinity.
  State value = kAbsent;     // kPut, kCas: what it writes.
  State expected = kAbsent;  // kCas.
  State output = kAbsent;    // kGet: what it returned.
  bool ok = false;           // kCas with a response: whether it succeeded.
  uint32_t history_index = 0;
};

// The state after `op` takes effect in `state`, or nullopt if its recorded result is impossible
// there. An operation of unknown outcome is never impossible: that is what lets the search put it
// after everything else, which is the same as leaving it out.
std::optional<State> step(const Op& op, State state) {
  switch (op.kind) {
    case Kind::kPut:
      return op.value;
    case Kind::kDelete:
      return kAbsent;
    case Kind::kGet:
      if (state == op.output) return state;
      return std::nullopt;
    case Kind::kCas:
      if (op.unknown) return state == op.expected ? op.value : state;
      if (op.ok) {
        if (state == op.expected) return op.value;
        return std::nullopt;
      }
      if (state != op.expected) return state;
      return std::nullopt;
  }
  TESS_ASSERT(false, "operation kind {} (validated on entry)", static_cast<int>(op.kind));
  return std::nullopt;
}

uint64_t mix64(uint64_t z) {  // splitmix64's finalizer.
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The set of linearized operations of one key, as a bitset in two regions: operations with a
// response (bits 0..), then, from a word boundary, those of unknown outcome. The hash of the first
// region is kept up to date on every change (Zobrist: the XOR of a fixed pseudo-random key per
// member), so that a search step hashes in O(1) instead of O(operations / 64). The second region
// is not hashed: Memo compares it by inclusion, not equality.
class OpSet {
 public:
  OpSet(uint32_t known_words, uint32_t unknown_words)
      : known_words_(known_words), words_(known_words + unknown_words, 0) {}

  void insert(uint32_t bit) {
    words_[bit / 64] |= uint64_t{1} << (bit % 64);
    if (bit / 64 >= known_words_) return;
    known_hash_ ^= mix64(bit + 0x9e3779b97f4a7c15ULL);
    end_hint_ = std::max(end_hint_, bit / 64 + 1);
  }
  void erase(uint32_t bit) {
    words_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
    if (bit / 64 >= known_words_) return;
    known_hash_ ^= mix64(bit + 0x9e3779b97f4a7c15ULL);
    first_hint_ = std::min(first_hint_, bit / 64);
  }
  bool contains(uint32_t bit) const { return (words_[bit / 64] >> (bit % 64)) & 1; }
  uint64_t known_hash() const { return known_hash_; }
  const uint64_t* words() const { return words_.data(); }
  const uint64_t* unknown_words() const { return words_.data() + known_words_; }
  uint32_t unknown_word_count() const {
    return static_cast<uint32_t>(words_.size()) - known_words_;
  }

  // The known region is all-ones words before first_mixed_word(), zero words from
  // end_mixed_word() on, and anything in between. The hints make these amortised O(1): the search
  // moves back and forth near one frontier.
  uint32_t first_mixed_word() {
    while (first_hint_ < known_words_ && words_[first_hint_] == ~uint64_t{0}) ++first_hint_;
    return first_hint_;
  }
  uint32_t end_mixed_word() {
    uint32_t first = first_mixed_word();
    while (end_hint_ > first && words_[end_hint_ - 1] == 0) --end_hint_;
    return std::max(end_hint_, first);
  }

 private:
  uint32_t known_words_;
  std::vector<uint64_t> words_;
  uint64_t known_hash_ = 0;
  // Lower bound on the first word not all ones; upper bound on one past the last nonzero word.
  uint32_t first_hint_ = 0;
  uint32_t end_hint_ = 0;
};

// The configurations the search has entered: (operations with a response linearized, state,
// operations of unknown outcome linearized). Lowe's memoisation, strengthened for unknown
// outcomes: a configuration is not entered if one with the same known part and state and a
// SUBSET of its unknown part was entered before, because every way to finish the larger one also
// finishes the smaller one (the unknown operations it lacks can go last, which is the same as
// never). Without this, every unknown operation still pending can double the configurations an
// exhaustive search (a history that is not linearizable) has to visit.
//
// The known part is stored trimmed: operations with a response are numbered in invocation order,
// and the search never leaves one unlinearized while linearizing an operation invoked after its
// response, so that region is full words, a few mixed words around the frontier, then zero words.
// Only the mixed words are stored, so a configuration costs a few words instead of
// operations / 64 and memory grows linearly, not quadratically, with the length of the history.
// The encoding is canonical, so equal sets have equal encodings.
class Memo {
 public:
  // Records the configuration and returns true, or returns false if it or one that dominates it
  // is recorded already.
  bool insert(OpSet& set, State state) {
    uint64_t hash = set.known_hash() ^ mix64(state);
    uint32_t first = set.first_mixed_word();
    uint32_t mixed = set.end_mixed_word() - first;
    if ((groups_.size() + 1) * 2 > slots_.size()) grow();
    size_t mask = slots_.size() - 1;
    size_t slot = mix64(hash) & mask;
    for (;; slot = (slot + 1) & mask) {
      if (slots_[slot] == 0) break;
      Group& group = groups_[slots_[slot] - 1];
      if (group.hash == hash && group.state == state && group.first_word == first &&
          group.mixed_words == mixed &&
          std::memcmp(arena_.data() + group.offset, set.words() + first,
                      mixed * sizeof(uint64_t)) == 0) {
        return add_variant(group, set);
      }
    }
    TESS_ASSERT(groups_.size() < std::numeric_limits<uint32_t>::max(), "memo full");
    Group group{.hash = hash,
                .offset = arena_.size(),
                .first_word = first,
                .mixed_words = mixed,
                .state = state};
    arena_.insert(arena_.end(), set.words() + first, set.words() + first + mixed);
    bool added = add_variant(group, set);
    TESS_ASSERT(added, "a new group has no variants to dominate");
    groups_.push_back(group);
    slots_[slot] = static_cast<uint32_t>(groups_.size());
    return true;
  }

 private:
  struct Group {  // One (known part, state).
    uint64_t hash;
    uint64_t offset;  // Of the mixed words in arena_.
    uint32_t first_word;
    uint32_t mixed_words;
    State state;
    uint32_t variants = 0;  // Head of its list in variants_ (index + 1; 0 = empty).
  };
  struct Variant {    // One unknown part of a group.
    uint64_t offset;  // Of its words in arena_.
    uint32_t next;    // Index + 1 in variants_; 0 = end.
  };

  // Adds the set's unknown part to the group's list unless a subset of it is there. The list is
  // kept an antichain: a superset of the new part is dropped, as the new one now dominates it.
  bool add_variant(Group& group, const OpSet& set) {
    uint32_t words = set.unknown_word_count();
    const uint64_t* current = set.unknown_words();
    uint32_t* link = &group.variants;
    while (*link != 0) {
      Variant& variant = variants_[*link - 1];
      const uint64_t* stored = arena_.data() + variant.offset;
      bool stored_within = true;   // stored is a subset of current.
      bool current_within = true;  // current is a subset of stored.
      for (uint32_t i = 0; i < words; ++i) {
        stored_within = stored_within && (stored[i] & ~current[i]) == 0;
        current_within = current_within && (current[i] & ~stored[i]) == 0;
      }
      if (stored_within) return false;
      if (current_within) {
        *link = variant.next;
      } else {
        link = &variant.next;
      }
    }
    TESS_ASSERT(variants_.size() < std::numeric_limits<uint32_t>::max(), "memo full");
    variants_.push_back({.offset = arena_.size(), .next = group.variants});
    arena_.insert(arena_.end(), current, current + words);
    group.variants = static_cast<uint32_t>(variants_.size());
    return true;
  }

  // Open addressing at most half full; rebuilt from the stored hashes when it would fill more.
  void grow() {
    std::vector<uint32_t> slots(std::max<size_t>(1024, slots_.size() * 2), 0);
    size_t mask = slots.size() - 1;
    for (uint32_t i = 0; i < groups_.size(); ++i) {
      size_t slot = mix64(groups_[i].hash) & mask;
      while (slots[slot] != 0) slot = (slot + 1) & mask;
      slots[slot] = i + 1;
    }
    slots_ = std::move(slots);
  }

  std::vector<uint64_t> arena_;
  std::vector<Group> groups_;
  std::vector<Variant> variants_;
  std::vector<uint32_t> slots_;  // 0 = empty, else an index + 1 into groups_.
};

std::string quoted(const std::optional<std::string>& value) {
  if (!value) return "absent";
  // Values may be binary or huge; keep a line readable.
  constexpr size_t kMaxShown = 40;
  std::string out = "\"";
  for (size_t i = 0; i < value->size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>((*value)[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    }
  }
  out += '"';
  if (value->size() > kMaxShown)
    fmt::format_to(std::back_inserter(out), "...({} bytes)", value->size());
  return out;
}

std::string describe(const KvOperation& op, uint32_t history_index) {
  std::string what;
  switch (op.kind) {
    case Kind::kPut:
      what = fmt::format("put {}", quoted(op.value));
      break;
    case Kind::kDelete:
      what = "delete";
      break;
    case Kind::kGet:
      what = op.response_ns ? fmt::format("get -> {}", quoted(op.output_value))
                            : std::string("get (outcome unknown)");
      break;
    case Kind::kCas:
      what = fmt::format("cas {} -> {} {}", quoted(op.expected), quoted(op.value),
                         !op.response_ns ? "(outcome unknown)"
                         : op.output_ok  ? "ok"
                                         : "failed");
      break;
  }
  std::string response = op.response_ns ? fmt::format("{}", *op.response_ns) : "unknown";
  return fmt::format("history[{}] client {} {} [{}, {}]", history_index, op.client, what,
                     op.invocation_ns, response);
}

// Checks one key's sub-history. Entries are the calls and returns of its operations in time
// order, kept in doubly linked lists: linearizing an operation lifts its call and return out in
// O(1), and backtracking puts them back in O(1) in reverse order (dancing links), as in Porcupine.
// Operations of unknown outcome have a list of their own (their calls only), so that a walk over
// the operations with a response does not pass every pending unknown one: in a run with faults
// those stay pending to the end, and walking over them made the search quadratic in their number.
class KeyChecker {
 public:
  KeyChecker(const std::vector<KvOperation>& history, const std::vector<uint32_t>& indices)
      : history_(history), indices_(indices) {
    prepare_ops();
    prepare_entries();
  }

  // The search. Each walk tries the candidates (calls before the first return of an operation with
  // a response still unplaced) in two passes: operations with a response first, then those of
  // unknown outcome invoked by that return, so that configurations with fewer unknown operations
  // are entered (and remembered) first and Memo's dominance prunes the others. When both passes
  // fail, the operation of that return cannot be placed: undo the last choice and go on with the
  // candidate after it, in its pass.
  Verdict run(uint64_t max_steps) {
    uint32_t known_words = (known_count_ + 63) / 64;
    uint32_t unknown_words = (static_cast<uint32_t>(ops_.size()) - known_count_ + 63) / 64;
    OpSet linearized(known_words, unknown_words);
    Memo memo;
    struct Frame {
      uint32_t call;     // The call entry lifted.
      State previous;    // The state before its operation.
      int64_t limit_ns;  // The unknown pass's limit when it was chosen there.
    };
    std::vector<Frame> stack;
    uint32_t linearized_known = 0;
    State state = kAbsent;
    uint32_t entry = next_[kKnownHead];
    bool unknown_pass = false;
    int64_t limit_ns = 0;  // In the unknown pass: calls invoked by then are candidates.
    while (true) {
      // Operations of unknown outcome always step, so once every operation with a response has
      // a place the rest go after it, which is the same as leaving them out.
      if (linearized_known == known_count_) return Verdict::kLinearizable;
      if (steps_ >= max_steps) return Verdict::kUnknown;
      ++steps_;
      if (!unknown_pass) {
        TESS_ASSERT(entry != known_tail_, "an unplaced operation's return follows its call");
        if (is_return_[entry]) {
          unknown_pass = true;
          limit_ns = node_time_[entry];
          note_needs(state, limit_ns);
          entry = next_[unknown_head_];
          continue;
        }
      } else if (entry == unknown_tail_ || node_time_[entry] > limit_ns) {
        // The operation of the first return cannot be placed next.
        if (stack.empty()) return Verdict::kNotLinearizable;
        Frame frame = stack.back();
        stack.pop_back();
        common_ = std::min<size_t>(common_, stack.size());
        uint32_t undone = entry_op_[frame.call];
        state = frame.previous;
        linearized.erase(bit_of(undone));
        if (!ops_[undone].unknown) --linearized_known;
        unlift(frame.call);
        entry = next_[frame.call];
        unknown_pass = ops_[undone].unknown;
        limit_ns = frame.limit_ns;
        if (unknown_pass) note_needs(state, limit_ns);
        continue;
      }
      uint32_t op_id = entry_op_[entry];
      const Op& op = ops_[op_id];
      if (needs_no_unknown_before(stack, op) ||
          (op.unknown && !(is_first_of_its_class(linearized, op_id) && is_needed(op, state)))) {
        entry = next_[entry];
        continue;
      }
      std::optional<State> after = step(op, state);
      if (after) {
        linearized.insert(bit_of(op_id));
        if (memo.insert(linearized, *after)) {
          stack.push_back({entry, state, limit_ns});
          state = *after;
          if (!op.unknown) ++linearized_known;
          lift(entry);
          note_prefix(stack, state);
          entry = next_[kKnownHead];
          unknown_pass = false;
          continue;
        }
        linearized.erase(bit_of(op_id));
      }
      entry = next_[entry];
    }
  }

  // True if `op` need not be tried right after the operation of unknown outcome on top of the
  // stack, because an order that does so can be rearranged into one the search tries anyway, in
  // the same configuration or one it dominates:
  // - a put or delete would overwrite the unknown operation's effect before anything saw it:
  //   leave the unknown operation out (put it last) instead;
  // - a get, or a cas that failed, that would have had the same result in the state before the
  //   unknown operation: it changes nothing, so it can go before the unknown operation instead.
  // So an unknown operation is placed only just before an operation that needs its effect, and
  // the same argument lets is_needed skip one that no candidate needs.
  template <typename Stack>
  bool needs_no_unknown_before(const Stack& stack, const Op& op) const {
    if (stack.empty() || !ops_[entry_op_[stack.back().call]].unknown) return false;
    State before_unknown = stack.back().previous;
    switch (op.kind) {
      case Kind::kPut:
      case Kind::kDelete:
        return true;
      case Kind::kGet:
        return op.output == before_unknown;
      case Kind::kCas:
        return !op.unknown && !op.ok && op.expected != before_unknown;
    }
    return false;
  }

  // Notes, for the unknown pass in `state`, what the candidates could use an unknown operation
  // for: the states in which some get or cas among them would succeed that do not hold now, and
  // whether a failed cas is waiting for the state to change. Counts its walk as steps.
  void note_needs(State state, int64_t limit_ns) {
    needed_.clear();
    any_change_needed_ = false;
    for (uint32_t node = next_[kKnownHead]; !is_return_[node]; node = next_[node]) {
      ++steps_;
      const Op& op = ops_[entry_op_[node]];
      if (op.kind == Kind::kGet && op.output != state) needed_.push_back(op.output);
      if (op.kind == Kind::kCas && op.ok && op.expected != state) needed_.push_back(op.expected);
      if (op.kind == Kind::kCas && !op.ok && op.expected == state) any_change_needed_ = true;
    }
    for (uint32_t node = next_[unknown_head_];
         node != unknown_tail_ && node_time_[node] <= limit_ns; node = next_[node]) {
      ++steps_;
      const Op& op = ops_[entry_op_[node]];
      if (op.kind == Kind::kCas && op.expected != state) needed_.push_back(op.expected);
    }
  }

  // Whether the unknown-outcome `op` is worth placing now, in `state`: only if its effect is
  // something a candidate needs (note_needs). The operation after it must be one that needs it
  // (needs_no_unknown_before), so if none does, trying it only finds that out one step later;
  // with m unknown operations pending, that was m dead ends at every configuration. One with no
  // effect here is never worth it: Memo would find the configuration dominated.
  bool is_needed(const Op& op, State state) const {
    State after = *step(op, state);
    if (after == state) return false;
    return any_change_needed_ || std::find(needed_.begin(), needed_.end(), after) != needed_.end();
  }

  // Unknown-outcome operations with the same effect (all deletes; puts of one value; cas with one
  // expected and new value) are interchangeable, except that an earlier invocation can take effect
  // anywhere a later one can. So only the earliest not yet linearized of each class is tried: a
  // completion that uses a later one works with the earlier one in its place (and the later one in
  // the earlier one's, if that is used too). Without this, m pending deletes that might explain k
  // reads of "absent" are tried in C(m, k) ways. Members of a class are therefore linearized in
  // id order, and checking the one before suffices.
  bool is_first_of_its_class(const OpSet& linearized, uint32_t op_id) const {
    uint32_t previous = previous_of_class_[op_id - known_count_];
    return previous == kNone || linearized.contains(bit_of(previous));
  }

  size_t op_count() const { return indices_.size(); }
  size_t unknown_count() const {
    return static_cast<size_t>(std::count_if(indices_.begin(), indices_.end(), [this](uint32_t i) {
      return !history_[i].response_ns.has_value();
    }));
  }

  // After run() returned kNotLinearizable: the account LinearizabilityResult::explanation
  // promises.
  std::string explain(std::string_view key) const;

 private:
  static constexpr uint32_t kKnownHead = 0;
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  // Observed values (get outputs, cas expectations) are interned first, so anything else a put
  // or cas writes maps to kUnobserved.
  State intern(const std::optional<std::string>& value, bool observed) {
    if (!value) return kAbsent;
    auto it = states_.find(*value);
    if (it != states_.end()) return it->second;
    if (!observed) return kUnobserved;
    return states_.emplace(*value, static_cast<State>(states_.size() + 2)).first->second;
  }

  void prepare_ops() {
    for (uint32_t index : indices_) {
      const KvOperation& source = history_[index];
      if (source.kind == Kind::kGet && source.response_ns) intern(source.output_value, true);
      if (source.kind == Kind::kCas) intern(source.expected, true);
    }
    for (uint32_t index : indices_) {
      const KvOperation& source = history_[index];
      bool unknown = !source.response_ns.has_value();
      if (unknown && source.kind == Kind::kGet) continue;  // No effect, nothing to check.
      Op op{.kind = source.kind, .unknown = unknown, .history_index = index};
      if (source.kind == Kind::kPut || source.kind == Kind::kCas) {
        op.value = intern(source.value, false);
      }
      if (source.kind == Kind::kCas) {
        op.expected = intern(source.expected, true);
        op.ok = source.output_ok;
      }
      if (source.kind == Kind::kGet) op.output = intern(source.output_value, true);
      ops_.push_back(op);
    }
    // Operations with a response first, each group in invocation order: the trimmed sets of
    // Memo rely on it. The history index breaks ties so that the order is total.
    std::sort(ops_.begin(), ops_.end(), [this](const Op& a, const Op& b) {
      const KvOperation& x = history_[a.history_index];
      const KvOperation& y = history_[b.history_index];
      return std::tie(a.unknown, x.invocation_ns, a.history_index) <
             std::tie(b.unknown, y.invocation_ns, b.history_index);
    });
    known_count_ = static_cast<uint32_t>(
        std::count_if(ops_.begin(), ops_.end(), [](const Op& op) { return !op.unknown; }));
    std::map<std::tuple<Kind, State, State>, uint32_t> last_of_class;
    for (uint32_t id = known_count_; id < ops_.size(); ++id) {
      const Op& op = ops_[id];
      auto [it, added] = last_of_class.try_emplace({op.kind, op.value, op.expected}, id);
      previous_of_class_.push_back(added ? kNone : it->second);
      it->second = id;
    }
  }

  uint32_t bit_of(uint32_t op_id) const {
    return op_id < known_count_ ? op_id : (known_count_ + 63) / 64 * 64 + (op_id - known_count_);
  }

  // Builds the two lists. Known list: node kKnownHead, the calls and returns of operations with a
  // response in time order, known_tail_. Unknown list: unknown_head_, the calls of operations of
  // unknown outcome in invocation order, unknown_tail_ (their returns, at +infinity, would never be
  // in the way, so they have none).
  void prepare_entries() {
    struct Event {
      int64_t time;
      bool is_return;
      uint32_t op_id;
    };
    std::vector<Event> known;
    std::vector<Event> unknown;
    for (uint32_t id = 0; id < ops_.size(); ++id) {
      const KvOperation& source = history_[ops_[id].history_index];
      if (ops_[id].unknown) {
        unknown.push_back({source.invocation_ns, false, id});
      } else {
        known.push_back({source.invocation_ns, false, id});
        known.push_back({*source.response_ns, true, id});
      }
    }
    // At equal times calls come before returns, so operations whose intervals touch are
    // concurrent (the permissive reading: the checker must not reject a correct system because
    // two clocks' readings tied). The unknown pass's limit applies the same rule.
    auto by_time = [](const Event& a, const Event& b) {
      return std::tie(a.time, a.is_return, a.op_id) < std::tie(b.time, b.is_return, b.op_id);
    };
    std::sort(known.begin(), known.end(), by_time);
    std::sort(unknown.begin(), unknown.end(), by_time);
    known_tail_ = static_cast<uint32_t>(known.size() + 1);
    unknown_head_ = known_tail_ + 1;
    unknown_tail_ = static_cast<uint32_t>(unknown_head_ + unknown.size() + 1);
    uint32_t nodes = unknown_tail_ + 1;
    prev_.assign(nodes, kNone);
    next_.assign(nodes, kNone);
    entry_op_.assign(nodes, kNone);
    match_.assign(nodes, kNone);
    is_return_.assign(nodes, 0);
    node_time_.assign(nodes, 0);
    std::vector<uint32_t> call_of(ops_.size(), kNone);
    auto chain = [this, &call_of](uint32_t head, uint32_t tail, const std::vector<Event>& events) {
      for (uint32_t node = head; node < tail; ++node) {
        next_[node] = node + 1;
        prev_[node + 1] = node;
      }
      for (uint32_t i = 0; i < events.size(); ++i) {
        uint32_t node = head + 1 + i;
        entry_op_[node] = events[i].op_id;
        node_time_[node] = events[i].time;
        is_return_[node] = events[i].is_return;
        if (events[i].is_return) {
          match_[call_of[events[i].op_id]] = node;
        } else {
          call_of[events[i].op_id] = node;
        }
      }
    };
    chain(kKnownHead, known_tail_, known);
    chain(unknown_head_, unknown_tail_, unknown);
    for (const Event& event : known) {
      if (event.is_return) sorted_returns_.push_back(event.op_id);
    }
  }

  void unlink(uint32_t node) {
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
  void relink(uint32_t node) {
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }
  // Takes a call (and its return, if it has one) out of its list; unlift puts them back, and
  // must undo lifts in reverse order.
  void lift(uint32_t call) {
    unlink(call);
    if (match_[call] != kNone) unlink(match_[call]);
  }
  void unlift(uint32_t call) {
    if (match_[call] != kNone) relink(match_[call]);
    relink(call);
  }

  // Keeps best_ equal to the longest stack seen. common_ is a lower bound on how many leading
  // frames of the stack equal best_, so only the rest is copied when the stack grows past it.
  template <typename Stack>
  void note_prefix(const Stack& stack, State state) {
    if (stack.size() <= best_.size()) return;
    best_.resize(stack.size());
    for (size_t i = common_; i < stack.size(); ++i) best_[i] = entry_op_[stack[i].call];
    common_ = stack.size();
    best_state_ = state;
  }

  const std::vector<KvOperation>& history_;
  const std::vector<uint32_t>& indices_;  // The key's operations, in history order.
  std::map<std::string, State, std::less<>> states_;
  std::vector<Op> ops_;       // Indexed by op id.
  uint32_t known_count_ = 0;  // Ids [0, known_count_) have a response, the rest do not.
  // For op id known_count_ + i: the previous unknown-outcome op with the same effect, or kNone.
  std::vector<uint32_t> previous_of_class_;
  // The two entry lists (prepare_entries), in one node space.
  uint32_t known_tail_ = 0;
  uint32_t unknown_head_ = 0;
  uint32_t unknown_tail_ = 0;
  std::vector<uint32_t> prev_;
  std::vector<uint32_t> next_;
  std::vector<uint32_t> entry_op_;
  std::vector<uint32_t> match_;           // A known call's return node; else kNone.
  std::vector<uint8_t> is_return_;        // Bool.
  std::vector<int64_t> node_time_;        // Invocation or response.
  std::vector<uint32_t> sorted_returns_;  // Known op ids in the order of their returns.
  uint64_t steps_ = 0;
  std::vector<State> needed_;  // See note_needs.
  bool any_change_needed_ = false;
  std::vector<uint32_t> best_;  // Op ids of the longest linearizable prefix found.
  size_t common_ = 0;
  State best_state_ = kAbsent;
};

std::string KeyChecker::explain(std::string_view key) const {
  std::string out;
  auto add = [&out](std::string_view line) {
    out += line;
    out += '\n';
  };
  std::vector<uint32_t> position(ops_.size(), kNone);  // Op id -> place in best_, from 1.
  for (size_t i = 0; i < best_.size(); ++i) position[best_[i]] = static_cast<uint32_t>(i + 1);
  // The operation the prefix cannot get past: the unplaced one with a response whose return the
  // search meets first. It and the unplaced operations invoked before that return are what no
  // order fits after the prefix.
  uint32_t blocking = kNone;
  for (uint32_t id : sorted_returns_) {
    if (position[id] == kNone && !ops_[id].unknown) {
      blocking = id;
      break;
    }
  }
  TESS_ASSERT(blocking != kNone, "a failed search leaves an operation with a response unplaced");
  const KvOperation& blocked = history_[ops_[blocking].history_index];
  int64_t deadline_ns = *blocked.response_ns;

  add(fmt::format("key {}: not linearizable: {} operations ({} of unknown outcome); times in ns",
                  quoted(std::string(key)), op_count(), unknown_count()));

  // Every operation of the key, in invocation order, with where the prefix put it.
  std::vector<uint32_t> by_invocation = indices_;
  std::stable_sort(by_invocation.begin(), by_invocation.end(), [this](uint32_t a, uint32_t b) {
    return history_[a].invocation_ns < history_[b].invocation_ns;
  });
  std::map<uint32_t, uint32_t> id_of;  // History index -> op id.
  for (uint32_t id = 0; id < ops_.size(); ++id) id_of[ops_[id].history_index] = id;
  // A long history is shown from a little before the earliest-invoked unplaced operation with a
  // response to a little after the last one invoked by the blocking operation's response.
  size_t first_shown = 0;
  size_t end_shown = by_invocation.size();
  constexpr size_t kShowAll = 100;
  constexpr size_t kContext = 10;
  constexpr size_t kMaxShown = 150;
  if (by_invocation.size() > kShowAll) {
    size_t first_unplaced = by_invocation.size();
    size_t last_before_deadline = 0;
    for (size_t i = 0; i < by_invocation.size(); ++i) {
      uint32_t index = by_invocation[i];
      auto it = id_of.find(index);
      bool unplaced_known =
          it != id_of.end() && !ops_[it->second].unknown && position[it->second] == kNone;
      if (unplaced_known) first_unplaced = std::min(first_unplaced, i);
      if (history_[index].invocation_ns <= deadline_ns) last_before_deadline = i;
    }
    first_shown = first_unplaced > kContext ? first_unplaced - kContext : 0;
    end_shown = std::min(by_invocation.size(), last_before_deadline + 1 + kContext);
    end_shown = std::max(end_shown, first_shown + 1);
    end_shown = std::min(end_shown, first_shown + kMaxShown);
  }
  add("operations in invocation order:");
  if (first_shown > 0) add(fmt::format("  ... {} earlier operations not shown", first_shown));
  for (size_t i = first_shown; i < end_shown; ++i) {
    uint32_t index = by_invocation[i];
    auto it = id_of.find(index);
    std::string where = it == id_of.end() ? "ignored (no effect)"
                        : position[it->second] == kNone
                            ? "not placed"
                            : fmt::format("#{} in prefix", position[it->second]);
    add(fmt::format("  {}  {}", describe(history_[index], index), where));
  }
  if (end_shown < by_invocation.size()) {
    add(fmt::format("  ... {} later operations not shown", by_invocation.size() - end_shown));
  }

  add(fmt::format("longest linearizable prefix found ({} of {} operations that matter):",
                  best_.size(), ops_.size()));
  constexpr size_t kPrefixShowAll = 60;
  constexpr size_t kPrefixTail = 40;
  size_t prefix_from = best_.size() > kPrefixShowAll ? best_.size() - kPrefixTail : 0;
  if (prefix_from > 0) add(fmt::format("  ... the first {} not shown", prefix_from));
  // Replayed on the interned states (to check it) and on the real values (to show them, as
  // kUnobserved has no one value).
  State state = kAbsent;
  std::optional<std::string> value;
  for (size_t i = 0; i < best_.size(); ++i) {
    const Op& op = ops_[best_[i]];
    const KvOperation& source = history_[op.history_index];
    std::optional<State> after = step(op, state);
    TESS_ASSERT(after.has_value(), "the recorded prefix replays");
    bool writes = op.kind == Kind::kPut ||
                  (op.kind == Kind::kCas && state == op.expected && (op.ok || op.unknown));
    if (writes) value = source.value;
    if (op.kind == Kind::kDelete) value.reset();
    state = *after;
    if (i < prefix_from) continue;
    add(fmt::format("  {}. {}  => {}", i + 1, describe(source, op.history_index), quoted(value)));
  }
  TESS_ASSERT(state == best_state_, "the recorded prefix ends in the recorded state");
  add(fmt::format("state after the prefix: {}", quoted(value)));

  std::vector<std::string> rivals;
  for (uint32_t id = 0; id < ops_.size(); ++id) {
    const KvOperation& other = history_[ops_[id].history_index];
    if (id != blocking && position[id] == kNone && other.invocation_ns <= deadline_ns) {
      rivals.push_back(fmt::format("history[{}]", ops_[id].history_index));
    }
  }
  std::string rival_list;
  constexpr size_t kMaxRivals = 12;
  for (size_t i = 0; i < rivals.size() && i < kMaxRivals; ++i) {
    rival_list += (i == 0 ? "" : ", ") + rivals[i];
  }
  if (rivals.size() > kMaxRivals)
    rival_list += fmt::format(" and {} more", rivals.size() - kMaxRivals);
  add(fmt::format(
      "cannot be placed: {}, which had to take effect by {}; from that state no order of it "
      "and the other unplaced operations invoked by then ({}) gives each its recorded result",
      describe(blocked, ops_[blocking].history_index), deadline_ns,
      rivals.empty() ? "none" : rival_list));
  return out;
}

}  // namespace

LinearizabilityResult check_kv_history(const std::vector<KvOperation>& history,
                                       uint64_t max_steps_per_key) {
  TESS_ASSERT(history.size() < (uint64_t{1} << 31), "history of {} operations", history.size());
  // An ordered map: keys are checked, and the first failure reported, in byte order, so the
  // result does not depend on hashing.
  std::map<std::string_view, std::vector<uint32_t>> by_key;
  for (uint32_t i = 0; i < history.size(); ++i) {
    const KvOperation& op = history[i];
    TESS_ASSERT(static_cast<uint8_t>(op.kind) <= static_cast<uint8_t>(Kind::kCas),
                "history[{}] has kind {}", i, static_cast<int>(op.kind));
    TESS_ASSERT(!op.response_ns || *op.response_ns >= op.invocation_ns,
                "history[{}] responds at {} before its invocation at {}", i, *op.response_ns,
                op.invocation_ns);
    by_key[op.key].push_back(i);
  }
  LinearizabilityResult result;
  for (const auto& [key, indices] : by_key) {
    KeyChecker checker(history, indices);
    switch (checker.run(max_steps_per_key)) {
      case Verdict::kLinearizable:
        break;
      case Verdict::kNotLinearizable:
        return {.verdict = Verdict::kNotLinearizable, .explanation = checker.explain(key)};
      case Verdict::kUnknown:
        result.verdict = Verdict::kUnknown;
        result.explanation += fmt::format(
            "key {}: search budget of {} steps exhausted ({} operations, {} of unknown outcome)\n",
            quoted(std::string(key)), max_steps_per_key, checker.op_count(),
            checker.unknown_count());
        break;
    }
  }
  return result;
}

}  // namespace tessera::sim
