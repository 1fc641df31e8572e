// Records at rest (stored_record.h): compressed with a per-table dictionary once a table holds
// kDictTrainRows rows, read back as the exact record bytes; raw values of older files read
// unchanged; malformed values are Corruption. Then the same through a Store: reads, updates
// over compressed rows, LWW against them, ScanRaw and the log all see record bytes.
#include "storage/stored_record.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "raw_lmdb.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/record_codec.h"
#include "storage/write_group.h"
#include "temp_dir.h"
#include "test_store.h"
#include "test_util.h"

namespace meshdb::storage::testing {
namespace {

namespace json = boost::json;

// A row like meshdb_load's: random words and numbers, the same attribute names every time.
json::object RandomDoc(std::mt19937_64& rng, int id) {
  std::string text;
  while (text.size() < 120) {
    const int len = 2 + static_cast<int>(rng() % 8);
    for (int i = 0; i < len; ++i) text.push_back(static_cast<char>('a' + rng() % 26));
    text.push_back(' ');
  }
  return json::object{{"id", id},
                      {"name", "user-" + std::to_string(rng() % 10000000)},
                      {"num", static_cast<int64_t>(rng() % 1000000000)},
                      {"text", text},
                      {"__createdtime__", 1.796400568944106e12},
                      {"__updatedtime__", 1.796400568944106e12}};
}

std::string RecordBytes(std::mt19937_64& rng, int id) {
  std::string out;
  EncodeRecord(RecordHeader{false, 1000u + static_cast<uint64_t>(id), 3}, RandomDoc(rng, id), &out);
  return out;
}

class StoredRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        CreateTestEnv(dir_.path() + "/t.mdb", 256ull << 20,
                      {{"meta", MDB_CREATE, &meta_}, {"r:dog", MDB_CREATE, &records_}}, &env_));
  }

  // Packs and puts `record` under `key` as the writer does; returns the stored bytes.
  std::string PackAndPut(MDB_txn* txn, const std::string& key, const std::string& record) {
    std::string scratch;
    auto stored = PackRecord(txn, meta_, records_, dicts_, training_, "dog", record, &scratch);
    EXPECT_TRUE(stored.ok()) << stored.status().ToString();
    if (!stored.ok()) return {};
    std::string out(*stored);
    MDB_val k = ToVal(key), v = ToVal(out);
    EXPECT_EQ(mdb_put(txn, records_, &k, &v, 0), 0);
    return out;
  }

  meshdb::testing::TempDir dir_;
  LmdbEnv env_;
  MDB_dbi meta_ = 0;
  MDB_dbi records_ = 0;
  RecordDictionaries dicts_;
  InlineDictionaryTraining training_;  // trains in the packing transaction
};

TEST_F(StoredRecordTest, RowsCompressOnceTheTableCanTrainAndReadBackByteForByte) {
  std::mt19937_64 rng(42);
  std::vector<std::string> records;
  std::vector<std::string> stored;
  auto txn = WriteTxn::Begin(env_.get());
  ASSERT_TRUE(txn.ok());
  for (int i = 0; i < static_cast<int>(kDictTrainRows) + 500; ++i) {
    records.push_back(RecordBytes(rng, i));
    stored.push_back(PackAndPut(txn->get(), "k" + std::to_string(100000 + i), records.back()));
  }
  // Too few rows to train: stored as they are (format 1).
  EXPECT_EQ(stored[0], records[0]);
  EXPECT_EQ(stored[kDictTrainRows - 1], records[kDictTrainRows - 1]);
  // Then compressed, much smaller.
  size_t raw = 0, packed = 0;
  for (size_t i = kDictTrainRows + 1; i < records.size(); ++i) {
    ASSERT_EQ(static_cast<unsigned char>(stored[i][0]), kStoredFormatZstd);
    raw += records[i].size();
    packed += stored[i].size();
  }
  EXPECT_LT(packed, raw * 6 / 10) << raw << " -> " << packed;
  ASSERT_TRUE(txn->Commit().ok());

  // Read back through a fresh cache (as after a reopen): the exact record bytes.
  RecordDictionaries fresh;
  auto read = ReadTxn::Begin(env_.get());
  ASSERT_TRUE(read.ok());
  std::string scratch;
  for (size_t i = 0; i < records.size(); ++i) {
    auto back = UnpackStoredRecord(read->get(), meta_, fresh, stored[i], &scratch);
    ASSERT_TRUE(back.ok()) << i << ": " << back.status().ToString();
    EXPECT_EQ(*back, records[i]) << i;
  }
}

