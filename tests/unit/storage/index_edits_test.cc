// IndexEdits: a group commit's index changes, queued in any order, end up as if applied one
// by one in queue order.
#include "storage/index_edits.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "dog_table_fixture.h"
#include "raw_lmdb.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"

namespace meshdb::storage {
namespace {

namespace json = boost::json;
using testing::Key;

class IndexEditsTest : public testing::DogTableTest {
 protected:
  // Applies `edits` in one transaction; false on failure.
  bool Apply(IndexEdits& edits) {
    auto txn = WriteTxn::Begin(env_.get());
    if (!txn.ok() || !edits.Apply(txn->get()).ok()) return false;
    return txn->Commit().ok();
  }

  // Every index entry as "attr=value:record", in index order.
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    auto txn = ReadTxn::Begin(env_.get());
    if (!txn.ok()) return out;
    for (const auto& [key, data] : testing::AllIndexEntries(txn->get(), table_)) {
      size_t nul = key.find('\0');
      auto value = DecodeKey(std::string_view(key).substr(nul + 1));
      auto record = DecodeKey(data);
      out.push_back(key.substr(0, nul) + "=" + (value.ok() ? json::serialize(*value) : "?") + ":" +
                    (record.ok() ? json::serialize(*record) : "?"));
    }
    return out;
  }
};

TEST_F(IndexEditsTest, IndexesEachIndexedAttributeButNotThePrimaryKey) {
  IndexEdits edits;
  json::object dog{{"id", 2},
                   {"name", "rex"},
                   {"tags", json::array{"b", "a", "b"}},
                   {"note", "not indexed"},
                   {"obj", json::object{{"x", 1}}}};
  edits.Update(table_, Key(2), nullptr, &dog);
  EXPECT_FALSE(edits.empty());
  ASSERT_TRUE(Apply(edits));
  EXPECT_TRUE(edits.empty());
  EXPECT_EQ(Entries(),
            (std::vector<std::string>{"name=\"rex\":2", "tags=\"a\":2", "tags=\"b\":2"}));
}

TEST_F(IndexEditsTest, QueueOrderDecidesBetweenEditsOfOneEntry) {
  json::object a{{"name", "a"}}, b{{"name", "b"}};
  IndexEdits edits;
  // Record 1: inserted as a, updated to b, back to a, in one group.
  edits.Update(table_, Key(1), nullptr, &a);
  edits.Update(table_, Key(1), &a, &b);
  edits.Update(table_, Key(1), &b, &a);
  // Record 2: inserted as b, then deleted.
  edits.Update(table_, Key(2), nullptr, &b);
  edits.Update(table_, Key(2), &b, nullptr);
  // Record 3: inserted as b.
  edits.Update(table_, Key(3), nullptr, &b);
  ASSERT_TRUE(Apply(edits));
  EXPECT_EQ(Entries(), (std::vector<std::string>{"name=\"a\":1", "name=\"b\":3"}));
}

TEST_F(IndexEditsTest, UpdatesAcrossCommitsMoveOnlyChangedValues) {
  json::object v1{{"name", "rex"}, {"age", 5}}, v2{{"name", "rex"}, {"age", 6}};
  IndexEdits edits;
  for (int id : {3, 1, 2}) edits.Update(table_, Key(id), nullptr, &v1);
  ASSERT_TRUE(Apply(edits));
  edits.Update(table_, Key(2), &v1, &v2);
  edits.Update(table_, Key(1), &v1, nullptr);
  ASSERT_TRUE(Apply(edits));
  EXPECT_EQ(Entries(),
            (std::vector<std::string>{"age=5:3", "age=6:2", "name=\"rex\":2", "name=\"rex\":3"}));
}

TEST_F(IndexEditsTest, DeletingAMissingEntryIsNotAnError) {
  json::object gone{{"name", "ghost"}};
  IndexEdits edits;
  edits.Update(table_, Key(9), &gone, nullptr);
  EXPECT_TRUE(Apply(edits));
  EXPECT_TRUE(Entries().empty());
}

}  // namespace
}  // namespace meshdb::storage
