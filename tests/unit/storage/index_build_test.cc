// The deferred index build of initial copies: RebuildIndex writes exactly the entries that
// IndexEdits writes row by row, in one run or merged from many; a bulk copy chunk into an empty
// table defers the index until the copy's end, any other write to the table, or the next open.
#include "storage/index_build.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/hlc.h"
#include "dog_table_fixture.h"
#include "storage/index_edits.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/record_codec.h"
#include "test_util.h"

namespace meshdb::storage {
namespace {

namespace json = boost::json;
using testing::Key;

std::string Rec(json::object doc, bool tombstone = false) {
  std::string out;
  RecordHeader header{tombstone, HybridClock::Pack(1000, 0), 9};
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

class RebuildIndexTest : public testing::DogTableTest {
 protected:
  // Every index entry as raw "key|record", in index order.
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    auto txn = ReadTxn::Begin(env_.get());
    if (!txn.ok()) return out;
    auto cursor = Cursor::Open(txn->get(), table_.index_dbi);
    if (!cursor.ok()) return out;
    MDB_val k, d;
    for (int rc = mdb_cursor_get(cursor->get(), &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor->get(), &k, &d, MDB_NEXT)) {
      out.push_back(std::string(FromVal(k)) + "|" + std::string(FromVal(d)));
    }
    return out;
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

TEST_F(DeferredIndexTest, OpenBuildsAnIndexACrashLeftPending) {
  Apply(Chunk(0, 300));
  EXPECT_EQ(Indexed("age"), 0u);
  Reopen();  // as after kill -9 before the copy's end: the marker is committed with the rows
  EXPECT_EQ(Indexed("age"), 300u);
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
  End();                            // nothing left to build
  EXPECT_EQ(Indexed("age"), 51u);
}

TEST_F(DeferredIndexTest, TableWithRowsIsIndexedRowByRow) {
  ASSERT_TRUE(store_->CreateTable(def_).ok());
  ASSERT_TRUE(Write("dev", {testing::Op(WriteKind::kUpsert, "dog", 1000, {{"age", 5}})}).ok());
  Apply(Chunk(0, 40));
  EXPECT_EQ(Indexed("age"), 41u);
}

}  // namespace
}  // namespace meshdb::storage