TEST_F(StoredRecordTest, TombstonesAndSmallDocumentsStayRaw) {
  std::mt19937_64 rng(7);
  auto txn = WriteTxn::Begin(env_.get());
  ASSERT_TRUE(txn.ok());
  for (int i = 0; i < static_cast<int>(kDictTrainRows) + 1; ++i) {
    PackAndPut(txn->get(), "k" + std::to_string(100000 + i), RecordBytes(rng, i));
  }
  std::string tombstone;
  EncodeRecordHeader(RecordHeader{true, 5, 3}, &tombstone);
  EXPECT_EQ(PackAndPut(txn->get(), "t", tombstone), tombstone);
  std::string small;
  EncodeRecord(RecordHeader{false, 5, 3}, json::object{{"id", 1}}, &small);
  EXPECT_EQ(PackAndPut(txn->get(), "s", small), small);
}

// Values written before compression existed (format 1) come back unchanged, with no
// dictionary anywhere.
TEST_F(StoredRecordTest, RawValuesOfOlderFilesReadUnchanged) {
  std::mt19937_64 rng(1);
  const std::string record = RecordBytes(rng, 9);
  std::string tombstone;
  EncodeRecordHeader(RecordHeader{true, 5, 3}, &tombstone);
  auto read = ReadTxn::Begin(env_.get());
  ASSERT_TRUE(read.ok());
  std::string scratch;
  for (const std::string& v : {record, tombstone}) {
    auto back = UnpackStoredRecord(read->get(), meta_, dicts_, v, &scratch);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, v);
    EXPECT_EQ(back->data(), v.data());  // no copy
  }
}

TEST_F(StoredRecordTest, MalformedCompressedValuesAreCorruptionNotACrash) {
  std::mt19937_64 rng(3);
  std::string good;
  {
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    for (int i = 0; i <= static_cast<int>(kDictTrainRows); ++i) {
      good = PackAndPut(txn->get(), "k" + std::to_string(100000 + i), RecordBytes(rng, i));
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_EQ(static_cast<unsigned char>(good[0]), kStoredFormatZstd);
  std::vector<std::string> bad;
  for (size_t cut : {size_t{1}, size_t{13}, kStoredZstdHeaderBytes, kStoredZstdHeaderBytes + 2,
                     good.size() / 2, good.size() - 1}) {
    bad.push_back(good.substr(0, cut));
  }
  std::string unknown_dict = good;
  unknown_dict[17] = static_cast<char>(unknown_dict[17] ^ 1);  // a dictionary meta lacks
  bad.push_back(unknown_dict);
  std::string no_dict = good;
  no_dict[14] = no_dict[15] = no_dict[16] = no_dict[17] = 0;  // says "no dictionary": wrong
  bad.push_back(no_dict);
  for (size_t at = kStoredZstdHeaderBytes; at < good.size(); at += 5) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x21);
    bad.push_back(flipped);
  }
  bad.push_back(good + "trailing");
  auto read = ReadTxn::Begin(env_.get());
  ASSERT_TRUE(read.ok());
  std::string scratch;
  int corrupt = 0;
  for (const std::string& b : bad) {
    auto back = UnpackStoredRecord(read->get(), meta_, dicts_, b, &scratch);
    if (!back.ok()) {
      EXPECT_EQ(back.status().code(), Status::Code::kCorruption) << back.status().ToString();
      ++corrupt;
      continue;
    }
    // A damaged literal may still decompress: then the result must not pass for a record
    // silently unless it parses; decoding it must not crash either way.
    Record rec;
    bool tomb = false;
    (void)DecodeRecord(*back, &rec, &tomb);
  }
  EXPECT_GE(corrupt, 10);
}

