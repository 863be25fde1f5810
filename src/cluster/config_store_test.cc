// ConfigStore semantics: one scripted scenario run against FakeConfigStore (FakeClock, simulated)
// and against a real etcd started by the test (when the etcd binary is installed), so the fake is
// held to what etcd does. Then the fake's own controls: lease expiry on its clock, faults.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "cluster/etcd_config_store.h"
#include "cluster/fake_config_store.h"
#include "runtime/simulated_run.h"
#include "testing/child_process.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using namespace std::chrono_literals;

// Variadic, without braces: GCC 12 rejects braced lists of these inside coroutine bodies.
template <typename... Items>
std::vector<Compare> compares(Items... items) {
  std::vector<Compare> out;
  (out.push_back(std::move(items)), ...);
  return out;
}
template <typename... Items>
std::vector<WriteOp> ops(Items... items) {
  std::vector<WriteOp> out;
  (out.push_back(std::move(items)), ...);
  return out;
}

WriteOp put_op(std::string key, std::string value, LeaseId lease = {}) {
  return WriteOp{WriteOp::Kind::kPut, std::move(key), std::move(value), lease};
}

Compare compare(std::string key, Compare::Target target, Compare::Result result, int64_t revision,
                std::string value = {}) {
  return Compare{std::move(key), target, result, revision, std::move(value)};
}

using T = Compare::Target;
using R = Compare::Result;

// Built outside coroutines (GCC 12 and braced temporaries as coroutine arguments).
RangeRequest key_at(std::string key, int64_t revision) {
  RangeRequest request;
  request.key = std::move(key);
  request.at_revision = revision;
  return request;
}

struct ComparisonCase {
  Compare compare;
  bool holds;
};

std::vector<ComparisonCase> comparison_cases(const std::string& k1, const std::string& missing,
                                             int64_t r1, int64_t r2) {
  return {
      {compare(k1, T::kModRevision, R::kEqual, r1), false},
      {compare(k1, T::kModRevision, R::kEqual, r2), true},
      {compare(k1, T::kModRevision, R::kNotEqual, r2), false},
      {compare(k1, T::kModRevision, R::kLess, r2 + 10), true},
      {compare(k1, T::kModRevision, R::kGreater, r2 + 10), false},
      {compare(k1, T::kCreateRevision, R::kGreater, 0), true},
      {compare(k1, T::kValue, R::kEqual, 0, "v2"), true},
      {compare(k1, T::kValue, R::kEqual, 0, "v1"), false},
      {compare(missing, T::kCreateRevision, R::kEqual, 0), true},
      {compare(missing, T::kValue, R::kEqual, 0, ""), false},
  };
}

