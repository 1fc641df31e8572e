// Replication support in the store: version vector, replicated transactions (LWW), peer
// cursors, commit listeners, raw scans, copy chunks, log search by time, table definitions.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <mutex>

#include "common/hlc.h"
#include "storage/key_codec.h"
#include "storage/record_codec.h"
#include "test_store.h"
#include "test_util.h"

namespace meshdb::storage::testing {
namespace {

namespace json = boost::json;
using K = WriteKind;

constexpr uint32_t kLocal = 7;  // StoreTest's local_node_id

uint64_t V(uint64_t ms, uint16_t counter = 0) { return HybridClock::Pack(ms, counter); }

std::string Key(const json::value& key) { return EncodeKey(key).value(); }

std::string Rec(uint64_t version, uint32_t origin, json::object doc) {
  std::string out;
  EncodeRecord(RecordHeader{false, version, origin}, doc, &out);
  return out;
}

std::string Tomb(uint64_t version, uint32_t origin) {
  std::string out;
  EncodeRecordHeader(RecordHeader{true, version, origin}, &out);
  return out;
}

ReplicatedTxn Txn(uint32_t origin, uint64_t origin_sequence, uint64_t version,
                  std::vector<LogEntry::Write> writes, uint64_t peer_sequence = 0) {
  ReplicatedTxn t;
  t.database = "dev";
  t.peer_name = "peer-b";
  t.peer_sequence = peer_sequence == 0 ? origin_sequence : peer_sequence;
  t.origin = origin;
  t.origin_sequence = origin_sequence;
  t.version = version;
  t.writes = std::move(writes);
  return t;
}

// A replicated upsert of dog `id` with `name`, written by `origin` at `version`.
ReplicatedTxn Put(uint32_t origin, uint64_t seq, uint64_t version, int id, const char* name) {
  return Txn(origin, seq, version,
             {{"dog", Key(id), Rec(version, origin, {{"id", id}, {"name", name}})}});
}

std::string VectorString(const VersionVector& v) {
  std::string s;
  for (const auto& [origin, seq] : v) s += std::to_string(origin) + ":" + std::to_string(seq) + " ";
  return s;
}

class ReplicationTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
  }
  std::string Vector(const std::string& db = "dev") {
    auto v = store_->ReadVersionVector(db);
    return v.ok() ? VectorString(*v) : v.status().ToString();
  }
  std::string Name(int id) {
    auto rec = Get("dev", "dog", id);
    if (!rec) return "<none>";
    return std::string(rec->doc.at("name").as_string());
  }
  ApplyResult Apply(ReplicatedTxn t) {
    auto r = store_->ApplyReplicated(std::move(t));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ApplyResult{};
  }
  std::vector<LogEntry> Log(const std::string& db = "dev") {
    std::vector<LogEntry> log;
    auto snap = store_->Read(db);
    EXPECT_TRUE(snap.ok());
    if (snap.ok()) ReadLog(**snap, 1, &log);
    return log;
  }
};

TEST_F(ReplicationTest, LocalWritesAdvanceTheVectorWithDenseOriginSequences) {
  EXPECT_EQ(Vector(), "");
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "a"}})}).ok());
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 2, {{"name", "b"}})}).ok());
  EXPECT_EQ(Vector(), "7:2 ");
  // A peer's transaction takes log sequence 3 but does not consume a local origin sequence.
  Apply(Put(9, 1, V(1000), 3, "c"));
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 4, {{"name", "d"}})}).ok());
  auto log = Log();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[2].origin, 9u);
  EXPECT_EQ(log[3].sequence, 4u);
  EXPECT_EQ(log[3].origin, kLocal);
  EXPECT_EQ(log[3].origin_sequence, 3u);
  EXPECT_EQ(Vector(), "7:3 9:1 ");
}

TEST_F(ReplicationTest, NewerRemoteVersionWinsOlderLoses) {
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "local"}})}).ok());
  // Older than the local write: loses, but the transaction is still logged and counted.
  ApplyResult r = Apply(Put(9, 1, V(1000), 1, "old"));
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.rows_applied, 0u);
  EXPECT_EQ(r.rows_skipped, 1u);
  EXPECT_EQ(r.sequence, 2u);
  EXPECT_EQ(Name(1), "local");
  // Newer (an hour ahead): wins.
  const uint64_t future = V(HybridClock::Millis(Get("dev", "dog", 1)->version) + 3600 * 1000);
  r = Apply(Put(9, 2, future, 1, "future"));
  EXPECT_EQ(r.rows_applied, 1u);
  auto rec = Get("dev", "dog", 1);
  EXPECT_EQ(rec->doc.at("name").as_string(), "future");
  EXPECT_EQ(rec->version, future);
  EXPECT_EQ(rec->origin, 9u);
  EXPECT_EQ(Vector(), "7:1 9:2 ");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
  // The clock observed it: a later local write orders after it and wins locally.
  auto w = Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "after"}})});
  ASSERT_TRUE(w.ok());
  EXPECT_GT(w->version, future);
  EXPECT_EQ(Name(1), "after");
}