// A store with table dev.dog, filled with random rows.
class CompressedStoreTest : public StoreTest {
 protected:
  // Inserts rows 0..n-1 of random documents into dev.dog (their fields also into *docs), in
  // batches of 250. Row kDictTrainRows, written alone, starts the table's dictionary training
  // (in the background); the rows after it are written once the dictionary is installed, so
  // they are compressed.
  void InsertRandomRows(uint64_t seed, int n, std::vector<json::object>* docs) {
    std::mt19937_64 rng(seed);
    const int train_row = static_cast<int>(kDictTrainRows);
    std::vector<WriteOp> ops;
    for (int i = 0; i < n; ++i) {
      json::object doc = RandomDoc(rng, i);
      doc.erase("__createdtime__");
      doc.erase("__updatedtime__");
      docs->push_back(doc);
      ops.push_back(Op(WriteKind::kInsert, "dog", i, std::move(doc)));
      if (ops.size() == 250 || i + 1 == train_row || i == train_row || i + 1 == n) {
        ASSERT_TRUE(Write("dev", std::exchange(ops, {})).ok());
      }
      if (i == train_row) {
        ASSERT_NE(WaitForDictionary("dev", "dog").value_or(0), 0u) << "no dictionary installed";
      }
    }
  }

  // The stored values of dev.dog by key order; formats as "1" (raw) or "2".
  std::string StoredFormats() {
    auto snap = store_->Read("dev");
    if (!snap.ok()) return snap.status().ToString();
    std::string formats;
    Status s = (*snap)->ScanStored("dog", [&](std::string_view, std::string_view v) {
      formats.push_back(static_cast<unsigned char>(v[0]) == kStoredFormatZstd ? '2' : '1');
      return true;
    });
    return s.ok() ? formats : s.ToString();
  }
};

// Through a Store: compressed rows read, update, resolve LWW and scan as record bytes.
class StoredRecordStoreTest : public CompressedStoreTest {};

