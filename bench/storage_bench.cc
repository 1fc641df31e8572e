// storage_bench: records/s for batched inserts straight into the Store, without HTTP, so the
// storage engine's share of a write is seen alone. The records are bench/record_data.h's
// (realistic by default: random keys, names, numbers and text; every attribute indexed, as a
// HarperDB table is), parsed once before the clock starts.
//
// Usage: storage_bench [--records N=200000] [--batch B=1000] [--in-flight C=4]
//                      [--data random|sequential] [--keys int|uuid|generated]
//                      [--curve STEP] [--no-durable] [--dir DIR] [--keep]
// Prints one line per STEP records written (`rows=…-… rec/s=…`, the insert rate as the table
// grows; STEP defaults to N), then `total …` with the database's size on disk. `generated`
// leaves the primary key out, so the store makes a UUID per record (an insert without ids).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "record_data.h"
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
  bool keep = false;
  std::string dir;
};

[[noreturn]] void Usage(const std::string& error) {
  std::fprintf(stderr,
               "storage_bench: %s\nusage: storage_bench [--records N] [--batch B] "
               "[--in-flight C] [--data random|sequential] [--keys int|uuid|generated] "
               "[--curve STEP] [--no-durable] [--dir DIR] [--keep]\n",
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

// Writes `requests` with at most o.in_flight outstanding; returns the seconds taken.
double WriteAll(Store& store, const Options& o, std::vector<WriteRequest> requests) {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  int failures = 0;
  std::string first_error;
  auto start = std::chrono::steady_clock::now();
  for (auto& req : requests) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return outstanding < o.in_flight; });
      ++outstanding;
    }
    store.WriteAsync(std::move(req), [&](meshdb::Result<WriteResult> r) {
      std::lock_guard lock(mu);
      if (!r.ok() && failures++ == 0) first_error = r.status().ToString();
      --outstanding;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outstanding == 0; });
  if (failures > 0)
    std::fprintf(stderr, "%d failed requests, first: %s\n", failures, first_error.c_str());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

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
  StoreOptions options;
  options.database_dir = o.dir;
  options.durable = o.durable;
  options.map_size_bytes = 64ull << 30;
  auto store = Store::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  meshdb::storage::TableDef def;
  def.database = "bench";
  def.name = "load";
  def.primary_key = "id";
  if (auto s = (*store)->CreateTable(def); !s.ok()) {
    std::fprintf(stderr, "create table: %s\n", s.ToString().c_str());
    return 1;
  }
  double total_secs = 0;
  for (long first = 0; first < o.records; first += o.curve_step) {
    long count = std::min(o.curve_step, o.records - first);
    double secs = WriteAll(**store, o, BuildRequests(o, first, count));
    total_secs += secs;
    std::printf("rows=%ld-%ld batch=%ld in_flight=%d durable=%d rec/s=%.0f\n", first, first + count,
                o.batch, o.in_flight, o.durable, static_cast<double>(count) / secs);
    std::fflush(stdout);
  }
  store->reset();
  std::printf("total records=%ld secs=%.1f rec/s=%.0f disk_mb=%.0f\n", o.records, total_secs,
              static_cast<double>(o.records) / total_secs,
              static_cast<double>(DirectoryBytes(o.dir)) / 1e6);
  if (!o.keep) std::filesystem::remove_all(o.dir);
  return 0;
}