// The scenario both stores must pass. `root` keeps runs apart.
Task<void> scripted_scenario(ConfigStore* store, const Clock* clock, std::string root) {
  auto deadline = [clock] { return Deadline::after(5s, *clock); };
  std::string k1 = root + "k1";
  auto empty = co_await store->get_prefix(root, deadline());
  CO_ASSERT_OK(empty);
  CO_ASSERT_TRUE(empty->kvs.empty());
  int64_t r0 = empty->revision;

  // Create-if-absent wins once.
  std::vector<Compare> absent = compares(compare(k1, T::kCreateRevision, R::kEqual, 0));
  std::vector<WriteOp> put_v1 = ops(put_op(k1, "v1"));
  auto created = co_await store->txn(absent, std::move(put_v1), deadline());
  CO_ASSERT_OK(created);
  CO_ASSERT_TRUE(created->succeeded);
  int64_t r1 = created->revision;
  EXPECT_EQ(r1, r0 + 1);
  std::vector<WriteOp> put_other = ops(put_op(k1, "other"));
  auto again = co_await store->txn(absent, std::move(put_other), deadline());
  CO_ASSERT_OK(again);
  EXPECT_FALSE(again->succeeded);
  EXPECT_EQ(again->revision, r1) << "a failed transaction changes nothing";

  CO_ASSERT_OK(co_await store->put(k1, "v2", {}, deadline()));
  auto read = co_await store->get(k1, deadline());
  CO_ASSERT_OK(read);
  CO_ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->value, "v2");
  EXPECT_EQ((*read)->create_revision, r1);
  int64_t r2 = (*read)->mod_revision;
  EXPECT_EQ(r2, r1 + 1);

  // Comparisons: mod revision, value, a missing key, order.
  std::string missing = root + "missing";
  std::vector<ComparisonCase> cases = comparison_cases(k1, missing, r1, r2);
  for (const ComparisonCase& c : cases) {
    std::vector<Compare> only = compares(c.compare);
    auto done = co_await store->txn(std::move(only), {}, deadline());
    CO_ASSERT_OK(done);
    EXPECT_EQ(done->succeeded, c.holds)
        << c.compare.key << " target " << static_cast<int>(c.compare.target) << " result "
        << static_cast<int>(c.compare.result);
  }

  // A read at an older revision.
  RangeRequest at_r1 = key_at(k1, r1);
  auto old = co_await store->range(std::move(at_r1), deadline());
  CO_ASSERT_OK(old);
  CO_ASSERT_TRUE(old->kvs.size() == 1);
  EXPECT_EQ(old->kvs[0].value, "v1");

  // Prefixes, in key order; delete-prefix.
  std::vector<WriteOp> three =
      ops(put_op(root + "p/b", "2"), put_op(root + "p/a", "1"), put_op(root + "q", "3"));
  CO_ASSERT_OK(co_await store->txn({}, std::move(three), deadline()));
  auto prefix = co_await store->get_prefix(root + "p/", deadline());
  CO_ASSERT_OK(prefix);
  CO_ASSERT_TRUE(prefix->kvs.size() == 2);
  EXPECT_EQ(prefix->kvs[0].key, root + "p/a");
  EXPECT_EQ(prefix->kvs[0].mod_revision, prefix->kvs[1].mod_revision) << "one transaction";
  std::vector<WriteOp> delete_prefix =
      ops(WriteOp{WriteOp::Kind::kDeletePrefix, root + "p/", {}, {}});
  CO_ASSERT_OK(co_await store->txn({}, std::move(delete_prefix), deadline()));
  prefix = co_await store->get_prefix(root + "p/", deadline());
  CO_ASSERT_OK(prefix);
  EXPECT_TRUE(prefix->kvs.empty());

  // Leases: keys attached, revoke deletes them, an ended lease is kNotFound.
  auto lease = co_await store->grant_lease(5s, deadline());
  CO_ASSERT_OK(lease);
  CO_ASSERT_OK(co_await store->put(root + "leased", "x", *lease, deadline()));
  auto leased = co_await store->get(root + "leased", deadline());
  CO_ASSERT_OK(leased);
  CO_ASSERT_TRUE(leased->has_value());
  EXPECT_EQ((*leased)->lease, *lease);
  CO_ASSERT_OK(co_await store->keep_alive(*lease, deadline()));
  CO_ASSERT_OK(co_await store->revoke_lease(*lease, deadline()));
  leased = co_await store->get(root + "leased", deadline());
  CO_ASSERT_OK(leased);
  EXPECT_FALSE(leased->has_value());
  EXPECT_EQ((co_await store->keep_alive(*lease, deadline())).code(), StatusCode::kNotFound);
  EXPECT_EQ((co_await store->revoke_lease(*lease, deadline())).code(), StatusCode::kNotFound);
  std::vector<WriteOp> orphan_put = ops(put_op(root + "orphan", "x", *lease));
  auto orphan = co_await store->txn({}, std::move(orphan_put), deadline());
  EXPECT_EQ(orphan.status().code(), StatusCode::kNotFound) << orphan.status();
}

