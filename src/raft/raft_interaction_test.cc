// Scripted interaction tests of raft::Core (docs/design/2026-11-25-raft-buckets.md 9), in the
// data-driven style of etcd's raft library: each file under testdata/ holds commands, each followed
// by `----` and the output expected from it, up to a blank line. Lines starting with '#' before a
// command are comments. The test runs every command of a file against one environment (a few cores,
// their disks, a network) and compares outputs. With TESS_REWRITE=1 in the environment it rewrites
// the files with the actual output instead; such expectations are only right once someone has read
// them against Raft's rules.
//
// The environment plays the host of design 2.1: it hands each Ready to the node's disk (a MemoryLog
// plus hard state and a trivial state machine, as the OS sees them, and a copy as of the last
// fsync), queues `messages` and then `after_persist` on the network, applies `committed`, and calls
// advance. Each node has its own clock (a Time the scripts move), so drift is scripted.
//
// Commands (IDs are host numbers; replica i is ReplicaId{HostId(i), StoreId(i)}):
//   add-nodes N [voters=(1,2,3)] [learners=(4)] [index=I] [election-min-ms=600] [lease=true]
//             [max-inflight=64] [max-inflight-bytes=B] [max-msg-bytes=B] [max-uncommitted-bytes=B]
//       N new nodes at time 0. The first add-nodes defaults to all its nodes as voters; later ones
//       to an empty configuration (nodes that a leader adds). index=I starts them from a snapshot
//       at I (term 1) with that configuration; I defaults to 1 when there is a configuration (the
//       bootstrap rule, core.h) and 0 when there is none.
//   tick ID [ms=100] [n=1]        n times: move ID's clock by ms, then tick.
//   tick-all [ms=100] [n=1]       the same on every node, in id order.
//   set-time ID... ms=T           set the clocks (no tick): drift between nodes.
//   campaign ID                   tick ID every heartbeat interval until its election timer fires.
//   propose ID payload            propose-conf-change ID add-learner|promote|remove R
//   read ID read-id               transfer ID to=T
//   report-unreachable ID peer=P  report-snapshot-failed ID peer=P
//   compact ID I                  drop ID's log entries <= I (I <= applied).
//   sync ID                       fsync ID's disk and report_durable(its last entry).
//   want-durable ID I             ID (a leader) is asked for SyncTo(I): Core::want_durable.
//   process-ready ID...           handle one Ready on each.
//   deliver-msgs [ID...] [type=T] [from=F] [pick=K]
//                                 step queued messages to ID (all nodes if none), in order; pick=K
//                                 takes only the K-th of those that match (reordering).
//   drop-msgs [from=F] [to=T] [type=T]
//   partition (1) (2 3)           messages between groups are dropped at delivery; heal.
//   stabilize [ID...]             process-ready and deliver-msgs until nothing changes.
//   crash ID                      restart from what the OS holds, incarnation + 1.
//   power-loss ID                 restart from the last fsync, recovering, incarnation + 1.
//   status ID   raft-log ID   lease ID   state ID (the state machine)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "raft/core.h"
#include "raft/log_view.h"
#include "raft/progress.h"
#include "raft/types.h"

namespace tessera::raft {
namespace {

using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// The data-driven file format.

struct ScriptCommand {
  std::string preamble;  // Comments and blank lines before the command, verbatim.
  std::string line;
  int line_number = 0;
  std::string expected;  // Without the final newline.
};

struct Script {
  std::vector<ScriptCommand> commands;
  std::string trailer;  // Comments and blank lines after the last command.
};

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

// Returns an error message, or empty.
std::string parse_script(const std::string& text, Script& script) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string preamble;
  size_t i = 0;
  while (i < lines.size()) {
    const std::string& line = lines[i];
    if (is_blank(line) || line[0] == '#') {
      preamble += line + "\n";
      ++i;
      continue;
    }
    ScriptCommand command;
    command.preamble = std::move(preamble);
    preamble.clear();
    command.line = line;
    command.line_number = static_cast<int>(i + 1);
    ++i;
    if (i >= lines.size() || lines[i] != "----") {
      return fmt::format("line {}: expected ---- after the command", command.line_number);
    }
    ++i;
    std::string expected;
    while (i < lines.size() && !is_blank(lines[i])) {
      expected += lines[i] + "\n";
      ++i;
    }
    if (i < lines.size()) ++i;  // The blank line ending the output.
    if (!expected.empty()) expected.pop_back();
    command.expected = std::move(expected);
    script.commands.push_back(std::move(command));
  }
  script.trailer = std::move(preamble);
  return "";
}

std::string render_script(const Script& script, const std::vector<std::string>& outputs) {
  std::string text;
  for (size_t i = 0; i < script.commands.size(); ++i) {
    const ScriptCommand& c = script.commands[i];
    text += c.preamble + c.line + "\n----\n" + outputs[i] + "\n\n";
  }
  // The blank line after the last output is the file's end; keep trailing comments only.
  if (!script.commands.empty() && !script.trailer.empty()) {
    std::string trailer = script.trailer;
    while (!trailer.empty() && trailer.front() == '\n') trailer.erase(0, 1);
    text += trailer;
  } else {
    text += script.trailer;
  }
  while (text.size() >= 2 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n') {
    text.pop_back();
  }
  return text;
}

// A command line: a name, positional arguments and key=value arguments. A parenthesized group
// ("(2 3)" or "(1,2)") is one token.
struct Args {
  std::string name;
  std::vector<std::string> positional;
  std::map<std::string, std::string> named;
};

Args parse_args(const std::string& line) {
  std::vector<std::string> tokens;
  std::string token;
  int depth = 0;
  for (char ch : line) {
    if (ch == '(') ++depth;
    if (ch == ')') --depth;
    if ((ch == ' ' || ch == '\t') && depth == 0) {
      if (!token.empty()) tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    token += ch;
  }
  if (!token.empty()) tokens.push_back(std::move(token));
  Args args;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i == 0) {
      args.name = tokens[i];
      continue;
    }
    auto eq = tokens[i].find('=');
    if (eq != std::string::npos && tokens[i][0] != '(') {
      args.named[tokens[i].substr(0, eq)] = tokens[i].substr(eq + 1);
    } else {
      args.positional.push_back(tokens[i]);
    }
  }
  return args;
}

