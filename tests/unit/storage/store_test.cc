#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "raw_lmdb.h"
#include "storage/data_format.h"
#include "storage/key_codec.h"
#include "storage/record_codec.h"
#include "test_util.h"

namespace meshdb::storage::testing {
namespace {

namespace json = boost::json;
using K = WriteKind;

std::string Outcomes(const WriteResult& r) {
  std::string s;
  for (auto o : r.outcomes) s += o == WriteOutcome::kApplied ? 'A' : 'S';
  return s;
}

class StoreOpsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
  }
};

TEST_F(StoreOpsTest, SchemaErrorsUseHarperDbTexts) {
  EXPECT_EQ(store_->CreateDatabase("dev").ToString(),
            Status::Conflict("database 'dev' already exists").ToString());
  EXPECT_EQ(store_->CreateTable(Untyped("dev", "dog")).ToString(),
            Status::Conflict("Table 'dog' already exists in 'dev'").ToString());
  EXPECT_EQ(store_->DropTable("dev", "nosuch").ToString(),
            Status::NotFound("Table 'dev.nosuch' does not exist").ToString());
  EXPECT_EQ(store_->DropDatabase("nodb").ToString(),
            Status::NotFound("database 'nodb' does not exist").ToString());
  EXPECT_TRUE(store_->CreateAttribute("dev", "dog", {"color", "", true}).ok());
  EXPECT_EQ(store_->CreateAttribute("dev", "dog", {"color", "", true}).ToString(),
            Status::Conflict("attribute 'color' already exists in dev.dog").ToString());
  EXPECT_EQ(store_->GetTable("dev", "cat").status().ToString(),
            Status::NotFound("Table 'dev.cat' does not exist").ToString());
  EXPECT_EQ(store_->GetTable("x", "cat").status().ToString(),
            Status::NotFound("database 'x' does not exist").ToString());
  EXPECT_EQ(store_->ListDatabases(), std::vector<std::string>{"dev"});
}

TEST_F(StoreOpsTest, NewTableHasPrimaryKeyAndTimestamps) {
  auto def = store_->GetTable("dev", "dog");
  ASSERT_TRUE(def.ok());
  std::string names;
  for (const auto& a : def->attributes) names += a.name + ",";
  EXPECT_EQ(names, "id,__createdtime__,__updatedtime__,");
  EXPECT_FALSE(def->schema_defined);
}

// A WriteCallback runs on the writer thread: a blocking Store::Write from it would queue
// behind the callback itself and wait forever. It fails at once instead, and the writer goes on.
TEST_F(StoreOpsTest, ReentrantWriteFromAWriterCallbackFailsInsteadOfHanging) {
  std::promise<Status> inner;
  store_->WriteAsync(Req("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}),
                     [&](Result<WriteResult> /*result*/) {
                       auto again = store_->Write(Req("dev", {Op(K::kInsert, "dog", 2, {})}));
                       inner.set_value(again.status());
                     });
  auto result = inner.get_future();
  ASSERT_EQ(std::future_status::ready, result.wait_for(std::chrono::seconds(5)))
      << "a re-entrant Store::Write hung";
  Status st = result.get();
  EXPECT_EQ(Status::Code::kInternal, st.code()) << st.ToString();
  EXPECT_NE(std::string::npos, st.message().find("writer thread")) << st.ToString();
  EXPECT_TRUE(Get("dev", "dog", 1).has_value());   // the outer write committed
  EXPECT_FALSE(Get("dev", "dog", 2).has_value());  // the refused one did not
  EXPECT_TRUE(Write("dev", {Op(K::kInsert, "dog", 3, {{"name", "c"}})}).ok());
}

// With the writer idle, WriteAsyncOrInline commits on the calling thread and answers before
// it returns; a blocking call from that answer is refused as on the writer thread, and a
// write queued from it is applied by the writer once the caller is done.
TEST_F(StoreOpsTest, WriteAsyncOrInlineOnAnIdleWriterCommitsOnTheCallingThread) {
  const std::thread::id caller = std::this_thread::get_id();
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}).ok());
  // The writer is idle once it has let go of the group it answered: try until it has.
  std::thread::id answered_on;
  Status blocking_call;
  std::promise<std::thread::id> nested_answered_on;
  int id = 100;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (answered_on != caller && std::chrono::steady_clock::now() < deadline) {
    std::promise<std::thread::id> answered;
    store_->WriteAsyncOrInline(
        Req("dev", {Op(K::kInsert, "dog", ++id, {})}), [&](Result<WriteResult> result) {
          EXPECT_TRUE(result.ok()) << result.status().ToString();
          if (std::this_thread::get_id() == caller) {
            blocking_call = store_->Write(Req("dev", {Op(K::kInsert, "dog", 2, {})})).status();
            store_->WriteAsyncOrInline(Req("dev", {Op(K::kInsert, "dog", 3, {})}),
                                       [&](Result<WriteResult> nested) {
                                         EXPECT_TRUE(nested.ok()) << nested.status().ToString();
                                         nested_answered_on.set_value(std::this_thread::get_id());
                                       });
          }
          answered.set_value(std::this_thread::get_id());
        });
    answered_on = answered.get_future().get();
  }
  ASSERT_EQ(answered_on, caller) << "never applied on the calling thread";
  EXPECT_EQ(Status::Code::kInternal, blocking_call.code()) << blocking_call.ToString();
  auto nested = nested_answered_on.get_future();
  ASSERT_EQ(std::future_status::ready, nested.wait_for(std::chrono::seconds(5)));
  EXPECT_NE(nested.get(), caller);  // queued, applied by the writer
  EXPECT_TRUE(Get("dev", "dog", id).has_value());
  EXPECT_FALSE(Get("dev", "dog", 2).has_value());
  EXPECT_TRUE(Get("dev", "dog", 3).has_value());
}