TEST(FakeConfigStoreTest, ScriptedScenario) {
  boost::asio::io_context context(1);
  FakeClock clock;
  FakeConfigStore store(clock);
  run_simulated(context, clock, scripted_scenario(&store.client("a"), &clock, "/t/"));
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  TESS_ASSERT(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0, "bind");
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

Task<bool> etcd_answers(EtcdConfigStore* store) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto read = co_await store->get("/probe", Deadline::after(1s, RealClock::instance()));
    if (read.ok()) co_return true;
    (void)co_await RealClock::instance().sleep_for(50ms);
  }
  co_return false;
}

// The same scenario against a real etcd, started here on free loopback ports and stopped by PID.
TEST(EtcdConfigStoreTest, ScriptedScenarioOnRealEtcd) {
  if (!std::filesystem::exists("/usr/bin/etcd")) GTEST_SKIP() << "no etcd binary";
  testing::TempDir dir;
  uint16_t client_port = free_port();
  uint16_t peer_port = free_port();
  std::string client_url = fmt::format("http://127.0.0.1:{}", client_port);
  std::string peer_url = fmt::format("http://127.0.0.1:{}", peer_port);
  auto etcd = testing::ChildProcess::start(
      {"/usr/bin/etcd", "--name", "t", "--data-dir", dir.file("etcd"), "--listen-client-urls",
       client_url, "--advertise-client-urls", client_url, "--listen-peer-urls", peer_url,
       "--initial-advertise-peer-urls", peer_url, "--initial-cluster", "t=" + peer_url},
      dir.file("etcd.log"));
  ASSERT_OK(etcd);
  EtcdConfigStore store({fmt::format("127.0.0.1:{}", client_port)});
  ASSERT_TRUE(testing::run_task(etcd_answers(&store))) << "etcd did not start";
  testing::run_task(scripted_scenario(&store, &RealClock::instance(), "/t/"));
  etcd->kill();
}

// ---- The fake's own controls.

Task<void> lease_expiry(FakeConfigStore* fake, FakeClock* clock) {
  ConfigStore& store = fake->client("a");
  auto deadline = [clock] { return Deadline::after(1s, *clock); };
  auto lease = co_await store.grant_lease(2s, deadline());
  CO_ASSERT_OK(lease);
  CO_ASSERT_OK(co_await store.put("/k", "v", *lease, deadline()));
  for (int i = 0; i < 5; ++i) {
    clock->advance(1500ms);
    CO_ASSERT_OK(co_await store.keep_alive(*lease, deadline()));
  }
  clock->advance(2001ms);
  EXPECT_FALSE(fake->peek("/k").has_value()) << "the lease ended on the store's clock";
  EXPECT_EQ((co_await store.keep_alive(*lease, deadline())).code(), StatusCode::kNotFound);
  EXPECT_EQ(fake->expired_lease_count("a"), 1u);

  // Early expiry right after a renewal (etcd #15247, #12528).
  auto second = co_await store.grant_lease(10s, deadline());
  CO_ASSERT_OK(second);
  CO_ASSERT_OK(co_await store.keep_alive(*second, deadline()));
  EXPECT_TRUE(fake->expire_lease(*second));
  EXPECT_EQ((co_await store.keep_alive(*second, deadline())).code(), StatusCode::kNotFound);
  EXPECT_EQ(fake->expired_lease_count("a"), 2u);
}

TEST(FakeConfigStoreTest, LeasesEndOnTheClockAndEarlyOnRequest) {
  boost::asio::io_context context(1);
  FakeClock clock;
  FakeConfigStore store(clock);
  run_simulated(context, clock, lease_expiry(&store, &clock));
}

