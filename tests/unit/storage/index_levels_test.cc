// The two levels of a secondary index (index_levels.h): readers see every entry of either
// level once, in index order; moves take an eighth of the staged level from where the last
// one stopped, wrapping at the end; and through the Store, searches answer as if there were
// one level however often entries move, across updates, deletes and a reopen.
#include "storage/index_levels.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dog_table_fixture.h"
#include "raw_lmdb.h"
#include "storage/index_edits.h"
#include "storage/lmdb_handles.h"
#include "test_util.h"

namespace meshdb::storage {
namespace {

namespace json = boost::json;
using Entries = std::vector<std::pair<std::string, std::string>>;

class IndexLevelsTest : public testing::DogTableTest {
 protected:
  // Puts raw entries (key, record key) into one level, in one commit.
  void Put(MDB_dbi level, const Entries& entries) {
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    for (const auto& [key, record] : entries) {
      MDB_val k = ToVal(key), d = ToVal(record);
      ASSERT_EQ(mdb_put(txn->get(), level, &k, &d, MDB_NODUPDATA), 0);
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  // Every entry the reader yields from `start` on.
  Entries Read(const std::string& start) {
    auto txn = ReadTxn::Begin(env_.get());
    EXPECT_TRUE(txn.ok());
    return txn.ok() ? testing::AllIndexEntries(txn->get(), table_, start) : Entries{};
  }
  Entries Level(MDB_dbi level) {
    auto txn = ReadTxn::Begin(env_.get());
    EXPECT_TRUE(txn.ok());
    return txn.ok() ? testing::AllEntries(txn->get(), level) : Entries{};
  }
  // One MoveStagedEntries in its own commit; the number of entries moved.
  size_t Move(size_t limit, std::string* position) {
    auto txn = WriteTxn::Begin(env_.get());
    EXPECT_TRUE(txn.ok());
    if (!txn.ok()) return 0;
    IndexMoveStats stats;
    Status moved = MoveStagedEntries(txn->get(), table_, limit, position, &stats);
    EXPECT_TRUE(moved.ok()) << moved.ToString();
    EXPECT_TRUE(txn->Commit().ok());
    return stats.moved;
  }
  // Entries "k<from>" .. "k<to - 1>" (two digits), each of record "r".
  static Entries Keys(int from, int to) {
    Entries out;
    for (int i = from; i < to; ++i) {
      out.emplace_back((i < 10 ? "k0" : "k") + std::to_string(i), "r");
    }
    return out;
  }
};

TEST_F(IndexLevelsTest, ReaderSeesEachEntryOfBothLevelsOnceInOrder) {
  EXPECT_EQ(Read(""), Entries{});
  Put(table_.index_dbi, {{"a", "1"}, {"c", "1"}, {"e", "1"}});
  Put(table_.staged_index_dbi, {{"b", "1"}, {"c", "1"}, {"d", "1"}, {"e", "2"}, {"e", "0"}});
  EXPECT_EQ(
      Read(""),
      (Entries{
          {"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "1"}, {"e", "0"}, {"e", "1"}, {"e", "2"}}));
  EXPECT_EQ(Read("c"), (Entries{{"c", "1"}, {"d", "1"}, {"e", "0"}, {"e", "1"}, {"e", "2"}}));
  EXPECT_EQ(Read("bb"), (Entries{{"c", "1"}, {"d", "1"}, {"e", "0"}, {"e", "1"}, {"e", "2"}}));
  EXPECT_EQ(Read("f"), Entries{});
}

TEST_F(IndexLevelsTest, MovesAnEighthFromWhereTheLastMoveStoppedAndWraps) {
  static_assert(kStagedMoveDivisor == 8, "the counts below are for moves of an eighth");
  Put(table_.staged_index_dbi, Keys(0, 32));
  std::string position;
  EXPECT_EQ(Move(33, &position), 0u);  // below the limit: nothing moves
  EXPECT_EQ(position, "");
  EXPECT_EQ(Move(32, &position), 4u);
  EXPECT_EQ(Level(table_.index_dbi), Keys(0, 4));
  EXPECT_EQ(Level(table_.staged_index_dbi), Keys(4, 32));
  EXPECT_EQ(position, "k04");
  EXPECT_EQ(Move(32, &position), 0u);  // 28 staged

  Put(table_.staged_index_dbi, Keys(32, 36));  // 32 staged: k04..k35
  EXPECT_EQ(Move(32, &position), 4u);
  EXPECT_EQ(Level(table_.index_dbi), Keys(0, 8));
  EXPECT_EQ(position, "k08");

  // From k38 the run reaches the end and goes on from the first staged key.
  Put(table_.staged_index_dbi, Keys(36, 40));  // 32 staged: k08..k39
  position = "k38";
  EXPECT_EQ(Move(32, &position), 4u);  // k38, k39, k08, k09
  Entries main = Keys(0, 10);
  main.emplace_back("k38", "r");
  main.emplace_back("k39", "r");
  EXPECT_EQ(Level(table_.index_dbi), main);
  EXPECT_EQ(position, "k10");
  EXPECT_EQ(Read(""), Keys(0, 40));  // nothing lost or doubled

  // 28 staged: k10..k37. An eighth of 24 is 3, of 15 is 1, and below 8 one still moves.
  position = "k20";
  EXPECT_EQ(Move(24, &position), 3u);  // k20..k22
  EXPECT_EQ(position, "k23");
  EXPECT_EQ(Move(15, &position), 1u);  // k23
  EXPECT_EQ(position, "k24");
  EXPECT_EQ(Move(7, &position), 1u);  // k24
  EXPECT_EQ(position, "k25");
  // A run that ends at the last key leaves the next one to start at the first.
  position = "k36";
  EXPECT_EQ(Move(16, &position), 2u);  // 23 staged: k36, k37
  EXPECT_EQ(position, "");
  EXPECT_EQ(Move(16, &position), 2u);  // k10, k11
  EXPECT_EQ(position, "k12");
  Entries staged = Keys(12, 20);
  for (const auto& e : Keys(25, 36)) staged.push_back(e);
  EXPECT_EQ(Level(table_.staged_index_dbi), staged);
  EXPECT_EQ(Read(""), Keys(0, 40));
}

TEST_F(IndexLevelsTest, AnEntryInBothLevelsMovesOnce) {
  Put(table_.index_dbi, {{"k01", "r"}});
  Put(table_.staged_index_dbi, Keys(0, 4));
  std::string position;
  EXPECT_EQ(Move(4, &position), 1u);
  EXPECT_EQ(Level(table_.index_dbi), Keys(0, 2));
  EXPECT_EQ(Read(""), Keys(0, 4));
}

TEST_F(IndexLevelsTest, EditsPutIntoTheStagedLevelAndDeleteFromBoth) {
  json::object rex{{"id", 1}, {"name", "rex"}};
  auto apply = [&](const json::object* before, const json::object* after) {
    IndexEdits edits;
    edits.Update(table_, testing::Key(1), before, after);
    auto txn = WriteTxn::Begin(env_.get());
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(edits.Apply(txn->get()).ok());
    ASSERT_TRUE(txn->Commit().ok());
  };
  apply(nullptr, &rex);
  EXPECT_EQ(Level(table_.index_dbi).size(), 0u);
  ASSERT_EQ(Level(table_.staged_index_dbi).size(), 1u);
  std::string position;
  EXPECT_EQ(Move(1, &position), 1u);
  EXPECT_EQ(Level(table_.index_dbi).size(), 1u);
  apply(nullptr, &rex);  // the same entry again: now in both levels
  EXPECT_EQ(Level(table_.staged_index_dbi).size(), 1u);
  EXPECT_EQ(Read("").size(), 1u);
  apply(&rex, nullptr);
  EXPECT_EQ(Read(""), Entries{});
}

using Dogs = std::map<int, json::object>;  // id -> the live record

// 120 requests of 1-6 upserts and deletes of dogs 0..39 (ages and two tags of 0..19), from
// `seed`, and the records left after each.
struct DogRequests {
  std::vector<std::vector<WriteOp>> requests;
  std::vector<Dogs> after;
};
DogRequests RandomDogRequests(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  DogRequests out;
  Dogs dogs;
  for (int round = 0; round < 120; ++round) {
    std::vector<WriteOp>& ops = out.requests.emplace_back();
    std::set<int> in_request;  // one op per record per request
    for (int n = 1 + pick(6); n > 0; --n) {
      int id = pick(40);
      if (!in_request.insert(id).second) continue;
      if (dogs.contains(id) && pick(4) == 0) {
        ops.push_back(testing::Op(WriteKind::kDelete, "dog", id));
        dogs.erase(id);
        continue;
      }
      json::object doc{{"age", pick(20)}, {"tags", json::array{pick(20), pick(20)}}};
      ops.push_back(testing::Op(WriteKind::kUpsert, "dog", id, doc));
      doc["id"] = id;
      dogs[id] = std::move(doc);
    }
    out.after.push_back(dogs);
  }
  return out;
}

// Through the Store, with a staged level of 16 entries (moves of 2): almost every commit moves
// entries.
class StagedIndexStoreTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    Reopen(&SmallLevels);
    ASSERT_TRUE(store_->CreateTable(testing::Untyped("dev", "dog")).ok());
  }
  static void SmallLevels(StoreOptions& options) { options.index_staged_limit = 16; }

  // The ids ScanIndex yields for `attribute` in [lo, hi].
  std::set<int> Scan(const std::string& attribute, int lo, int hi) {
    std::set<int> ids;
    auto snap = store_->Read("dev");
    EXPECT_TRUE(snap.ok());
    if (!snap.ok()) return ids;
    IndexRange range;
    range.lower = lo;
    range.upper = hi;
    Status s = (*snap)->ScanIndex("dog", attribute, range, [&](const Record& r) {
      EXPECT_TRUE(ids.insert(static_cast<int>(r.doc.at("id").to_number<int64_t>())).second)
          << "record seen twice";
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return ids;
  }
  // What the scans must answer: the ids of the dogs whose value lies in [lo, hi].
  static std::set<int> Expected(const Dogs& dogs, const std::string& attribute, int lo, int hi) {
    std::set<int> ids;
    for (const auto& [id, doc] : dogs) {
      const json::value& v = doc.at(attribute);
      auto in = [&](const json::value& x) {
        return x.is_int64() && x.get_int64() >= lo && x.get_int64() <= hi;
      };
      bool match =
          v.is_array() ? std::any_of(v.get_array().begin(), v.get_array().end(), in) : in(v);
      if (match) ids.insert(id);
    }
    return ids;
  }
  void ExpectScansMatch(const Dogs& dogs, const std::string& when) {
    for (int lo = 0; lo < 20; lo += 3) {
      for (const char* attribute : {"age", "tags"}) {
        EXPECT_EQ(Scan(attribute, lo, lo + 4), Expected(dogs, attribute, lo, lo + 4))
            << attribute << " in [" << lo << ", " << lo + 4 << "] " << when;
      }
    }
  }
  // Entries in each level of dog's index, read with the store closed (it stays closed).
  std::pair<size_t, size_t> LevelSizes() {
    store_.reset();
    testing::RawFile raw;
    TableState levels;
    [&] {
      ASSERT_NO_FATAL_FAILURE(testing::OpenRawFile(dir_.path() + "/dev.mdb", &raw));
      ASSERT_NO_FATAL_FAILURE(
          testing::OpenDbis(raw.txn.get(), {{"x:dog", MDB_DUPSORT, &levels.index_dbi},
                                            {"xs:dog", MDB_DUPSORT, &levels.staged_index_dbi}}));
    }();
    if (HasFatalFailure()) return {0, 0};
    return {testing::AllEntries(raw.txn.get(), levels.index_dbi).size(),
            testing::AllEntries(raw.txn.get(), levels.staged_index_dbi).size()};
  }
};

TEST_F(StagedIndexStoreTest, SearchesAgreeWithTheRecordsWhileEntriesMove) {
  DogRequests dogs = RandomDogRequests(20261206);
  for (size_t i = 0; i < dogs.requests.size(); ++i) {
    auto written = Write("dev", dogs.requests[i]);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    if (i % 10 == 0) ExpectScansMatch(dogs.after[i], "after request " + std::to_string(i));
  }
  ExpectScansMatch(dogs.after.back(), "at the end");
  Reopen(&SmallLevels);
  ExpectScansMatch(dogs.after.back(), "after a reopen");
  auto [main, staged] = LevelSizes();
  EXPECT_GT(main, 20u);  // entries did move
  EXPECT_GE(staged, 4u);
}

// A process that dies after entries moved (no close, no final checkpoint) is recovered from the
// write-ahead log with every acknowledged write's entries, in whichever level they were.
TEST_F(StagedIndexStoreTest, ACrashAfterEntriesMovedLosesNoEntry) {
  store_.reset();
  auto durable = [](StoreOptions& options) {
    SmallLevels(options);
    options.durable = true;
  };
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Reopen(durable);
    for (auto& request : RandomDogRequests(7).requests) {
      if (!Write("dev", std::move(request)).ok()) _exit(3);
    }
    _exit(HasFailure() ? 4 : 0);  // no destructor: the store is not closed
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  Reopen(durable);
  ExpectScansMatch(RandomDogRequests(7).after.back(), "after the crash");
  EXPECT_GT(LevelSizes().first, 20u);
}

}  // namespace
}  // namespace meshdb::storage
