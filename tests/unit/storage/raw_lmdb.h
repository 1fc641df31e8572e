// Helpers for storage tests that open an LMDB file by hand (a fixture's own environment, or a
// store's file while the store is closed) and read its databases entry by entry.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "storage/catalog.h"
#include "storage/index_levels.h"
#include "storage/lmdb_handles.h"

namespace meshdb::storage::testing {

// Opens (creating if missing) the environment file `path` as the test stores do: not durable,
// a map of `map_size_bytes`. Adds a fatal failure if it cannot be opened.
inline void OpenTestEnv(const std::string& path, uint64_t map_size_bytes, LmdbEnv* env) {
  LmdbEnvOptions options;
  options.map_size_bytes = map_size_bytes;
  options.durable = false;
  auto opened = LmdbEnv::Open(path, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  *env = std::move(opened).value();
}

// A named database to open: `*dbi` receives its handle.
struct DbiToOpen {
  const char* name;
  unsigned flags;
  MDB_dbi* dbi;
};

// Opens each of `dbis` in `txn`. Adds a fatal failure if one cannot be opened.
inline void OpenDbis(MDB_txn* txn, std::initializer_list<DbiToOpen> dbis) {
  for (const DbiToOpen& d : dbis) {
    ASSERT_EQ(mdb_dbi_open(txn, d.name, d.flags, d.dbi), 0) << d.name;
  }
}

// A fixture's environment: opens `path` (see OpenTestEnv) and creates `dbis` in one committed
// transaction. Adds a fatal failure if any step fails.
inline void CreateTestEnv(const std::string& path, uint64_t map_size_bytes,
                          std::initializer_list<DbiToOpen> dbis, LmdbEnv* env) {
  ASSERT_NO_FATAL_FAILURE(OpenTestEnv(path, map_size_bytes, env));
  auto txn = WriteTxn::Begin(env->get());
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  ASSERT_NO_FATAL_FAILURE(OpenDbis(txn->get(), dbis));
  ASSERT_TRUE(txn->Commit().ok());
}

// A store's file opened by hand while the store is closed, with a write transaction on it that
// aborts unless committed. Members end in reverse order: the transaction before the environment.
struct RawFile {
  LmdbEnv env;
  WriteTxn txn;
};

// Opens `path` (see OpenTestEnv, a 256 MiB map as StoreTest's) and begins a write transaction.
// Adds a fatal failure if either fails.
inline void OpenRawFile(const std::string& path, RawFile* raw) {
  ASSERT_NO_FATAL_FAILURE(OpenTestEnv(path, 256ull << 20, &raw->env));
  auto txn = WriteTxn::Begin(raw->env.get());
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  raw->txn = std::move(txn).value();
}

// Every entry of `dbi` as (key, data), in order. Adds a failure if no cursor opens.
inline std::vector<std::pair<std::string, std::string>> AllEntries(MDB_txn* txn, MDB_dbi dbi) {
  std::vector<std::pair<std::string, std::string>> out;
  auto cursor = Cursor::Open(txn, dbi);
  EXPECT_TRUE(cursor.ok()) << cursor.status().ToString();
  if (!cursor.ok()) return out;
  MDB_val k, d;
  for (int rc = mdb_cursor_get(cursor->get(), &k, &d, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor->get(), &k, &d, MDB_NEXT)) {
    out.emplace_back(std::string(FromVal(k)), std::string(FromVal(d)));
  }
  return out;
}

// Every entry of `table`'s index from key `start` on (all of them by default), both levels,
// as (key, record key) in index order, as IndexLevelsReader yields them.
inline std::vector<std::pair<std::string, std::string>> AllIndexEntries(
    MDB_txn* txn, const TableState& table, const std::string& start = "") {
  std::vector<std::pair<std::string, std::string>> out;
  auto reader = IndexLevelsReader::Open(txn, table);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  for (Status read = reader->Seek(start);; read = reader->Next()) {
    EXPECT_TRUE(read.ok()) << read.ToString();
    if (!read.ok() || !reader->valid()) break;
    out.emplace_back(reader->key(), reader->record());
  }
  return out;
}

}  // namespace meshdb::storage::testing
