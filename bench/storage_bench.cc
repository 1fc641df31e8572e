// storage_bench: records/s for batched inserts straight into the Store, without HTTP, so the
// storage engine's share of a write is seen alone. The records are bench/record_data.h's
// (realistic by default: random keys, names, numbers and text; every attribute indexed, as a
// HarperDB table is), parsed once before the clock starts.
//
// Usage: storage_bench [--records N=200000] [--batch B=1000] [--in-flight C=4]
//                      [--data random|sequential] [--keys int|uuid|generated]
//                      [--curve STEP] [--no-durable] [--sync wal|full|nometasync|nosync]
//                      [--writemap on|off] [--staged-limit ENTRIES] [--dir DIR] [--keep]
//                      [--engine lmdb|rocksdb]
// Prints one line per STEP records written (`rows=…-… rec/s=…`, the insert rate as the table
// grows, with the requests' p50/p99 latency and the process's cost per record: CPU time, bytes
// handed to write calls, bytes the kernel accounted as sent to the disk; STEP defaults to N),
// then `total …` with the
// database's size on disk. `generated` leaves the primary key out, so the store makes a UUID
// per record (an insert without ids). `--engine rocksdb` (built only when librocksdb-dev is
// installed) writes the same bytes to RocksDB instead (rocksdb_writer.h).
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "record_data.h"
#ifdef MESHDB_BENCH_ROCKSDB
#include "rocksdb_writer.h"
#endif
#include "storage/store.h"

namespace {

using meshdb::bench::DataKind;
using meshdb::bench::DataShape;
using meshdb::bench::KeyKind;
using meshdb::storage::Store;
using meshdb::storage::StoreOptions;
using meshdb::storage::WriteKind;
using meshdb::storage::WriteOp;
using meshdb::storage::WriteRequest;
using meshdb::storage::WriteResult;

struct Options {
  long records = 200000;
  long batch = 1000;
  int in_flight = 4;
  long curve_step = 0;  // 0: one segment of `records`
  DataShape shape;
  bool generated_keys = false;
  bool durable = true;
  StoreOptions::CommitSync commit_sync = StoreOptions{}.commit_sync;
  std::string sync_name = "wal";
  bool write_map = StoreOptions{}.write_map;
  size_t index_staged_limit = StoreOptions{}.index_staged_limit;
  bool keep = false;
  bool rocksdb = false;
  std::string dir;
};

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr,
               "storage_bench: %s\nusage: storage_bench [--records N] [--batch B] "
               "[--in-flight C] [--data random|sequential] [--keys int|uuid|generated] "
               "[--curve STEP] [--no-durable] [--sync wal|full|nometasync|nosync] "
               "[--writemap on|off] [--staged-limit ENTRIES] [--dir DIR] [--keep] "
               "[--engine lmdb|rocksdb]\n",
               error.c_str());
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  o.dir = (std::filesystem::temp_directory_path() / ("storage_bench_" + std::to_string(getpid())))
              .string();
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--records") {
      o.records = std::stol(value());
    } else if (flag == "--batch") {
      o.batch = std::stol(value());
    } else if (flag == "--in-flight") {
      o.in_flight = std::stoi(value());
    } else if (flag == "--curve") {
      o.curve_step = std::stol(value());
    } else if (flag == "--data") {
      std::string data = value();
      if (data != "random" && data != "sequential") Usage("--data is random or sequential");
      o.shape.data = data == "random" ? DataKind::kRandom : DataKind::kSequential;
    } else if (flag == "--keys") {
      std::string keys = value();
      if (keys != "int" && keys != "uuid" && keys != "generated") {
        Usage("--keys is int, uuid or generated");
      }
      o.shape.keys = keys == "uuid" ? KeyKind::kUuid : KeyKind::kInt;
      o.generated_keys = keys == "generated";
    } else if (flag == "--no-durable") {
      o.durable = false;
    } else if (flag == "--sync") {
      std::string mode = value();
      using CommitSync = StoreOptions::CommitSync;
      if (mode == "wal") {
        o.commit_sync = CommitSync::kWriteAheadLog;
      } else if (mode == "full") {
        o.commit_sync = CommitSync::kLmdbDefault;
      } else if (mode == "nometasync") {
        o.commit_sync = CommitSync::kUnsafeNoMetaSync;
      } else if (mode != "nosync") {
        Usage("--sync is wal, full, nometasync or nosync");
      }
      o.durable = mode != "nosync";
      o.sync_name = mode;
    } else if (flag == "--writemap") {
      std::string on = value();
      if (on != "on" && on != "off") Usage("--writemap is on or off");
      o.write_map = on == "on";
    } else if (flag == "--staged-limit") {
      o.index_staged_limit = std::stoul(value());
      if (o.index_staged_limit == 0) Usage("--staged-limit is at least 1");
    } else if (flag == "--engine") {
      std::string engine = value();
      if (engine != "lmdb" && engine != "rocksdb") Usage("--engine is lmdb or rocksdb");
#ifndef MESHDB_BENCH_ROCKSDB
      if (engine == "rocksdb")
        Usage("built without RocksDB (install librocksdb-dev, re-run cmake)");
#endif
      o.rocksdb = engine == "rocksdb";
    } else if (flag == "--dir") {
      o.dir = value();
    } else if (flag == "--keep") {
      o.keep = true;
    } else {
      Usage("unknown flag " + flag);
    }
  }
  if (o.records <= 0 || o.batch <= 0 || o.in_flight <= 0) Usage("counts must be positive");
  if (o.curve_step <= 0) o.curve_step = o.records;
  return o;
}