// A record the JSON parser could not read back would poison its table: every write form
// refuses it before queueing, whole, on the caller's thread.
TEST_F(StoreOpsTest, TextThatIsNotUtf8IsRefusedAndNothingOfTheRequestIsApplied) {
  const std::string bad = "caf\xE9";
  Result<WriteResult> value = Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}}),
                                            Op(K::kInsert, "dog", 2, {{"name", bad}})});
  EXPECT_EQ(value.status().ToString(),
            Status::InvalidArgument("records[1].name is not valid UTF-8 text: strings, keys and "
                                    "attribute names must be UTF-8 (no binary values)")
                .ToString());
  WriteRequest key = Req("dev", {Op(K::kUpsert, "dog", 3, {})});
  key.ops[0].key = json::string(bad);
  EXPECT_EQ(store_->Write(std::move(key)).status().code(), Status::Code::kInvalidArgument);
  WriteRequest name = Req("dev", {Op(K::kUpsert, "dog", 4, {})});
  name.ops[0].fields[bad] = 1;
  std::promise<Status> inline_answer;
  const std::thread::id caller = std::this_thread::get_id();
  store_->WriteAsyncOrInline(std::move(name), [&](Result<WriteResult> result) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    inline_answer.set_value(result.status());
  });
  EXPECT_EQ(inline_answer.get_future().get().code(), Status::Code::kInvalidArgument);
  for (int id : {1, 2, 3, 4}) EXPECT_FALSE(Get("dev", "dog", id).has_value()) << id;
  EXPECT_TRUE(Write("dev", {Op(K::kInsert, "dog", 5, {{"name", "caf\xC3\xA9"}})}).ok());
}

// Commit listeners run on the writer thread too: a schema call or a blocking replicated apply
// from one is refused the same way.
TEST_F(StoreOpsTest, ReentrantSchemaCallFromACommitListenerFailsInsteadOfHanging) {
  std::promise<std::pair<Status, Status>> inner;
  std::atomic<bool> once{false};
  uint64_t id = store_->AddCommitListener([&](const std::string&, uint64_t) {
    if (once.exchange(true)) return;
    CopyChunk floor;
    floor.database = "dev";
    inner.set_value({store_->CreateTable(Untyped("dev", "cat")),
                     store_->ApplyCopyChunk(std::move(floor)).status()});
  });
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}).ok());
  auto result = inner.get_future();
  ASSERT_EQ(std::future_status::ready, result.wait_for(std::chrono::seconds(5)))
      << "a re-entrant schema call hung";
  auto [schema, apply] = result.get();
  EXPECT_EQ(Status::Code::kInternal, schema.code()) << schema.ToString();
  EXPECT_EQ(Status::Code::kInternal, apply.code()) << apply.ToString();
  store_->RemoveCommitListener(id);
  EXPECT_TRUE(store_->GetTable("dev", "cat").status().IsNotFound());
  EXPECT_TRUE(store_->CreateTable(Untyped("dev", "cat")).ok());  // from outside it works
}

