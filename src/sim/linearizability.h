// Linearizability checking of key-value histories, for simulator workloads that record what their
// clients asked and saw and want to know whether some single order of those operations, each
// taking effect at one instant between its invocation and its response, explains every result.
//
// The model is a map of independent registers (one per key, all initially absent), so the history
// is split per key and each key is checked on its own (P-compositionality: a history of
// independent objects is linearizable iff each object's sub-history is). Each key is checked with
// the Wing-Gong-Lowe search as Porcupine and Knossos do it: operations are tried in the order
// their invocations allow, with backtracking, and every (set of operations linearized, register
// state) already explored is remembered so that it is never explored twice.
//
// Operations of unknown outcome never return, so each may be placed at any later point or not at
// all. That is what makes such histories expensive, and the search cuts it down by exchange
// arguments, each of which shows that some orders need not be tried: a configuration with fewer
// unknown operations placed dominates one with more; unknown operations with the same effect are
// used earliest-invoked first; values nobody observes are one state; and an unknown operation is
// placed only just before an operation that needs its effect. A brute-force comparison in the
// tests checks these arguments.
//
// Cost, measured in the debug (ASan) build, where a million steps take about a quarter of a
// second: 2,000 operations of 5 clients on one key take about 20,000 steps to accept and
// 100,000-200,000 to reject. With 1-10% of operations of unknown outcome, accepting takes
// 30,000-600,000 steps. Rejecting is the hard case, because it has to rule out every order: with
// 1% unknown it took from 100,000 to 5 million steps, and with 3% or more some histories take
// longer than 67 million, so the answer is kUnknown. `max_steps_per_key` bounds the search.
//
// A plain function of its input: no clock, no randomness, no I/O, and the result (explanation
// included) depends only on the history. Safe to call from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tessera::sim {

// One client operation on a key-value store whose keys are independent registers.
struct KvOperation {
  enum class Kind : uint8_t { kPut, kGet, kDelete, kCas };
  Kind kind = Kind::kGet;
  uint64_t client = 0;
  std::string key;
  // kPut, kCas: the value written.
  std::string value;
  // kCas: the value it expects; nullopt = expects the key absent.
  std::optional<std::string> expected;
  // Invocation and response in true simulated time (nanoseconds since any fixed origin).
  // response_ns nullopt: the outcome is unknown (timed out, leader lost): it may have taken
  // effect at any time after invocation, or never.
  int64_t invocation_ns = 0;
  std::optional<int64_t> response_ns;
  // kGet: what it returned (nullopt = absent). kCas: whether it succeeded. Unused otherwise.
  std::optional<std::string> output_value;
  bool output_ok = false;
};

struct LinearizabilityResult {
  enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kUnknown /* budget exhausted */ };
  Verdict verdict = Verdict::kLinearizable;
  // For kNotLinearizable: the key, and a readable account: the operations of that key in
  // invocation order with times, and the longest linearizable prefix found (which ops, in what
  // order, and the state after them), so a person can see which operation could not be placed.
  // Operations are named by their index in the checked history ("history[12]"). For a key with
  // many operations only the part around the failure is listed.
  // For kUnknown: the keys whose search ran out of budget. Empty for kLinearizable.
  std::string explanation;
};

// Checks that `history` is linearizable against a map of independent registers, all initially
// absent. Operations of unknown outcome (no response) may be linearized anywhere after their
// invocation or left out. `max_steps_per_key` bounds the search per key (then kUnknown).
//
// Per key: a put sets the value; a delete makes it absent; a get returns the current value or
// absent; a cas succeeds iff the current value equals `expected` (absent matching nullopt) and
// then sets `value`, and a failed cas (output_ok false) changes nothing and must have seen a
// state other than `expected`. Of unknown outcome: a get is ignored (it has no effect); a put or
// delete takes effect at one instant after its invocation or never; a cas likewise, succeeding if
// the state at that instant matches `expected` and changing nothing otherwise. Operations whose
// intervals touch (one's response at the other's invocation) count as concurrent.
//
// Verdicts: kNotLinearizable if some key's sub-history is not linearizable (the first such key in
// byte order is explained); else kUnknown if some key's search took more than
// `max_steps_per_key` steps; else kLinearizable.
//
// REQUIRES: for every operation with a response, *response_ns >= invocation_ns; `kind` is one of
// the four enumerators; fewer than 2^31 operations. A violation is a bug in the caller and
// aborts (TESS_ASSERT).
LinearizabilityResult check_kv_history(const std::vector<KvOperation>& history,
                                       uint64_t max_steps_per_key = 10'000'000);

}  // namespace tessera::sim
