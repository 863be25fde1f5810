#include "cluster/filesystems.h"

#include <gtest/gtest.h>

#include "cluster/fake_config_store.h"
#include "runtime/simulated_run.h"
#include "testing/testing.h"

namespace tessera {
namespace {

using Kind = FilesystemChange::Kind;

bool contains(const Status& status, std::string_view text) {
  return status.message().find(text) != std::string_view::npos;
}

proto::FilesystemRecord record(uint32_t id, const std::string& name, uint64_t capacity_bytes,
                               proto::FilesystemState state = proto::FILESYSTEM_STATE_ACTIVE) {
  proto::FilesystemRecord out;
  out.set_id(id);
  out.set_name(name);
  out.set_capacity_bytes(capacity_bytes);
  out.set_created_unix_ms(1);
  out.set_state(state);
  return out;
}

FilesystemChange change(Kind kind, std::string name, std::optional<uint64_t> capacity_bytes = {},
                        bool force = false) {
  return FilesystemChange{kind, std::move(name), capacity_bytes, force};
}

TEST(FilesystemNames, TheRule) {
  for (const std::string& name :
       std::vector<std::string>{"a", "Z", "0", "data", "my-fs_1.v2", "A.B", std::string(64, 'x')}) {
    EXPECT_OK(check_filesystem_name(name)) << name;
  }
  struct Bad {
    std::string name;
    std::string says;
  };
  for (const Bad& bad :
       {Bad{"", "cannot be empty"}, Bad{std::string(65, 'x'), "is 65 characters"},
        Bad{"-a", "must start with a letter or a digit"},
        Bad{".hidden", "must start with a letter or a digit"}, Bad{"a b", "has ' ' at position 2"},
        Bad{"a/b", "has '/' at position 2"}, Bad{"caf\xc3\xa9", "has '\\xc3' at position 4"},
        Bad{std::string("a\0b", 3), "has '\\x00' at position 2"}}) {
    Status checked = check_filesystem_name(bad.name);
    EXPECT_EQ(checked.code(), StatusCode::kInvalidArgument) << bad.name;
    EXPECT_TRUE(contains(checked, bad.says)) << checked;
  }
  EXPECT_EQ(quote_name("it's\n"), "'it\\x27s\\x0a'");
  EXPECT_EQ(quote_name(std::string(100, 'y')), "'" + std::string(80, 'y') + "'...");
  EXPECT_EQ(describe_bytes(1000), "1000 bytes");
  EXPECT_EQ(describe_bytes(3 * kGiB / 2), "1610612736 bytes (1.5 GiB)");
}

TEST(FilesystemRules, CreateTakesWhatIsLeftOrWhatFits) {
  const uint64_t usable = 100 * kGiB;
  FilesystemTable table;
  table.records.push_back(record(1, "a", 30 * kGiB));
  table.records.push_back(record(2, "b", 50 * kGiB));
  auto planned = plan_filesystem_change(change(Kind::kCreate, "c"), table, {}, usable, 3, 77);
  ASSERT_OK(planned.status());
  EXPECT_EQ(planned->id(), 3u);
  EXPECT_EQ(planned->name(), "c");
  EXPECT_EQ(planned->capacity_bytes(), 20 * kGiB) << "the default: what is left";
  EXPECT_EQ(planned->created_unix_ms(), 77u);
  EXPECT_EQ(planned->state(), proto::FILESYSTEM_STATE_ACTIVE);

  planned = plan_filesystem_change(change(Kind::kCreate, "c", 20 * kGiB), table, {}, usable, 3, 0);
  ASSERT_OK(planned.status());
  EXPECT_EQ(planned->capacity_bytes(), 20 * kGiB) << "exactly what is left fits";

  Status refused =
      plan_filesystem_change(change(Kind::kCreate, "c", 20 * kGiB + 1), table, {}, usable, 3, 0)
          .status();
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace);
  // Both numbers: what was asked and what is left, with what is provisioned of what is usable.
  EXPECT_TRUE(contains(refused,
                       "a capacity of 21474836481 bytes (20.0 GiB) exceeds the "
                       "21474836480 bytes (20.0 GiB) left unprovisioned"))
      << refused;
  EXPECT_TRUE(contains(refused,
                       "provision 85899345920 bytes (80.0 GiB) of the cluster's "
                       "107374182400 bytes (100.0 GiB) usable"))
      << refused;

