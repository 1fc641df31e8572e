// Index key layouts (storage/index_key.h): the compact format of new tables, values cut at
// 48 bytes and re-checked against the record, and legacy-keyed tables kept as they are.
#include "storage/index_key.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "raw_lmdb.h"
#include "storage/catalog.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "test_util.h"

namespace meshdb::storage::testing {
namespace {

namespace json = boost::json;
using K = WriteKind;

json::value S(const std::string& s) { return json::value(json::string(s)); }

TableDef DogDef(std::vector<std::string> attributes) {
  TableDef def = Untyped("dev", "dog");
  for (auto& a : attributes) def.attributes.push_back(AttributeDef{std::move(a), "", true});
  return def;
}

TEST(IndexKeyLayoutTest, VarintsArePrefixFree) {
  auto enc = [](uint32_t v) {
    std::string s;
    AppendVarint(v, &s);
    return s;
  };
  EXPECT_EQ(enc(1), "\x01");
  EXPECT_EQ(enc(127), "\x7f");
  EXPECT_EQ(enc(128), std::string("\x80\x01", 2));
  EXPECT_EQ(enc(300), std::string("\xac\x02", 2));
}

TEST(IndexKeyLayoutTest, CompactKeysUseIdsAndCutLongValues) {
  IndexKeyLayout layout = IndexKeyLayout::Compact();
  EXPECT_TRUE(layout.AssignIds(DogDef({"id", "name", "text"})));
  EXPECT_FALSE(layout.AssignIds(DogDef({"id", "name", "text"})));  // nothing new
  std::string key, value;
  ASSERT_TRUE(layout.Encode("name", json::value("rex"), &key));
  ASSERT_TRUE(AppendEncodedValue(json::value("rex"), &value).ok());
  EXPECT_EQ(key, "\x02" + value);  // id 2: "id" is 1
  EXPECT_FALSE(layout.MaybeCut(key, 1));
  ASSERT_TRUE(layout.Encode("name", json::value(12.5), &key));
  EXPECT_EQ(key.size(), 1u + 9u);

  const std::string long_text(120, 'x');
  ASSERT_TRUE(layout.Encode("text", json::value(long_text), &key));
  // The cut, then a hash of the whole value: long values sharing their cut get keys of their own.
  EXPECT_EQ(key.size(), 1u + kCompactIndexValueBytes + IndexKeyLayout::kCutHashBytes);
  EXPECT_EQ(layout.CutValue(key, 1), "\x05" + long_text.substr(0, kCompactIndexValueBytes - 1));
  EXPECT_TRUE(layout.MaybeCut(key, 1));
  EXPECT_EQ(layout.Cut("\x05" + long_text, 1).size(), kCompactIndexValueBytes);
  std::string other_key;
  ASSERT_TRUE(layout.Encode("text", json::value(long_text + "y"), &other_key));
  EXPECT_NE(other_key, key);
  EXPECT_EQ(layout.CutValue(other_key, 1), layout.CutValue(key, 1));
  std::string again;
  ASSERT_TRUE(layout.Encode("text", json::value(long_text), &again));
  EXPECT_EQ(again, key);  // the hash is a function of the value alone
  // A value of exactly the cut's length is kept whole and is not cut.
  ASSERT_TRUE(
      layout.Encode("text", json::value(long_text.substr(0, kCompactIndexValueBytes - 1)), &key));
  EXPECT_EQ(key.size(), 1u + kCompactIndexValueBytes);
  EXPECT_FALSE(layout.MaybeCut(key, 1));

  EXPECT_FALSE(layout.Encode("unknown", json::value(1), &key));  // no id, no entries
  std::string prefix;
  EXPECT_FALSE(layout.Prefix("unknown", &prefix));

  // A later attribute gets the next id; the others keep theirs, across a round trip.
  EXPECT_TRUE(layout.AssignIds(DogDef({"id", "name", "text", "age"})));
  auto parsed = IndexKeyLayout::Parse(layout.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->compact());
  EXPECT_EQ(parsed->value_bytes(), kCompactIndexValueBytes);
  for (const char* attr : {"id", "name", "text", "age"}) {
    std::string a, b;
    ASSERT_TRUE(layout.Encode(attr, json::value("v"), &a));
    ASSERT_TRUE(parsed->Encode(attr, json::value("v"), &b));
    EXPECT_EQ(a, b) << attr;
  }
  ASSERT_TRUE(parsed->Prefix("age", &prefix));
  EXPECT_EQ(prefix, "\x04");
}

TEST(IndexKeyLayoutTest, LegacyKeysAreNameZeroValue) {
  IndexKeyLayout legacy;
  EXPECT_FALSE(legacy.compact());
  EXPECT_FALSE(legacy.AssignIds(DogDef({"id", "name"})));
  std::string key, expected;
  ASSERT_TRUE(legacy.Encode("name", S(std::string(600, 'z')), &key));
  EncodeIndexKey("name", S(std::string(600, 'z')), &expected);
  EXPECT_EQ(key, expected);
  EXPECT_EQ(key.size(), kMaxKeyBytes);
  EXPECT_TRUE(legacy.MaybeCut(key, 5));
  ASSERT_TRUE(legacy.Encode("name", json::value("rex"), &key));
  EXPECT_EQ(key, std::string("name\0\x05rex", 9));
  EXPECT_FALSE(legacy.MaybeCut(key, 5));
}

TEST(IndexKeyLayoutTest, MalformedLayoutsAreCorruption) {
  for (std::string bad :
       {std::string(), std::string("\x02"), std::string("\x01\x30"), std::string("\x02\x05"),
        std::string("\x02\x30\x05"
                    "ab",
                    5),
        std::string("\x02\x30\x01"
                    "a\x01"
                    "a",
                    6)}) {
    auto parsed = IndexKeyLayout::Parse(bad);
    EXPECT_FALSE(parsed.ok());
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), Status::Code::kCorruption);
    }
  }
}