TEST_F(ReplicationTest, EqualVersionsGoToTheHigherOrigin) {
  const uint64_t v = V(5000);
  Apply(Put(5, 1, v, 1, "from5"));
  EXPECT_EQ(Apply(Put(9, 1, v, 1, "from9")).rows_applied, 1u);
  EXPECT_EQ(Name(1), "from9");
  Apply(Put(9, 2, v, 2, "from9"));
  EXPECT_EQ(Apply(Put(5, 2, v, 2, "from5")).rows_applied, 0u);
  EXPECT_EQ(Name(2), "from9");
  // The very same (version, origin) again (another transaction) changes nothing.
  EXPECT_EQ(Apply(Put(9, 3, v, 2, "same")).rows_applied, 0u);
  EXPECT_EQ(Name(2), "from9");
}

TEST_F(ReplicationTest, TombstoneBeatsOlderUpdateAndLosesToNewer) {
  Apply(Put(9, 1, V(100), 1, "v100"));
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
  EXPECT_EQ(Apply(Txn(9, 2, V(200), {{"dog", Key(1), Tomb(V(200), 9)}})).rows_applied, 1u);
  EXPECT_EQ(Name(1), "<none>");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 0u);
  // An update older than the delete does not resurrect the record.
  EXPECT_EQ(Apply(Put(10, 1, V(150), 1, "v150")).rows_applied, 0u);
  EXPECT_EQ(Name(1), "<none>");
  // A newer one does.
  EXPECT_EQ(Apply(Put(10, 2, V(300), 1, "v300")).rows_applied, 1u);
  EXPECT_EQ(Name(1), "v300");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
  // An older tombstone loses to it.
  EXPECT_EQ(Apply(Txn(9, 3, V(250), {{"dog", Key(1), Tomb(V(250), 9)}})).rows_applied, 0u);
  EXPECT_EQ(Name(1), "v300");
  // A tombstone for a key never seen is stored (so an older write cannot create it).
  EXPECT_EQ(Apply(Txn(9, 4, V(400), {{"dog", Key(2), Tomb(V(400), 9)}})).rows_applied, 1u);
  EXPECT_EQ(Apply(Put(10, 3, V(350), 2, "late")).rows_applied, 0u);
  EXPECT_EQ(Name(2), "<none>");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
}

TEST_F(ReplicationTest, ReplayIsSkippedButTheCursorAdvances) {
  ApplyResult r = Apply(Put(9, 5, V(1000), 1, "first"));
  EXPECT_EQ(r.rows_applied, 1u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 5u);
  EXPECT_EQ(*store_->LastSequence("dev"), 1u);
  // The same origin sequence again, even with a newer row: already applied.
  r = Apply(Txn(9, 5, V(9000), {{"dog", Key(1), Rec(V(9000), 9, {{"id", 1}, {"name", "x"}})}},
                /*peer_sequence=*/11));
  EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(r.rows_applied, 0u);
  EXPECT_EQ(r.sequence, 0u);
  // An older one too, even naming a table this node lacks.
  r = Apply(Txn(9, 3, V(9000), {{"nosuch", Key(1), Tomb(V(9000), 9)}}, 12));
  EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(Name(1), "first");
  EXPECT_EQ(*store_->LastSequence("dev"), 1u);
  EXPECT_EQ(Log().size(), 1u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 12u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-c"), 0u);
  EXPECT_EQ(Vector(), "9:5 ");
}

TEST_F(ReplicationTest, LogKeepsTheWholeTransactionWithItsOriginalIdentity) {
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "local"}})}).ok());
  const uint64_t v = V(2000, 3);
  ReplicatedTxn t = Txn(9, 4, v,
                        {{"dog", Key(1), Rec(v, 9, {{"id", 1}, {"name", "loses"}})},
                         {"dog", Key(2), Rec(v, 9, {{"id", 2}, {"name", "wins"}})}});
  ApplyResult r = Apply(t);
  EXPECT_EQ(r.rows_applied, 1u);
  EXPECT_EQ(r.rows_skipped, 1u);
  auto log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].origin, 9u);
  EXPECT_EQ(log[1].origin_sequence, 4u);
  EXPECT_EQ(log[1].version, v);
  ASSERT_EQ(log[1].writes.size(), 2u);  // relayed as received, losing row included
  EXPECT_EQ(log[1].writes[0].value, t.writes[0].value);
  EXPECT_EQ(log[1].writes[1].key, t.writes[1].key);
}

TEST_F(ReplicationTest, VectorCursorAndRowsSurviveReopenTogether) {
  Apply(Put(9, 5, V(1000), 1, "one"));
  Apply(Txn(10, 2, V(1100), {{"dog", Key(2), Tomb(V(1100), 10)}}, 40));
  Reopen();
  EXPECT_EQ(Vector(), "9:5 10:2 ");
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 40u);
  EXPECT_EQ(Name(1), "one");
  EXPECT_EQ(*store_->LastSequence("dev"), 2u);
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
  // Still at-most-once after the restart.
  EXPECT_TRUE(Apply(Put(9, 5, V(5000), 1, "again")).duplicate);
  EXPECT_EQ(Name(1), "one");
}