  refused = plan_filesystem_change(change(Kind::kCreate, "a"), table, {}, usable, 3, 0).status();
  EXPECT_EQ(refused.code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(contains(refused, "a filesystem named 'a' exists already (id 1)")) << refused;
  refused = plan_filesystem_change(change(Kind::kCreate, "A"), table, {}, usable, 3, 0).status();
  EXPECT_OK(refused) << "names are case-sensitive";
  refused = plan_filesystem_change(change(Kind::kCreate, "c", kMiB - 1), table, {}, usable, 3, 0)
                .status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(refused, "at least 1048576 bytes (1.0 MiB)")) << refused;
  refused =
      plan_filesystem_change(change(Kind::kCreate, "bad name"), table, {}, usable, 3, 0).status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);

  table.records.push_back(record(3, "c", 20 * kGiB));
  refused = plan_filesystem_change(change(Kind::kCreate, "d"), table, {}, usable, 4, 0).status();
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace);
  EXPECT_TRUE(contains(refused, "nothing is left to provision")) << refused;
}

TEST(FilesystemRules, DeletingFilesystemsFreeTheirNameAndHoldTheirUsedBytes) {
  const uint64_t usable = 100 * kGiB;
  FilesystemTable table;
  table.records.push_back(record(1, "a", 60 * kGiB, proto::FILESYSTEM_STATE_DELETING));
  table.records.push_back(record(2, "b", 30 * kGiB));
  EXPECT_EQ(provisioned_bytes(table, {}), 30 * kGiB) << "deleting, used unknown: counts 0";
  FilesystemUsageTable usage{{FilesystemId(1), FilesystemUsage{5 * kGiB, 10}}};
  EXPECT_EQ(provisioned_bytes(table, usage), 35 * kGiB) << "deleting: its used bytes until purged";
  EXPECT_EQ(provisioned_bytes(table, usage, FilesystemId(2)), 5 * kGiB);
  auto planned = plan_filesystem_change(change(Kind::kCreate, "a"), table, usage, usable, 3, 0);
  ASSERT_OK(planned.status());
  EXPECT_EQ(planned->capacity_bytes(), 65 * kGiB);
  Status missing =
      plan_filesystem_change(change(Kind::kUpdate, "a", kGiB), table, usage, usable, 0, 0).status();
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(missing, "the one of that name (id 1) is being deleted")) << missing;
  missing =
      plan_filesystem_change(change(Kind::kDelete, "zz", {}, true), table, usage, usable, 0, 0)
          .status();
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "no filesystem named 'zz'");
}