// 47 string bytes: with its tag, exactly what a compact key keeps of a string.
const std::string p47(kCompactIndexValueBytes - 1, 'p');

class CutValueTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
    // Primary-key order differs from value order among the values sharing their cut part.
    ASSERT_TRUE(
        Write("dev", {Op(K::kInsert, "dog", 1, {{"text", p47 + "b" + std::string(100, 'z')}}),
                      Op(K::kInsert, "dog", 2, {{"text", p47 + "a" + std::string(100, 'x')}}),
                      Op(K::kInsert, "dog", 3, {{"text", p47}}),
                      Op(K::kInsert, "dog", 4, {{"text", p47 + "c"}}),
                      Op(K::kInsert, "dog", 5, {{"text", p47.substr(1) + "q"}}),
                      Op(K::kInsert, "dog", 6, {{"text", "short"}}),
                      Op(K::kInsert, "dog", 7,
                         {{"tags", json::array{p47 + "k2" + std::string(60, 'k'),
                                               p47 + "k1" + std::string(60, 'k'), 5}}})})
            .ok());
  }
  std::string Scan(const std::string& attr, const IndexRange& range, size_t limit = 100) {
    auto snap = store_->Read("dev");
    if (!snap.ok()) return snap.status().ToString();
    json::array keys;
    Status s = (*snap)->ScanIndex("dog", attr, range, [&](const Record& r) {
      keys.push_back(r.doc.at("id"));
      return keys.size() < limit;
    });
    if (!s.ok()) return s.ToString();
    return json::serialize(keys);
  }
  static IndexRange Eq(const json::value& v) {
    IndexRange r;
    r.lower = v;
    r.upper = v;
    return r;
  }
  static IndexRange Between(const json::value& lo, bool lo_in, const json::value& hi, bool hi_in) {
    IndexRange r;
    r.lower = lo;
    r.lower_inclusive = lo_in;
    r.upper = hi;
    r.upper_inclusive = hi_in;
    return r;
  }
  static IndexRange Prefix(std::string p) {
    IndexRange r;
    r.string_prefix = std::move(p);
    return r;
  }
  // Entries of dog's index (key, record key), read with the store closed; reopens it.
  std::vector<std::pair<std::string, std::string>> RawEntries() {
    std::vector<std::pair<std::string, std::string>> out;
    {
      RawDev raw;
      OpenRawDev("dog", &raw);
      if (!HasFatalFailure()) out = raw.Entries();
    }
    Reopen();
    return out;
  }
  // dev.mdb opened by hand with the store closed: a write transaction (aborted unless
  // committed) and its databases meta, x:<table> and xs:<table>.
  struct RawDev {
    RawFile file;
    MDB_dbi meta = 0;
    MDB_dbi index = 0;   // the index's main level
    MDB_dbi staged = 0;  // and its staged level (index_levels.h)
    // Every entry of both levels (key, record key), in order.
    std::vector<std::pair<std::string, std::string>> Entries() {
      TableState levels;
      levels.index_dbi = index;
      levels.staged_index_dbi = staged;
      return AllIndexEntries(file.txn.get(), levels);
    }
  };
  // Closes the store and opens `raw`. Adds a fatal failure if a step fails.
  void OpenRawDev(const std::string& table, RawDev* raw) {
    store_.reset();
    ASSERT_NO_FATAL_FAILURE(OpenRawFile(dir_.path() + "/dev.mdb", &raw->file));
    const std::string index = "x:" + table, staged = "xs:" + table;
    ASSERT_NO_FATAL_FAILURE(
        OpenDbis(raw->file.txn.get(), {{"meta", 0, &raw->meta},
                                       {index.c_str(), MDB_DUPSORT, &raw->index},
                                       {staged.c_str(), MDB_DUPSORT, &raw->staged}}));
  }
};

