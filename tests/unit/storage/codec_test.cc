#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "storage/key_codec.h"
#include "storage/record_codec.h"

namespace meshdb::storage {
namespace {

namespace json = boost::json;

void PutU32ForTest(std::string* out, uint32_t v) {
  for (int shift : {24, 16, 8, 0}) out->push_back(static_cast<char>(v >> shift));
}

std::string Enc(const json::value& v) {
  std::string out;
  EXPECT_TRUE(AppendEncodedValue(v, &out).ok());
  return out;
}

TEST(KeyCodecTest, MixedValuesSortInIndexOrder) {
  std::vector<json::value> ordered = {nullptr, false, true, -1e300, -5.5, -1,
                                      0,       0.25,  1,    2,      1e15, 1e300,
                                      "",      "A",   "a",  "ab",   "b",  "\xc3\xa9"};
  for (size_t i = 0; i + 1 < ordered.size(); ++i) {
    EXPECT_LT(Enc(ordered[i]), Enc(ordered[i + 1]))
        << json::serialize(ordered[i]) << " vs " << json::serialize(ordered[i + 1]);
  }
}

TEST(KeyCodecTest, IntAndDoubleEncodeAlikeAndNegativeZeroIsZero) {
  EXPECT_EQ(Enc(json::value(1)), Enc(json::value(1.0)));
  EXPECT_EQ(Enc(json::value(uint64_t{7})), Enc(json::value(7)));
  EXPECT_EQ(Enc(json::value(-0.0)), Enc(json::value(0)));
}

TEST(KeyCodecTest, RoundTrips) {
  std::vector<json::value> values = {nullptr, false, true,   1,     -42,
                                     0,       3.5,   -0.125, 1e300, int64_t{9007199254740992},
                                     "hello", "",    "a/b"};
  for (const auto& v : values) {
    auto enc = EncodeKey(v);
    ASSERT_TRUE(enc.ok());
    auto dec = DecodeKey(*enc);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(json::serialize(*dec), json::serialize(v));
  }
  // 1 stays an integer, 1.5 a double.
  EXPECT_TRUE(DecodeKey(*EncodeKey(json::value(1.0)))->is_int64());
  EXPECT_TRUE(DecodeKey(*EncodeKey(json::value(1.5)))->is_double());
}

TEST(KeyCodecTest, RejectsObjectsArraysAndLongKeys) {
  EXPECT_TRUE(EncodeKey(json::object{}).status().IsInvalidArgument());
  EXPECT_TRUE(EncodeKey(json::array{1}).status().IsInvalidArgument());
  EXPECT_TRUE(EncodeKey(json::value(std::string(510, 'x'))).ok());
  EXPECT_TRUE(EncodeKey(json::value(std::string(511, 'x'))).status().IsInvalidArgument());
  EXPECT_EQ(DecodeKey(std::string("\x09", 1)).status().code(), Status::Code::kCorruption);
}

TEST(KeyCodecTest, IndexKeysAreTruncated) {
  std::string key;
  EncodeIndexKey("name", json::value("bob"), &key);
  EXPECT_EQ(key, std::string("name\0\x05"
                             "bob",
                             9));
  EXPECT_FALSE(MaybeTruncated(key));
  EncodeIndexKey("name", json::value(std::string(1000, 'z')), &key);
  EXPECT_EQ(key.size(), kMaxKeyBytes);
  EXPECT_TRUE(MaybeTruncated(key));
}

TEST(RecordCodecTest, RecordRoundTrip) {
  std::string bytes;
  EncodeRecord(RecordHeader{false, 0x0102030405060708ull, 9}, json::object{{"id", 1}, {"x", "y"}},
               &bytes);
  EXPECT_EQ(bytes.substr(0, kRecordHeaderBytes),
            std::string("\x01\x00\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x09", 14));
  EXPECT_EQ(bytes.substr(kRecordHeaderBytes), R"({"id":1,"x":"y"})");
  Record r;
  bool tomb = true;
  ASSERT_TRUE(DecodeRecord(bytes, &r, &tomb).ok());
  EXPECT_FALSE(tomb);
  EXPECT_EQ(r.version, 0x0102030405060708ull);
  EXPECT_EQ(r.origin, 9u);
  EXPECT_EQ(json::serialize(r.doc), R"({"id":1,"x":"y"})");

  EncodeRecordHeader(RecordHeader{true, 5, 2}, &bytes);
  ASSERT_TRUE(DecodeRecord(bytes, &r, &tomb).ok());
  EXPECT_TRUE(tomb);
  EXPECT_TRUE(r.doc.empty());
  EXPECT_EQ(DecodeRecord("xx", &r, &tomb).code(), Status::Code::kCorruption);
}

TEST(RecordCodecTest, LogEntryRoundTrip) {
  LogEntry e;
  e.origin = 3;
  e.origin_sequence = 77;
  e.version = 123456;
  e.writes.push_back({"dog",
                      "\x05"
                      "a",
                      "value-bytes"});
  e.writes.push_back({"cat", std::string("\x04\0\0", 3), ""});
  std::string bytes;
  EncodeLogEntry(e, &bytes);
  LogEntry d;
  ASSERT_TRUE(DecodeLogEntry(12, bytes, &d).ok());
  EXPECT_EQ(d.sequence, 12u);
  EXPECT_EQ(d.origin, 3u);
  EXPECT_EQ(d.origin_sequence, 77u);
  EXPECT_EQ(d.version, 123456u);
  ASSERT_EQ(d.writes.size(), 2u);
  EXPECT_EQ(d.writes[0].table, "dog");
  EXPECT_EQ(d.writes[0].key,
            "\x05"
            "a");
  EXPECT_EQ(d.writes[0].value, "value-bytes");
  EXPECT_EQ(d.writes[1].key, std::string("\x04\0\0", 3));
  EXPECT_FALSE(DecodeLogEntry(1, bytes.substr(0, bytes.size() - 1), &d).ok());
}

TEST(RecordCodecTest, LogEntryPartialFlagRoundTripsInTheFormatByte) {
  LogEntry e;
  e.origin = 3;
  e.origin_sequence = 9;
  e.version = 42;
  e.writes.push_back({"dog", "k", "v"});
  std::string complete;
  EncodeLogEntry(e, &complete);
  EXPECT_EQ(static_cast<unsigned char>(complete[0]), 1u);  // unchanged for complete entries
  e.partial = true;
  std::string partial;
  EncodeLogEntry(e, &partial);
  EXPECT_EQ(static_cast<unsigned char>(partial[0]), 2u);

  LogEntry d;
  d.partial = true;
  ASSERT_TRUE(DecodeLogEntry(1, complete, &d).ok());
  EXPECT_FALSE(d.partial);
  ASSERT_TRUE(DecodeLogEntry(2, partial, &d).ok());
  EXPECT_TRUE(d.partial);
  EXPECT_EQ(d.origin, 3u);
  EXPECT_EQ(d.origin_sequence, 9u);
  ASSERT_EQ(d.writes.size(), 1u);
  EXPECT_EQ(d.writes[0].value, "v");

  for (unsigned char bad : {0, 3, 255}) {
    std::string bytes = complete;
    bytes[0] = static_cast<char>(bad);
    EXPECT_EQ(DecodeLogEntry(1, bytes, &d).code(), Status::Code::kCorruption) << int(bad);
  }
}

// A realistic batch: 200 similar rows, the size a group commit logs.
LogEntry BigEntry(bool partial) {
  LogEntry e;
  e.origin = 7;
  e.origin_sequence = 1234;
  e.version = 0x0102030405060708ull;
  e.partial = partial;
  for (int i = 0; i < 200; ++i) {
    std::string value;
    EncodeRecord(RecordHeader{false, 99, 7},
                 json::object{{"id", i},
                              {"name", "user-" + std::to_string(i * 7919)},
                              {"text", "some words that repeat across rows of a table"}},
                 &value);
    e.writes.push_back({"dog", "\x04" + std::to_string(i), value});
  }
  return e;
}

TEST(RecordCodecTest, LargeLogEntryIsStoredCompressedAndRoundTrips) {
  for (bool partial : {false, true}) {
    LogEntry e = BigEntry(partial);
    std::string bytes;
    EncodeLogEntry(e, &bytes);
    EXPECT_EQ(static_cast<unsigned char>(bytes[0]),
              partial ? kLogFormatPartialZstd : kLogFormatCompleteZstd);
    size_t raw = kLogHeaderBytes;
    for (const auto& w : e.writes) raw += 8 + w.table.size() + w.key.size() + w.value.size();
    EXPECT_LT(bytes.size(), raw / 3);
    // The version stays readable in place (retention and time lookups read offset 13).
    EXPECT_EQ(GetU64(bytes.data() + 13), e.version);
    LogEntry d;
    ASSERT_TRUE(DecodeLogEntry(5, bytes, &d).ok());
    EXPECT_EQ(d.partial, partial);
    EXPECT_EQ(d.origin, 7u);
    EXPECT_EQ(d.origin_sequence, 1234u);
    EXPECT_EQ(d.version, e.version);
    ASSERT_EQ(d.writes.size(), e.writes.size());
    for (size_t i = 0; i < e.writes.size(); ++i) {
      EXPECT_EQ(d.writes[i].table, e.writes[i].table);
      EXPECT_EQ(d.writes[i].key, e.writes[i].key);
      EXPECT_EQ(d.writes[i].value, e.writes[i].value);  // record bytes unchanged, byte for byte
    }
  }
}

// A one-row entry of a realistic record is under kLogCompressMinBytes: stored raw, as
// compressing it costs the writer more than the bytes it saves are worth.
TEST(RecordCodecTest, OneRowEntryIsStoredRaw) {
  LogEntry e;
  e.origin = 7;
  e.origin_sequence = 1;
  e.version = 99;
  std::string doc = R"({"id":1234567,"name":"user-42","num":17.5,"text":")" +
                    std::string(120, 'a') +
                    R"(","__createdtime__":1764921234567,"__updatedtime__":1764921234567})";
  e.writes.push_back({"load", "\x04key", std::string(kRecordHeaderBytes, '\0') + doc});
  std::string bytes;
  EncodeLogEntry(e, &bytes);
  const size_t body =
      8 + e.writes[0].table.size() + e.writes[0].key.size() + e.writes[0].value.size();
  ASSERT_LT(body, kLogCompressMinBytes);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), kLogFormatComplete);
  EXPECT_EQ(bytes.size(), kLogHeaderBytes + body);
  LogEntry d;
  ASSERT_TRUE(DecodeLogEntry(1, bytes, &d).ok());
  ASSERT_EQ(d.writes.size(), 1u);
  EXPECT_EQ(d.writes[0].value, e.writes[0].value);
}

