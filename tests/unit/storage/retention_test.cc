// Log retention (TrimLog, peer confirmations, log_start, tombstone purge) and range hashes.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/hlc.h"
#include "storage/key_codec.h"
#include "storage/range_hash.h"
#include "storage/record_codec.h"
#include "test_util.h"

namespace meshdb::storage::testing {
namespace {

namespace json = boost::json;
using K = WriteKind;

class RetentionTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
  }
  void WriteDogs(int from, int to, const std::string& pad = "") {
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(
          Write("dev", {Op(K::kUpsert, "dog", i, {{"name", "d" + std::to_string(i) + pad}})}).ok());
    }
  }
  uint64_t LogStart() {
    auto snap = store_->Read("dev");
    EXPECT_TRUE(snap.ok());
    return *(*snap)->LogStart();
  }
  uint64_t FirstLogged() {
    auto snap = store_->Read("dev");
    uint64_t first = 0;
    EXPECT_TRUE((*snap)
                    ->ScanLog(1,
                              [&](const LogEntry& e) {
                                first = e.sequence;
                                return false;
                              })
                    .ok());
    return first;
  }
  RetentionPolicy ByTimeEverything() {
    RetentionPolicy p;
    p.now_ms = HybridClock::Millis(~0ull >> 1);  // far future: every entry is old
    p.max_age_ms = 1;
    return p;
  }
};

TEST_F(RetentionTest, FreshLogStartsAtOne) {
  WriteDogs(0, 3);
  EXPECT_EQ(LogStart(), 1u);
  auto r = store_->TrimLog("dev", RetentionPolicy{});  // no limits: nothing goes
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entries_removed, 0u);
  EXPECT_EQ(LogStart(), 1u);
}

TEST_F(RetentionTest, TimeLimitTrimsAllButTheLastWithoutPeers) {
  WriteDogs(0, 10);  // sequences 1..10 (table creation does not log)
  auto last = store_->LastSequence("dev");
  ASSERT_TRUE(last.ok());
  auto r = store_->TrimLog("dev", ByTimeEverything());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->entries_removed, *last - 1);
  EXPECT_EQ(r->log_start, *last);
  EXPECT_EQ(LogStart(), *last);
  EXPECT_EQ(FirstLogged(), *last);
  EXPECT_EQ(*store_->LastSequence("dev"), *last);
  // Young entries stay.
  RetentionPolicy young;
  young.now_ms = HybridClock::Millis(HybridClock::Pack(0, 0)) + 1;
  young.max_age_ms = 1000000;
  EXPECT_EQ(store_->TrimLog("dev", young)->entries_removed, 0u);
}

TEST_F(RetentionTest, TimeLimitNeverPassesAConfirmedPeer) {
  WriteDogs(0, 10);
  store_->NotePeerConfirmed("dev", "node-b", 4);
  store_->NotePeerConfirmed("dev", "node-c", 7);
  store_->NotePeerConfirmed("dev", "node-b", 2);  // lower: ignored (maximum)
  auto r = store_->TrimLog("dev", ByTimeEverything());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->entries_removed, 4u);  // 1..4: node-b confirmed through 4
  EXPECT_EQ(LogStart(), 5u);
  EXPECT_TRUE(r->peers_passed.empty());
  // Confirmed positions survive a restart (persisted by the trim).
  Reopen();
  auto pos = store_->PeerConfirmedPositions("dev");
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->at("node-b"), 4u);
  EXPECT_EQ(pos->at("node-c"), 7u);
  EXPECT_EQ(LogStart(), 5u);
  store_->NotePeerConfirmed("dev", "node-b", 9);
  EXPECT_EQ(store_->TrimLog("dev", ByTimeEverything())->entries_removed, 3u);  // 5..7 (node-c)
  EXPECT_EQ(LogStart(), 8u);
}

TEST_F(RetentionTest, NewPeerIsPersistedWithoutATrim) {
  WriteDogs(0, 3);
  store_->NotePeerConfirmed("dev", "node-b", 2);
  Reopen();  // drains the writer queue first
  auto pos = store_->PeerConfirmedPositions("dev");
  ASSERT_TRUE(pos.ok());
  ASSERT_EQ(pos->count("node-b"), 1u);
  EXPECT_EQ(pos->at("node-b"), 2u);
  EXPECT_EQ(store_->TrimLog("dev", ByTimeEverything())->entries_removed, 2u);  // 1, 2: not 3
}