TEST_F(ReplicationTest, ClockIsRestoredFromStoredVersionsOnReopen) {
  const uint64_t future = V(HybridClock::Millis(HybridClock().Now()) + 3600 * 1000);
  Apply(Put(9, 1, future, 1, "future"));
  Reopen();
  auto w = Write("dev", {Op(K::kUpsert, "dog", 2, {{"name", "x"}})});
  ASSERT_TRUE(w.ok());
  EXPECT_GT(w->version, future);
}

TEST_F(ReplicationTest, IndexesAndDynamicAttributesFollowReplicatedRows) {
  const uint64_t schema_before = *store_->SchemaVersion("dev");
  Apply(Txn(9, 1, V(100), {{"dog", Key(1), Rec(V(100), 9, {{"id", 1}, {"color", "red"}})}}));
  auto def = store_->GetTable("dev", "dog");
  ASSERT_TRUE(def.ok());
  EXPECT_NE(def->FindAttribute("color"), nullptr);
  EXPECT_GT(*store_->SchemaVersion("dev"), schema_before);
  auto colors = [&](const char* color) {
    std::string ids;
    auto snap = store_->Read("dev");
    IndexRange range;
    range.lower = json::value(color);
    range.upper = json::value(color);
    Status s = (*snap)->ScanIndex("dog", "color", range, [&](const Record& r) {
      ids += json::serialize(r.doc.at("id")) + ",";
      return true;
    });
    return s.ok() ? ids : s.ToString();
  };
  EXPECT_EQ(colors("red"), "1,");
  Apply(Txn(9, 2, V(200), {{"dog", Key(1), Rec(V(200), 9, {{"id", 1}, {"color", "blue"}})}}));
  EXPECT_EQ(colors("red"), "");
  EXPECT_EQ(colors("blue"), "1,");
  Apply(Txn(9, 3, V(300), {{"dog", Key(1), Tomb(V(300), 9)}}));
  EXPECT_EQ(colors("blue"), "");
  EXPECT_TRUE(store_->GetStats("dev", "dog")->last_updated_ms.has_value());
}

TEST_F(ReplicationTest, CommitListenerFiresAfterCommitsUntilRemoved) {
  std::mutex mu;
  std::vector<std::string> calls;
  uint64_t id = store_->AddCommitListener([&](const std::string& db, uint64_t seq) {
    std::lock_guard lock(mu);
    calls.push_back(db + "@" + std::to_string(seq));
  });
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "a"}})}).ok());
  Apply(Put(9, 1, V(100), 2, "b"));
  Apply(Put(9, 1, V(100), 2, "b"));  // duplicate: no new log entry, no call
  ASSERT_TRUE(store_->CreateAttribute("dev", "dog", {"size", "", true}).ok());  // schema
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(calls, (std::vector<std::string>{"dev@1", "dev@2", "dev@2"}));
  }
  store_->RemoveCommitListener(id);
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 3, {{"name", "c"}})}).ok());
  std::lock_guard lock(mu);
  EXPECT_EQ(calls.size(), 3u);
}

TEST_F(ReplicationTest, ScanRawIncludesTombstones) {
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "a"}}),
                            Op(K::kUpsert, "dog", 2, {{"name", "b"}})})
                  .ok());
  ASSERT_TRUE(Write("dev", {Op(K::kDelete, "dog", 1)}).ok());
  auto snap = store_->Read("dev");
  ASSERT_TRUE(snap.ok());
  std::string seen;
  ASSERT_TRUE((*snap)
                  ->ScanRaw("dog",
                            [&](std::string_view key, std::string_view value) {
                              RecordHeader h;
                              std::string_view doc;
                              EXPECT_TRUE(DecodeRecordHeader(value, &h, &doc).ok());
                              seen += json::serialize(DecodeKey(key).value()) +
                                      (h.tombstone ? "=dead " : "=live ");
                              return true;
                            })
                  .ok());
  EXPECT_EQ(seen, "1=dead 2=live ");
  EXPECT_TRUE((*snap)->ScanRaw("nosuch", [](auto, auto) { return true; }).IsNotFound());
}