TEST_F(StoreOpsTest, InsertSkipsExistingKeys) {
  auto r = Write(
      "dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}}), Op(K::kInsert, "dog", 1, {{"name", "b"}}),
              Op(K::kInsert, "dog", "x", {{"name", "c"}})});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Outcomes(*r), "ASA");
  r = Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "z"}})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Outcomes(*r), "S");
  EXPECT_EQ(r->sequence, 0u);  // nothing applied, nothing logged
  EXPECT_EQ(Get("dev", "dog", 1)->doc.at("name"), "a");
  EXPECT_EQ(Keys("dev", "dog"), R"([1,"x"])");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 2u);
}

TEST_F(StoreOpsTest, UpdateMergesAndSkipsMissing) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 2, {{"name", "rex"}, {"breed", "lab"}})}).ok());
  auto r = Write("dev",
                 {Op(K::kUpdate, "dog", 2, {{"age", 5}}), Op(K::kUpdate, "dog", 3, {{"age", 1}})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Outcomes(*r), "AS");
  auto rec = Get("dev", "dog", 2);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->doc.at("name"), "rex");
  EXPECT_EQ(rec->doc.at("breed"), "lab");
  EXPECT_EQ(rec->doc.at("age"), 5);
  EXPECT_FALSE(Get("dev", "dog", 3));
}

TEST_F(StoreOpsTest, UpsertMergesOrInsertsAndGeneratesKeys) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 2, {{"name", "rex"}, {"breed", "lab"}})}).ok());
  auto r = Write(
      "dev", {Op(K::kUpsert, "dog", 2, {{"age", 5}}), Op(K::kUpsert, "dog", 9, {{"name", "new"}}),
              Op(K::kUpsert, "dog", nullptr, {{"name", "auto"}})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Outcomes(*r), "AAA");
  EXPECT_EQ(Get("dev", "dog", 2)->doc.at("breed"), "lab");
  EXPECT_EQ(Get("dev", "dog", 9)->doc.at("id"), 9);
  ASSERT_TRUE(r->keys[2].is_string());
  EXPECT_EQ(r->keys[2].get_string().size(), 36u);
  auto gen = Get("dev", "dog", r->keys[2]);
  ASSERT_TRUE(gen);
  EXPECT_EQ(gen->doc.at("id"), r->keys[2]);
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 3u);
}

TEST_F(StoreOpsTest, KeyTakenFromFieldsAndMismatchRejected) {
  auto r = Write("dev", {Op(K::kInsert, "dog", nullptr, {{"id", 44}, {"name", "f"}})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->keys[0], 44);
  r = Write("dev", {Op(K::kInsert, "dog", 1, {{"id", 2}})});
  EXPECT_TRUE(r.status().IsInvalidArgument());
  r = Write("dev", {Op(K::kUpdate, "dog", nullptr, {{"name", "x"}})});
  EXPECT_TRUE(r.status().IsInvalidArgument());
  r = Write("dev", {Op(K::kInsert, "dog", json::string(std::string(600, 'k')), {})});
  EXPECT_TRUE(r.status().IsInvalidArgument());
}

TEST_F(StoreOpsTest, DeleteWritesTombstoneAndInsertAfterDeleteWorks) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}}),
                            Op(K::kInsert, "dog", 2, {{"name", "b"}})})
                  .ok());
  auto r = Write("dev", {Op(K::kDelete, "dog", 1), Op(K::kDelete, "dog", 99)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Outcomes(*r), "AA");
  EXPECT_FALSE(Get("dev", "dog", 1));
  EXPECT_EQ(Keys("dev", "dog"), "[2]");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
  // The tombstone is in the log with its flag.
  auto snap = store_->Read("dev");
  ASSERT_TRUE(snap.ok());
  std::vector<LogEntry> entries;
  ASSERT_NO_FATAL_FAILURE(ReadLog(**snap, r->sequence, &entries));
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_EQ(entries[0].writes.size(), 2u);
  RecordHeader h;
  std::string_view doc;
  ASSERT_TRUE(DecodeRecordHeader(entries[0].writes[0].value, &h, &doc).ok());
  EXPECT_TRUE(h.tombstone);
  EXPECT_TRUE(doc.empty());
  EXPECT_EQ(h.version, r->version);

  r = Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "again"}})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Outcomes(*r), "A");
  EXPECT_EQ(Get("dev", "dog", 1)->doc.at("name"), "again");
  r = Write("dev", {Op(K::kUpdate, "dog", 99, {{"name", "x"}})});
  EXPECT_EQ(Outcomes(*r), "S");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 2u);
}