TEST(FilesystemRules, UpdateNeverBelowUsedAndGrowthMustFit) {
  const uint64_t usable = 100 * kGiB;
  FilesystemTable table;
  table.records.push_back(record(1, "a", 40 * kGiB));
  table.records.push_back(record(2, "b", 40 * kGiB));
  FilesystemUsageTable usage{{FilesystemId(1), FilesystemUsage{10 * kGiB, 3}}};
  auto planned =
      plan_filesystem_change(change(Kind::kUpdate, "a", 60 * kGiB), table, usage, usable, 0, 0);
  ASSERT_OK(planned.status());
  EXPECT_EQ(planned->capacity_bytes(), 60 * kGiB) << "40 GiB for b, 60 for a: all of it";
  EXPECT_EQ(planned->id(), 1u);
  Status refused =
      plan_filesystem_change(change(Kind::kUpdate, "a", 60 * kGiB + 1), table, usage, usable, 0, 0)
          .status();
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace);
  EXPECT_TRUE(contains(refused, "exceeds the 64424509440 bytes (60.0 GiB) it may have")) << refused;
  refused =
      plan_filesystem_change(change(Kind::kUpdate, "a", 10 * kGiB - 1), table, usage, usable, 0, 0)
          .status();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(refused, "uses 10737418240 bytes (10.0 GiB)")) << refused;
  planned =
      plan_filesystem_change(change(Kind::kUpdate, "a", 10 * kGiB), table, usage, usable, 0, 0);
  ASSERT_OK(planned.status());
  EXPECT_EQ(planned->capacity_bytes(), 10 * kGiB) << "down to exactly what is used";
  // Over-provisioned (the cluster lost capacity): a shrink is allowed, growth is not.
  planned =
      plan_filesystem_change(change(Kind::kUpdate, "b", 30 * kGiB), table, usage, 50 * kGiB, 0, 0);
  ASSERT_OK(planned.status());
  refused =
      plan_filesystem_change(change(Kind::kUpdate, "b", 41 * kGiB), table, usage, 50 * kGiB, 0, 0)
          .status();
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace);
  refused = plan_filesystem_change(change(Kind::kUpdate, "b"), table, usage, usable, 0, 0).status();
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
}

TEST(FilesystemRules, DeleteNeedsForceUnlessKnownEmpty) {
  FilesystemTable table;
  table.records.push_back(record(1, "a", kGiB));
  Status refused = plan_filesystem_change(change(Kind::kDelete, "a"), table, {}, 0, 0, 0).status();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(refused, "its usage is not known now")) << refused;
  FilesystemUsageTable holding{{FilesystemId(1), FilesystemUsage{4096, 2}}};
  refused = plan_filesystem_change(change(Kind::kDelete, "a"), table, holding, 0, 0, 0).status();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(refused, "holds 2 files and 4096 bytes (4.0 KiB)")) << refused;
  FilesystemUsageTable only_bytes{{FilesystemId(1), FilesystemUsage{0, std::nullopt}}};
  EXPECT_EQ(plan_filesystem_change(change(Kind::kDelete, "a"), table, only_bytes, 0, 0, 0)
                .status()
                .code(),
            StatusCode::kFailedPrecondition)
      << "files unknown: not shown empty";
  FilesystemUsageTable empty{{FilesystemId(1), FilesystemUsage{0, 0}}};
  for (const auto& [usage, force] : {std::pair{empty, false}, std::pair{holding, true},
                                     std::pair{FilesystemUsageTable{}, true}}) {
    auto planned =
        plan_filesystem_change(change(Kind::kDelete, "a", {}, force), table, usage, 0, 0, 99);
    ASSERT_OK(planned.status());
    EXPECT_EQ(planned->state(), proto::FILESYSTEM_STATE_DELETING);
    EXPECT_EQ(planned->deleting_since_unix_ms(), 99u);
    EXPECT_EQ(planned->capacity_bytes(), kGiB);
  }
}

TEST(FilesystemRules, IdsAndTheLimitOfFilesystems) {
  FilesystemTable table;
  EXPECT_EQ(*next_filesystem_id(0, table), 1u);
  EXPECT_EQ(*next_filesystem_id(7, table), 8u);
  table.records.push_back(record(12, "a", kGiB));
  EXPECT_EQ(*next_filesystem_id(7, table), 13u) << "a counter behind the records";
  EXPECT_EQ(next_filesystem_id(UINT32_MAX, table).status().code(), StatusCode::kFailedPrecondition);
  table.records.clear();
  for (uint32_t id = 1; id <= kMaxFilesystems; ++id) {
    table.records.push_back(
        record(id, fmt::format("fs{}", id), kMiB,
               id % 2 ? proto::FILESYSTEM_STATE_ACTIVE : proto::FILESYSTEM_STATE_DELETING));
  }
  Status refused = plan_filesystem_change(change(Kind::kCreate, "new", kMiB), table, {}, 100 * kGiB,
                                          kMaxFilesystems + 1, 0)
                       .status();
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(refused, "1024 filesystems, the most it may have")) << refused;
}