// A peer can subscribe before the database reaches us (its schema comes with the copy that
// follows). The database's creation makes the peer known, durably, before any row is written.
TEST_F(RetentionTest, APeerThatSubscribedBeforeTheDatabaseExistedIsKnownOnceItIsCreated) {
  store_->NotePeerConfirmed("later", "node-b", 0);
  store_->NotePeerConfirmed("later", "node-b", 0);  // again, as a later scan would
  EXPECT_FALSE(store_->PeerConfirmedPositions("later").ok());
  ASSERT_TRUE(store_->CreateTable(Untyped("later", "cat")).ok());
  auto pos = store_->PeerConfirmedPositions("later");
  ASSERT_TRUE(pos.ok());
  ASSERT_EQ(pos->count("node-b"), 1u);
  EXPECT_EQ(pos->at("node-b"), 0u);
  Reopen();  // persisted (by the creation: no trim ran)
  ASSERT_EQ(store_->PeerConfirmedPositions("later")->count("node-b"), 1u);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(Write("later", {Op(K::kUpsert, "cat", i, {{"pad", std::string(200, 'x')}})}).ok());
  }
  RetentionPolicy cap;
  cap.max_bytes = 16 * 1024;
  auto r = store_->TrimLog("later", cap);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->peers_passed.size(), 1u);  // it is counted and warned about when passed
  EXPECT_EQ(r->peers_passed[0], "node-b");
  // Other databases did not adopt it.
  EXPECT_EQ(store_->PeerConfirmedPositions("dev")->count("node-b"), 0u);
}

TEST_F(RetentionTest, APeerForgottenBeforeTheDatabaseExistedIsNotAdopted) {
  store_->NotePeerConfirmed("later", "node-b", 0);
  store_->NotePeerConfirmed("later", "node-c", 0);
  store_->ForgetPeer("node-b");
  ASSERT_TRUE(store_->CreateTable(Untyped("later", "cat")).ok());
  auto pos = store_->PeerConfirmedPositions("later");
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->count("node-b"), 0u);
  EXPECT_EQ(pos->count("node-c"), 1u);
}

TEST_F(RetentionTest, ForgottenPeerNoLongerHoldsTheLog) {
  WriteDogs(0, 5);
  store_->NotePeerConfirmed("dev", "node-b", 1);
  ASSERT_TRUE(store_->TrimLog("dev", ByTimeEverything()).ok());  // persists node-b
  EXPECT_EQ(LogStart(), 2u);
  store_->ForgetPeer("node-b");
  Reopen();
  EXPECT_EQ(store_->PeerConfirmedPositions("dev")->count("node-b"), 0u);
  EXPECT_EQ(store_->TrimLog("dev", ByTimeEverything())->entries_removed, 3u);  // 2..4
}

TEST_F(RetentionTest, SizeCapForcesPastUnconfirmedPeers) {
  WriteDogs(0, 300, std::string(200, 'x'));
  store_->NotePeerConfirmed("dev", "node-b", 1);
  // Time alone: node-b holds the log.
  EXPECT_EQ(store_->TrimLog("dev", ByTimeEverything())->entries_removed, 1u);
  RetentionPolicy cap;
  cap.max_bytes = 16 * 1024;
  auto r = store_->TrimLog("dev", cap);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->entries_removed, 100u);
  ASSERT_EQ(r->peers_passed.size(), 1u);
  EXPECT_EQ(r->peers_passed[0], "node-b");
  EXPECT_GT(LogStart(), 100u);
  EXPECT_EQ(FirstLogged(), LogStart());
  auto stats = store_->GetStats("dev", "dog");
  // Converges under the cap within a few rounds.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->TrimLog("dev", cap).ok());
  EXPECT_LE(store_->GetStats("dev", "dog")->log_size_bytes, 24u * 1024);
  (void)stats;
}

TEST_F(RetentionTest, TombstonesPurgedOnlyBelowTheLog) {
  WriteDogs(0, 3);
  ASSERT_TRUE(Write("dev", {Op(K::kDelete, "dog", 1)}).ok());
  WriteDogs(10, 12);
  auto count_rows = [&] {
    auto snap = store_->Read("dev");
    int n = 0;
    EXPECT_TRUE((*snap)
                    ->ScanRaw("dog",
                              [&](std::string_view, std::string_view) {
                                ++n;
                                return true;
                              })
                    .ok());
    return n;
  };
  EXPECT_EQ(count_rows(), 5);  // 4 live + the tombstone
  // A peer still behind the delete: the tombstone stays.
  store_->NotePeerConfirmed("dev", "node-b", 3);
  ASSERT_TRUE(store_->TrimLog("dev", ByTimeEverything()).ok());
  EXPECT_EQ(LogStart(), 4u);
  EXPECT_EQ(count_rows(), 5);
  // Everyone confirmed everything: the log drops below the delete, the tombstone goes.
  store_->NotePeerConfirmed("dev", "node-b", 100);
  ASSERT_TRUE(store_->TrimLog("dev", ByTimeEverything()).ok());
  EXPECT_EQ(count_rows(), 4);
  EXPECT_FALSE(Get("dev", "dog", 1).has_value());
}

