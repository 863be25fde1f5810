// drive_bench: the chunk store against fio on the same backing file, in-process and over RPC.
//
//   drive_bench [--dir DIR] [--size-mib N] [--seconds S] [--rounds R]
//
// One file of 64 MiB (superblock area) + N MiB is used by everything. First fio (io_uring,
// O_DIRECT) writes the data area sequentially in 1 MiB blocks at queue depth 8 and fsyncs once at
// the end, reads it back the
// same way, and reads random 4 KiB blocks at queue depth 32 for S seconds. Then the chunk store,
// formatted on that file, does the same through its API: 1 MiB chunk writes with 8 in flight, half
// in bulk (durable = false, one barrier at the end, timed) and half durable one by one (each
// acknowledged after a flush and a synced index commit, grouped), 1 MiB chunk
// reads with 8 in flight, and random 4 KiB block reads with 32 in flight (each verified against
// its CRC32C). Then again through a DriveClient over loopback RPC (server and client on separate
// event loops). Every ratio is the project's figure over fio's.
#include <fmt/format.h>

#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "base/log.h"
#include "bench/bench_report.h"
#include "drive/chunk_store.h"
#include "drive/uring_block_device.h"
#include "drive_service/drive_client.h"
#include "drive_service/drive_service.h"
#include "rpc/server.h"
#include "runtime/event_loop.h"