TEST(FilesystemCodec, DecodesStrictlyAndSkipsOtherKeys) {
  ClusterKeys keys("c");
  auto kv = [](std::string key, std::string value) {
    return KeyValue{std::move(key), std::move(value), 1, 5, {}};
  };
  std::vector<KeyValue> values{kv(keys.filesystems_version(), "9"),
                               kv(keys.filesystem(4), record(4, "d", kGiB).SerializeAsString()),
                               kv(keys.filesystem(2), record(2, "b", kGiB).SerializeAsString()),
                               kv(keys.filesystems() + "later/thing", "x")};
  auto table = decode_filesystems(values, keys);
  ASSERT_OK(table.status());
  EXPECT_EQ(table->version, 9u);
  EXPECT_EQ(table->version_mod_revision, 5);
  ASSERT_EQ(table->records.size(), 2u);
  EXPECT_EQ(table->records[0].id(), 2u) << "in id order";
  EXPECT_EQ(table->active("d")->id(), 4u);
  EXPECT_EQ(table->active("x"), nullptr);

  struct Bad {
    KeyValue kv;
    std::string says;
  };
  proto::FilesystemRecord no_state = record(3, "c", kGiB);
  no_state.set_state(proto::FILESYSTEM_STATE_UNSPECIFIED);
  for (const Bad& bad :
       {Bad{kv(keys.filesystems_version(), "-1"), "is not a decimal number"},
        Bad{kv(keys.filesystem_records() + "x", ""), "filesystem key is not a decimal number"},
        Bad{kv(keys.filesystem(3), "\xff\xff\xff"), "does not parse"},
        Bad{kv(keys.filesystem(3), record(5, "c", kGiB).SerializeAsString()), "holds id 5"},
        Bad{kv(keys.filesystem(3), record(3, "c d", kGiB).SerializeAsString()), "has ' '"},
        Bad{kv(keys.filesystem(3), no_state.SerializeAsString()), "has state 0"},
        Bad{kv(keys.filesystem(3), record(3, "b", kGiB).SerializeAsString()),
            "two active filesystems in etcd are named 'b'"}}) {
    std::vector<KeyValue> corrupt = values;
    corrupt.push_back(bad.kv);
    Status decoded = decode_filesystems(corrupt, keys).status();
    EXPECT_EQ(decoded.code(), StatusCode::kCorruption) << bad.says;
    EXPECT_TRUE(contains(decoded, bad.says)) << decoded;
  }
  // A deleting record may share its name with the active one that took it.
  std::vector<KeyValue> reused = values;
  reused.push_back(kv(keys.filesystem(3),
                      record(3, "b", kGiB, proto::FILESYSTEM_STATE_DELETING).SerializeAsString()));
  EXPECT_OK(decode_filesystems(reused, keys).status());
}

// Against a FakeConfigStore: a created cluster (map header) and a management leader's term.
struct StoreFixture {
  boost::asio::io_context context{1};
  FakeClock clock;
  FakeConfigStore store{clock};
  ClusterKeys keys{"default"};
  int64_t term = 0;
  uint64_t usable_bytes = 0;

  Deadline deadline() { return Deadline::after(std::chrono::seconds(3), clock); }
  ConfigStore& leader() { return store.client("leader"); }

