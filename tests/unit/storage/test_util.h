// Helpers for storage tests: a temporary directory per test, and short write builders.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.h"
#include "temp_dir.h"

namespace meshdb::storage::testing {

using TempDir = meshdb::testing::TempDir;

inline WriteOp Op(WriteKind kind, const std::string& table, boost::json::value key,
                  boost::json::object fields = {}) {
  WriteOp op;
  op.kind = kind;
  op.table = table;
  op.key = std::move(key);
  op.fields = std::move(fields);
  return op;
}

inline WriteRequest Req(const std::string& db, std::vector<WriteOp> ops) {
  WriteRequest r;
  r.database = db;
  r.ops = std::move(ops);
  return r;
}

inline TableDef Untyped(const std::string& db, const std::string& table,
                        const std::string& pk = "id") {
  TableDef def;
  def.database = db;
  def.name = table;
  def.primary_key = pk;
  return def;
}

// Every log entry of `snap` from `from_sequence` on, in order, into `*entries`. Adds a fatal
// failure if the scan fails.
inline void ReadLog(Snapshot& snap, uint64_t from_sequence, std::vector<LogEntry>* entries) {
  ASSERT_TRUE(snap.ScanLog(from_sequence,
                           [&](const LogEntry& e) {
                             entries->push_back(e);
                             return true;
                           })
                  .ok());
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  // Reopens the store; `tweak` may change the options first.
  void Reopen(const std::function<void(StoreOptions&)>& tweak = nullptr) {
    store_.reset();
    StoreOptions options;
    options.database_dir = dir_.path();
    options.durable = false;
    options.map_size_bytes = 256ull << 20;
    options.local_node_id = 7;
    if (tweak) tweak(options);
    auto s = Store::Open(options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  Result<WriteResult> Write(const std::string& db, std::vector<WriteOp> ops) {
    return store_->Write(Req(db, std::move(ops)));
  }
  std::optional<Record> Get(const std::string& db, const std::string& table,
                            boost::json::value key) {
    auto snap = store_->Read(db);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    if (!snap.ok()) return std::nullopt;
    auto r = (*snap)->Get(table, key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }
  // The table's compression dictionary id (TableStats::dictionary_id) once the store has
  // installed one, waiting for a background training up to `deadline`; nullopt if none came.
  std::optional<uint32_t> WaitForDictionary(
      const std::string& db, const std::string& table,
      std::chrono::seconds deadline = std::chrono::seconds(60)) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      auto stats = store_->GetStats(db, table);
      EXPECT_TRUE(stats.ok()) << stats.status().ToString();
      if (!stats.ok() || stats->dictionary_id)
        return stats.ok() ? stats->dictionary_id : std::nullopt;
      if (std::chrono::steady_clock::now() > until) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  // Primary keys of a whole table, in scan order, as JSON text.
  std::string Keys(const std::string& db, const std::string& table) {
    auto table_def = store_->GetTable(db, table);
    std::string pk = table_def.ok() ? table_def->primary_key : "id";
    boost::json::array keys;
    auto snap = store_->Read(db);
    if (!snap.ok()) return snap.status().ToString();
    Status s = (*snap)->ScanTable(table, [&](const Record& r) {
      keys.push_back(r.doc.at(pk));
      return true;
    });
    if (!s.ok()) return s.ToString();
    return boost::json::serialize(keys);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace meshdb::storage::testing