TEST_F(StoredRecordStoreTest, CompressedRowsBehaveLikeRawOnesEverywhere) {
  ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
  const int n = static_cast<int>(kDictTrainRows) * 2;
  std::vector<json::object> docs;
  ASSERT_NO_FATAL_FAILURE(InsertRandomRows(11, n, &docs));
  // Keys sort as numbers: the first kDictTrainRows + 1 rows raw, the rest compressed.
  EXPECT_EQ(StoredFormats(),
            std::string(kDictTrainRows + 1, '1') + std::string(n - kDictTrainRows - 1, '2'));
  auto check_all = [&] {
    auto snap = store_->Read("dev");
    ASSERT_TRUE(snap.ok());
    for (int i = 0; i < n; i += 37) {
      auto rec = (*snap)->Get("dog", i);
      ASSERT_TRUE(rec.ok() && rec->has_value()) << i;
      EXPECT_EQ((*rec)->doc.at("text"), docs[i].at("text")) << i;
      EXPECT_EQ((*rec)->doc.at("num"), docs[i].at("num")) << i;
    }
    // ScanRaw yields record bytes (format 1) that decode, never the stored form.
    int rows = 0;
    ASSERT_TRUE((*snap)
                    ->ScanRaw("dog",
                              [&](std::string_view, std::string_view value) {
                                EXPECT_EQ(static_cast<unsigned char>(value[0]), kRecordFormat);
                                Record rec;
                                bool tomb = true;
                                EXPECT_TRUE(DecodeRecord(value, &rec, &tomb).ok());
                                ++rows;
                                return true;
                              })
                    .ok());
    EXPECT_EQ(rows, n);
    // An index search finds a compressed row.
    int found = 0;
    ASSERT_TRUE((*snap)
                    ->ScanIndex("dog", "name",
                                IndexRange{docs[n - 3].at("name"), true, docs[n - 3].at("name"),
                                           true, std::nullopt},
                                [&](const Record& r) {
                                  found += r.doc.at("id") == n - 3;
                                  return true;
                                })
                    .ok());
    EXPECT_EQ(found, 1);
  };
  check_all();
  // An update merges into a compressed row (its old document is read back).
  ASSERT_TRUE(Write("dev", {Op(WriteKind::kUpdate, "dog", n - 1, {{"extra", 5}})}).ok());
  auto updated = Get("dev", "dog", n - 1);
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->doc.at("text"), docs[n - 1].at("text"));
  EXPECT_EQ(updated->doc.at("extra"), 5);
  // A replicated row older than the compressed one loses LWW; the log carries it as received.
  std::string older;
  EncodeRecord(RecordHeader{false, 1, 99}, json::object{{"id", n - 2}, {"text", "old"}}, &older);
  ReplicatedTxn txn;
  txn.database = "dev";
  txn.origin = 99;
  txn.origin_sequence = 1;
  txn.version = 1;
  txn.writes.push_back({"dog", *EncodeKey(json::value(n - 2)), older});
  auto applied = store_->ApplyReplicated(txn);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_EQ(applied->rows_skipped, 1u);
  EXPECT_EQ(Get("dev", "dog", n - 2)->doc.at("text"), docs[n - 2].at("text"));
  auto snap = store_->Read("dev");
  ASSERT_TRUE(snap.ok());
  std::vector<LogEntry> log;
  ASSERT_NO_FATAL_FAILURE(ReadLog(**snap, 0, &log));
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().writes[0].value, older);
  // Everything survives a reopen (dictionaries reloaded from meta).
  snap->reset();
  Reopen();
  check_all();
}

// A training held in the test hook (StoreOptions::before_dictionary_training_for_testing)
// until Release(); the hook waits at most a minute, so a failing test cannot hang.
class HeldTraining {
 public:
  std::function<void()> Hook() {
    return [this] {
      entered_.set_value();
      (void)release_future_.wait_for(std::chrono::seconds(60));
    };
  }
  bool WaitEntered() {
    return entered_future_.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  }
  void Release() {
    if (!released_) release_.set_value();
    released_ = true;
  }
  ~HeldTraining() { Release(); }

 private:
  std::promise<void> entered_;
  std::future<void> entered_future_ = entered_.get_future();
  std::promise<void> release_;
  std::shared_future<void> release_future_ = release_.get_future().share();
  bool released_ = false;
};

class DictionaryTrainingTest : public CompressedStoreTest {
 protected:
  void SetUp() override {
    Reopen([&](StoreOptions& o) { o.before_dictionary_training_for_testing = held_.Hook(); });
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
    std::mt19937_64 rng(3);
    for (int batch = 0; batch < static_cast<int>(kDictTrainRows) / 250; ++batch) {
      std::vector<WriteOp> ops;
      for (int i = batch * 250; i < (batch + 1) * 250; ++i) {
        ops.push_back(Op(WriteKind::kInsert, "dog", i, RandomDoc(rng, i)));
      }
      ASSERT_TRUE(Write("dev", std::move(ops)).ok());
    }
  }
  // The store goes first: a training may still run the hook, which refers to held_.
  void TearDown() override {
    held_.Release();
    store_.reset();
  }
  // Writes row `id` (a random document seeded with it); its result as a string, or "not
  // answered" when the writer did not answer within `deadline`.
  std::string WriteWithin(int id, std::chrono::seconds deadline) {
    std::mt19937_64 rng(static_cast<uint64_t>(id));
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    store_->WriteAsync(Req("dev", {Op(WriteKind::kInsert, "dog", id, RandomDoc(rng, id))}),
                       [done](Result<WriteResult> r) { done->set_value(r.status()); });
    if (future.wait_for(deadline) != std::future_status::ready) return "not answered";
    return future.get().ToString();
  }

