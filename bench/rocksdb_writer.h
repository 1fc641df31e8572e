// RocksDbWriter: the bytes storage::Store writes for an insert, written to RocksDB instead of
// LMDB, so storage_bench can measure an LSM engine against LMDB on the same records
// (`storage_bench --engine rocksdb`). Benchmark only; the server's engine is LMDB.
//
// Per insert, exactly what the store writes: a point lookup of the row (an insert must not
// replace a live record), the row (`r` + encoded key -> record bytes: header, document with
// the primary key and __createdtime__/__updatedtime__), one entry per index value
// (`x` + `<attribute> 0x00 <encoded value>` + encoded key; LMDB's DUPSORT pair becomes one
// key), and per request one log entry (`l` + sequence -> log entry bytes). Per group the meta
// keys the store updates (last_sequence, stats, version vector, max_version). Every request
// queued when the writer wakes goes into one WriteBatch, written with sync = durable (one
// fsync of RocksDB's write-ahead log per group), as the store's group commit does.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "storage/store.h"

namespace rocksdb {
class DB;
}

namespace meshdb::bench {

class RocksDbWriter {
 public:
  // Opens (creating) a RocksDB database in `dir`: no compression (the same bytes as LMDB
  // stores), a 10-bit Bloom filter for the row lookups, level compaction on 2 threads.
  static Result<std::unique_ptr<RocksDbWriter>> Open(const std::string& dir, bool durable);
  ~RocksDbWriter();  // finishes every queued request, then closes the database
  RocksDbWriter(const RocksDbWriter&) = delete;
  RocksDbWriter& operator=(const RocksDbWriter&) = delete;

  // Queues an insert request (ops of kind kInsert, table "load" with primary key "id"); `done`
  // runs on the writer thread after its group's batch is written.
  void WriteAsync(storage::WriteRequest request, storage::WriteCallback done);

 private:
  RocksDbWriter() = default;
  void Run();

  std::unique_ptr<rocksdb::DB> db_;
  bool durable_ = true;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<storage::WriteRequest, storage::WriteCallback>> queue_;
  bool stop_ = false;
  std::thread writer_;
};

}  // namespace meshdb::bench