  // Five hosts in five failure domains, a 1 GiB drive each, 3+2, no hot spare.
  Task<void> create_cluster(Status* out) {
    proto::ClusterMapHeader header;
    header.set_format_version(kMapFormatVersion);
    header.mutable_protection()->set_data(3);
    header.mutable_protection()->set_parity(2);
    for (uint32_t id = 1; id <= 5; ++id) {
      proto::HostEntry* host = header.add_hosts();
      host->set_host_id(id);
      host->set_failure_domain(fmt::format("d{}", id));
      host->set_up(true);
      proto::DriveEntry* drive = header.add_drives();
      drive->set_drive_id(id);
      drive->set_host_id(id);
      drive->set_capacity_bytes(kGiB);
      drive->set_active(true);
    }
    usable_bytes = capacity_of(header).usable_bytes;
    *out =
        co_await leader().put(keys.map_header(), header.SerializeAsString(), LeaseId(), deadline());
    if (!out->ok()) co_return;
    *out = co_await elect();
  }

  // A new term: the election key made afresh.
  Task<Status> elect() {
    std::vector<WriteOp> ops;
    ops.push_back(WriteOp{WriteOp::Kind::kDelete, keys.election(), "", {}});
    ops.push_back(WriteOp{WriteOp::Kind::kPut, keys.election(), "1", {}});
    TESS_CO_ASSIGN_OR_RETURN(TxnResult done, co_await leader().txn({}, ops, deadline()));
    term = done.revision;
    co_return Status();
  }

  // Plain-value parameters, the request built here: GCC 12 mishandles temporaries that own memory
  // passed to a coroutine inside a co_await expression (docs/style.md).
  Task<Result<proto::FilesystemRecord>> apply(Kind kind, const char* name,
                                              std::optional<uint64_t> capacity_bytes = {},
                                              bool force = false, int64_t as_term = 0) {
    FilesystemChange request = change(kind, name, capacity_bytes, force);
    FilesystemUsageTable usage;
    co_return co_await change_filesystem(&leader(), keys, std::move(request), std::move(usage),
                                         as_term != 0 ? as_term : term, 1'800'000'000'000,
                                         deadline());
  }
};

Task<void> creates_updates_and_deletes(StoreFixture* fx) {
  Status created;
  co_await fx->create_cluster(&created);
  CO_ASSERT_OK(created);
  auto a = co_await fx->apply(Kind::kCreate, "a", 100 * kMiB);
  CO_ASSERT_OK(a.status());
  EXPECT_EQ(a->id(), 1u);
  EXPECT_EQ(a->created_unix_ms(), 1'800'000'000'000u);
  auto b = co_await fx->apply(Kind::kCreate, "b");
  CO_ASSERT_OK(b.status());
  EXPECT_EQ(b->id(), 2u);
  EXPECT_EQ(b->capacity_bytes(), fx->usable_bytes - 100 * kMiB) << "the rest";
  EXPECT_EQ(fx->store.peek(fx->keys.next_filesystem_id())->value, "2");
  EXPECT_EQ(fx->store.peek(fx->keys.filesystems_version())->value, "2");

  auto refused = co_await fx->apply(Kind::kCreate, "c", kMiB);
  EXPECT_EQ(refused.status().code(), StatusCode::kNoSpace) << refused.status();
  refused = co_await fx->apply(Kind::kCreate, "a", kMiB);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists) << refused.status();

  auto shrunk = co_await fx->apply(Kind::kUpdate, "b", 200 * kMiB);
  CO_ASSERT_OK(shrunk.status());
  EXPECT_EQ(shrunk->capacity_bytes(), 200 * kMiB);
  auto same = co_await fx->apply(Kind::kUpdate, "b", 200 * kMiB);
  CO_ASSERT_OK(same.status());
  EXPECT_EQ(fx->store.peek(fx->keys.filesystems_version())->value, "3") << "no change, no write";

  auto deleting = co_await fx->apply(Kind::kDelete, "a", std::nullopt, /*force=*/true);
  CO_ASSERT_OK(deleting.status());
  EXPECT_EQ(deleting->state(), proto::FILESYSTEM_STATE_DELETING);
  // The name is free at once; the new filesystem gets a new id, never 1 again.
  auto again = co_await fx->apply(Kind::kCreate, "a", 100 * kMiB);
  CO_ASSERT_OK(again.status());
  EXPECT_EQ(again->id(), 3u);

  auto table = co_await load_filesystems(&fx->leader(), fx->keys, fx->deadline());
  CO_ASSERT_OK(table.status());
  CO_ASSERT_TRUE(table->records.size() == 3u);
  EXPECT_EQ(table->records[0].state(), proto::FILESYSTEM_STATE_DELETING);
  EXPECT_EQ(table->active("a")->id(), 3u);
  EXPECT_EQ(table->version, 5u);
}