TEST_F(RetentionTest, NoTombstonePurgeWhileAPeerIsOutOfTheLog) {
  WriteDogs(0, 3);
  ASSERT_TRUE(Write("dev", {Op(K::kDelete, "dog", 1)}).ok());
  WriteDogs(10, 200, std::string(200, 'y'));
  store_->NotePeerConfirmed("dev", "node-b", 1);
  RetentionPolicy cap;
  cap.max_bytes = 8 * 1024;
  auto r = store_->TrimLog("dev", cap);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->peers_passed.empty());
  auto snap = store_->Read("dev");
  bool tomb = false;
  ASSERT_TRUE((*snap)
                  ->ScanRaw("dog",
                            [&](std::string_view, std::string_view v) {
                              RecordHeader h;
                              std::string_view j;
                              EXPECT_TRUE(DecodeRecordHeader(v, &h, &j).ok());
                              tomb |= h.tombstone;
                              return true;
                            })
                  .ok());
  EXPECT_TRUE(tomb);
}

// --- Range hashes ---

class RangeHashTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open(TempDir& dir, uint32_t id) {
    StoreOptions o;
    o.database_dir = dir.path();
    o.durable = false;
    o.map_size_bytes = 256ull << 20;
    o.local_node_id = id;
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok());
    auto store = std::move(s).value();
    EXPECT_TRUE(store->CreateTable(Untyped("dev", "dog")).ok());
    return store;
  }
  static TableHash Hash(Store& s, uint32_t buckets) {
    auto snap = s.Read("dev");
    auto h = HashTable(**snap, "dog", buckets);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return *h;
  }
  // Copies every raw row of a's dog table into b (LWW).
  static void CopyAll(Store& a, Store& b) {
    CopyChunk chunk;
    chunk.database = "dev";
    chunk.table = "dog";
    auto snap = a.Read("dev");
    ASSERT_TRUE((*snap)
                    ->ScanRaw("dog",
                              [&](std::string_view k, std::string_view v) {
                                chunk.rows.push_back(RawRow{std::string(k), std::string(v)});
                                return true;
                              })
                    .ok());
    ASSERT_TRUE(b.ApplyCopyChunk(std::move(chunk)).ok());
  }
  TempDir dir_a_, dir_b_;
};

TEST_F(RangeHashTest, EqualIffSameContents) {
  auto a = Open(dir_a_, 1);
  auto b = Open(dir_b_, 2);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(a->Write(Req("dev", {Op(K::kUpsert, "dog", i, {{"n", i}})})).ok());
  }
  ASSERT_TRUE(a->Write(Req("dev", {Op(K::kDelete, "dog", 5)})).ok());
  EXPECT_NE(Hash(*a, 64).hash, Hash(*b, 64).hash);
  CopyAll(*a, *b);
  TableHash ha = Hash(*a, 64), hb = Hash(*b, 64);
  EXPECT_EQ(ha.hash, hb.hash);
  EXPECT_EQ(ha.buckets, hb.buckets);
  EXPECT_EQ(ha.rows, 200u);
  EXPECT_EQ(ha.live_rows, 199u);
  EXPECT_NE(ha.live_hash, ha.hash);  // the tombstone counts only in the full hash
  // Rows per bucket (what a merge's total is counted from): every row, tombstones included.
  ASSERT_EQ(ha.bucket_rows.size(), 64u);
  uint64_t counted = 0;
  for (uint32_t n : ha.bucket_rows) counted += n;
  EXPECT_EQ(counted, 200u);
  EXPECT_EQ(ha.bucket_rows, hb.bucket_rows);

  // One row changes on b: exactly its bucket differs.
  ASSERT_TRUE(b->Write(Req("dev", {Op(K::kUpsert, "dog", 42, {{"n", -1}})})).ok());
  hb = Hash(*b, 64);
  EXPECT_NE(ha.hash, hb.hash);
  EXPECT_NE(ha.live_hash, hb.live_hash);
  int differing = 0;
  for (uint32_t i = 0; i < 64; ++i) differing += ha.buckets[i] != hb.buckets[i];
  EXPECT_EQ(differing, 1);
  EXPECT_NE(ha.buckets[KeyBucket(EncodeKey(json::value(42)).value(), 64)],
            hb.buckets[KeyBucket(EncodeKey(json::value(42)).value(), 64)]);
  // Copy back: LWW converges both ways, hashes equal again.
  CopyAll(*b, *a);
  EXPECT_EQ(Hash(*a, 64).buckets, Hash(*b, 64).buckets);
}

TEST_F(RangeHashTest, BucketsAndCounts) {
  EXPECT_EQ(BucketCountFor(0), 16u);
  EXPECT_EQ(BucketCountFor(100000), 65536u);
  EXPECT_EQ(BucketCountFor(1000), 512u);
  for (int i = 0; i < 1000; ++i) {
    std::string k = EncodeKey(json::value(i)).value();
    EXPECT_LT(KeyBucket(k, 512), 512u);
    EXPECT_EQ(KeyBucket(k, 1), 0u);
  }
  EXPECT_NE(RowHash("ab", "c"), RowHash("a", "bc"));
}

}  // namespace
}  // namespace meshdb::storage::testing