// The environment's own errors (a malformed command) are recorded here, not thrown (our code does
// not throw): the command's output becomes "driver error: ...", which fails the test even when
// rewriting. After an error the command goes on with defaults, harmlessly.
class Errors {
 public:
  void fail(std::string message) {
    if (first_.empty()) first_ = std::move(message);
  }
  std::string take() { return std::exchange(first_, std::string()); }

  uint64_t number(const std::string& text) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      fail(fmt::format("not a number: '{}'", text));
      return 0;
    }
    return value;
  }

  // "(1,2 3)" or "1" -> {1, 2, 3}.
  std::vector<int> ids(const std::string& text) {
    std::string inner = text;
    if (!inner.empty() && inner.front() == '(') {
      if (inner.back() != ')') {
        fail(fmt::format("unbalanced list '{}'", text));
        return {};
      }
      inner = inner.substr(1, inner.size() - 2);
    }
    std::vector<int> out;
    std::string item;
    for (char ch : inner + ",") {
      if (ch != ',' && ch != ' ') {
        item += ch;
        continue;
      }
      if (!item.empty()) out.push_back(static_cast<int>(number(item)));
      item.clear();
    }
    return out;
  }

 private:
  std::string first_;
};

// ---------------------------------------------------------------------------------------------
// Printing.

ReplicaId replica_of(int id) {
  return ReplicaId{HostId(static_cast<uint32_t>(id)), StoreId(static_cast<uint64_t>(id))};
}

std::string name(ReplicaId r) {
  if (r.is_none()) return "none";
  if (r.store.value() == r.host.value()) return fmt::format("{}", r.host.value());
  return fmt::format("{}", r);
}

std::string names(const std::vector<ReplicaId>& list) {
  std::string out = "(";
  for (size_t i = 0; i < list.size(); ++i) out += (i ? "," : "") + name(list[i]);
  return out + ")";
}

std::string format_config(const Config& c) {
  return fmt::format("voters={} learners={}", names(c.voters), names(c.learners));
}

const char* conf_change_name(ConfChange::Kind kind) {
  switch (kind) {
    case ConfChange::Kind::kAddLearner:
      return "add-learner";
    case ConfChange::Kind::kPromoteLearner:
      return "promote";
    case ConfChange::Kind::kRemoveReplica:
      return "remove";
  }
  return "?";
}

// Printable ASCII as is, other bytes as \xNN.
std::string escaped(const std::string& bytes) {
  std::string out;
  for (char ch : bytes) {
    auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x20 && byte < 0x7f && ch != '\\' && ch != '"') {
      out += ch;
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  return out;
}

std::string format_entry(const Entry& e) {
  std::string out = fmt::format("{}/{} ", e.term, e.index);
  switch (e.type) {
    case EntryType::kCommand:
      return out + fmt::format("Cmd \"{}\"", escaped(e.payload));
    case EntryType::kEmpty:
      return out + "Empty";
    case EntryType::kConfChange: {
      auto change = decode_conf_change(e.payload);
      if (!change) return out + "Conf <malformed>";
      return out + fmt::format("Conf {} {}", conf_change_name(change->kind), name(change->replica));
    }
  }
  return out + "?";
}

std::string format_message(const Message& m) {
  std::string out =
      fmt::format("{}->{} {} term={}", name(m.from), name(m.to), message_type_name(m.type), m.term);
  bool log_always = m.type == MessageType::kAppend || m.type == MessageType::kVote ||
                    m.type == MessageType::kPreVote;
  if (log_always || m.log_index.value() != 0 || m.log_term.value() != 0) {
    out += fmt::format(" log={}/{}", m.log_term, m.log_index);
  }
  bool commit_always = m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat;
  if (commit_always || m.commit.value() != 0) out += fmt::format(" commit={}", m.commit);
  if (!m.entries.empty()) {
    out += " entries=[";
    for (size_t i = 0; i < m.entries.size(); ++i) {
      out += fmt::format("{}{}/{}", i ? "," : "", m.entries[i].term, m.entries[i].index);
    }
    out += "]";
  }
  if (m.reject) out += " reject";
  if (m.reject_hint.value() != 0 || m.reject_hint_term.value() != 0) {
    out += fmt::format(" hint={}/{}", m.reject_hint_term, m.reject_hint);
  }
  if (m.round != 0) out += fmt::format(" round={}", m.round);
  // As term/index: a report names entries, not only a position (a replaced tail has other terms).
  if (m.durable.value() != 0) out += fmt::format(" durable={}/{}", m.durable_term, m.durable);
  if (m.sync_index.value() != 0) out += fmt::format(" sync={}", m.sync_index);
  if (m.transfer) out += " transfer";
  if (m.recovering) out += " recovering";
  if (m.recovering_quorum) out += " recovering-quorum";
  if (m.snapshot) {
    out += fmt::format(" snap={}/{} {}", m.snapshot->term, m.snapshot->index,
                       format_config(m.snapshot->config));
  }
  // Incarnations matter once a process restarted (0 is "not known yet").
  if (m.from_incarnation > 1 || m.to_incarnation > 1) {
    out += fmt::format(" inc={}/{}", m.from_incarnation, m.to_incarnation);
  }
  return out;
}

int64_t ms_of(Duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }
int64_t ms_of(Time t) { return ms_of(t - Time{}); }

const char* state_name(Progress::State state) {
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

// ---------------------------------------------------------------------------------------------
// The environment.

// A trivial state machine: the commands applied, in order, and the configuration.
struct StateMachine {
  LogIndex applied;
  Config config;
  std::vector<std::string> commands;
};

// What a node keeps on disk: hard state, log and applied state machine.
struct Disk {
  HardState hard;
  MemoryLog log;
  StateMachine state;
};

struct Node {
  int id = 0;
  CoreOptions options;
  Time now{};
  Disk disk;    // What the OS holds (survives a process crash).
  Disk synced;  // As of the last fsync (survives a power loss).
  std::unique_ptr<Core> core;
};

struct InFlight {
  Message message;
  bool after_persist = false;
};

// Snapshot data: the commands, each as "<length>:<bytes>".
std::string encode_commands(const std::vector<std::string>& commands) {
  std::string out;
  for (const auto& c : commands) out += fmt::format("{}:", c.size()) + c;
  return out;
}

std::vector<std::string> decode_commands(const std::string& data) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t colon = data.find(':', pos);
    if (colon == std::string::npos) break;
    size_t length = 0;
    std::from_chars(data.data() + pos, data.data() + colon, length);
    out.push_back(data.substr(colon + 1, length));
    pos = colon + 1 + length;
  }
  return out;
}