TEST_F(CutValueTest, EqualityAcrossTheCut) {
  EXPECT_EQ(Scan("text", Eq(S(p47 + "a" + std::string(100, 'x')))), "[2]");
  EXPECT_EQ(Scan("text", Eq(S(p47 + "a" + std::string(99, 'x')))), "[]");
  EXPECT_EQ(Scan("text", Eq(S(p47))), "[3]");
  EXPECT_EQ(Scan("text", Eq(S(p47 + "c"))), "[4]");
  EXPECT_EQ(Scan("text", Eq(S(p47 + "d"))), "[]");
  EXPECT_EQ(Scan("text", Eq("short")), "[6]");
}

TEST_F(CutValueTest, RangesAndOrderAcrossTheCut) {
  // Values in index order, not in the record-key order of the entries sharing a cut key.
  EXPECT_EQ(Scan("text", IndexRange{}), "[3,2,1,4,5,6]");
  EXPECT_EQ(Scan("text", IndexRange{}, 2), "[3,2]");  // a visitor's stop is honoured
  EXPECT_EQ(Scan("text", Between(S(p47 + "a"), true, S(p47 + "b"), true)), "[2]");
  EXPECT_EQ(Scan("text", Between(S(p47), false, S(p47 + "c"), true)), "[2,1,4]");
  EXPECT_EQ(Scan("text", Between(S(p47), true, S(p47 + "c"), false)), "[3,2,1]");
  EXPECT_EQ(Scan("text", Between(S(p47 + "b"), true, S("s"), false)), "[1,4,5]");
  IndexRange above;
  above.lower = p47 + "bz";
  above.lower_inclusive = false;
  EXPECT_EQ(Scan("text", above), "[1,4,5,6]");
}

TEST_F(CutValueTest, StartsWithAcrossTheCut) {
  EXPECT_EQ(Scan("text", Prefix(p47)), "[3,2,1,4]");
  EXPECT_EQ(Scan("text", Prefix(p47 + "b")), "[1]");
  EXPECT_EQ(Scan("text", Prefix(p47 + "ax")), "[2]");
  EXPECT_EQ(Scan("text", Prefix(p47 + "ay")), "[]");
  EXPECT_EQ(Scan("text", Prefix(p47.substr(0, 10))), "[3,2,1,4,5]");
}