TEST_F(ReplicationTest, CopyChunkAppliesRowsAndVectorFloorWithoutLogging) {
  // The source: another node (id 9) with its own store.
  TempDir src_dir;
  std::unique_ptr<Store> src;
  ASSERT_NO_FATAL_FAILURE(meshdb::testing::OpenTestStore(src_dir.path(), 64ull << 20, &src, 9));
  TableDef cat = Untyped("dev", "cat");
  ASSERT_TRUE(src->CreateTable(cat).ok());
  ASSERT_TRUE(src->Write(Req("dev", {Op(K::kUpsert, "cat", 1, {{"name", "tom"}, {"age", 3}}),
                                     Op(K::kUpsert, "cat", 2, {{"name", "kit"}}),
                                     Op(K::kUpsert, "cat", 3, {{"name", "old"}})}))
                  .ok());
  ASSERT_TRUE(src->Write(Req("dev", {Op(K::kDelete, "cat", 2)})).ok());

  // The subscriber already holds a newer version of key 3 (from node 11, an hour ahead),
  // and a local write of its own.
  ASSERT_TRUE(store_->CreateTable(cat).ok());
  const uint64_t future = V(HybridClock::Millis(HybridClock().Now()) + 3600 * 1000);
  Apply(Txn(11, 1, future, {{"cat", Key(3), Rec(future, 11, {{"id", 3}, {"name", "mine"}})}}));
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "cat", 4, {{"name", "local"}})}).ok());

  auto snap = src->Read("dev");
  ASSERT_TRUE(snap.ok());
  CopyChunk chunk;
  chunk.database = "dev";
  chunk.table_def = src->GetTable("dev", "cat").value();
  ASSERT_TRUE((*snap)
                  ->ScanRaw("cat",
                            [&](std::string_view k, std::string_view v) {
                              chunk.rows.push_back({std::string(k), std::string(v)});
                              return true;
                            })
                  .ok());
  chunk.vector_floor = (*snap)->ReadVersionVector().value();
  chunk.peer_name = "node9";
  chunk.peer_sequence = (*snap)->LastSequence().value();
  EXPECT_EQ(VectorString(chunk.vector_floor), "9:2 ");
  const uint64_t seq_before = *store_->LastSequence("dev");

  auto r = store_->ApplyCopyChunk(chunk);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows_applied, 2u);                       // 1 and the tombstone of 2
  EXPECT_EQ(r->rows_skipped, 1u);                       // 3: ours is newer
  EXPECT_EQ(*store_->LastSequence("dev"), seq_before);  // not logged
  EXPECT_EQ(Keys("dev", "cat"), "[1,3,4]");
  EXPECT_EQ(Get("dev", "cat", 3)->doc.at("name"), "mine");
  EXPECT_EQ(Get("dev", "cat", 1)->doc.at("age"), 3);
  EXPECT_EQ(store_->GetStats("dev", "cat")->record_count, 3u);
  auto cat_def = store_->GetTable("dev", "cat");
  ASSERT_TRUE(cat_def.ok());
  EXPECT_NE(cat_def->FindAttribute("age"), nullptr);
  EXPECT_EQ(Vector(), "7:1 9:2 11:1 ");
  EXPECT_EQ(*store_->PeerCursor("dev", "node9"), 2u);
  // The tombstone is kept, so a stale replicated write cannot bring key 2 back.
  int tombstones = 0;
  ASSERT_TRUE(store_->Read("dev")
                  .value()
                  ->ScanRaw("cat",
                            [&](auto, std::string_view v) {
                              RecordHeader h;
                              std::string_view doc;
                              EXPECT_TRUE(DecodeRecordHeader(v, &h, &doc).ok());
                              tombstones += h.tombstone ? 1 : 0;
                              return true;
                            })
                  .ok());
  EXPECT_EQ(tombstones, 1);
  // Streaming from the snapshot's vector: replays of what the copy covered are duplicates.
  ReplicatedTxn replay = Put(9, 2, V(1), 1, "stale");
  EXPECT_TRUE(Apply(replay).duplicate);
}

// A partial transaction: some of the origin's writes were filtered on the way.
ReplicatedTxn Partial(ReplicatedTxn t) {
  t.partial = true;
  return t;
}

TEST_F(ReplicationTest, PartialTxnThatWinsIsLoggedAsPartialWithoutAdvancingTheVector) {
  ReplicatedTxn t = Partial(Put(9, 3, V(1000), 1, "part"));
  ApplyResult r = Apply(t);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.rows_applied, 1u);
  EXPECT_EQ(r.sequence, 1u);
  EXPECT_EQ(Name(1), "part");
  auto log = Log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].partial);
  EXPECT_EQ(log[0].origin, 9u);
  EXPECT_EQ(log[0].origin_sequence, 3u);
  EXPECT_EQ(log[0].version, V(1000));
  ASSERT_EQ(log[0].writes.size(), 1u);
  EXPECT_EQ(log[0].writes[0].value, t.writes[0].value);
  EXPECT_EQ(Vector(), "");  // vector[9] not advanced
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 3u);
}

TEST_F(ReplicationTest, PartialTxnWhoseRowsAllLoseIsNotLoggedButMovesTheCursor) {
  EXPECT_EQ(Apply(Partial(Put(9, 3, V(1000), 1, "part"))).sequence, 1u);
  // The same partial transaction again (e.g. through another peer): nothing wins.
  ReplicatedTxn again = Partial(Put(9, 3, V(1000), 1, "part"));
  again.peer_sequence = 20;
  ApplyResult r = Apply(again);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.rows_applied, 0u);
  EXPECT_EQ(r.rows_skipped, 1u);
  EXPECT_EQ(r.sequence, 0u);
  EXPECT_EQ(*store_->LastSequence("dev"), 1u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 20u);
  // An older partial one, and one with no writes at all: not logged either.
  r = Apply(Partial(Put(10, 1, V(500), 1, "older")));
  EXPECT_EQ(r.sequence, 0u);
  r = Apply(Partial(Txn(10, 2, V(600), {}, 30)));
  EXPECT_EQ(r.sequence, 0u);
  EXPECT_EQ(*store_->LastSequence("dev"), 1u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 30u);
  EXPECT_EQ(Name(1), "part");
  EXPECT_EQ(Vector(), "");
}

