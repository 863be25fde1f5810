// The namespace on replicated buckets, with faults (tess-sim --workload namespace).
//
// Three hosts, each a real BucketHost (simulation-mode log store on a FaultInjectionFs, its own
// drifting clock) holding a replica of each of four buckets, with the namespace handler in every
// replica and a recovery loop of abandoned transactions (meta::RecoveryLoop) per host. Three
// clients, each a NamespaceClient over a BucketClient on a network node of its own, run random
// mkdir, create, unlink, rmdir, rename (plain, NOREPLACE, EXCHANGE; within and across buckets),
// link and chmod on a handful of names in whatever directories exist, every call within 3 s.
// Meanwhile hosts are killed (-9) or lose power and restart, links are cut both ways or one way or
// stall, clients are cut off for longer than their deadline, and transaction drivers die
// mid-transaction (fault points in meta/txn_runner.cc).
//
// The model: every replica's handler is wrapped by a recorder that sees each command as it is
// applied. The first apply of each log position is its linearization point (a bucket applies in
// log order, and an answer is sent only after the leader applied it): a single-bucket mutation
// takes effect there, and a cross-bucket one at its coordinator's commit decision, when every key
// it changes is locked. A reference namespace in memory is fed those operations in that order
// and must agree with each: the same errno for a single-bucket answer, a refusal whenever a
// transaction part refused, a success for every commit. Invariants after every step: the model
// agrees with every applied command so far; every later apply of a log position (another
// replica, or a replay after a restart) produced the same answer; no client request was executed
// twice; every answer a client received is the one its request was applied with (a retry returns
// the first answer). At the end, healed: every intent is gone (recovery finished what the dead
// drivers left), and the namespace read through the client library equals the model: each
// directory's entries, each inode's type, link count and parent.
#pragma once

#include <memory>

#include "sim/simulation.h"

namespace tessera::sim {

std::unique_ptr<Workload> make_namespace_workload(Simulation& simulation);

}  // namespace tessera::sim