class Env {
 public:
  // Runs one command; returns its output (without a final newline; "ok" when it printed nothing).
  std::string run(const std::string& line) {
    out_.clear();
    indent_.clear();
    Args args = parse_args(line);
    dispatch(args);
    check_election_safety();
    if (std::string error = errors_.take(); !error.empty()) return "driver error: " + error;
    std::string result = out_;
    if (!result.empty() && result.back() == '\n') result.pop_back();
    return result.empty() ? "ok" : result;
  }

  // Breaches of Raft's safety properties seen since the last call (they fail the test whatever the
  // expected output says).
  std::vector<std::string> take_violations() { return std::exchange(violations_, {}); }

 private:
  void print(const std::string& line) { out_ += indent_ + line + "\n"; }

  // Election safety: at most one leader per term.
  void check_election_safety() {
    for (const auto& [id, n] : nodes_) {
      if (n->core->role() != Role::kLeader) continue;
      auto [it, inserted] = leaders_.emplace(n->core->term(), id);
      if (!inserted && it->second != id) {
        violations_.push_back(fmt::format("election safety: {} and {} both lead term {}",
                                          it->second, id, n->core->term()));
      }
    }
  }

  // Log matching: two logs holding an entry of the same index and term hold the same entry.
  void check_log_matching(const Node& n, const std::vector<Entry>& written) {
    for (const auto& [id, other] : nodes_) {
      if (id == n.id) continue;
      const MemoryLog& log = other->disk.log;
      for (const Entry& e : written) {
        if (e.index <= log.snapshot_point().index || e.index > log.last_index()) continue;
        const Entry& theirs = log.stored()[log.snapshot_point().index.next().count_to(e.index)];
        if (theirs.term == e.term && !(theirs == e)) {
          violations_.push_back(fmt::format("log matching: {} wrote {} but {} holds {}", n.id,
                                            format_entry(e), id, format_entry(theirs)));
        }
      }
    }
  }

  // Configuration agreement: every replica that applied up to an index has the configuration any
  // other had there (configurations take effect when applied, design 2.5).
  void check_config(const Node& n) {
    const Core& c = *n.core;
    if (c.config() == Config{}) return;  // A new replica that knows no configuration yet.
    auto [it, inserted] = config_at_.emplace(c.applied(), c.config());
    if (!inserted && !(it->second == c.config())) {
      violations_.push_back(
          fmt::format("configuration agreement: {} has {} at applied {}, another had {}", n.id,
                      format_config(c.config()), c.applied(), format_config(it->second)));
    }
  }

  // State machine safety: every replica applies the same entry at an index.
  void check_applied(const Node& n, const Entry& e) {
    auto [it, inserted] = applied_anywhere_.emplace(e.index, e);
    if (!inserted && !(it->second == e)) {
      violations_.push_back(
          fmt::format("state machine safety: {} applied {} where another applied {}", n.id,
                      format_entry(e), format_entry(it->second)));
    }
  }