TEST_F(ReplicationTest, CompleteTxnAfterItsPartialCopyIsStillApplied) {
  const uint64_t v = V(1000);
  ReplicatedTxn complete = Txn(9, 3, v,
                               {{"dog", Key(1), Rec(v, 9, {{"id", 1}, {"name", "one"}})},
                                {"dog", Key(2), Rec(v, 9, {{"id", 2}, {"name", "two"}})}});
  ReplicatedTxn partial = complete;
  partial.partial = true;
  partial.writes.pop_back();  // key 2 was filtered on the way
  EXPECT_EQ(Apply(partial).rows_applied, 1u);
  EXPECT_EQ(Name(2), "<none>");

  complete.peer_name = "peer-c";
  complete.peer_sequence = 50;
  ApplyResult r = Apply(complete);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.rows_applied, 1u);  // key 2; key 1 is the same write
  EXPECT_EQ(r.rows_skipped, 1u);
  EXPECT_EQ(r.sequence, 2u);
  EXPECT_EQ(Name(2), "two");
  auto log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_TRUE(log[0].partial);
  EXPECT_FALSE(log[1].partial);
  EXPECT_EQ(log[1].writes.size(), 2u);
  EXPECT_EQ(Vector(), "9:3 ");
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-c"), 50u);

  // A third delivery is a duplicate, partial or not.
  complete.peer_sequence = 51;
  r = Apply(complete);
  EXPECT_TRUE(r.duplicate);
  EXPECT_EQ(r.sequence, 0u);
  partial.peer_sequence = 60;
  EXPECT_TRUE(Apply(partial).duplicate);
  EXPECT_EQ(*store_->LastSequence("dev"), 2u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-c"), 51u);
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 60u);
}

TEST_F(ReplicationTest, LoggedChunkAppendsItsWinnersAsOneLocalTransaction) {
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "local"}})}).ok());
  const uint64_t local_version = Get("dev", "dog", 1)->version;
  const uint64_t old = V(1000);
  CopyChunk chunk;
  chunk.database = "dev";
  chunk.table = "dog";
  chunk.log_rows = true;
  chunk.rows = {{Key(1), Rec(old, 9, {{"id", 1}, {"name", "stale"}})},  // loses
                {Key(2), Rec(old, 9, {{"id", 2}, {"name", "two"}})},
                {Key(3), Tomb(old, 10)}};
  auto r = store_->ApplyCopyChunk(chunk);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows_applied, 2u);
  EXPECT_EQ(r->rows_skipped, 1u);
  EXPECT_EQ(r->sequence, 2u);
  EXPECT_EQ(Name(1), "local");
  EXPECT_EQ(Name(2), "two");
  auto log = Log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].sequence, 2u);
  EXPECT_EQ(log[1].origin, kLocal);
  EXPECT_EQ(log[1].origin_sequence, 2u);
  EXPECT_FALSE(log[1].partial);
  EXPECT_GT(log[1].version, local_version);  // a new HLC version
  ASSERT_EQ(log[1].writes.size(), 2u);
  EXPECT_EQ(log[1].writes[0].table, "dog");
  EXPECT_EQ(log[1].writes[0].key, Key(2));
  EXPECT_EQ(log[1].writes[0].value, chunk.rows[1].value);  // bytes as received
  EXPECT_EQ(log[1].writes[1].key, Key(3));
  EXPECT_EQ(log[1].writes[1].value, chunk.rows[2].value);
  EXPECT_EQ(Vector(), "7:2 ");  // row origins are not vector entries

  // The same chunk again: nothing wins, nothing is logged.
  r = store_->ApplyCopyChunk(chunk);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows_applied, 0u);
  EXPECT_EQ(r->sequence, 0u);
  EXPECT_EQ(*store_->LastSequence("dev"), 2u);
  EXPECT_EQ(Vector(), "7:2 ");
  // Local writes keep dense origin sequences after it.
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 4, {{"name", "d"}})}).ok());
  log = Log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[2].origin_sequence, 3u);
}

TEST_F(ReplicationTest, UnloggedChunkStillLogsNothing) {
  CopyChunk chunk;
  chunk.database = "dev";
  chunk.table = "dog";
  chunk.rows = {{Key(2), Rec(V(1000), 9, {{"id", 2}, {"name", "two"}})}};
  auto r = store_->ApplyCopyChunk(chunk);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows_applied, 1u);
  EXPECT_EQ(r->sequence, 0u);
  EXPECT_EQ(*store_->LastSequence("dev"), 0u);
  EXPECT_EQ(Vector(), "");
}