// The requests of records [first, first + count), built before the clock starts.
std::vector<WriteRequest> BuildRequests(const Options& o, long first, long count) {
  std::vector<WriteRequest> requests;
  std::string json;
  for (long base = first; base < first + count; base += o.batch) {
    WriteRequest req;
    req.database = "bench";
    for (long i = base; i < base + o.batch && i < first + count; ++i) {
      json.clear();
      meshdb::bench::AppendRecord(o.shape, json, i);
      boost::json::object fields = boost::json::parse(json).as_object();
      WriteOp op;
      op.kind = WriteKind::kInsert;
      op.table = "load";
      if (!o.generated_keys) op.key = fields.at("id");
      fields.erase("id");
      op.fields = std::move(fields);
      req.ops.push_back(std::move(op));
    }
    requests.push_back(std::move(req));
  }
  return requests;
}

using Submit = std::function<void(WriteRequest, meshdb::storage::WriteCallback)>;

struct Segment {
  double secs = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Writes `requests` through `submit` with at most o.in_flight outstanding; returns the time
// taken and the requests' latency percentiles.
Segment WriteAll(const Submit& submit, const Options& o, std::vector<WriteRequest> requests) {
  using Clock = std::chrono::steady_clock;
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  int failures = 0;
  std::string first_error;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(requests.size());
  auto start = Clock::now();
  for (auto& req : requests) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return outstanding < o.in_flight; });
      ++outstanding;
    }
    submit(std::move(req), [&, sent = Clock::now()](meshdb::Result<WriteResult> r) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
      std::lock_guard lock(mu);
      latencies_ms.push_back(ms);
      if (!r.ok() && failures++ == 0) first_error = r.status().ToString();
      --outstanding;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outstanding == 0; });
  if (failures > 0)
    std::fprintf(stderr, "%d failed requests, first: %s\n", failures, first_error.c_str());
  Segment seg;
  seg.secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (!latencies_ms.empty()) {
    seg.p50_ms = latencies_ms[latencies_ms.size() / 2];
    seg.p99_ms = latencies_ms[latencies_ms.size() * 99 / 100];
  }
  return seg;
}

// What the whole process has spent so far: CPU time (every thread: the writer, the write-ahead
// log's checkpoints, the dictionary trainer) and, from /proc/self/io, the bytes handed to
// write calls (`wchar`: LMDB's dirty pages, the log) and those accounted as sent to the disk
// (`write_bytes`: counted once per page each time a clean page cache page is dirtied).
struct ProcessCost {
  double cpu_us = 0;
  double wchar = 0;
  double write_bytes = 0;