// Entries written before compression existed (formats 1 and 2, raw body) still decode.
TEST(RecordCodecTest, UncompressedLogEntriesOfOlderFilesStillDecode) {
  LogEntry e = BigEntry(false);
  std::string old;
  old.push_back(static_cast<char>(kLogFormatComplete));
  PutU32ForTest(&old, e.origin);
  PutU64(&old, e.origin_sequence);
  PutU64(&old, e.version);
  PutU32ForTest(&old, static_cast<uint32_t>(e.writes.size()));
  for (const auto& w : e.writes) {
    old.push_back(0);
    old.push_back(static_cast<char>(w.table.size()));
    old.append(w.table);
    old.push_back(0);
    old.push_back(static_cast<char>(w.key.size()));
    old.append(w.key);
    PutU32ForTest(&old, static_cast<uint32_t>(w.value.size()));
    old.append(w.value);
  }
  for (unsigned char format : {kLogFormatComplete, kLogFormatPartial}) {
    old[0] = static_cast<char>(format);
    LogEntry d;
    ASSERT_TRUE(DecodeLogEntry(3, old, &d).ok());
    EXPECT_EQ(d.partial, format == kLogFormatPartial);
    ASSERT_EQ(d.writes.size(), e.writes.size());
    EXPECT_EQ(d.writes[17].value, e.writes[17].value);
  }
}