  Node* node(int id) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) {
      errors_.fail(fmt::format("no node {}", id));
      return nullptr;
    }
    return it->second.get();
  }
  Node* node_arg(const Args& args, size_t i = 0) {
    if (args.positional.size() <= i) {
      errors_.fail("missing node id");
      return nullptr;
    }
    return node(static_cast<int>(errors_.number(args.positional[i])));
  }
  int id_arg(const std::string& text) { return static_cast<int>(errors_.number(text)); }
  // The nodes named by the positional arguments, or all of them.
  std::vector<int> ids_arg(const Args& args) {
    std::vector<int> ids;
    for (const auto& p : args.positional) {
      for (int id : errors_.ids(p)) {
        if (node(id) != nullptr) ids.push_back(id);
      }
    }
    if (ids.empty()) {
      for (const auto& [id, n] : nodes_) ids.push_back(id);
    }
    return ids;
  }
  uint64_t u64_or(const Args& args, const std::string& key, uint64_t dflt) {
    auto it = args.named.find(key);
    return it == args.named.end() ? dflt : errors_.number(it->second);
  }
  // REQUIRES (else an error): the argument is present.
  std::string required(const Args& args, const std::string& key) {
    auto it = args.named.find(key);
    if (it != args.named.end()) return it->second;
    errors_.fail(fmt::format("{} needs {}=", args.name, key));
    return "0";
  }
  bool bool_or(const Args& args, const std::string& key, bool dflt) {
    auto it = args.named.find(key);
    if (it == args.named.end()) return dflt;
    if (it->second == "true") return true;
    if (it->second == "false") return false;
    errors_.fail(fmt::format("{}= takes true or false", key));
    return dflt;
  }

  void dispatch(const Args& a) {
    const std::string& c = a.name;
    if (c == "add-nodes") return add_nodes(a);
    if (c == "tick-all") return tick_all(a);
    if (c == "set-time") return set_time(a);
    if (c == "process-ready") return process_ready_cmd(a);
    if (c == "deliver-msgs") return deliver_msgs(a);
    if (c == "drop-msgs") return drop_msgs(a);
    if (c == "partition") return partition(a);
    if (c == "heal") return partition_.clear();
    if (c == "stabilize") return stabilize(a);
    // The others name a node first.
    Node* node = node_arg(a);
    if (node == nullptr) return;
    Node& n = *node;
    if (c == "tick") return tick(n, a);
    if (c == "campaign") return campaign(n);
    if (c == "wake") return wake(n);
    if (c == "propose") return propose(n, a);
    if (c == "propose-conf-change") return propose_conf_change(n, a);
    if (c == "read") return read(n, a);
    if (c == "transfer") return transfer(n, a);
    if (c == "report-unreachable") return report_unreachable(n, a, false);
    if (c == "report-snapshot-failed") return report_unreachable(n, a, true);
    if (c == "compact") return compact(n, a);
    if (c == "sync") return sync(n);
    if (c == "want-durable") return want_durable(n, a);
    if (c == "crash") return restart(n, false);
    if (c == "power-loss") return restart(n, true);
    if (c == "status") return status(n);
    if (c == "raft-log") return raft_log(n);
    if (c == "lease") return lease(n);
    if (c == "state") return state(n);
    errors_.fail(fmt::format("unknown command '{}'", c));
  }

  // --- Nodes and time.

  void add_nodes(const Args& a) {
    if (a.positional.size() != 1) return errors_.fail("add-nodes N");
    int count = id_arg(a.positional[0]);
    bool first = nodes_.empty();
    int base = static_cast<int>(nodes_.size());
    Config config;
    if (a.named.count("voters")) {
      for (int id : errors_.ids(a.named.at("voters"))) config.voters.push_back(replica_of(id));
    } else if (first) {
      for (int i = 1; i <= count; ++i) config.voters.push_back(replica_of(base + i));
    }
    if (a.named.count("learners")) {
      for (int id : errors_.ids(a.named.at("learners"))) config.learners.push_back(replica_of(id));
    }
    std::sort(config.voters.begin(), config.voters.end());
    std::sort(config.learners.begin(), config.learners.end());
    // The bootstrap rule (core.h, InitialState): founding replicas start from a snapshot at 1.
    LogIndex index(u64_or(a, "index", config.voters.empty() ? 0 : 1));
    for (int i = base + 1; i <= base + count; ++i) {
      auto n = std::make_unique<Node>();
      n->id = i;
      n->options.self = replica_of(i);
      n->options.incarnation = 1;
      n->options.seed = static_cast<uint64_t>(i);
      n->options.election_timeout_min = milliseconds(u64_or(a, "election-min-ms", 600));
      n->options.lease_reads = bool_or(a, "lease", true);
      n->options.hibernate_after = milliseconds(u64_or(a, "hibernate-after-ms", 0));
      n->options.max_inflight_msgs = static_cast<uint32_t>(u64_or(a, "max-inflight", 64));
      n->options.max_inflight_bytes =
          u64_or(a, "max-inflight-bytes", n->options.max_inflight_bytes);
      n->options.max_msg_bytes = u64_or(a, "max-msg-bytes", n->options.max_msg_bytes);
      n->options.max_uncommitted_bytes =
          u64_or(a, "max-uncommitted-bytes", n->options.max_uncommitted_bytes);
      if (index.value() > 0) {
        n->disk.hard.term = Term(1);
        n->disk.hard.commit = index;
        n->disk.log.reset(EntryId{index, Term(1)});
      }
      n->disk.state.applied = index;
      n->disk.state.config = config;
      n->synced = n->disk;
      start(*n, false);
      nodes_[i] = std::move(n);
    }
  }

  // (Re)creates the node's core from its disk, at its clock.
  void start(Node& n, bool recovering) {
    n.core.reset();
    InitialState initial;
    initial.hard_state = n.disk.hard;
    initial.config = n.disk.state.config;
    initial.applied = n.disk.state.applied;
    initial.recovering = recovering;
    n.core = std::make_unique<Core>(n.options, initial, &n.disk.log, n.now);
  }

  void restart(Node& n, bool power_loss) {
    if (power_loss) n.disk = n.synced;
    ++n.options.incarnation;
    start(n, power_loss);
    print(fmt::format("{} restarted: incarnation={} term={} vote={} commit={} applied={} last={}{}",
                      n.id, n.options.incarnation, n.disk.hard.term, name(n.disk.hard.vote),
                      n.disk.hard.commit, n.disk.state.applied, n.disk.log.last_index(),
                      power_loss ? " recovering" : ""));
  }

  void tick(Node& n, const Args& a) {
    auto step = milliseconds(u64_or(a, "ms", 100));
    uint64_t times = u64_or(a, "n", 1);
    for (uint64_t i = 0; i < times; ++i) {
      n.now += step;
      n.core->tick(n.now);
    }
    print(fmt::format("{}: t={}ms {}", n.id, ms_of(n.now), brief(n)));
  }

  void tick_all(const Args& a) {
    auto step = milliseconds(u64_or(a, "ms", 100));
    uint64_t times = u64_or(a, "n", 1);
    for (uint64_t i = 0; i < times; ++i) {
      for (auto& [id, n] : nodes_) {
        n->now += step;
        n->core->tick(n->now);
      }
    }
    for (auto& [id, n] : nodes_) print(fmt::format("{}: t={}ms {}", id, ms_of(n->now), brief(*n)));
  }

  void set_time(const Args& a) {
    Time t = Time{} + milliseconds(errors_.number(required(a, "ms")));
    for (int id : ids_arg(a)) {
      Node* n = node(id);
      if (t < n->now) return errors_.fail("a clock cannot go back");
      n->now = t;
    }
  }

  void campaign(Node& n) {
    Role before = n.core->role();
    for (int i = 0; i < 1000 && n.core->role() == before; ++i) {
      n.now += n.options.heartbeat_interval;
      n.core->tick(n.now);
    }
    print(fmt::format("{}: t={}ms {}", n.id, ms_of(n.now), brief(n)));
  }

  std::string brief(Node& n) {
    return fmt::format("{} term={} leader={}{}", role_name(n.core->role()), n.core->term(),
                       name(n.core->leader()), n.core->hibernated() ? " hibernated" : "");
  }

  // The host's liveness signal: the leader's (or a follower's) process died or restarted.
  void wake(Node& n) {
    n.core->wake(n.now);
    print(fmt::format("{}: t={}ms {}", n.id, ms_of(n.now), brief(n)));
  }

  // --- Inputs.

  void propose(Node& n, const Args& a) {
    if (a.positional.size() != 2) return errors_.fail("propose ID payload");
    auto r = n.core->propose(a.positional[1], n.now);
    if (r.ok()) {
      print(fmt::format("ok {}/{}", r->term, r->index));
    } else {
      print(fmt::format("refused: {}", r.status().to_string()));
    }
  }

  void propose_conf_change(Node& n, const Args& a) {
    if (a.positional.size() != 3) return errors_.fail("propose-conf-change ID kind R");
    ConfChange change;
    const std::string& kind = a.positional[1];
    if (kind == "add-learner") {
      change.kind = ConfChange::Kind::kAddLearner;
    } else if (kind == "promote") {
      change.kind = ConfChange::Kind::kPromoteLearner;
    } else if (kind == "remove") {
      change.kind = ConfChange::Kind::kRemoveReplica;
    } else {
      return errors_.fail(fmt::format("unknown conf change '{}'", kind));
    }
    change.replica = replica_of(id_arg(a.positional[2]));
    auto r = n.core->propose_conf_change(change, n.now);
    if (r.ok()) {
      print(fmt::format("ok {}/{}", r->term, r->index));
    } else {
      print(fmt::format("refused: {}", r.status().to_string()));
    }
  }

  void read(Node& n, const Args& a) {
    if (a.positional.size() != 2) return errors_.fail("read ID read-id");
    Status s = n.core->request_read(ReadId(errors_.number(a.positional[1])), n.now);
    if (!s.ok()) print(fmt::format("refused: {}", s.to_string()));
  }

  void transfer(Node& n, const Args& a) {
    Status s = n.core->transfer_leadership(replica_of(id_arg(required(a, "to"))), n.now);
    if (!s.ok()) print(fmt::format("refused: {}", s.to_string()));
  }

  void report_unreachable(Node& n, const Args& a, bool snapshot_failed) {
    ReplicaId peer = replica_of(id_arg(required(a, "peer")));
    if (snapshot_failed) {
      n.core->report_snapshot_failed(peer);
    } else {
      n.core->report_unreachable(peer);
    }
  }

  void compact(Node& n, const Args& a) {
    if (a.positional.size() != 2) return errors_.fail("compact ID index");
    LogIndex index(errors_.number(a.positional[1]));
    if (index > n.disk.state.applied) return errors_.fail("compact past applied");
    n.disk.log.compact(index);
    raft_log(n);
  }

  void want_durable(Node& n, const Args& a) {
    if (a.positional.size() != 2) return errors_.fail("want-durable ID index");
    n.core->want_durable(LogIndex(errors_.number(a.positional[1])));
    print("ok");
  }

  void sync(Node& n) {
    n.synced = n.disk;
    LogIndex last = n.disk.log.last_index();
    auto t = n.disk.log.term(last);
    if (!t.ok()) return errors_.fail(t.status().to_string());
    n.core->report_durable(EntryId{last, *t});
    print(fmt::format("{}: durable {}/{}", n.id, *t, last));
  }

  // --- Ready.

  void process_ready_cmd(const Args& a) {
    for (int id : ids_arg(a)) {
      Node& n = *nodes_.at(id);
      if (a.positional.size() != 1) print(fmt::format("> {} handling Ready", id));
      if (!n.core->has_ready()) {
        print("<no Ready>");
        continue;
      }
      std::string saved = indent_;
      if (a.positional.size() != 1) indent_ += "  ";
      process_ready(n);
      indent_ = saved;
    }
  }

  // Handles one Ready the documented way (core.h, Ready), printing it.
  void process_ready(Node& n) {
    Ready rd = n.core->ready();
    std::string header = "Ready";
    if (rd.must_sync) header += " sync";
    if (rd.recovered) header += " recovered";
    print(header + ":");
    if (rd.soft_state) {
      print(fmt::format("soft: {} term={} leader={}", role_name(rd.soft_state->role),
                        rd.soft_state->term, name(rd.soft_state->leader)));
    }
    if (rd.hard_state) {
      print(fmt::format("hard: term={} vote={} commit={}", rd.hard_state->term,
                        name(rd.hard_state->vote), rd.hard_state->commit));
    }
    // (1) Install the snapshot (and fsync it: a snapshot is ingested durably, design 3.3).
    if (rd.snapshot) {
      print(fmt::format("snapshot: {}/{} {}", rd.snapshot->term, rd.snapshot->index,
                        format_config(rd.snapshot->config)));
      n.disk.log.reset(EntryId{rd.snapshot->index, rd.snapshot->term});
      n.disk.state.applied = rd.snapshot->index;
      n.disk.state.config = rd.snapshot->config;
      n.disk.state.commands =
          rd.snapshot_data ? decode_commands(*rd.snapshot_data) : std::vector<std::string>{};
      if (!rd.snapshot_data) print("ERROR: snapshot without data");
    }
    // (2) Hard state and entries.
    if (rd.hard_state) n.disk.hard = *rd.hard_state;
    if (!rd.entries.empty()) {
      print("entries:");
      for (const auto& e : rd.entries) print("  " + format_entry(e));
      const LogIndex first = rd.entries.front().index;
      if (first <= n.disk.log.snapshot_point().index || first > n.disk.log.last_index().next()) {
        print(fmt::format("ERROR: entries from {} do not fit the log ({}, {}]", first,
                          n.disk.log.snapshot_point().index, n.disk.log.last_index()));
      } else {
        n.disk.log.append(rd.entries);
        check_log_matching(n, rd.entries);
      }
    }
    if (rd.must_sync || rd.snapshot) n.synced = n.disk;
    // (3) Messages, then (4) after_persist: the writes are in the OS already.
    if (!rd.messages.empty()) {
      print("messages:");
      for (auto m : rd.messages) send(n, std::move(m), false);
    }
    if (!rd.after_persist.empty()) {
      print("after-persist:");
      for (auto m : rd.after_persist) send(n, std::move(m), true);
    }
    // (5) Apply.
    if (!rd.committed.empty()) {
      print("committed:");
      for (const auto& e : rd.committed) {
        print("  " + format_entry(e));
        apply(n, e);
      }
    }
    // (6) Reads.
    if (!rd.reads.empty()) {
      std::string line = "reads:";
      for (const auto& r : rd.reads) line += fmt::format(" {}@{}", r.id.value(), r.index);
      print(line);
      for (const auto& r : rd.reads) {
        if (r.index > n.disk.state.applied) {
          print(fmt::format("  read {} waits for apply to {}", r.id.value(), r.index));
        }
      }
    }
    if (!rd.failed_reads.empty()) {
      std::string line = "failed-reads:";
      for (const auto& r : rd.failed_reads) line += fmt::format(" {}", r.value());
      print(line);
    }
    n.core->advance(rd);
    // The snapshot was installed durably in (1): its point is this replica's durable prefix now
    // (the core forgot what it had reported before, core.cc handle_snapshot).
    if (rd.snapshot) n.core->report_durable(EntryId{rd.snapshot->index, rd.snapshot->term});
    check_config(n);
  }

  void send(Node& n, Message m, bool after_persist) {
    if (m.type == MessageType::kSnapshot && !m.snapshot) {
      // The host fills the snapshot when it sends (types.h): the state machine as applied now.
      m.snapshot = n.core->snapshot_meta();
      m.snapshot_data = std::make_shared<const std::string>(encode_commands(n.disk.state.commands));
      if (m.snapshot->index != n.disk.state.applied) {
        print(fmt::format("ERROR: snapshot_meta at {} but the state machine applied {}",
                          m.snapshot->index, n.disk.state.applied));
      }
    }
    print("  " + format_message(m));
    network_.push_back(InFlight{std::move(m), after_persist});
  }

  void apply(Node& n, const Entry& e) {
    StateMachine& s = n.disk.state;
    if (e.index != s.applied.next()) {
      print(fmt::format("ERROR: applying {} after {}", e.index, s.applied));
    }
    check_applied(n, e);
    s.applied = e.index;
    if (e.type == EntryType::kCommand) s.commands.push_back(e.payload);
    if (e.type == EntryType::kConfChange) {
      auto change = decode_conf_change(e.payload);
      if (!change) {
        print("ERROR: malformed conf change committed");
        return;
      }
      std::string why = s.config.refusal(*change);
      if (why.empty()) {
        s.config = s.config.applied(*change);
      } else {
        print(fmt::format("  (conf change {} skipped: {})", e.index, why));
      }
    }
  }

  // --- Network.

  bool cut(int from, int to) const {
    auto f = partition_.find(from);
    auto t = partition_.find(to);
    int gf = f == partition_.end() ? -1 : f->second;
    int gt = t == partition_.end() ? -1 : t->second;
    return gf != gt;
  }

  static int id_of(ReplicaId r) { return static_cast<int>(r.host.value()); }

  bool has_messages_for(int id) const {
    return std::any_of(network_.begin(), network_.end(),
                       [&](const InFlight& f) { return id_of(f.message.to) == id; });
  }

  // Delivers every queued message to `id` (of `type`, if given), in order.
  // Which queued messages a delivery takes: to `id`, and optionally of a type, from a sender, and
  // only the `pick`-th of those (1-based; to reorder the network).
  struct Selector {
    std::optional<std::string> type;
    std::optional<int> from;
    uint64_t pick = 0;
  };

  // Delivers the queued messages to `id` that `selector` takes, in order.
  void deliver_to(int id, const Selector& selector) {
    std::vector<InFlight> mine;
    std::vector<InFlight> rest;
    uint64_t matched = 0;
    for (auto& f : network_) {
      bool match = id_of(f.message.to) == id &&
                   (!selector.type || *selector.type == message_type_name(f.message.type)) &&
                   (!selector.from || *selector.from == id_of(f.message.from));
      if (match && selector.pick != 0) match = ++matched == selector.pick;
      (match ? mine : rest).push_back(std::move(f));
    }
    network_ = std::move(rest);
    for (auto& f : mine) {
      const Message& m = f.message;
      auto it = nodes_.find(id);
      if (it == nodes_.end()) {
        print(format_message(m) + " (dropped: no such node)");
        continue;
      }
      if (cut(id_of(m.from), id)) {
        print(format_message(m) + " (dropped: partition)");
        continue;
      }
      print(format_message(m));
      it->second->core->step(m, it->second->now);
    }
  }

  void deliver_msgs(const Args& a) {
    Selector selector;
    if (a.named.count("type")) selector.type = a.named.at("type");
    if (a.named.count("from")) selector.from = id_arg(a.named.at("from"));
    selector.pick = u64_or(a, "pick", 0);
    for (int id : ids_arg(a)) deliver_to(id, selector);
  }

  void drop_msgs(const Args& a) {
    std::vector<InFlight> rest;
    for (auto& f : network_) {
      const Message& m = f.message;
      bool match = true;
      if (a.named.count("from")) match &= id_of(m.from) == id_arg(a.named.at("from"));
      if (a.named.count("to")) match &= id_of(m.to) == id_arg(a.named.at("to"));
      if (a.named.count("type")) match &= a.named.at("type") == message_type_name(m.type);
      if (match) {
        print(format_message(m) + " (dropped)");
      } else {
        rest.push_back(std::move(f));
      }
    }
    network_ = std::move(rest);
  }

  void partition(const Args& a) {
    partition_.clear();
    int group = 0;
    for (const auto& p : a.positional) {
      for (int id : errors_.ids(p)) partition_[id] = group;
      ++group;
    }
  }

  void stabilize(const Args& a) {
    std::vector<int> ids = ids_arg(a);
    for (int round = 0; round < 1000; ++round) {
      bool done = true;
      for (int id : ids) {
        Node& n = *nodes_.at(id);
        if (!n.core->has_ready()) continue;
        print(fmt::format("> {} handling Ready", id));
        indent_ = "  ";
        process_ready(n);
        indent_.clear();
        done = false;
      }
      for (int id : ids) {
        if (!has_messages_for(id)) continue;
        print(fmt::format("> {} receiving messages", id));
        indent_ = "  ";
        deliver_to(id, Selector{});
        indent_.clear();
        done = false;
      }
      if (done) return;
    }
    print("ERROR: not stable after 1000 rounds");
  }

  // --- Dumps.

  void status(Node& n) {
    const Core& c = *n.core;
    std::string flags;
    if (c.recovering()) flags += " recovering";
    if (c.broken()) flags += " broken";
    if (c.hibernated()) flags += " hibernated";
    print(fmt::format("{}: {} term={} leader={} commit={} applied={} last={} t={}ms{}", n.id,
                      role_name(c.role()), c.term(), name(c.leader()), c.commit(), c.applied(),
                      c.last_index(), ms_of(n.now), flags));
    print(fmt::format("config: {}", format_config(c.config())));
    if (c.role() != Role::kLeader) return;
    print(fmt::format("durable={} quorum-durable={}", c.durable(), c.quorum_durable()));
    for (const auto& [peer, p] : c.progress()) {
      std::string extra;
      if (p.state == Progress::State::kProbe && p.probe_sent) extra += " probe-sent";
      if (p.state == Progress::State::kSnapshot) {
        extra += fmt::format(" pending-snapshot={}", p.pending_snapshot);
      }
      if (p.durable.value() != 0) extra += fmt::format(" durable={}", p.durable);
      print(fmt::format("{}: {} match={} next={} inflight={}{}", name(peer), state_name(p.state),
                        p.match, p.next, p.inflight.size(), extra));
    }
  }

  void raft_log(Node& n) {
    const MemoryLog& log = n.disk.log;
    EntryId snap = log.snapshot_point();
    if (snap.index.value() != 0) print(fmt::format("snapshot point {}/{}", snap.term, snap.index));
    if (log.stored().empty()) print("log is empty");
    for (const auto& e : log.stored()) print(format_entry(e));
  }

  void lease(Node& n) {
    Time until = n.core->lease_until();
    if (until == Time::min()) {
      print(fmt::format("{}: no lease (t={}ms)", n.id, ms_of(n.now)));
    } else if (until > n.now) {
      print(
          fmt::format("{}: lease until {}ms, {}ms left", n.id, ms_of(until), ms_of(until - n.now)));
    } else {
      print(fmt::format("{}: lease ended at {}ms, {}ms ago", n.id, ms_of(until),
                        ms_of(n.now - until)));
    }
  }

  void state(Node& n) {
    const StateMachine& s = n.disk.state;
    std::string commands;
    for (const auto& c : s.commands) commands += (commands.empty() ? "" : " ") + escaped(c);
    print(fmt::format("{}: applied={} {} commands=[{}]", n.id, s.applied, format_config(s.config),
                      commands));
  }

  std::map<int, std::unique_ptr<Node>> nodes_;
  std::vector<InFlight> network_;
  std::map<int, int> partition_;  // Node -> group; nodes not listed form one more group.
  Errors errors_;
  std::vector<std::string> violations_;
  std::map<Term, int> leaders_;
  std::map<LogIndex, Entry> applied_anywhere_;
  std::map<LogIndex, Config> config_at_;
  std::string out_;
  std::string indent_;
};