  HeldTraining held_;
};

// The dictionary trains off the writer thread: while a training is under way (held in the
// hook), other writes of the node commit, stored raw. Training on the writer (as before)
// held every write until it finished: the writes below were not answered.
TEST_F(DictionaryTrainingTest, WritesCommitWhileADictionaryTrains) {
  const int first = static_cast<int>(kDictTrainRows);
  // The row that makes the table kDictTrainRows + 1 rows long starts the training.
  std::mt19937_64 rng(first);
  store_->WriteAsync(Req("dev", {Op(WriteKind::kInsert, "dog", first, RandomDoc(rng, first))}),
                     [](const Result<WriteResult>&) {});
  ASSERT_TRUE(held_.WaitEntered()) << "no training started";
  for (int id = first + 1; id < first + 20; ++id) {
    EXPECT_EQ(WriteWithin(id, std::chrono::seconds(10)), "OK") << "row " << id;
  }
  ASSERT_TRUE(store_->CreateTable(Untyped("other", "cat")).ok());  // another database, too
  auto stats = store_->GetStats("dev", "dog");
  ASSERT_TRUE(stats.ok());
  EXPECT_FALSE(stats->dictionary_id.has_value()) << "installed before its training finished";
  EXPECT_EQ(stats->record_count, kDictTrainRows + 20);
  held_.Release();
  ASSERT_NE(WaitForDictionary("dev", "dog").value_or(0), 0u);
  // Rows written while it trained stay raw and read back; later rows are compressed.
  EXPECT_EQ(WriteWithin(first + 20, std::chrono::seconds(10)), "OK");
  EXPECT_EQ(StoredFormats(), std::string(kDictTrainRows + 20, '1') + "2");
  for (int id = first; id <= first + 20; ++id) {
    std::mt19937_64 again(static_cast<uint64_t>(id));
    auto rec = Get("dev", "dog", id);
    ASSERT_TRUE(rec.has_value()) << id;
    EXPECT_EQ(rec->doc.at("text"), RandomDoc(again, id).at("text")) << id;
  }
}

// Closing the store while a training runs waits for it (and installs its dictionary, or
// not); either way nothing is lost, and the table gets its dictionary after a reopen.
TEST_F(DictionaryTrainingTest, ClosingWhileADictionaryTrainsLosesNothing) {
  const int first = static_cast<int>(kDictTrainRows);
  EXPECT_EQ(WriteWithin(first, std::chrono::seconds(10)), "OK");
  ASSERT_TRUE(held_.WaitEntered()) << "no training started";
  std::thread closer([this] { store_.reset(); });
  held_.Release();
  closer.join();
  Reopen();
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, kDictTrainRows + 1);
  // A write after the reopen trains again if the dictionary was not installed.
  EXPECT_EQ(WriteWithin(first + 1, std::chrono::seconds(10)), "OK");
  ASSERT_NE(WaitForDictionary("dev", "dog").value_or(0), 0u);
  EXPECT_EQ(WriteWithin(first + 2, std::chrono::seconds(10)), "OK");
  EXPECT_EQ(StoredFormats().back(), '2');
}

}  // namespace
}  // namespace meshdb::storage::testing

