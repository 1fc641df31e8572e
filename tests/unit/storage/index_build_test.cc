// The deferred index build of initial copies: RebuildIndex and IndexCollector write exactly the
// entries that IndexEdits writes row by row, in one run or merged from many; a bulk copy chunk
// into an empty table defers the index until the copy's end, any other write to the table, or
// the next open; the entries collected while the copy appends are used only when every row
// came that way, and the index always agrees with the rows.
#include "storage/index_build.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/hlc.h"
#include "dog_table_fixture.h"
#include "raw_lmdb.h"
#include "storage/index_edits.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/record_codec.h"
#include "test_util.h"

namespace meshdb::storage {
namespace {

namespace json = boost::json;
using testing::Key;

std::string Rec(json::object doc, bool tombstone = false, uint64_t millis = 1000) {
  std::string out;
  RecordHeader header{tombstone, HybridClock::Pack(millis, 0), 9};
  if (tombstone) {
    EncodeRecordHeader(header, &out);
  } else {
    EncodeRecord(header, doc, &out);
  }
  return out;
}

json::object Dog(int i) {
  json::object doc{
      {"id", i},
      {"name", "dog-" + std::to_string(i % 37)},
      {"age", i % 11},
      {"tags", json::array{"t" + std::to_string(i % 3), "t" + std::to_string(i % 5), "t0"}},
      {"note", "not indexed"}};
  if (i % 13 == 0) doc["name"] = std::string(700, 'x') + std::to_string(i);  // cut at 511 bytes
  return doc;
}

// Every entry of `table`'s index (both levels) as raw "key|record", in order.
std::vector<std::string> JoinedEntries(MDB_txn* txn, const TableState& table) {
  std::vector<std::string> out;
  for (const auto& [key, record] : testing::AllIndexEntries(txn, table)) {
    out.push_back(key + "|" + record);
  }
  return out;
}

class RebuildIndexTest : public testing::DogTableTest {
 protected:
  // Every index entry as raw "key|record", in index order.
  std::vector<std::string> Entries() {
    auto txn = ReadTxn::Begin(env_.get());
    if (!txn.ok()) return {};
    return JoinedEntries(txn->get(), table_);
  }

  Status Rebuild(size_t run_bytes, IndexBuildStats* stats) {
    auto txn = WriteTxn::Begin(env_.get());
    if (!txn.ok()) return txn.status();
    RETURN_IF_ERROR(RebuildIndex(txn->get(), db_, table_, dir_.path(), run_bytes, stats));
    return txn->Commit();
  }