TEST_F(StoreOpsTest, TimestampsStampedSharedAndCreatedKept) {
  auto r1 = Write(
      "dev", {Op(K::kInsert, "dog", 1, {{"__createdtime__", 5}}), Op(K::kInsert, "dog", 2, {})});
  ASSERT_TRUE(r1.ok());
  auto a = Get("dev", "dog", 1)->doc;
  auto b = Get("dev", "dog", 2)->doc;
  EXPECT_EQ(a.at("__createdtime__").as_double(), r1->txn_time_ms);  // user value overwritten
  EXPECT_EQ(a.at("__updatedtime__").as_double(), r1->txn_time_ms);
  EXPECT_EQ(b.at("__updatedtime__").as_double(), r1->txn_time_ms);
  EXPECT_GT(r1->txn_time_ms, 1.6e12);
  auto r2 = Write("dev", {Op(K::kUpsert, "dog", 1, {{"x", 1}, {"__createdtime__", 5}})});
  ASSERT_TRUE(r2.ok());
  auto a2 = Get("dev", "dog", 1);
  EXPECT_EQ(a2->doc.at("__createdtime__").as_double(), r1->txn_time_ms);
  EXPECT_EQ(a2->doc.at("__updatedtime__").as_double(), r2->txn_time_ms);
  EXPECT_GT(r2->version, r1->version);
  EXPECT_EQ(a2->version, r2->version);
  EXPECT_EQ(a2->origin, 7u);
  EXPECT_EQ(store_->GetStats("dev", "dog")->last_updated_ms, r2->txn_time_ms);
}

TEST_F(StoreOpsTest, TypedTablesGetNoTimestamps) {
  TableDef def = Untyped("dev", "typed");
  def.schema_defined = true;
  def.attributes = {{"id", "Int", true}, {"name", "String", true}};
  ASSERT_TRUE(store_->CreateTable(def).ok());
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "typed", 1, {{"name", "n"}, {"extra", 1}})}).ok());
  auto rec = Get("dev", "typed", 1);
  ASSERT_TRUE(rec);
  EXPECT_EQ(json::serialize(rec->doc), R"({"name":"n","extra":1,"id":1})");
  auto got = store_->GetTable("dev", "typed");
  EXPECT_EQ(got->attributes.size(), 2u);
  EXPECT_TRUE(got->schema_defined);
  EXPECT_EQ(got->attributes[0].type, "Int");
}

TEST_F(StoreOpsTest, DynamicAttributesPersistAcrossReopen) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}, {"age", 3}}),
                            Op(K::kInsert, "dog", 2, {{"color", "red"}, {"age", 4}})})
                  .ok());
  auto names = [&] {
    std::string s;
    auto def = store_->GetTable("dev", "dog");
    for (const auto& a : def->attributes) s += a.name + ",";
    return s;
  };
  EXPECT_EQ(names(), "id,__createdtime__,__updatedtime__,name,age,color,");
  Reopen();
  EXPECT_EQ(names(), "id,__createdtime__,__updatedtime__,name,age,color,");
  EXPECT_TRUE(store_->GetTable("dev", "dog")->FindAttribute("color")->indexed);
}

TEST_F(StoreOpsTest, AllDataPersistsAcrossReopen) {
  ASSERT_TRUE(store_->CreateTable(Untyped("other", "cat", "cid")).ok());
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}}),
                            Op(K::kInsert, "dog", "two", {{"name", "b"}})})
                  .ok());
  ASSERT_TRUE(Write("dev", {Op(K::kDelete, "dog", 1)}).ok());
  ASSERT_TRUE(Write("other", {Op(K::kUpsert, "cat", 5, {{"x", true}})}).ok());
  auto v1 = Get("dev", "dog", "two")->version;
  Reopen();
  EXPECT_EQ(store_->ListDatabases(), (std::vector<std::string>{"dev", "other"}));
  EXPECT_EQ(Keys("dev", "dog"), R"(["two"])");
  EXPECT_EQ(Get("dev", "dog", "two")->version, v1);
  EXPECT_EQ(Keys("other", "cat"), "[5]");
  EXPECT_EQ(store_->GetTable("other", "cat")->primary_key, "cid");
  EXPECT_EQ(*store_->LastSequence("dev"), 2u);
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
  EXPECT_TRUE(store_->GetStats("dev", "dog")->last_updated_ms.has_value());
  // The sequence continues after a reopen.
  auto r = Write("dev", {Op(K::kInsert, "dog", 3, {})});
  EXPECT_EQ(r->sequence, 3u);
}