TEST(RecordCodecTest, CorruptCompressedLogEntryIsCorruptionNotACrash) {
  std::string good;
  EncodeLogEntry(BigEntry(false), &good);
  ASSERT_EQ(static_cast<unsigned char>(good[0]), kLogFormatCompleteZstd);
  std::vector<std::string> bad;
  for (size_t cut : {kLogHeaderBytes, kLogHeaderBytes + 3, good.size() / 2, good.size() - 1}) {
    bad.push_back(good.substr(0, cut));  // truncated frames
  }
  for (size_t at = kLogHeaderBytes; at < good.size(); at += 7) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);  // damaged frames
    bad.push_back(flipped);
  }
  std::string huge_count = good;
  huge_count[21] = huge_count[22] = huge_count[23] = huge_count[24] = '\xff';
  bad.push_back(huge_count);
  std::string trailing = good + "x";
  bad.push_back(trailing);
  int corrupt = 0;
  for (const std::string& b : bad) {
    LogEntry d;
    Status s = DecodeLogEntry(1, b, &d);
    // A flipped bit inside a literal may still decode to a well-formed entry; never a crash.
    if (!s.ok()) {
      EXPECT_EQ(s.code(), Status::Code::kCorruption);
      ++corrupt;
    }
  }
  EXPECT_GT(corrupt, static_cast<int>(bad.size()) / 2);
}

}  // namespace
}  // namespace meshdb::storage