Task<void> faults(FakeConfigStore* fake, FakeClock* clock) {
  ConfigStore& a = fake->client("a");
  ConfigStore& b = fake->client("b");
  // Stall: the call ends at its deadline, not applied, outcome unknown to the caller.
  fake->set_fault("a", FakeConfigStore::Fault::kStall);
  Deadline deadline = Deadline::after(3s, *clock);
  Status stalled = co_await a.put("/s", "x", {}, deadline);
  EXPECT_TRUE(outcome_unknown(stalled)) << stalled;
  EXPECT_GE(clock->now(), deadline.at());
  EXPECT_FALSE(fake->peek("/s").has_value());
  // One node's fault leaves the others alone.
  CO_ASSERT_OK(co_await b.put("/b", "x", {}, Deadline::after(1s, *clock)));
  // Fail and lost quorum: at once, with the real client's words.
  fake->set_fault("a", FakeConfigStore::Fault::kFail);
  Clock::TimePoint before = clock->now();
  Status failed = co_await a.put("/s", "x", {}, Deadline::after(1s, *clock));
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
  EXPECT_NE(failed.message().find("etcd is unreachable"), std::string_view::npos);
  EXPECT_EQ(clock->now(), before);
  fake->set_fault("a", FakeConfigStore::Fault::kNone);
  fake->set_fault_all(FakeConfigStore::Fault::kLostQuorum);
  Status quorum = co_await b.put("/s", "x", {}, Deadline::after(1s, *clock));
  EXPECT_EQ(quorum.code(), StatusCode::kUnavailable);
  EXPECT_NE(quorum.message().find("etcd has lost quorum"), std::string_view::npos) << quorum;
  fake->set_fault_all(FakeConfigStore::Fault::kNone);
  // Ambiguous: applied, answer lost.
  fake->make_writes_ambiguous("a", 1);
  Status lost = co_await a.put("/amb", "x", {}, Deadline::after(1s, *clock));
  EXPECT_TRUE(outcome_unknown(lost)) << lost;
  EXPECT_TRUE(fake->peek("/amb").has_value()) << "applied although the answer was lost";
  CO_ASSERT_OK(co_await a.put("/amb", "y", {}, Deadline::after(1s, *clock)));
  // Latency on reads only.
  fake->set_latency("a", 200ms, /*reads_only=*/true);
  before = clock->now();
  CO_ASSERT_OK(co_await a.get("/amb", Deadline::after(1s, *clock)));
  EXPECT_EQ(clock->now() - before, 200ms);
}

TEST(FakeConfigStoreTest, FaultsHitOneClientOrAll) {
  boost::asio::io_context context(1);
  FakeClock clock;
  FakeConfigStore store(clock);
  run_simulated(context, clock, faults(&store, &clock));
}

Task<void> witnessed(FakeConfigStore* fake, FakeClock* clock) {
  fake->record_writes("/map/", "/election");
  ConfigStore& a = fake->client("a");
  ConfigStore& b = fake->client("b");
  Deadline deadline = Deadline::after(1s, *clock);
  auto lease = co_await a.grant_lease(5s, deadline);
  CO_ASSERT_OK(lease);
  CO_ASSERT_OK(co_await a.put("/election", "1", *lease, deadline));
  CO_ASSERT_OK(co_await a.put("/map/header", "epoch 1", {}, deadline));
  CO_ASSERT_OK(co_await b.put("/map/header", "epoch 2", {}, deadline));  // Not b's election.
  CO_ASSERT_OK(co_await b.put("/other", "x", {}, deadline));
  const auto& writes = fake->witnessed_writes();
  CO_ASSERT_TRUE(writes.size() == 2);
  EXPECT_EQ(writes[0].client, "a");
  EXPECT_EQ(writes[0].witness_lease_owner, "a");
  EXPECT_EQ(writes[1].client, "b");
  EXPECT_EQ(writes[1].witness_lease_owner, "a") << "the checker sees b wrote under a's election";
}

TEST(FakeConfigStoreTest, RecordsMapWritesWithTheElectionKey) {
  boost::asio::io_context context(1);
  FakeClock clock;
  FakeConfigStore store(clock);
  run_simulated(context, clock, witnessed(&store, &clock));
}

}  // namespace
}  // namespace tessera
