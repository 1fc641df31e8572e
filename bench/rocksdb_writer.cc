#include "rocksdb_writer.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <boost/json.hpp>
#include <chrono>
#include <utility>
#include <vector>

#include "storage/index_edits.h"
#include "storage/key_codec.h"
#include "storage/record_codec.h"

namespace meshdb::bench {

namespace json = boost::json;
using storage::WriteCallback;
using storage::WriteOutcome;
using storage::WriteRequest;
using storage::WriteResult;

Result<std::unique_ptr<RocksDbWriter>> RocksDbWriter::Open(const std::string& dir, bool durable) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.IncreaseParallelism(2);
  options.OptimizeLevelStyleCompaction();
  options.compression = rocksdb::kNoCompression;
  options.bottommost_compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Status::IOError("rocksdb open " + dir + ": " + s.ToString());
  std::unique_ptr<RocksDbWriter> writer(new RocksDbWriter());
  writer->db_.reset(raw);
  writer->durable_ = durable;
  writer->writer_ = std::thread([w = writer.get()] { w->Run(); });
  return writer;
}

RocksDbWriter::~RocksDbWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void RocksDbWriter::WriteAsync(WriteRequest request, WriteCallback done) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(std::move(request), std::move(done));
  }
  cv_.notify_all();
}

void RocksDbWriter::Run() {
  constexpr const char* kPrimaryKey = "id";
  uint64_t sequence = 0;
  uint64_t version = 0;
  uint64_t live = 0;
  std::string enc_key;
  std::string row_key;
  std::string record;
  std::string index_key;
  std::string log_bytes;
  std::string value;
  for (;;) {
    std::deque<std::pair<WriteRequest, WriteCallback>> group;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      group.swap(queue_);
    }
    rocksdb::WriteBatch batch;
    std::vector<Result<WriteResult>> results;
    const double now_ms = std::chrono::duration<double, std::milli>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    Status failed;
    for (auto& [req, done] : group) {
      WriteResult result;
      result.version = ++version;
      storage::LogEntry entry;
      entry.sequence = sequence + 1;
      entry.origin = 1;
      entry.origin_sequence = entry.sequence;
      entry.version = result.version;
      for (auto& op : req.ops) {
        auto key = storage::EncodeKey(op.key);
        if (!key.ok()) {
          failed = key.status();
          break;
        }
        enc_key = std::move(key).value();
        row_key.assign("r").append(enc_key);
        // The store's insert looks the row up first; so does this (Bloom filter, memtable).
        rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), row_key, &value);
        if (got.ok()) {
          result.outcomes.push_back(WriteOutcome::kSkipped);
          continue;
        }
        json::object doc = std::move(op.fields);
        doc[kPrimaryKey] = op.key;
        doc["__createdtime__"] = now_ms;
        doc["__updatedtime__"] = now_ms;
        for (const auto& field : doc) {
          const std::string_view name(field.key().data(), field.key().size());
          if (name == kPrimaryKey) continue;
          storage::ForEachIndexValue(field.value(), [&](const json::value& scalar) {
            index_key.assign("x");
            storage::EncodeIndexKey(name, scalar, &index_key);
            index_key.append(enc_key);
            batch.Put(index_key, rocksdb::Slice());
          });
        }
        record.clear();
        storage::EncodeRecord(storage::RecordHeader{false, result.version, 1}, doc, &record);
        batch.Put(row_key, record);
        entry.writes.push_back(storage::LogEntry::Write{"load", enc_key, record});
        result.outcomes.push_back(WriteOutcome::kApplied);
        result.keys.push_back(op.key);
        ++live;
      }
      if (!entry.writes.empty()) {
        ++sequence;
        log_bytes.clear();
        storage::EncodeLogEntry(entry, &log_bytes);
        batch.Put("l" + storage::SequenceKey(sequence), log_bytes);
      }
      results.emplace_back(std::move(result));
    }
    // The meta keys the store's commit writes.
    std::string u64;
    storage::PutU64(&u64, sequence);
    batch.Put("mlast_sequence", u64);
    batch.Put("mvv:1", u64);
    u64.clear();
    storage::PutU64(&u64, version);
    batch.Put("mmax_version", u64);
    u64.clear();
    storage::PutU64(&u64, live);
    storage::PutU64(&u64, static_cast<uint64_t>(now_ms));
    batch.Put("mstats:load", u64);
    if (failed.ok()) {
      rocksdb::WriteOptions write_options;
      write_options.sync = durable_;
      rocksdb::Status s = db_->Write(write_options, &batch);
      if (!s.ok()) failed = Status::IOError("rocksdb write: " + s.ToString());
    }
    for (size_t i = 0; i < group.size(); ++i) {
      if (failed.ok()) {
        group[i].second(std::move(results[i]));
      } else {
        group[i].second(failed);
      }
    }
  }
}

}  // namespace meshdb::bench