// ---------------------------------------------------------------------------------------------

std::filesystem::path testdata_dir() { return std::filesystem::path(TESS_RAFT_TESTDATA_DIR); }

void run_file(const std::string& file) {
  std::filesystem::path path = testdata_dir() / file;
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  Script script;
  std::string parse_error = parse_script(buffer.str(), script);
  ASSERT_EQ(parse_error, "") << path;

  const char* rewrite_env = std::getenv("TESS_REWRITE");
  bool rewrite = rewrite_env != nullptr && std::string(rewrite_env) == "1";
  Env env;
  std::vector<std::string> outputs;
  for (const auto& c : script.commands) {
    std::string output = env.run(c.line);
    for (const auto& violation : env.take_violations()) {
      ADD_FAILURE() << path.filename().string() << ":" << c.line_number << ": " << c.line << ": "
                    << violation;
    }
    if (output.starts_with("driver error")) {
      ADD_FAILURE() << path.filename().string() << ":" << c.line_number << ": " << c.line << ": "
                    << output;
    }
    if (!rewrite && output != c.expected) {
      ADD_FAILURE() << path.filename().string() << ":" << c.line_number << ": " << c.line
                    << "\n--- expected\n"
                    << c.expected << "\n--- actual\n"
                    << output;
    }
    outputs.push_back(std::move(output));
  }
  if (rewrite) {
    std::ofstream out(path, std::ios::trunc);
    out << render_script(script, outputs);
    ASSERT_TRUE(out.good()) << "cannot write " << path;
  }
}