TEST_F(StoreOpsTest, TxLogHoldsEachAppliedRequest) {
  auto r1 = Write("dev", {Op(K::kInsert, "dog", 1, {{"n", 1}}), Op(K::kInsert, "dog", 2, {})});
  auto r2 = Write("dev", {Op(K::kInsert, "dog", 1, {})});  // skipped: no entry
  auto r3 = Write("dev", {Op(K::kUpdate, "dog", 2, {{"n", 2}})});
  ASSERT_TRUE(r1.ok() && r2.ok() && r3.ok());
  EXPECT_EQ(r1->sequence, 1u);
  EXPECT_EQ(r2->sequence, 0u);
  EXPECT_EQ(r3->sequence, 2u);
  EXPECT_EQ(*store_->LastSequence("dev"), 2u);
  auto snap = store_->Read("dev");
  std::vector<LogEntry> log;
  ASSERT_NO_FATAL_FAILURE(ReadLog(**snap, 0, &log));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].sequence, 1u);
  EXPECT_EQ(log[0].origin, 7u);
  EXPECT_EQ(log[0].origin_sequence, 1u);
  EXPECT_EQ(log[0].version, r1->version);
  ASSERT_EQ(log[0].writes.size(), 2u);
  EXPECT_EQ(log[0].writes[0].table, "dog");
  EXPECT_EQ(log[0].writes[0].key, *EncodeKey(json::value(1)));
  Record rec;
  bool tomb = true;
  ASSERT_TRUE(DecodeRecord(log[1].writes[0].value, &rec, &tomb).ok());
  EXPECT_FALSE(tomb);
  EXPECT_EQ(rec.doc.at("n"), 2);
  EXPECT_EQ(rec.version, r3->version);
  // from_sequence is honoured, and a visitor can stop early.
  int seen = 0;
  ASSERT_TRUE((*snap)
                  ->ScanLog(2,
                            [&](const LogEntry& e) {
                              EXPECT_EQ(e.sequence, 2u);
                              ++seen;
                              return false;
                            })
                  .ok());
  EXPECT_EQ(seen, 1);
}

// Half the threads let the store apply their write on their own thread when the writer is
// idle (WriteAsyncOrInline), half always queue: nothing is lost, applied twice or reordered
// in the log.
TEST_F(StoreOpsTest, ConcurrentWritersAllCompleteAndLogIsDense) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  std::atomic<int> ok{0};
  std::atomic<int> remaining{kThreads * kPerThread};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteRequest request = Req("dev", {Op(K::kUpsert, "dog", t * 1000 + i, {{"t", t}})});
        auto done = [&](Result<WriteResult> r) {
          if (r.ok() && r->sequence > 0) ++ok;
          if (--remaining == 0) {
            std::lock_guard lock(mu);
            cv.notify_all();
          }
        };
        if (t % 2 == 0) {
          store_->WriteAsyncOrInline(std::move(request), std::move(done));
        } else {
          store_->WriteAsync(std::move(request), std::move(done));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return remaining.load() == 0; });
  }
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(*store_->LastSequence("dev"), uint64_t{kThreads * kPerThread});
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, uint64_t{kThreads * kPerThread});
  auto snap = store_->Read("dev");
  uint64_t expect = 1;
  bool dense = true;
  ASSERT_TRUE((*snap)
                  ->ScanLog(1,
                            [&](const LogEntry& e) {
                              dense = dense && e.sequence == expect++;
                              return true;
                            })
                  .ok());
  EXPECT_TRUE(dense);
  EXPECT_EQ(expect, uint64_t{kThreads * kPerThread} + 1);
}