TEST(FilesystemStore, CreatesUpdatesAndDeletes) {
  StoreFixture fx;
  run_simulated(fx.context, fx.clock, creates_updates_and_deletes(&fx));
}

Task<void> refuses_before_creation_and_after_the_term(StoreFixture* fx) {
  CO_ASSERT_OK(co_await fx->elect());
  auto refused = co_await fx->apply(Kind::kCreate, "a");
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(refused.status(), "the cluster has not been created")) << refused.status();
  EXPECT_FALSE(fx->store.peek(fx->keys.next_filesystem_id()).has_value());

  Status created;
  co_await fx->create_cluster(&created);
  CO_ASSERT_OK(created);
  int64_t old_term = fx->term;
  CO_ASSERT_OK(co_await fx->elect());
  auto fenced = co_await fx->apply(Kind::kCreate, "a", std::nullopt, false, old_term);
  EXPECT_EQ(fenced.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(contains(fenced.status(), "no longer the management leader")) << fenced.status();
  EXPECT_TRUE(fx->store.peek_prefix(fx->keys.filesystems()).empty());

  // What etcd holds cannot be read: nothing is written over it.
  CO_ASSERT_OK(
      co_await fx->leader().put(fx->keys.next_filesystem_id(), "many", LeaseId(), fx->deadline()));
  auto corrupt = co_await fx->apply(Kind::kCreate, "a");
  EXPECT_EQ(corrupt.status().code(), StatusCode::kCorruption) << corrupt.status();
  CO_ASSERT_OK(
      co_await fx->leader().put(fx->keys.filesystem(9), "\xff", LeaseId(), fx->deadline()));
  auto listed = co_await load_filesystems(&fx->leader(), fx->keys, fx->deadline());
  EXPECT_EQ(listed.status().code(), StatusCode::kCorruption);
}

TEST(FilesystemStore, RefusesBeforeCreationAndAfterTheTerm) {
  StoreFixture fx;
  run_simulated(fx.context, fx.clock, refuses_before_creation_and_after_the_term(&fx));
}

Task<void> lost_answers(StoreFixture* fx) {
  Status created;
  co_await fx->create_cluster(&created);
  CO_ASSERT_OK(created);
  // Applied, answer lost: read back, found, one filesystem, one id.
  fx->store.make_writes_ambiguous("leader", 1);
  auto a = co_await fx->apply(Kind::kCreate, "a", kGiB / 4);
  CO_ASSERT_OK(a.status());
  EXPECT_EQ(a->id(), 1u);
  EXPECT_EQ(fx->store.peek_prefix(fx->keys.filesystem_records()).size(), 1u);
  EXPECT_EQ(fx->store.peek(fx->keys.next_filesystem_id())->value, "1");
  // The store stalls: the write does not apply and nothing answers; the deadline ends the call.
  fx->store.set_fault("leader", FakeConfigStore::Fault::kStall);
  auto stalled = co_await fx->apply(Kind::kCreate, "b", kGiB / 4);
  EXPECT_EQ(stalled.status().code(), StatusCode::kDeadlineExceeded) << stalled.status();
  fx->store.set_fault("leader", FakeConfigStore::Fault::kNone);
  auto b = co_await fx->apply(Kind::kCreate, "b", kGiB / 4);
  CO_ASSERT_OK(b.status());
  EXPECT_EQ(b->id(), 2u);
}