  Database db_;  // rows here are stored raw: its meta and dictionaries are never read
};

TEST_F(RebuildIndexTest, WritesWhatRowByRowEditsWriteInOneRunOrMerged) {
  // Rows, with IndexEdits writing the reference index.
  {
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    IndexEdits edits;
    for (int i = 0; i < 600; ++i) {
      const bool tombstone = i % 17 == 0;
      json::object doc = Dog(i);
      std::string key = Key(i), value = Rec(doc, tombstone);
      MDB_val k = ToVal(key), v = ToVal(value);
      ASSERT_EQ(mdb_put(txn->get(), table_.records_dbi, &k, &v, 0), 0);
      if (!tombstone) edits.Update(table_, key, nullptr, &doc);
    }
    ASSERT_TRUE(edits.Apply(txn->get()).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  const std::vector<std::string> expected = Entries();
  ASSERT_GT(expected.size(), 2000u);

  // A stray entry: the build starts from an empty index.
  {
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    std::string key = "name", record = Key(100000);
    key.push_back('\0');
    key += "stray";
    MDB_val k = ToVal(key), d = ToVal(record);
    ASSERT_EQ(mdb_put(txn->get(), table_.index_dbi, &k, &d, 0), 0);
    ASSERT_TRUE(txn->Commit().ok());
  }

  IndexBuildStats one;
  ASSERT_TRUE(Rebuild(64u << 20, &one).ok());
  EXPECT_EQ(Entries(), expected);
  EXPECT_EQ(one.runs, 1u);
  EXPECT_EQ(one.rows, 600u - 36u);  // tombstones 0, 17, ..., 595 have no entries
  EXPECT_EQ(one.entries, expected.size());
  EXPECT_EQ(one.fallback_puts, 0u);

  IndexBuildStats many;
  ASSERT_TRUE(Rebuild(4096, &many).ok());  // dozens of runs in temporary files, merged
  EXPECT_EQ(Entries(), expected);
  EXPECT_GT(many.runs, 10u);
  EXPECT_EQ(many.entries, expected.size());
  EXPECT_EQ(many.fallback_puts, 0u);
}

TEST_F(RebuildIndexTest, CollectorFedRowByRowWritesWhatRowByRowEditsWrite) {
  std::vector<json::object> docs;
  for (int i = 0; i < 600; ++i) {
    docs.push_back(Dog(i));
    // Ties, and short values one of which is the other's prefix followed by 0x00 (equal
    // zero-padded inline prefixes, different sizes).
    if (i % 4 == 0) docs.back()["age"] = json::string(std::string("ab\0", 3));
    if (i % 4 == 1) docs.back()["age"] = "ab";
  }
  {
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    IndexEdits edits;
    for (int i = 0; i < 600; ++i) edits.Update(table_, Key(i), nullptr, &docs[i]);
    ASSERT_TRUE(edits.Apply(txn->get()).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  const std::vector<std::string> expected = Entries();
  ASSERT_GT(expected.size(), 2000u);
  for (size_t run_bytes : {size_t{64u << 20}, size_t{4096}}) {
    IndexCollector collector(dir_.path(), run_bytes);
    for (int i = 0; i < 600; ++i) ASSERT_TRUE(collector.AddRow(table_, Key(i), docs[i]).ok());
    EXPECT_TRUE(collector.MatchesDefinition(table_));
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    IndexBuildStats stats;
    ASSERT_TRUE(collector.Finish(txn->get(), table_, &stats).ok());
    ASSERT_TRUE(txn->Commit().ok());
    EXPECT_EQ(Entries(), expected) << run_bytes;
    EXPECT_EQ(stats.rows, 600u);
    EXPECT_EQ(stats.entries, expected.size());
    EXPECT_EQ(stats.fallback_puts, 0u);  // sorted as LMDB orders: every entry appended
    if (run_bytes == 4096) {
      EXPECT_GT(stats.runs, 10u);  // spilled by the background thread
    }
  }
}

TEST_F(RebuildIndexTest, CollectorNoticesAnAttributeWhoseIndexingChanged) {
  IndexCollector collector(dir_.path(), 64u << 20);
  ASSERT_TRUE(collector.AddRow(table_, Key(1), Dog(1)).ok());
  EXPECT_TRUE(collector.MatchesDefinition(table_));
  TableState noted;  // "note" (seen unindexed) now indexed
  noted.def = table_.def;
  noted.def.attributes.back().indexed = true;
  noted.RebuildPositions();
  EXPECT_FALSE(collector.MatchesDefinition(noted));
  TableState aged;  // "age" (seen indexed) no longer
  aged.def = table_.def;
  aged.def.attributes[3].indexed = false;
  aged.RebuildPositions();
  EXPECT_FALSE(collector.MatchesDefinition(aged));
  TableState grown;  // a new attribute no row had: the entries still hold
  grown.def = table_.def;
  grown.def.attributes.push_back(AttributeDef{"weight", "", true});
  grown.RebuildPositions();
  EXPECT_TRUE(collector.MatchesDefinition(grown));
}

class DeferredIndexTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    def_ = testing::Untyped("dev", "dog");
  }
  // A bulk copy chunk of dogs [from, to).
  CopyChunk Chunk(int from, int to) {
    CopyChunk chunk;
    chunk.database = "dev";
    chunk.table_def = def_;
    chunk.bulk = true;
    for (int i = from; i < to; ++i) chunk.rows.push_back(RawRow{Key(i), Rec(Dog(i))});
    return chunk;
  }
  void Apply(CopyChunk chunk) {
    auto r = store_->ApplyCopyChunk(std::move(chunk));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void End() {
    CopyChunk end;
    end.database = "dev";
    end.build_indexes = true;
    Apply(std::move(end));
  }
  // Records found through the index of `attribute` (all values).
  size_t Indexed(const std::string& attribute) {
    auto snap = store_->Read("dev");
    EXPECT_TRUE(snap.ok());
    size_t n = 0;
    Status s = (*snap)->ScanIndex("dog", attribute, IndexRange{}, [&](const Record&) {
      ++n;
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return n;
  }

  // Closes the store and checks that the index (x:dog and xs:dog) holds exactly what RebuildIndex
  // builds from r:dog (the rows), and at least `min_entries`; then reopens.
  void ExpectIndexAgreesWithRows(size_t min_entries) {
    auto def = store_->GetTable("dev", "dog");
    ASSERT_TRUE(def.ok());
    store_.reset();
    {
      testing::RawFile raw;
      ASSERT_NO_FATAL_FAILURE(testing::OpenRawFile(dir_.path() + "/dev.mdb", &raw));
      MDB_txn* txn = raw.txn.get();
      TableState table;
      table.def = *def;
      Database db;  // meta, for the dictionaries of compressed rows
      ASSERT_NO_FATAL_FAILURE(
          testing::OpenDbis(txn, {{"r:dog", 0, &table.records_dbi},
                                  {"x:dog", MDB_DUPSORT, &table.index_dbi},
                                  {"xs:dog", MDB_DUPSORT, &table.staged_index_dbi},
                                  {"meta", 0, &db.meta_dbi}}));
      // The table's own index key layout (compact: it was created by this binary).
      const std::string layout_key = MetaIndexKeysKey("dog");
      MDB_val lk = ToVal(layout_key), lv;
      ASSERT_EQ(mdb_get(txn, db.meta_dbi, &lk, &lv), 0);
      auto layout = IndexKeyLayout::Parse(FromVal(lv));
      ASSERT_TRUE(layout.ok()) << layout.status().ToString();
      ASSERT_TRUE(layout->compact());
      table.index_keys = *layout;
      table.RebuildPositions();
      const std::vector<std::string> built = JoinedEntries(txn, table);
      IndexBuildStats stats;
      ASSERT_TRUE(RebuildIndex(txn, db, table, dir_.path(), 64u << 20, &stats).ok());
      const std::vector<std::string> from_rows = JoinedEntries(txn, table);
      EXPECT_GE(built.size(), min_entries);
      EXPECT_EQ(built, from_rows);
    }  // aborted
    Reopen();
  }
  TableDef def_;
};

TEST_F(DeferredIndexTest, CopyIntoEmptyTableBuildsTheIndexAtTheEnd) {
  Apply(Chunk(0, 100));
  Apply(Chunk(100, 250));
  EXPECT_EQ(store_->GetStats("dev", "dog")->record_count, 250u);
  EXPECT_EQ(Indexed("age"), 0u);  // deferred: not searchable by attribute yet
  End();
  EXPECT_EQ(Indexed("age"), 250u);
  EXPECT_EQ(Indexed("name"), 250u);
  EXPECT_EQ(Indexed("tags"), 250u);
  // Later copies and writes index row by row.
  Apply(Chunk(250, 260));
  EXPECT_EQ(Indexed("age"), 260u);
}

// Dogs 0..249 have at least 5 entries each (name, age, three tags less repeats: >= 4).
constexpr size_t kEntriesOf250 = 250 * 4;

TEST_F(DeferredIndexTest, EntriesCollectedDuringTheCopyMatchTheRows) {
  Apply(Chunk(0, 100));
  Apply(Chunk(100, 200));
  CopyChunk with_tombstone = Chunk(200, 250);
  with_tombstone.rows[10].value = Rec(json::object{}, /*tombstone=*/true);  // a new key, deleted
  Apply(std::move(with_tombstone));
  End();
  EXPECT_EQ(Indexed("age"), 249u);
  ExpectIndexAgreesWithRows(kEntriesOf250 - 5);
}

// Each of these writes a row of the pending table other than by appending it: the entries
// collected so far would disagree with the rows, so the build must start from the rows.
TEST_F(DeferredIndexTest, ARowReplacedDuringTheCopyFallsBackToTheRows) {
  Apply(Chunk(0, 100));
  CopyChunk newer = Chunk(100, 250);
  json::object changed = Dog(50);
  changed["age"] = 1234;
  changed["name"] = "renamed";
  newer.rows.insert(newer.rows.begin(), RawRow{Key(50), Rec(changed, false, 2000)});
  Apply(std::move(newer));
  End();
  ExpectIndexAgreesWithRows(kEntriesOf250);
  IndexRange exact;
  exact.lower = exact.upper = json::value(1234);
  auto snap = store_->Read("dev");
  ASSERT_TRUE(snap.ok());
  size_t found = 0;
  ASSERT_TRUE((*snap)
                  ->ScanIndex("dog", "age", exact,
                              [&](const Record&) {
                                ++found;
                                return true;
                              })
                  .ok());
  EXPECT_EQ(found, 1u);
}

TEST_F(DeferredIndexTest, ATombstoneReplacingARowDuringTheCopyFallsBackToTheRows) {
  Apply(Chunk(0, 100));
  CopyChunk deleting = Chunk(100, 250);
  deleting.rows.insert(deleting.rows.begin(),
                       RawRow{Key(20), Rec(json::object{}, /*tombstone=*/true, 2000)});
  Apply(std::move(deleting));
  End();
  EXPECT_EQ(Indexed("age"), 249u);
  ExpectIndexAgreesWithRows(kEntriesOf250 - 5);
}

TEST_F(DeferredIndexTest, KeysOutOfOrderFallBackToTheRows) {
  Apply(Chunk(100, 250));
  Apply(Chunk(0, 100));  // not past the last key: put as usual, not collected
  End();
  EXPECT_EQ(Indexed("age"), 250u);
  ExpectIndexAgreesWithRows(kEntriesOf250);
}

TEST_F(DeferredIndexTest, ARestartedCopyFallsBackToTheRows) {
  Apply(Chunk(0, 150));
  // The copy starts over from the beginning (rows now newer at the source).
  CopyChunk again;
  again.database = "dev";
  again.table_def = def_;
  again.bulk = true;
  for (int i = 0; i < 250; ++i) {
    json::object doc = Dog(i);
    doc["age"] = 500 + i;
    again.rows.push_back(RawRow{Key(i), Rec(doc, false, 3000)});
  }
  Apply(std::move(again));
  End();
  EXPECT_EQ(Indexed("age"), 250u);
  ExpectIndexAgreesWithRows(kEntriesOf250);
}

TEST_F(DeferredIndexTest, OpenBuildsAnIndexACrashLeftPending) {
  Apply(Chunk(0, 300));
  EXPECT_EQ(Indexed("age"), 0u);
  Reopen();  // as after kill -9 before the copy's end: the marker is committed with the rows
  EXPECT_EQ(Indexed("age"), 300u);
  ExpectIndexAgreesWithRows(300 * 4);
  EXPECT_EQ(Indexed("tags"), 300u);
  // Built once: a copy of the same rows now applies row by row (all skipped as identical).
  Apply(Chunk(0, 300));
  End();
  EXPECT_EQ(Indexed("age"), 300u);
}

TEST_F(DeferredIndexTest, AnyOtherWriteToThePendingTableBuildsItFirst) {
  Apply(Chunk(0, 50));
  ASSERT_TRUE(Write("dev", {testing::Op(WriteKind::kUpsert, "dog", 7, {{"age", 99}})}).ok());
  ASSERT_TRUE(Write("dev", {testing::Op(WriteKind::kUpsert, "dog", 1000, {{"age", 5}})}).ok());
  EXPECT_EQ(Indexed("age"), 51u);
  EXPECT_EQ(Indexed("name"), 50u);  // the new row has no name
  Apply(Chunk(50, 80));             // indexed row by row now
  End();                            // nothing left to build
  EXPECT_EQ(Indexed("age"), 81u);
  ExpectIndexAgreesWithRows(80 * 4);
}

TEST_F(DeferredIndexTest, TableWithRowsIsIndexedRowByRow) {
  ASSERT_TRUE(store_->CreateTable(def_).ok());
  ASSERT_TRUE(Write("dev", {testing::Op(WriteKind::kUpsert, "dog", 1000, {{"age", 5}})}).ok());
  Apply(Chunk(0, 40));
  EXPECT_EQ(Indexed("age"), 41u);
}

}  // namespace
}  // namespace meshdb::storage