// One test per file; the last test checks that none is forgotten.
const char* const kFiles[] = {
    "election.txt",
    "hibernate.txt",
    "prevote_partitioned_follower.txt",
    "check_quorum.txt",
    "follower_promise.txt",
    "replication_probe_and_backtrack.txt",
    "flow_control.txt",
    "lease_read.txt",
    "read_index_only.txt",
    "read_before_own_term_commit.txt",
    "transfer.txt",
    "learner_add_and_promote.txt",
    "new_replica_gets_config_by_snapshot.txt",
    "remove_leader_refused.txt",
    "ongaro_single_server_bug.txt",
    "snapshot_to_lagging_follower.txt",
    "recovering_replica.txt",
    "recovering_quorum.txt",
    "unreachable.txt",
    "durable.txt",
    "durable_across_truncation.txt",
    "transfer_to_lagging_target.txt",
    "max_msg_bytes.txt",
    "max_inflight_bytes.txt",
    "snapshot_failed.txt",
    "commit_with_next_message.txt",
    "recovering_idle_group.txt",
    "heartbeat_commit_after_power_loss.txt",
};

TEST(RaftInteraction, Election) { run_file("election.txt"); }
TEST(RaftInteraction, PreVotePartitionedFollower) { run_file("prevote_partitioned_follower.txt"); }
TEST(RaftInteraction, CheckQuorum) { run_file("check_quorum.txt"); }
TEST(RaftInteraction, FollowerPromise) { run_file("follower_promise.txt"); }
TEST(RaftInteraction, ReplicationProbeAndBacktrack) {
  run_file("replication_probe_and_backtrack.txt");
}
TEST(RaftInteraction, FlowControl) { run_file("flow_control.txt"); }
TEST(RaftInteraction, LeaseRead) { run_file("lease_read.txt"); }
TEST(RaftInteraction, ReadIndexOnly) { run_file("read_index_only.txt"); }
TEST(RaftInteraction, ReadBeforeOwnTermCommit) { run_file("read_before_own_term_commit.txt"); }
TEST(RaftInteraction, Transfer) { run_file("transfer.txt"); }
TEST(RaftInteraction, LearnerAddAndPromote) { run_file("learner_add_and_promote.txt"); }
TEST(RaftInteraction, NewReplicaGetsConfigBySnapshot) {
  run_file("new_replica_gets_config_by_snapshot.txt");
}
TEST(RaftInteraction, RemoveLeaderRefused) { run_file("remove_leader_refused.txt"); }
TEST(RaftInteraction, OngaroSingleServerBug) { run_file("ongaro_single_server_bug.txt"); }
TEST(RaftInteraction, SnapshotToLaggingFollower) { run_file("snapshot_to_lagging_follower.txt"); }
TEST(RaftInteraction, RecoveringReplica) { run_file("recovering_replica.txt"); }
TEST(RaftInteraction, RecoveringQuorum) { run_file("recovering_quorum.txt"); }
TEST(RaftInteraction, Unreachable) { run_file("unreachable.txt"); }
TEST(RaftInteraction, Durable) { run_file("durable.txt"); }
TEST(RaftInteraction, DurableAcrossTruncation) { run_file("durable_across_truncation.txt"); }
TEST(RaftInteraction, TransferToLaggingTarget) { run_file("transfer_to_lagging_target.txt"); }
TEST(RaftInteraction, MaxMsgBytes) { run_file("max_msg_bytes.txt"); }
TEST(RaftInteraction, MaxInflightBytes) { run_file("max_inflight_bytes.txt"); }
TEST(RaftInteraction, SnapshotFailed) { run_file("snapshot_failed.txt"); }
TEST(RaftInteraction, CommitWithNextMessage) { run_file("commit_with_next_message.txt"); }
TEST(RaftInteraction, RecoveringIdleGroup) { run_file("recovering_idle_group.txt"); }
TEST(RaftInteraction, Hibernate) { run_file("hibernate.txt"); }
// A heartbeat's commit is taken only by the incarnation it was addressed to (the file says why).
TEST(RaftInteraction, HeartbeatCommitAfterPowerLoss) {
  run_file("heartbeat_commit_after_power_loss.txt");
}