TEST_F(ReplicationTest, PeerViewIsPersistedWithoutMovingTheCursor) {
  ASSERT_TRUE(store_->SetPeerCursor("dev", "node9", 17).ok());
  auto none = store_->PeerView("dev", "node9");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  CopyChunk chunk;
  chunk.database = "dev";
  chunk.peer_name = "node9";
  chunk.peer_view = std::string("rules-v1\0bytes", 14);
  ASSERT_TRUE(store_->ApplyCopyChunk(chunk).ok());
  EXPECT_EQ(*store_->PeerCursor("dev", "node9"), 17u);
  auto view = store_->PeerView("dev", "node9");
  ASSERT_TRUE(view.ok());
  ASSERT_TRUE(view->has_value());
  EXPECT_EQ(**view, std::string("rules-v1\0bytes", 14));
  EXPECT_FALSE(store_->PeerView("dev", "node10")->has_value());

  // With a sequence, the cursor moves and the view is replaced in the same commit.
  chunk.peer_view = "rules-v2";
  chunk.peer_sequence = 30;
  ASSERT_TRUE(store_->ApplyCopyChunk(chunk).ok());
  EXPECT_EQ(*store_->PeerCursor("dev", "node9"), 30u);
  EXPECT_EQ(store_->PeerView("dev", "node9")->value_or(""), "rules-v2");
  // Without a view, a chunk with peer_sequence 0 still sets the cursor (unchanged behaviour).
  ASSERT_TRUE(store_->SetPeerCursor("dev", "node9", 0).ok());
  EXPECT_EQ(*store_->PeerCursor("dev", "node9"), 0u);
  EXPECT_EQ(store_->PeerView("dev", "node9")->value_or(""), "rules-v2");

  Reopen();
  EXPECT_EQ(store_->PeerView("dev", "node9")->value_or(""), "rules-v2");
  EXPECT_TRUE(store_->PeerView("nosuch", "node9").status().IsNotFound());
}

TEST_F(ReplicationTest, ForgetPeerDeletesItsView) {
  for (const char* peer : {"node9", "node10"}) {
    CopyChunk chunk;
    chunk.database = "dev";
    chunk.peer_name = peer;
    chunk.peer_view = std::string("view-") + peer;
    ASSERT_TRUE(store_->ApplyCopyChunk(chunk).ok());
  }
  store_->ForgetPeer("node9");  // never confirmed anything: the view still goes
  Reopen();                     // drains the writer queue first
  EXPECT_FALSE(store_->PeerView("dev", "node9")->has_value());
  EXPECT_EQ(store_->PeerView("dev", "node10")->value_or(""), "view-node10");
}

TEST_F(ReplicationTest, VersionVectorFloorMergesByMaximum) {
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "a"}})}).ok());
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 2, {{"name", "b"}})}).ok());
  ASSERT_TRUE(store_->SetVersionVectorFloor("dev", {{kLocal, 1}, {9, 5}}).ok());
  EXPECT_EQ(Vector(), "7:2 9:5 ");
  ASSERT_TRUE(store_->SetVersionVectorFloor("dev", {{9, 4}, {11, 1}}).ok());
  EXPECT_EQ(Vector(), "7:2 9:5 11:1 ");
  EXPECT_TRUE(store_->SetVersionVectorFloor("nodb", {{9, 1}}).IsNotFound());
  // Our own writes came back from a peer with higher sequences (a restored node): new local
  // transactions continue after them, so peers never mistake them for replays.
  ASSERT_TRUE(store_->SetVersionVectorFloor("dev", {{kLocal, 100}}).ok());
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 3, {{"name", "c"}})}).ok());
  EXPECT_EQ(Log().back().origin_sequence, 101u);
  ASSERT_TRUE(store_->SetPeerCursor("dev", "p", 9).ok());
  EXPECT_EQ(*store_->PeerCursor("dev", "p"), 9u);
}

TEST_F(ReplicationTest, FindSequenceAtOrAfterTime) {
  {
    auto snap = store_->Read("dev");
    EXPECT_EQ(*(*snap)->FindSequenceAtOrAfterTime(0), 1u);  // empty log
  }
  for (uint64_t i = 1; i <= 9; ++i) Apply(Put(9, i, V(1000 * i, 2), 1, "x"));
  auto snap = store_->Read("dev");
  auto find = [&](uint64_t ms) { return (*snap)->FindSequenceAtOrAfterTime(ms).value(); };
  EXPECT_EQ(find(0), 1u);
  EXPECT_EQ(find(1000), 1u);
  EXPECT_EQ(find(1001), 2u);
  EXPECT_EQ(find(3000), 3u);
  EXPECT_EQ(find(6500), 7u);
  EXPECT_EQ(find(9000), 9u);
  EXPECT_EQ(find(9001), 10u);  // after the end: stream what comes next
  EXPECT_EQ(*(*snap)->LastSequence(), 9u);
}

TEST_F(ReplicationTest, ApplyTableDefCreatesOrExtendsAndIsIdempotent) {
  TableDef def = Untyped("dev", "cat");
  def.attributes = {{"id", "", true}, {"name", "", true}};
  const uint64_t v0 = *store_->SchemaVersion("dev");
  ASSERT_TRUE(store_->ApplyTableDef(def).ok());
  const uint64_t v1 = *store_->SchemaVersion("dev");
  EXPECT_GT(v1, v0);
  auto names = [&] {
    std::string s;
    auto table = store_->GetTable("dev", "cat");
    if (!table.ok()) return table.status().ToString();
    for (const auto& a : table->attributes) s += a.name + ",";
    return s;
  };
  EXPECT_EQ(names(), "id,__createdtime__,__updatedtime__,name,");
  ASSERT_TRUE(store_->ApplyTableDef(def).ok());
  EXPECT_EQ(*store_->SchemaVersion("dev"), v1);  // nothing changed, nothing bumped
  def.attributes = {{"id", "", true}, {"age", "Int", false}};
  ASSERT_TRUE(store_->ApplyTableDef(def).ok());  // adds age, keeps name
  EXPECT_EQ(names(), "id,__createdtime__,__updatedtime__,name,age,");
  auto cat = store_->GetTable("dev", "cat");
  ASSERT_TRUE(cat.ok());
  ASSERT_NE(cat->FindAttribute("age"), nullptr);
  EXPECT_EQ(cat->FindAttribute("age")->type, "Int");
  EXPECT_GT(*store_->SchemaVersion("dev"), v1);
  // A new database too.
  ASSERT_TRUE(store_->ApplyTableDef(Untyped("other", "t")).ok());
  EXPECT_TRUE(store_->GetTable("other", "t").ok());
  Reopen();
  EXPECT_EQ(names(), "id,__createdtime__,__updatedtime__,name,age,");
  EXPECT_GT(*store_->SchemaVersion("dev"), v1);
}