namespace meshdb::storage::testing {
namespace {

// An initial copy of stored values (CopyChunk::stored_values, replication's "copy-stored"):
// the receiver checks that each row decompresses, stores it as it is with the sender's
// dictionary, builds its index, and writes its own rows with the adopted dictionary.
class StoredCopyTest : public CompressedStoreTest {
 protected:
  void SetUp() override {
    CompressedStoreTest::SetUp();
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
    ASSERT_NO_FATAL_FAILURE(InsertRandomRows(5, kRows, &docs_));
    auto snap = store_->Read("dev");
    ASSERT_TRUE(snap.ok());
    ASSERT_TRUE((*snap)
                    ->ScanStored("dog",
                                 [&](std::string_view k, std::string_view v) {
                                   rows_.push_back(RawRow{std::string(k), std::string(v)});
                                   return true;
                                 })
                    .ok());
    for (const RawRow& r : rows_) {
      auto id = StoredRecordDictionaryId(r.value);
      ASSERT_TRUE(id.ok());
      if (*id && **id != 0 && dict_id_ == 0) dict_id_ = **id;
    }
    ASSERT_NE(dict_id_, 0u) << "the source table compressed no row with a dictionary";
    auto bytes = (*snap)->RecordDictionary(dict_id_);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    dict_bytes_ = *bytes;
    EXPECT_EQ((*snap)->RecordDictionary(dict_id_ ^ 1).status().code(), Status::Code::kNotFound);
    auto def = store_->GetTable("dev", "dog");
    ASSERT_TRUE(def.ok());
    def_ = *def;
    ASSERT_NO_FATAL_FAILURE(
        meshdb::testing::OpenTestStore(other_dir_.path(), 256ull << 20, &b_, 8));
  }

  CopyChunk Chunk(size_t from, size_t to, bool with_dictionary) {
    CopyChunk c;
    c.database = "dev";
    c.table_def = def_;
    c.table = "dog";
    c.bulk = true;
    c.stored_values = true;
    if (with_dictionary) c.dictionaries.push_back({dict_id_, dict_bytes_});
    c.rows.assign(rows_.begin() + static_cast<ptrdiff_t>(from),
                  rows_.begin() + static_cast<ptrdiff_t>(to));
    return c;
  }

  uint64_t BRows() {
    auto stats = b_->GetStats("dev", "dog");
    return stats.ok() ? stats->record_count : 0;
  }

  // Applies the copy's end (its index build), then checks that B holds every row exactly as
  // it was sent.
  void EndCopyAndExpectRowsAsSent() {
    CopyChunk end;
    end.database = "dev";
    end.build_indexes = true;
    ASSERT_TRUE(b_->ApplyCopyChunk(std::move(end)).ok());
    EXPECT_EQ(BRows(), static_cast<uint64_t>(kRows));
    auto snap = b_->Read("dev");
    ASSERT_TRUE(snap.ok());
    size_t i = 0;
    ASSERT_TRUE((*snap)
                    ->ScanStored("dog",
                                 [&](std::string_view k, std::string_view v) {
                                   EXPECT_EQ(k, rows_[i].key);
                                   EXPECT_EQ(v, rows_[i].value) << "row " << i << " not as sent";
                                   ++i;
                                   return true;
                                 })
                    .ok());
    EXPECT_EQ(i, rows_.size());
  }