TEST_F(CutValueTest, ArraysUpdatesAndDeletesKeepExactEntries) {
  const std::string k1 = p47 + "k1" + std::string(60, 'k'), k2 = p47 + "k2" + std::string(60, 'k');
  EXPECT_EQ(Scan("tags", Prefix(p47 + "k2")), "[7]");
  EXPECT_EQ(Scan("tags", Eq(S(k1))), "[7]");
  EXPECT_EQ(Scan("tags", Eq(5)), "[7]");
  EXPECT_EQ(Scan("tags", IndexRange{}), "[7]");  // visited once

  // Each long element has its own entry (its cut and hash): dropping one keeps the other's.
  ASSERT_TRUE(Write("dev", {Op(K::kUpdate, "dog", 7, {{"tags", json::array{k1}}})}).ok());
  EXPECT_EQ(Scan("tags", Prefix(p47 + "k2")), "[]");
  EXPECT_EQ(Scan("tags", Eq(S(k1))), "[7]");
  EXPECT_EQ(Scan("tags", Eq(5)), "[]");
  ASSERT_TRUE(Write("dev", {Op(K::kUpdate, "dog", 1, {{"text", "changed"}}),
                            Op(K::kDelete, "dog", 2), Op(K::kDelete, "dog", 7)})
                  .ok());
  EXPECT_EQ(Scan("text", Prefix(p47)), "[3,4]");
  EXPECT_EQ(Scan("text", Eq("changed")), "[1]");
  EXPECT_EQ(Scan("tags", IndexRange{}), "[]");

  // Exactly one entry per remaining (attribute, cut value, record), all compact.
  auto entries = RawEntries();
  EXPECT_EQ(entries.size(), 15u);  // text and two timestamps of 1, 3, 4, 5, 6
  for (const auto& [key, record] : entries) {
    EXPECT_LE(key.size(), 1u + kCompactIndexValueBytes + IndexKeyLayout::kCutHashBytes);
    // A one-byte attribute id (no name), then a value tag (numbers may hold 0x00 bytes).
    ASSERT_GE(key.size(), 2u);
    EXPECT_LT(static_cast<unsigned char>(key[0]), 0x80);
    EXPECT_TRUE(key[1] >= kTagNull && key[1] <= kTagString) << key;
  }
  // After the reopen the layout (ids) is the same.
  EXPECT_EQ(Scan("text", Prefix(p47)), "[3,4]");
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 8, {{"late", p47 + "late"}})}).ok());
  RawEntries();  // reopen: the new attribute's id was stored
  EXPECT_EQ(Scan("late", Eq(S(p47 + "late"))), "[8]");
  EXPECT_EQ(Scan("text", Eq("changed")), "[1]");
}