TEST_F(ReplicationTest, SchemaChangesBumpTheSchemaVersion) {
  const uint64_t v0 = *store_->SchemaVersion("dev");
  EXPECT_GT(v0, 0u);  // CreateTable in SetUp
  ASSERT_TRUE(store_->CreateAttribute("dev", "dog", {"size", "", true}).ok());
  EXPECT_EQ(*store_->SchemaVersion("dev"), v0 + 1);
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"size", 2}})}).ok());
  EXPECT_EQ(*store_->SchemaVersion("dev"), v0 + 1);  // no new attribute
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"weight", 2}})}).ok());
  EXPECT_EQ(*store_->SchemaVersion("dev"), v0 + 2);  // "weight" joined the table
  ASSERT_TRUE(store_->DropTable("dev", "dog").ok());
  EXPECT_EQ(*store_->SchemaVersion("dev"), v0 + 3);
}

TEST_F(ReplicationTest, MissingTableIsCreatedFromTableDefsAtomically) {
  ReplicatedTxn t = Txn(9, 1, V(100), {{"bird", Key("b1"), Rec(V(100), 9, {{"bid", "b1"}})}});
  auto r = store_->ApplyReplicated(t);
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
  EXPECT_EQ(Vector(), "");  // nothing recorded
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 0u);

  // With the definition but a malformed row: still nothing, not even the table.
  TableDef bird = Untyped("dev", "bird", "bid");
  ReplicatedTxn bad = t;
  bad.table_defs = {bird};
  bad.writes.push_back({"bird", Key("b2"), "garbage"});
  r = store_->ApplyReplicated(bad);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(store_->GetTable("dev", "bird").status().IsNotFound());
  EXPECT_EQ(Vector(), "");

  t.table_defs = {bird};
  EXPECT_EQ(Apply(t).rows_applied, 1u);
  auto def = store_->GetTable("dev", "bird");
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->primary_key, "bid");
  auto rec = Get("dev", "bird", "b1");
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(store_->GetStats("dev", "bird")->record_count, 1u);
  EXPECT_EQ(Vector(), "9:1 ");

  // A database this node lacks is created when definitions come along.
  ReplicatedTxn other = t;
  other.database = "newdb";
  other.table_defs[0].database = "newdb";
  EXPECT_EQ(Apply(other).rows_applied, 1u);
  EXPECT_TRUE(Get("newdb", "bird", "b1").has_value());
  other.table_defs.clear();
  other.database = "nodb";
  EXPECT_TRUE(store_->ApplyReplicated(other).status().IsNotFound());

  Reopen();
  EXPECT_TRUE(Get("dev", "bird", "b1").has_value());
  EXPECT_EQ(store_->GetStats("dev", "bird")->record_count, 1u);
}

TEST_F(ReplicationTest, LocalAndReplicatedWritesShareAGroupCommit) {
  // Queue both without waiting, so the writer can fold them into one batch; each answers.
  std::promise<Result<WriteResult>> local;
  std::promise<Result<ApplyResult>> remote;
  store_->WriteAsync(Req("dev", {Op(K::kUpsert, "dog", 1, {{"name", "l"}})}),
                     [&](Result<WriteResult> r) { local.set_value(std::move(r)); });
  store_->ApplyReplicatedAsync(Put(9, 1, V(100), 2, "r"),
                               [&](Result<ApplyResult> r) { remote.set_value(std::move(r)); });
  auto l = local.get_future().get();
  auto r = remote.get_future().get();
  ASSERT_TRUE(l.ok());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Name(1), "l");
  EXPECT_EQ(Name(2), "r");
  EXPECT_EQ(Vector(), "7:1 9:1 ");
  EXPECT_EQ(*store_->LastSequence("dev"), 2u);
}

TEST_F(ReplicationTest, DroppedTableCanBeRecreatedEmpty) {
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 1, {{"name", "a"}})}).ok());
  auto before = store_->Read("dev");
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(store_->DropTable("dev", "dog").ok());
  EXPECT_TRUE((*before)->ScanTable("dog", [](const Record&) { return true; }).IsNotFound());
  ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
  EXPECT_EQ(Keys("dev", "dog"), "[]");
  ASSERT_TRUE(Write("dev", {Op(K::kUpsert, "dog", 2, {{"name", "b"}})}).ok());
  EXPECT_EQ(Keys("dev", "dog"), "[2]");
  before->reset();
  Reopen();
  EXPECT_EQ(Keys("dev", "dog"), "[2]");
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 1u);
}

}  // namespace
}  // namespace meshdb::storage::testing