TEST(FilesystemStore, LostAnswersAreReadBack) {
  StoreFixture fx;
  run_simulated(fx.context, fx.clock, lost_answers(&fx));
}

Task<void> create_into(StoreFixture* fx, const char* name, uint64_t capacity_bytes,
                       Result<proto::FilesystemRecord>* out) {
  *out = co_await fx->apply(Kind::kCreate, name, capacity_bytes);
}

Task<void> concurrent_creates(StoreFixture* fx) {
  Status created;
  co_await fx->create_cluster(&created);
  CO_ASSERT_OK(created);
  // Reads take a while, so both creates read the empty table before either writes: each fits
  // alone, together they would not. The version comparison makes the second re-read and refuse.
  fx->store.set_latency("leader", std::chrono::milliseconds(5), /*reads_only=*/true);
  uint64_t more_than_half = fx->usable_bytes / 2 + kMiB;
  Result<proto::FilesystemRecord> first;
  Result<proto::FilesystemRecord> second;
  bool first_done = false;
  auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::co_spawn(executor, create_into(fx, "one", more_than_half, &first),
                        [&first_done](const std::exception_ptr&) { first_done = true; });
  co_await create_into(fx, "two", more_than_half, &second);
  while (!first_done) (void)co_await fx->clock.sleep_for(std::chrono::milliseconds(1));
  EXPECT_NE(first.ok(), second.ok()) << first.status() << " / " << second.status();
  const Status& refused = first.ok() ? second.status() : first.status();
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace) << refused;
  EXPECT_EQ(fx->store.peek_prefix(fx->keys.filesystem_records()).size(), 1u);
}

TEST(FilesystemStore, ConcurrentCreatesCannotOverProvision) {
  StoreFixture fx;
  run_simulated(fx.context, fx.clock, concurrent_creates(&fx));
}

Task<void> update_into(StoreFixture* fx, const char* name, uint64_t capacity_bytes,
                       Result<proto::FilesystemRecord>* out) {
  *out = co_await fx->apply(Kind::kUpdate, name, capacity_bytes);
}

// An update does not touch the id counter: only the version orders it against a create.
Task<void> concurrent_create_and_growth(StoreFixture* fx) {
  Status created;
  co_await fx->create_cluster(&created);
  CO_ASSERT_OK(created);
  auto a = co_await fx->apply(Kind::kCreate, "a", kMiB);
  CO_ASSERT_OK(a.status());
  fx->store.set_latency("leader", std::chrono::milliseconds(5), /*reads_only=*/true);
  uint64_t half_left = (fx->usable_bytes - kMiB) / 2;
  Result<proto::FilesystemRecord> grown;
  Result<proto::FilesystemRecord> made;
  bool grown_done = false;
  auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::co_spawn(executor, update_into(fx, "a", kMiB + half_left + kMiB, &grown),
                        [&grown_done](const std::exception_ptr&) { grown_done = true; });
  co_await create_into(fx, "b", half_left + kMiB, &made);
  while (!grown_done) (void)co_await fx->clock.sleep_for(std::chrono::milliseconds(1));
  EXPECT_NE(grown.ok(), made.ok()) << grown.status() << " / " << made.status();
  const Status& refused = grown.ok() ? made.status() : grown.status();
  EXPECT_EQ(refused.code(), StatusCode::kNoSpace) << refused;
  auto table = co_await load_filesystems(&fx->leader(), fx->keys, fx->deadline());
  CO_ASSERT_OK(table.status());
  EXPECT_LE(provisioned_bytes(*table, {}), fx->usable_bytes);
}

TEST(FilesystemStore, ConcurrentCreateAndGrowthCannotOverProvision) {
  StoreFixture fx;
  run_simulated(fx.context, fx.clock, concurrent_create_and_growth(&fx));
}

}  // namespace
}  // namespace tessera