  static constexpr int kRows = 2500;
  std::vector<json::object> docs_;
  std::vector<RawRow> rows_;
  uint32_t dict_id_ = 0;
  std::string dict_bytes_;
  TableDef def_;
  TempDir other_dir_;
  std::unique_ptr<Store> b_;
};

TEST_F(StoredCopyTest, RowsAreStoredAsTheyCameAndReadBackIndexedAndWritable) {
  const size_t half = rows_.size() / 2;
  auto first = b_->ApplyCopyChunk(Chunk(0, half, true));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // The second chunk names the dictionary the first one brought.
  auto second = b_->ApplyCopyChunk(Chunk(half, rows_.size(), false));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_NO_FATAL_FAILURE(EndCopyAndExpectRowsAsSent());
  auto snap = b_->Read("dev");
  ASSERT_TRUE(snap.ok());
  for (int k = 0; k < kRows; k += 97) {
    auto rec = (*snap)->Get("dog", k);
    ASSERT_TRUE(rec.ok() && rec->has_value()) << k;
    EXPECT_EQ((*rec)->doc.at("text"), docs_[k].at("text"));
  }
  int found = 0;
  const json::value name = docs_[kRows - 5].at("name");
  ASSERT_TRUE((*snap)
                  ->ScanIndex("dog", "name", IndexRange{name, true, name, true, std::nullopt},
                              [&](const Record& r) {
                                found += r.doc.at("id") == kRows - 5;
                                return true;
                              })
                  .ok());
  EXPECT_EQ(found, 1);
  snap->reset();
  // B's own writes compress with the dictionary it adopted, and read back.
  std::mt19937_64 rng(99);
  json::object doc = RandomDoc(rng, kRows + 1);
  ASSERT_TRUE(b_->Write(Req("dev", {Op(WriteKind::kInsert, "dog", kRows + 1, doc)})).ok());
  auto after = b_->Read("dev");
  ASSERT_TRUE(after.ok());
  auto rec = (*after)->Get("dog", kRows + 1);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->doc.at("text"), doc.at("text"));
  std::optional<uint32_t> own_id;
  ASSERT_TRUE((*after)
                  ->ScanStored("dog",
                               [&](std::string_view k, std::string_view v) {
                                 if (k == *EncodeKey(json::value(kRows + 1))) {
                                   own_id = *StoredRecordDictionaryId(v);
                                 }
                                 return true;
                               })
                  .ok());
  ASSERT_TRUE(own_id.has_value()) << "B's own row was not compressed";
  EXPECT_EQ(*own_id, dict_id_);
}

TEST_F(StoredCopyTest, BadDictionariesAndRowsThatDoNotDecompressChangeNothing) {
  // A dictionary whose bytes do not carry its id.
  CopyChunk wrong_id = Chunk(0, 100, true);
  wrong_id.dictionaries[0].id ^= 1;
  EXPECT_EQ(b_->ApplyCopyChunk(std::move(wrong_id)).status().code(), Status::Code::kCorruption);
  // Rows naming a dictionary neither the chunk nor B holds.
  EXPECT_EQ(b_->ApplyCopyChunk(Chunk(kDictTrainRows, kDictTrainRows + 100, false)).status().code(),
            Status::Code::kCorruption);
  // A damaged compressed row among good ones: the whole chunk fails.
  CopyChunk damaged = Chunk(0, rows_.size(), true);
  RawRow& last = damaged.rows.back();
  ASSERT_EQ(static_cast<unsigned char>(last.value[0]), kStoredFormatZstd);
  last.value.resize(last.value.size() - 3);
  EXPECT_EQ(b_->ApplyCopyChunk(std::move(damaged)).status().code(), Status::Code::kCorruption);
  EXPECT_EQ(BRows(), 0u);
  auto snap = b_->Read("dev");
  if (snap.ok()) {
    EXPECT_EQ((*snap)->RecordDictionary(dict_id_).status().code(), Status::Code::kNotFound);
  }
  // Dictionaries without stored values are refused.
  CopyChunk plain = Chunk(0, 10, true);
  plain.stored_values = false;
  EXPECT_FALSE(b_->ApplyCopyChunk(std::move(plain)).ok());
  // The good chunk still applies afterwards.
  ASSERT_TRUE(b_->ApplyCopyChunk(Chunk(0, rows_.size(), true)).ok());
  EXPECT_EQ(BRows(), static_cast<uint64_t>(kRows));
}

// Store::PrepareCopyChunk decodes a stored-values chunk's rows ahead of the writer (on the
// link's thread in a server); the writer uses what it decoded and the outcome is the one of
// an unprepared chunk: rows stored as they came, indexed at the end, and every bad chunk
// refused whole.
size_t Decoded(const CopyChunk& c) {
  if (c.prepared == nullptr) return 0;
  size_t n = 0;
  for (const auto& r : c.prepared->rows) n += r.decoded;
  return n;
}

TEST_F(StoredCopyTest, ChunksPreparedAheadApplyAsUnpreparedOnes) {
  const size_t half = rows_.size() / 2;
  CopyChunk first = Chunk(0, half, true);
  // Prepared before B has the database: the chunk's own dictionary serves.
  b_->PrepareCopyChunk(first);
  EXPECT_EQ(Decoded(first), half);
  // Prepared before the first chunk commits: its rows name a dictionary B does not hold yet,
  // so those are left to the writer (rows stored raw, before the source trained one, decode).
  CopyChunk early = Chunk(half, half + 100, false);
  b_->PrepareCopyChunk(early);
  EXPECT_LT(Decoded(early), 100u);
  auto a = b_->ApplyCopyChunk(std::move(first));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto e = b_->ApplyCopyChunk(std::move(early));
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  // Prepared after: the dictionary the first chunk committed serves.
  CopyChunk rest = Chunk(half + 100, rows_.size(), false);
  b_->PrepareCopyChunk(rest);
  EXPECT_EQ(Decoded(rest), rows_.size() - half - 100);
  ASSERT_TRUE(b_->ApplyCopyChunk(std::move(rest)).ok());
  ASSERT_NO_FATAL_FAILURE(EndCopyAndExpectRowsAsSent());
  auto snap = b_->Read("dev");
  ASSERT_TRUE(snap.ok());
  for (int k = 0; k < kRows; k += 61) {
    const json::value name = docs_[k].at("name");
    int found = 0;
    ASSERT_TRUE((*snap)
                    ->ScanIndex("dog", "name", IndexRange{name, true, name, true, std::nullopt},
                                [&](const Record& r) {
                                  found += r.doc.at("id") == k;
                                  return true;
                                })
                    .ok());
    EXPECT_EQ(found, 1) << "row " << k << " not found by its indexed name";
  }
}

TEST_F(StoredCopyTest, PreparedBadChunksAreRefusedWholeAndLoggedChunksAreNotPrepared) {
  // A damaged compressed row among good ones: left undecoded, and the writer refuses the
  // chunk as without preparing.
  CopyChunk damaged = Chunk(0, rows_.size(), true);
  RawRow& last = damaged.rows.back();
  ASSERT_EQ(static_cast<unsigned char>(last.value[0]), kStoredFormatZstd);
  last.value.resize(last.value.size() - 3);
  b_->PrepareCopyChunk(damaged);
  EXPECT_EQ(Decoded(damaged), rows_.size() - 1);
  EXPECT_EQ(b_->ApplyCopyChunk(std::move(damaged)).status().code(), Status::Code::kCorruption);
  // A dictionary whose bytes do not carry its id: nothing is prepared, the chunk is refused.
  CopyChunk wrong_id = Chunk(0, 100, true);
  wrong_id.dictionaries[0].id ^= 1;
  b_->PrepareCopyChunk(wrong_id);
  EXPECT_EQ(wrong_id.prepared, nullptr);
  EXPECT_EQ(b_->ApplyCopyChunk(std::move(wrong_id)).status().code(), Status::Code::kCorruption);
  EXPECT_EQ(BRows(), 0u);
  // A chunk that logs its rows needs their record bytes: not prepared.
  CopyChunk logged = Chunk(0, 100, true);
  logged.log_rows = true;
  b_->PrepareCopyChunk(logged);
  EXPECT_EQ(logged.prepared, nullptr);
  auto applied = b_->ApplyCopyChunk(std::move(logged));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_NE(applied->sequence, 0u);
  EXPECT_EQ(BRows(), 100u);
}

}  // namespace
}  // namespace meshdb::storage::testing