namespace meshdb::storage::testing {
namespace {

// A link's transactions queued behind one that fails are not applied, so its cursor never
// moves past the failed one (outside testing saw peers resume past a poisoned transaction).
TEST_F(ReplicationTest, TransactionsQueuedBehindAFailedOneOnTheSameChainAreNotApplied) {
  auto chain = std::make_shared<ApplyChain>();
  ReplicatedTxn good_before = Put(9, 1, V(100), 1, "a");
  ReplicatedTxn bad = Txn(9, 2, V(101), {{"dog", Key(2), Rec(V(101), 9, {}) + "not json"}});
  ReplicatedTxn good_after = Put(9, 3, V(102), 3, "c");
  ReplicatedTxn other_link = Put(5, 1, V(103), 4, "d");
  other_link.peer_name = "peer-c";
  for (ReplicatedTxn* t : {&good_before, &bad, &good_after}) t->chain = chain;
  // Queued back to back, so the writer may take them into one group commit.
  std::vector<std::promise<Result<ApplyResult>>> done(4);
  std::vector<ReplicatedTxn> txns;
  txns.push_back(std::move(good_before));
  txns.push_back(std::move(bad));
  txns.push_back(std::move(good_after));
  txns.push_back(std::move(other_link));
  for (size_t i = 0; i < txns.size(); ++i) {
    store_->ApplyReplicatedAsync(
        std::move(txns[i]), [&done, i](Result<ApplyResult> r) { done[i].set_value(std::move(r)); });
  }
  auto first = done[0].get_future().get();
  auto failed = done[1].get_future().get();
  auto behind = done[2].get_future().get();
  auto other = done[3].get_future().get();
  EXPECT_TRUE(first.ok());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kCorruption);
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(behind.status().code(), Status::Code::kConflict) << behind.status().ToString();
  EXPECT_NE(behind.status().message().find("transaction 2 "), std::string::npos)
      << behind.status().message();
  EXPECT_TRUE(other.ok()) << "another link's chain is not affected";
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 1u);
  EXPECT_EQ(Name(1), "a");
  EXPECT_FALSE(Get("dev", "dog", 3).has_value());
  EXPECT_EQ(Name(4), "d");
  EXPECT_EQ(Vector(), "5:1 9:1 ");

  // A new link (a new chain) starts clean: the same transactions apply in order.
  auto fresh = std::make_shared<ApplyChain>();
  ReplicatedTxn retry = Put(9, 2, V(101), 2, "b");
  retry.chain = fresh;
  ASSERT_TRUE(store_->ApplyReplicated(std::move(retry)).ok());
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 2u);
}

// A transaction refused before it reached the writer (the write queue was full) breaks its
// link's chain too: nothing of the chain the writer had not applied yet applies, neither what
// was queued before it nor what the link enqueues after it.
TEST_F(ReplicationTest, ATransactionRefusedForAFullQueueBreaksItsChain) {
  Reopen([](StoreOptions& options) { options.max_queued_writes = 1; });
  ASSERT_NE(store_, nullptr);

  // Hold the writer inside a commit listener, so the queue fills.
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  store_->AddCommitListener([&](const std::string&, uint64_t) {
    if (!first.exchange(false)) return;
    entered.set_value();
    released.wait();
  });
  std::promise<Result<WriteResult>> local;
  store_->WriteAsync(Req("dev", {Op(K::kUpsert, "dog", 1, {{"name", "l"}})}),
                     [&](Result<WriteResult> r) { local.set_value(std::move(r)); });
  entered.get_future().wait();

  auto chain = std::make_shared<ApplyChain>();
  std::vector<std::promise<Result<ApplyResult>>> done(3);
  auto apply = [&](size_t i, ReplicatedTxn t) {
    t.chain = chain;
    store_->ApplyReplicatedAsync(
        std::move(t), [&done, i](Result<ApplyResult> r) { done[i].set_value(std::move(r)); });
  };
  apply(0, Put(9, 1, V(100), 10, "a"));  // queued
  apply(1, Put(9, 2, V(101), 11, "b"));  // refused: the queue is full
  auto refused = done[1].get_future().get();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  release.set_value();
  ASSERT_TRUE(local.get_future().get().ok());
  auto queued = done[0].get_future().get();
  EXPECT_EQ(queued.status().code(), Status::Code::kConflict) << queued.status().ToString();
  apply(2, Put(9, 3, V(102), 12, "c"));  // after the refused one: must not apply
  auto behind = done[2].get_future().get();
  ASSERT_FALSE(behind.ok());
  EXPECT_EQ(behind.status().code(), Status::Code::kConflict) << behind.status().ToString();
  // The link's next connection resumes from before all three.
  EXPECT_EQ(*store_->PeerCursor("dev", "peer-b"), 0u);
  EXPECT_FALSE(Get("dev", "dog", 10).has_value());
  EXPECT_FALSE(Get("dev", "dog", 12).has_value());
}

}  // namespace
}  // namespace meshdb::storage::testing