  static ProcessCost Now() {
    ProcessCost c;
    rusage ru{};
    if (::getrusage(RUSAGE_SELF, &ru) == 0) {
      auto us = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
      };
      c.cpu_us = us(ru.ru_utime) + us(ru.ru_stime);
    }
    std::ifstream io("/proc/self/io");
    std::string name;
    double value = 0;
    while (io >> name >> value) {
      if (name == "wchar:") c.wchar = value;
      if (name == "write_bytes:") c.write_bytes = value;
    }
    return c;
  }
};

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    // Allocated blocks, not the apparent size: LMDB files may be sparse.
    struct stat st {};
    if (entry.is_regular_file() && ::stat(entry.path().c_str(), &st) == 0) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  std::filesystem::remove_all(o.dir);
  std::unique_ptr<Store> store;
#ifdef MESHDB_BENCH_ROCKSDB
  std::unique_ptr<meshdb::bench::RocksDbWriter> rocks;
#endif
  Submit submit;
  if (!o.rocksdb) {
    StoreOptions options;
    options.database_dir = o.dir;
    options.durable = o.durable;
    options.write_map = o.write_map;
    options.index_staged_limit = o.index_staged_limit;
    options.commit_sync = o.commit_sync;
    options.map_size_bytes = 64ull << 30;
    auto opened = Store::Open(options);
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    store = std::move(opened).value();
    meshdb::storage::TableDef def;
    def.database = "bench";
    def.name = "load";
    def.primary_key = "id";
    if (auto s = store->CreateTable(def); !s.ok()) {
      std::fprintf(stderr, "create table: %s\n", s.ToString().c_str());
      return 1;
    }
    submit = [&](WriteRequest req, meshdb::storage::WriteCallback done) {
      store->WriteAsync(std::move(req), std::move(done));
    };
  } else {
#ifdef MESHDB_BENCH_ROCKSDB
    auto opened = meshdb::bench::RocksDbWriter::Open(o.dir, o.durable);
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
      return 1;
    }
    rocks = std::move(opened).value();
    submit = [&](WriteRequest req, meshdb::storage::WriteCallback done) {
      rocks->WriteAsync(std::move(req), std::move(done));
    };
#endif
  }
  const char* engine = o.rocksdb ? "rocksdb" : (o.write_map ? "lmdb-writemap" : "lmdb");
  double total_secs = 0;
  for (long first = 0; first < o.records; first += o.curve_step) {
    long count = std::min(o.curve_step, o.records - first);
    std::vector<WriteRequest> requests = BuildRequests(o, first, count);
    const ProcessCost before = ProcessCost::Now();
    Segment seg = WriteAll(submit, o, std::move(requests));
    const ProcessCost after = ProcessCost::Now();
    total_secs += seg.secs;
    const auto n = static_cast<double>(count);
    std::printf(
        "rows=%ld-%ld engine=%s batch=%ld in_flight=%d durable=%d sync=%s rec/s=%.0f "
        "p50_ms=%.3f p99_ms=%.3f cpu_us/rec=%.1f written_kb/rec=%.1f disk_kb/rec=%.1f\n",
        first, first + count, engine, o.batch, o.in_flight, o.durable,
        o.durable ? o.sync_name.c_str() : "nosync", n / seg.secs, seg.p50_ms, seg.p99_ms,
        (after.cpu_us - before.cpu_us) / n, (after.wchar - before.wchar) / n / 1024,
        (after.write_bytes - before.write_bytes) / n / 1024);
    std::fflush(stdout);
  }
  store.reset();
#ifdef MESHDB_BENCH_ROCKSDB
  rocks.reset();
#endif
  std::printf("total records=%ld engine=%s secs=%.1f rec/s=%.0f disk_mb=%.0f\n", o.records, engine,
              total_secs, static_cast<double>(o.records) / total_secs,
              static_cast<double>(DirectoryBytes(o.dir)) / 1e6);
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}
