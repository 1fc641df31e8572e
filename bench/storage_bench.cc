// storage_bench: records/s for batched upserts of ~180-byte records straight into the Store,
// durable and not. Usage: storage_bench [records=200000] [batch=1000] [dir=/tmp/...]
// [keys=given|generated]; `generated` leaves the primary key out, so the store generates a
// UUID for every record (the path of an insert without ids).
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>

#include "storage/store.h"

namespace {

using meshdb::storage::Store;
using meshdb::storage::StoreOptions;
using meshdb::storage::WriteKind;
using meshdb::storage::WriteOp;
using meshdb::storage::WriteRequest;
using meshdb::storage::WriteResult;

double Run(const std::string& dir, bool durable, int records, int batch, int in_flight,
           bool generated_keys) {
  std::filesystem::remove_all(dir);
  StoreOptions options;
  options.database_dir = dir;
  options.durable = durable;
  options.map_size_bytes = 8ull << 30;
  auto store = Store::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 0;
  }
  meshdb::storage::TableDef def;
  def.database = "bench";
  def.name = "sensor";
  def.primary_key = "id";
  if (!(*store)->CreateTable(def).ok()) return 0;

  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  std::atomic<int> failures{0};
  auto start = std::chrono::steady_clock::now();
  for (int base = 0; base < records; base += batch) {
    WriteRequest req;
    req.database = "bench";
    for (int i = base; i < base + batch && i < records; ++i) {
      WriteOp op;
      op.kind = WriteKind::kUpsert;
      op.table = "sensor";
      if (!generated_keys) op.key = i;
      // ~180 bytes once stored with id and timestamps.
      op.fields = {{"location", "warehouse-" + std::to_string(i % 97)},
                   {"temperature", 20.5 + (i % 13)},
                   {"humidity", 40 + (i % 29)},
                   {"status", "ok"},
                   {"note", "sensor reading from the edge node"}};
      req.ops.push_back(std::move(op));
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return outstanding < in_flight; });
      ++outstanding;
    }
    (*store)->WriteAsync(std::move(req), [&](meshdb::Result<WriteResult> r) {
      if (!r.ok()) ++failures;
      std::lock_guard lock(mu);
      --outstanding;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return outstanding == 0; });
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failures > 0) std::fprintf(stderr, "%d failed requests\n", failures.load());
  store->reset();
  std::filesystem::remove_all(dir);
  return records / secs;
}

}  // namespace

int main(int argc, char** argv) {
  int records = argc > 1 ? std::stoi(argv[1]) : 200000;
  int batch = argc > 2 ? std::stoi(argv[2]) : 1000;
  std::string dir =
      argc > 3 && std::string(argv[3]) != "-"
          ? argv[3]
          : (std::filesystem::temp_directory_path() / ("storage_bench_" + std::to_string(getpid())))
                .string();
  bool generated_keys = argc > 4 && std::string(argv[4]) == "generated";
  for (bool durable : {true, false}) {
    for (int in_flight : {1, 8, 64}) {
      double rate = Run(dir, durable, records, batch, in_flight, generated_keys);
      std::printf("durable=%d batch=%d in_flight=%d keys=%s: %.0f records/s\n", durable, batch,
                  in_flight, generated_keys ? "generated" : "given", rate);
    }
  }
  return 0;
}