// A table written before compact keys: no layout in meta, `<name> 0x00 <value>` keys. The
// new binary keeps its format, so updates and deletes find the old entries.
TEST_F(CutValueTest, LegacyTablesKeepTheirFormat) {
  const std::string long_text(600, 'L');
  ASSERT_TRUE(store_->CreateTable(Untyped("dev", "old")).ok());
  ASSERT_TRUE(
      Write("dev", {Op(K::kInsert, "old", 1, {{"name", "rex"}, {"text", long_text}}),
                    Op(K::kInsert, "old", 2, {{"name", "rover"}, {"text", p47 + "x"}}),
                    Op(K::kInsert, "old", 3, {{"name", "fido"}, {"tags", json::array{"a", "b"}}})})
          .ok());
  // Rewrite "old" as an older binary left it.
  {
    RawDev raw;
    ASSERT_NO_FATAL_FAILURE(OpenRawDev("old", &raw));
    MDB_txn* txn = raw.file.txn.get();
    std::string layout_key = MetaIndexKeysKey("old");
    MDB_val lk = ToVal(layout_key);
    ASSERT_EQ(mdb_del(txn, raw.meta, &lk, nullptr), 0);
    ASSERT_EQ(mdb_drop(txn, raw.index, 0), 0);
    ASSERT_EQ(mdb_drop(txn, raw.staged, 0), 0);  // older binaries had one level
    auto put = [&](const std::string& attr, const json::value& v, int id) {
      std::string key, pk = *EncodeKey(id);
      EncodeIndexKey(attr, v, &key);
      MDB_val k = ToVal(key), d = ToVal(pk);
      ASSERT_EQ(mdb_put(txn, raw.index, &k, &d, MDB_NODUPDATA), 0);
    };
    put("name", "rex", 1);
    put("text", json::value(long_text), 1);
    put("name", "rover", 2);
    put("text", json::value(p47 + "x"), 2);
    put("name", "fido", 3);
    put("tags", "a", 3);
    put("tags", "b", 3);
    ASSERT_TRUE(raw.file.txn.Commit().ok());
  }
  Reopen();
  auto scan = [&](const std::string& attr, const IndexRange& range) {
    auto snap = store_->Read("dev");
    json::array keys;
    Status s = (*snap)->ScanIndex("old", attr, range, [&](const Record& r) {
      keys.push_back(r.doc.at("id"));
      return true;
    });
    return s.ok() ? json::serialize(keys) : s.ToString();
  };
  EXPECT_EQ(scan("text", Eq(S(long_text))), "[1]");
  EXPECT_EQ(scan("text", Eq(S(long_text.substr(0, 599)))), "[]");
  EXPECT_EQ(scan("text", Eq(S(p47 + "x"))), "[2]");
  EXPECT_EQ(scan("name", Prefix("r")), "[1,2]");
  EXPECT_EQ(scan("tags", Eq("b")), "[3]");

  ASSERT_TRUE(Write("dev", {Op(K::kUpdate, "old", 1, {{"text", "new text"}, {"age", 4}}),
                            Op(K::kDelete, "old", 2),
                            Op(K::kUpdate, "old", 3, {{"tags", json::array{"a"}}})})
                  .ok());
  EXPECT_EQ(scan("text", Eq(S(long_text))), "[]");
  EXPECT_EQ(scan("text", Eq("new text")), "[1]");
  EXPECT_EQ(scan("age", Eq(4)), "[1]");  // an attribute added after the reopen
  EXPECT_EQ(scan("name", Prefix("r")), "[1]");
  EXPECT_EQ(scan("tags", IndexRange{}), "[3]");
  EXPECT_EQ(scan("tags", Eq("b")), "[]");

  // Still legacy after another reopen: exactly the entries of the live rows, name-keyed.
  {
    RawDev raw;
    ASSERT_NO_FATAL_FAILURE(OpenRawDev("old", &raw));
    MDB_txn* txn = raw.file.txn.get();
    std::string layout_key = MetaIndexKeysKey("old");
    MDB_val lk = ToVal(layout_key), lv;
    EXPECT_EQ(mdb_get(txn, raw.meta, &lk, &lv), MDB_NOTFOUND);
    std::vector<std::string> keys;
    for (const auto& [key, record] : raw.Entries()) {
      if (!key.starts_with("__")) keys.push_back(key);  // not timestamps
    }
    std::vector<std::string> expected;
    for (auto [attr, value] : std::vector<std::pair<std::string, json::value>>{
             {"age", 4}, {"name", "fido"}, {"name", "rex"}, {"tags", "a"}, {"text", "new text"}}) {
      expected.emplace_back();
      EncodeIndexKey(attr, value, &expected.back());
    }
    EXPECT_EQ(keys, expected);
  }
  Reopen();
  EXPECT_EQ(scan("text", Eq("new text")), "[1]");
}

}  // namespace
}  // namespace meshdb::storage::testing