namespace tessera {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr uint32_t kChunkBlocks = 256;  // 1 MiB
constexpr size_t kSequentialDepth = 8;
constexpr size_t kRandomDepth = 32;
constexpr ClusterUuid kCluster = {0xbe, 0x4c, 0x40, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1};
constexpr DriveId kDrive(1);

struct Figures {
  double seq_write_mib_per_s = 0;      // Bulk: durable = false, then one barrier (timed).
  double durable_write_mib_per_s = 0;  // Every write acknowledged durable.
  double seq_read_mib_per_s = 0;
  double randread_4k_iops = 0;
};

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// ---- fio -----------------------------------------------------------------------------------

nlohmann::json run_fio(const std::string& file, uint64_t data_bytes, const std::string& rw,
                       const std::string& block_size, size_t depth, double seconds,
                       bool end_fsync = false) {
  std::string command = fmt::format(
      "fio --name=bench --filename={} --ioengine=io_uring --direct=1 --rw={} --bs={} "
      "--iodepth={} --offset={} --size={} --output-format=json --randrepeat=0 --end_fsync={}{} "
      "2>&1",
      file, rw, block_size, depth, kDataStartBlock * kBlockSize, data_bytes, end_fsync ? 1 : 0,
      seconds > 0 ? fmt::format(" --time_based --runtime={}", seconds) : "");
  FILE* pipe = popen(command.c_str(), "r");
  TESS_ASSERT(pipe != nullptr, "cannot run fio");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  int status = pclose(pipe);
  size_t json_start = output.find('{');
  if (status != 0 || json_start == std::string::npos) {
    fmt::print(stderr, "fio failed ({}):\n{}\n", command, output);
    std::exit(1);
  }
  return nlohmann::json::parse(output.substr(json_start))["jobs"][0];
}

Figures fio_figures(const std::string& file, uint64_t data_bytes, double seconds) {
  Figures figures;
  // One fsync at the end, as the store's bulk writes end with a barrier: on a virtual disk that
  // flush costs as much as the writes, and leaving it out would compare different work.
  auto write = run_fio(file, data_bytes, "write", "1M", kSequentialDepth, 0, /*end_fsync=*/true);
  figures.seq_write_mib_per_s = write["write"]["bw_bytes"].get<double>() / kMiB;
  auto read = run_fio(file, data_bytes, "read", "1M", kSequentialDepth, 0);
  figures.seq_read_mib_per_s = read["read"]["bw_bytes"].get<double>() / kMiB;
  auto random = run_fio(file, data_bytes, "randread", "4k", kRandomDepth, seconds);
  figures.randread_4k_iops = random["read"]["iops"].get<double>();
  return figures;
}

// ---- the same work through the chunk store or a drive client ---------------------------------

ChunkId chunk(uint64_t index) { return ChunkId{BucketId(0), StripeId(index), 0, 1}; }

struct StoreIo {
  ChunkStore* store;
  bool durable = true;
  Task<Status> write(ChunkId id, Buffer data) {
    return store->write(id, std::move(data), {.durable = durable});
  }
  Task<Status> barrier() { return store->barrier(); }
  Task<Result<Buffer>> read(ChunkId id, uint32_t first, uint32_t count) {
    return store->read(id, first, count);
  }
};

struct ClientIo {
  DriveClient* client;
  bool durable = true;
  Task<Status> write(ChunkId id, Buffer data) {
    return client->write(Deadline::never(), kDrive, id, std::move(data), durable);
  }
  Task<Status> barrier() { return client->barrier(Deadline::never(), kDrive); }
  Task<Result<Buffer>> read(ChunkId id, uint32_t first, uint32_t count) {
    return client->read(Deadline::never(), kDrive, id, first, count);
  }
};

struct Work {
  uint64_t chunks = 0;  // Chunks next..chunks-1 are the work.
  uint64_t next = 0;
  uint64_t done_ops = 0;
  SteadyClock::time_point end;
  Buffer payload;
};

template <typename Io>
Task<void> sequential_writer(Io io, Work* work) {
  while (work->next < work->chunks) {
    Status written = co_await io.write(chunk(work->next++), work->payload);
    TESS_ASSERT(written.ok(), "write: {}", written);
  }
}

template <typename Io>
Task<void> barrier(Io io) {
  Status done = co_await io.barrier();
  TESS_ASSERT(done.ok(), "barrier: {}", done);
}

template <typename Io>
Task<void> sequential_reader(Io io, Work* work) {
  while (work->next < work->chunks) {
    auto read = co_await io.read(chunk(work->next++), 0, kChunkBlocks);
    TESS_ASSERT(read.ok(), "read: {}", read.status());
  }
}

template <typename Io>
Task<void> random_reader(Io io, Work* work, uint64_t seed) {
  std::mt19937_64 random(seed);
  while (SteadyClock::now() < work->end) {
    auto read = co_await io.read(chunk(random() % work->chunks),
                                 static_cast<uint32_t>(random() % kChunkBlocks), 1);
    TESS_ASSERT(read.ok(), "read: {}", read.status());
    ++work->done_ops;
  }
}

// Runs `depth` copies of a worker on `executor` and waits for all.
template <typename Make>
double run_workers(const Executor& executor, size_t depth, Make make) {
  auto start = SteadyClock::now();
  std::vector<std::future<void>> workers;
  for (size_t i = 0; i < depth; ++i) {
    workers.push_back(boost::asio::co_spawn(executor, make(i), boost::asio::use_future));
  }
  for (auto& worker : workers) worker.get();
  return seconds_since(start);
}

template <typename Io>
Figures measure(const Executor& executor, Io io, uint64_t chunks, double seconds) {
  Figures figures;
  Work work{chunks / 2, 0, 0, {}, Buffer::allocate(kChunkBlocks * kBlockSize)};
  std::memset(work.payload.data(), 0x5a, work.payload.size());
  // First half in bulk (one barrier at the end), second half durable one by one.
  io.durable = false;
  double elapsed =
      run_workers(executor, kSequentialDepth, [&](size_t) { return sequential_writer(io, &work); });
  elapsed += run_workers(executor, 1, [&](size_t) { return barrier(io); });
  figures.seq_write_mib_per_s = static_cast<double>(work.chunks) / elapsed;
  io.durable = true;
  work.chunks = chunks;
  uint64_t first_durable = work.next;
  elapsed =
      run_workers(executor, kSequentialDepth, [&](size_t) { return sequential_writer(io, &work); });
  figures.durable_write_mib_per_s = static_cast<double>(chunks - first_durable) / elapsed;
  work.next = 0;
  elapsed =
      run_workers(executor, kSequentialDepth, [&](size_t) { return sequential_reader(io, &work); });
  figures.seq_read_mib_per_s = static_cast<double>(chunks) / elapsed;
  work.end = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                      std::chrono::duration<double>(seconds));
  elapsed = run_workers(executor, kRandomDepth,
                        [&](size_t i) { return random_reader(io, &work, i + 1); });
  figures.randread_4k_iops = static_cast<double>(work.done_ops) / elapsed;
  return figures;
}