TEST_F(StoreOpsTest, NotFoundRequestsChangeNothing) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {})}).ok());
  auto r = Write("dev", {Op(K::kInsert, "dog", 2, {}), Op(K::kInsert, "nosuch", 3, {})});
  EXPECT_EQ(r.status().ToString(),
            Status::NotFound("Table 'dev.nosuch' does not exist").ToString());
  r = Write("nodb", {Op(K::kInsert, "dog", 2, {})});
  EXPECT_EQ(r.status().ToString(), Status::NotFound("database 'nodb' does not exist").ToString());
  EXPECT_EQ(Keys("dev", "dog"), "[1]");
  EXPECT_EQ(*store_->LastSequence("dev"), 1u);
  auto snap = store_->Read("dev");
  EXPECT_TRUE((*snap)->Get("nosuch", 1).status().IsNotFound());
  EXPECT_TRUE(store_->Read("nodb").status().IsNotFound());
}

// The data format entry of dev.mdb, read (and, with `set`, replaced: nullopt deletes it) while
// the store is closed. Adds a fatal failure if the file cannot be opened or changed.
void DevDataFormat(const std::string& dir, std::optional<uint64_t>* found,
                   std::optional<std::optional<uint64_t>> set = std::nullopt) {
  RawFile raw;
  ASSERT_NO_FATAL_FAILURE(OpenRawFile(dir + "/dev.mdb", &raw));
  MDB_dbi meta = 0;
  ASSERT_NO_FATAL_FAILURE(OpenDbis(raw.txn.get(), {{"meta", 0, &meta}}));
  MDB_val k = ToVal(kMetaDataFormat), v;
  int rc = mdb_get(raw.txn.get(), meta, &k, &v);
  ASSERT_TRUE(rc == 0 || rc == MDB_NOTFOUND) << rc;
  *found = rc == 0 && v.mv_size == 8 ? std::optional(GetU64(static_cast<const char*>(v.mv_data)))
                                     : std::nullopt;
  if (!set) return;
  if (*set) {
    std::string bytes;
    PutU64(&bytes, **set);
    MDB_val value = ToVal(bytes);
    ASSERT_EQ(mdb_put(raw.txn.get(), meta, &k, &value, 0), 0);
  } else if (rc == 0) {
    ASSERT_EQ(mdb_del(raw.txn.get(), meta, &k, nullptr), 0);
  }
  ASSERT_TRUE(raw.txn.Commit().ok());
}

TEST_F(StoreOpsTest, ADatabaseFileIsMarkedWithThisBinarysDataFormat) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}).ok());
  store_.reset();
  std::optional<uint64_t> format;
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format));
  EXPECT_EQ(format, kDataFormat);
}

TEST_F(StoreOpsTest, AFileWrittenBeforeTheMarkerOpensAndIsMarked) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}).ok());
  store_.reset();
  std::optional<uint64_t> format;
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format, std::optional<uint64_t>()));
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format));
  ASSERT_EQ(format, std::nullopt);
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Keys("dev", "dog"), "[1]");
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format));
  EXPECT_EQ(format, kDataFormat);
}

TEST_F(StoreOpsTest, AFileOfANewerDataFormatIsRefusedAndLeftAsItWas) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}).ok());
  store_.reset();
  std::optional<uint64_t> format;
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format, kDataFormat + 1));
  StoreOptions options;
  options.database_dir = dir_.path();
  options.durable = false;
  options.map_size_bytes = 256ull << 20;
  auto refused = Store::Open(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kConflict);
  const std::string& message = refused.status().message();
  EXPECT_NE(message.find("database 'dev'"), std::string::npos) << message;
  EXPECT_NE(message.find("data format " + std::to_string(kDataFormat + 1) +
                         ", written by a newer meshdb"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("reads data formats up to " + std::to_string(kDataFormat)),
            std::string::npos)
      << message;
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format));
  EXPECT_EQ(format, kDataFormat + 1);
  // Back at this binary's format, the file opens with its rows.
  ASSERT_NO_FATAL_FAILURE(DevDataFormat(dir_.path(), &format, kDataFormat));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(Keys("dev", "dog"), "[1]");
}