TEST(RaftInteraction, EveryFileHasATest) {
  std::set<std::string> listed(std::begin(kFiles), std::end(kFiles));
  std::set<std::string> present;
  for (const auto& entry : std::filesystem::directory_iterator(testdata_dir())) {
    if (entry.path().extension() == ".txt") present.insert(entry.path().filename().string());
  }
  EXPECT_EQ(listed, present);
}

TEST(RaftInteraction, ScriptRoundTrip) {
  const std::string text =
      "# a comment\n\nadd-nodes 3\n----\nok\n\n# second\ncampaign 1\n----\nline 1\nline 2\n";
  Script script;
  ASSERT_EQ(parse_script(text, script), "");
  ASSERT_EQ(script.commands.size(), 2u);
  EXPECT_EQ(script.commands[0].line, "add-nodes 3");
  EXPECT_EQ(script.commands[1].expected, "line 1\nline 2");
  EXPECT_EQ(script.commands[1].line_number, 8);
  EXPECT_EQ(render_script(script, {"ok", "line 1\nline 2"}), text);
  Args args = parse_args("partition (1) (2 3) voters=(1,2) x=y");
  EXPECT_EQ(args.name, "partition");
  EXPECT_EQ(args.positional, (std::vector<std::string>{"(1)", "(2 3)"}));
  Errors errors;
  EXPECT_EQ(errors.ids("(2 3)"), (std::vector<int>{2, 3}));
  EXPECT_EQ(errors.ids(args.named["voters"]), (std::vector<int>{1, 2}));
  EXPECT_EQ(errors.take(), "");
  EXPECT_EQ(errors.number("12x"), 0u);
  EXPECT_EQ(errors.take(), "not a number: '12x'");
}

}  // namespace
}  // namespace tessera::raft