void keep_best(Figures* best, const Figures& round) {
  best->seq_write_mib_per_s = std::max(best->seq_write_mib_per_s, round.seq_write_mib_per_s);
  best->durable_write_mib_per_s =
      std::max(best->durable_write_mib_per_s, round.durable_write_mib_per_s);
  best->seq_read_mib_per_s = std::max(best->seq_read_mib_per_s, round.seq_read_mib_per_s);
  best->randread_4k_iops = std::max(best->randread_4k_iops, round.randread_4k_iops);
}

// ---- set-up ---------------------------------------------------------------------------------

template <typename T>
T on(const Executor& executor, Task<T> task) {
  return boost::asio::co_spawn(executor, std::move(task), boost::asio::use_future).get();
}

struct Drive {
  std::unique_ptr<UringBlockDevice> device;
  std::unique_ptr<ChunkStore> store;
};

Task<Drive> open_fresh_drive(std::string path, std::string index_path) {
  Executor executor = co_await boost::asio::this_coro::executor;
  Drive drive;
  auto device = UringBlockDevice::open(executor, path, 128);
  TESS_ASSERT(device.ok(), "{}", device.status());
  drive.device = std::move(*device);
  auto formatted =
      co_await ChunkStore::format(*drive.device, index_path, kCluster, kDrive, 0, true);
  TESS_ASSERT(formatted.ok(), "{}", formatted.status());
  auto store = co_await ChunkStore::open(executor, *drive.device, index_path, kCluster);
  TESS_ASSERT(store.ok(), "{}", store.status());
  drive.store = std::move(*store);
  co_return drive;
}

Task<void> close_drive(Drive drive) { co_await drive.store->close(); }

Task<Status> start_server(rpc::RpcServer* server) { co_return server->start(); }
Task<void> stop_server(rpc::RpcServer* server) {
  co_await server->shutdown(Deadline::after(std::chrono::seconds(5), RealClock::instance()));
}
Task<void> destroy_client(std::unique_ptr<DriveClient> client) {
  client.reset();
  co_return;
}

void print_figures(const std::string& what, const Figures& figures) {
  fmt::print(
      "  {:<14} write {:>6.0f} MiB/s (durable each {:>6.0f})  read {:>6.0f} MiB/s  4k randread "
      "{:>7.0f} IOPS\n",
      what, figures.seq_write_mib_per_s, figures.durable_write_mib_per_s,
      figures.seq_read_mib_per_s, figures.randread_4k_iops);
}