TEST_F(StoreOpsTest, DropTableAndDatabase) {
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {{"name", "a"}})}).ok());
  auto old_snap = store_->Read("dev");
  ASSERT_TRUE(old_snap.ok());
  ASSERT_TRUE(store_->DropTable("dev", "dog").ok());
  EXPECT_TRUE(store_->GetTable("dev", "dog").status().IsNotFound());
  EXPECT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1, {})}).status().IsNotFound());
  // Re-created table starts empty.
  ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
  EXPECT_EQ(Keys("dev", "dog"), "[]");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 0u);
  old_snap->reset();

  auto snap = store_->Read("dev");
  ASSERT_TRUE(store_->DropDatabase("dev").ok());
  EXPECT_TRUE(store_->ListDatabases().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/dev.mdb"));
  // A snapshot taken before the drop still reads.
  EXPECT_TRUE((*snap)->ScanTable("dog", [](const Record&) { return true; }).ok());
  snap->reset();
  Reopen();
  EXPECT_TRUE(store_->ListDatabases().empty());
  EXPECT_TRUE(store_->CreateDatabase("dev").ok());
  EXPECT_TRUE(store_->ListTables("dev")->empty());
}

// MDB_WRITEMAP makes the data file as long as the map (sparse); ReserveAhead must still
// allocate the blocks the writer will touch through the map (else a full disk is a SIGBUS),
// and the file must open either way.
TEST_F(StoreOpsTest, WriteMapFileIsSparseWithBlocksAllocatedAheadAndOpensEitherWay) {
  Reopen([](StoreOptions& o) { o.write_map = true; });
  std::vector<WriteOp> ops;
  for (int i = 0; i < 500; ++i)
    ops.push_back(Op(K::kInsert, "dog", i, {{"name", "n" + std::to_string(i)}}));
  ASSERT_TRUE(Write("dev", std::move(ops)).ok());
  const std::string file = (std::filesystem::path(dir_.path()) / "dev.mdb").string();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  const uint64_t used = *store_->UsedBytes("dev");
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 256ull << 20);  // the map size
  const uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  EXPECT_GE(allocated, used + (16ull << 20));               // headroom allocated ahead
  EXPECT_LT(allocated, static_cast<uint64_t>(st.st_size));  // not the whole map
  Reopen();                                                 // without MDB_WRITEMAP
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 500u);
  EXPECT_EQ(Get("dev", "dog", 499)->doc.at("name"), "n499");
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 1000, {})}).ok());
  Reopen([](StoreOptions& o) { o.write_map = true; });
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 501u);
}

// A database that holds little must take little disk: its data file's space allocated ahead
// and its two log files grow with what it holds, not a fixed 32 MiB each.
TEST_F(StoreOpsTest, ASmallDurableDatabaseTakesLittleDisk) {
  Reopen([](StoreOptions& o) { o.durable = true; });
  ASSERT_TRUE(store_->CreateTable(Untyped("small", "dog")).ok());
  std::vector<WriteOp> ops;
  for (int i = 0; i < 500; ++i)
    ops.push_back(Op(K::kInsert, "dog", i, {{"name", "n" + std::to_string(i)}}));
  ASSERT_TRUE(Write("small", std::move(ops)).ok());
  uint64_t allocated = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    if (entry.path().filename().string().rfind("small.mdb", 0) != 0) continue;
    struct stat st {};
    ASSERT_EQ(::stat(entry.path().c_str(), &st), 0);
    allocated += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  EXPECT_LT(allocated, 8ull << 20);
  Reopen([](StoreOptions& o) { o.durable = true; });
  EXPECT_EQ(store_->GetStats("small", "dog")->record_count, 500u);
}

TEST(StoreBatchFailureTest, MapFullFailsWholeBatchWithIOError) {
  TempDir dir;
  StoreOptions options;
  options.database_dir = dir.path();
  options.durable = false;
  options.map_size_bytes = 1 << 20;  // 1 MiB
  auto store = Store::Open(options);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->CreateTable(Untyped("dev", "t")).ok());
  std::vector<WriteOp> ops;
  for (int i = 0; i < 2000; ++i)
    ops.push_back(Op(WriteKind::kInsert, "t", i, {{"pad", std::string(1000, 'p')}}));
  auto r = (*store)->Write(Req("dev", std::move(ops)));
  EXPECT_EQ(r.status().code(), Status::Code::kIOError) << r.status().ToString();
  EXPECT_EQ(*(*store)->LastSequence("dev"), 0u);
  EXPECT_EQ((*store)->GetStats("dev", "t")->record_count, 0u);
  // Small writes still work afterwards.
  auto ok = (*store)->Write(Req("dev", {Op(WriteKind::kInsert, "t", 1, {})}));
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

}  // namespace
}  // namespace meshdb::storage::testing