int run(const std::string& dir, uint64_t size_mib, double seconds, int rounds) {
  std::filesystem::create_directories(dir);
  std::string file = dir + "/drive_bench.img";
  std::string index = dir + "/drive_bench.index";
  uint64_t data_bytes = size_mib * kMiB;
  std::filesystem::remove(file);
  {
    FILE* created = std::fopen(file.c_str(), "w");
    TESS_ASSERT(created != nullptr, "cannot create {}", file);
    std::fclose(created);
    std::filesystem::resize_file(file, kDataStartBlock * kBlockSize + data_bytes);
  }
  fmt::print("drive_bench: {} MiB on {}; fio and the chunk store on the same file\n", size_mib,
             file);
  // Chunks of 1 MiB take 257 blocks with their header: as many as fit, less some slack.
  uint64_t chunks = data_bytes / (257 * kBlockSize) - 1;
  EventLoopGroup loops(2);
  // The disk of a shared machine drifts; alternate the three and keep each one's best round, so a
  // slow moment cannot land on one side of a ratio only.
  Figures fio, local, remote;
  for (int round = 1; round <= rounds; ++round) {
    Figures fio_round = fio_figures(file, data_bytes, seconds);
    print_figures(fmt::format("fio #{}", round), fio_round);
    keep_best(&fio, fio_round);

    Drive drive = on(loops.executor(0), open_fresh_drive(file, index));
    Figures local_round = measure(loops.executor(0), StoreIo{drive.store.get()}, chunks, seconds);
    print_figures(fmt::format("in-process #{}", round), local_round);
    keep_best(&local, local_round);
    on(loops.executor(0), close_drive(std::move(drive)));

    drive = on(loops.executor(0), open_fresh_drive(file, index));
    DriveService service;
    service.add_drive(drive.store.get(), file);
    rpc::RpcServer server(loops.executor(0), rpc::ServerOptions{});
    service.register_with(server);
    Status started = on(loops.executor(0), start_server(&server));
    TESS_ASSERT(started.ok(), "{}", started);
    auto client = std::make_unique<DriveClient>(loops.executor(1), "127.0.0.1", server.port());
    Figures remote_round = measure(loops.executor(1), ClientIo{client.get()}, chunks, seconds);
    print_figures(fmt::format("rpc #{}", round), remote_round);
    keep_best(&remote, remote_round);
    on(loops.executor(1), destroy_client(std::move(client)));
    on(loops.executor(0), stop_server(&server));
    on(loops.executor(0), close_drive(std::move(drive)));
  }
  loops.stop();
  std::filesystem::remove(file);
  std::filesystem::remove_all(index);

  bench::Report report("drive");
  report.add("fio_seq_write_mib_per_s", fio.seq_write_mib_per_s,
             "fio 1 MiB writes, QD 8, fsync at the end");
  report.add("fio_seq_read_mib_per_s", fio.seq_read_mib_per_s, "fio 1 MiB reads, QD 8");
  report.add("fio_randread_4k_iops", fio.randread_4k_iops, "fio 4 KiB random reads, QD 32");
  report.add("seq_write_mib_per_s", local.seq_write_mib_per_s,
             "1 MiB chunk writes in bulk, then a barrier");
  report.add("durable_write_mib_per_s", local.durable_write_mib_per_s,
             "1 MiB chunk writes, each durable when acknowledged");
  report.add("seq_read_mib_per_s", local.seq_read_mib_per_s, "1 MiB chunk reads");
  report.add("randread_4k_iops", local.randread_4k_iops, "4 KiB block reads, verified");
  report.add("seq_write_ratio", local.seq_write_mib_per_s / fio.seq_write_mib_per_s,
             "in-process / fio (aim >= 0.8)");
  report.add("seq_read_ratio", local.seq_read_mib_per_s / fio.seq_read_mib_per_s,
             "in-process / fio (aim >= 0.8)");
  report.add("randread_4k_ratio", local.randread_4k_iops / fio.randread_4k_iops,
             "in-process / fio (aim >= 0.8)");
  report.add("durable_write_ratio", local.durable_write_mib_per_s / fio.seq_write_mib_per_s,
             "in-process, each write durable / fio");
  report.add("rpc_seq_write_ratio", remote.seq_write_mib_per_s / fio.seq_write_mib_per_s,
             "over loopback RPC / fio");
  report.add("rpc_seq_read_ratio", remote.seq_read_mib_per_s / fio.seq_read_mib_per_s,
             "over loopback RPC / fio");
  report.add("rpc_randread_4k_ratio", remote.randread_4k_iops / fio.randread_4k_iops,
             "over loopback RPC / fio");
  report.print_json();
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  std::string dir = "/tmp/tessera-drive-bench";
  uint64_t size_mib = 1024;
  double seconds = 5;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--size-mib" && i + 1 < argc) {
      size_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      fmt::print(stderr,
                 "usage: drive_bench [--dir DIR] [--size-mib N] [--seconds S] [--rounds R]\n");
      return 2;
    }
  }
  if (size_mib < 16 || seconds <= 0 || rounds < 1) {
    fmt::print(stderr,
               "drive_bench: --size-mib must be at least 16, --seconds and --rounds positive\n");
    return 2;
  }
  tessera::Status logging = tessera::init_logging({.level = "warn"});
  if (!logging.ok()) {
    fmt::print(stderr, "drive_bench: {}\n", logging.message());
    return 2;
  }
  return tessera::run(dir, size_mib, seconds, rounds);
}
