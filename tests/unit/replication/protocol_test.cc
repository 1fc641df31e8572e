#include "replication/wire/protocol.h"

#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "protocol_samples.h"
#include "storage/store.h"

namespace meshdb::replication {
namespace {

constexpr size_t kMax = kDefaultMaxFrameBytes;
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::vector<Message> Samples() { return SampleMessages(); }

TEST(ProtocolTest, SamplesCoverEveryType) {
  std::vector<bool> seen(kMaxMessageType + 1, false);
  for (const auto& m : Samples()) seen[static_cast<size_t>(TypeOf(m))] = true;
  for (uint8_t t = 1; t <= kMaxMessageType; ++t) EXPECT_TRUE(seen[t]) << int(t);
}

TEST(ProtocolTest, RoundTripEveryMessage) {
  for (const auto& m : Samples()) {
    const std::string frame = EncodeFrame(m);
    SCOPED_TRACE(std::string(MessageTypeName(TypeOf(m))));
    ASSERT_FALSE(frame.empty());
    EXPECT_EQ(static_cast<uint8_t>(frame[0]), static_cast<uint8_t>(TypeOf(m)));
    auto d = DecodeFrame(frame, kMax);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_TRUE(*d == m);
    EXPECT_EQ(EncodeFrame(*d), frame);
  }
}

TEST(ProtocolTest, ExactBytesOfSmallFrames) {
  EXPECT_EQ(EncodeFrame(Ping{1, 300}), Bytes({11, 1, 0xac, 0x02}));
  EXPECT_EQ(EncodeFrame(Ack{"db", 5}), Bytes({8, 2, 'd', 'b', 5}));
  EXPECT_EQ(EncodeFrame(Subscribe{"d", {}, StartWithCopy{}, std::nullopt}),
            Bytes({3, 1, 'd', 0, 1, 0}));
  EXPECT_EQ(EncodeFrame(Credit{"d", 16}), Bytes({9, 1, 'd', 16}));
  EXPECT_EQ(EncodeFrame(MergeTotal{"d", 300}), Bytes({24, 1, 'd', 0xac, 0x02}));
  VersionVector vv;
  vv.Advance(3, 200);
  EXPECT_EQ(EncodeFrame(Subscribe{"d", {"t"}, StartFromVector{vv, 7}, std::nullopt}),
            Bytes({3, 1, 'd', 1, 1, 't', 0, 1, 3, 0xc8, 0x01, 7, 0}));
}

std::string Hex(const std::string& bytes) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// The example exchange of docs/protocol.md §5, byte for byte.
TEST(ProtocolTest, DocsExampleBytes) {
  const uint32_t a = NodeIdForName("node-a");
  EXPECT_EQ(a, 0x04c3b593u);
  EXPECT_EQ(NodeIdForName("node-b"), 0x05c3b726u);
  EXPECT_EQ(Hex(EncodeFrame(Hello{
                2, "node-b", "wss://b:9933", {"txn-batch", "copy", "credit"}, 16777216, {"dev"}})),
            "0102066e6f64652d620c7773733a2f2f623a3939333303097478"
            "6e2d626174636804636f707906637265646974808080080103646576");
  VersionVector vv;
  vv.Advance(a, 41);
  EXPECT_EQ(Hex(EncodeFrame(Subscribe{"dev", {}, StartFromVector{vv, 41}, std::nullopt})),
            "0303646576000001"
            "93eb8e26"
            "2929"
            "00");
  EXPECT_EQ(Hex(EncodeFrame(Credit{"dev", 8})),
            "0903646576"
            "08");
  TxnEntry e{42,    a,
             42,    uint64_t{1700000000000} << 16,
             false, {{"dog", "\x03k1", std::string("\0...", 4)}}};
  EXPECT_EQ(Hex(EncodeFrame(Transactions{"dev", {e}})),
            "0703646576012a93eb8e262a808080c0d6fcf3c501000103646f6703036b3104002e2e2e");
  EXPECT_EQ(Hex(EncodeFrame(Ack{"dev", 42})), "08036465762a");
  EXPECT_EQ(Hex(EncodeFrame(Ping{7, 1700000000500})), "0b07f4d395ffbc31");
  EXPECT_EQ(Hex(EncodeFrame(Pong{7, 1700000000500})), "0c07f4d395ffbc31");
}

TEST(ProtocolTest, AppendFrameAppends) {
  std::string out = "x";
  AppendFrame(Ping{1, 2}, &out);
  EXPECT_EQ(out, "x" + EncodeFrame(Ping{1, 2}));
}

TEST(ProtocolTest, EveryTruncationIsRejected) {
  for (const auto& m : Samples()) {
    const std::string frame = EncodeFrame(m);
    // A "copy-stored" CopyChunk cut just before its trailing fields is a valid chunk of
    // record bytes (a WebSocket message arrives whole or not at all; the receiver's checks of
    // the values would refuse compressed ones).
    size_t plain_length = SIZE_MAX;
    if (const auto* chunk = std::get_if<CopyChunk>(&m); chunk && chunk->stored_values) {
      CopyChunk plain = *chunk;
      plain.stored_values = false;
      plain.dictionaries.clear();
      plain_length = EncodeFrame(plain).size();
    }
    for (size_t len = 0; len < frame.size(); ++len) {
      if (len == plain_length) continue;
      auto d = DecodeFrame(std::string_view(frame).substr(0, len), kMax);
      ASSERT_FALSE(d.ok()) << MessageTypeName(TypeOf(m)) << " cut at " << len;
      EXPECT_EQ(d.status().code(), Status::Code::kCorruption);
    }
  }
}

TEST(ProtocolTest, TrailingBytesAreRejected) {
  for (const auto& m : Samples()) {
    auto d = DecodeFrame(EncodeFrame(m) + '\0', kMax);
    ASSERT_FALSE(d.ok()) << MessageTypeName(TypeOf(m));
    EXPECT_NE(d.status().message().find("1 trailing bytes"), std::string::npos)
        << d.status().ToString();
  }
  EXPECT_EQ(DecodeFrame(Bytes({11, 1, 2, 9, 9}), kMax).status().ToString(),
            "Corruption: Ping frame: end: 2 trailing bytes at offset 3");
}

TEST(ProtocolTest, OversizedFrameIsTooLarge) {
  const std::string frame = EncodeFrame(Schema{"dev", std::string(1000, 'x')});
  EXPECT_TRUE(DecodeFrame(frame, frame.size()).ok());
  auto d = DecodeFrame(frame, frame.size() - 1);
  EXPECT_EQ(d.status().code(), Status::Code::kTooLarge);
  EXPECT_EQ(d.status().ToString(), "TooLarge: frame of 1007 bytes exceeds max_frame_bytes 1006");
}

TEST(ProtocolTest, UnknownAndEmptyFramesAreCorruption) {
  EXPECT_EQ(DecodeFrame("", kMax).status().ToString(), "Corruption: empty frame");
  for (int t : {0, 25, 127, 200, 255}) {
    auto d = DecodeFrame(Bytes({t, 0, 0}), kMax);
    EXPECT_EQ(d.status().ToString(), "Corruption: unknown message type " + std::to_string(t));
  }
}

TEST(ProtocolTest, VarintLimits) {
  // u64 max takes 10 bytes: nine 0xff then 0x01.
  std::string max_nonce =
      Bytes({11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0});
  auto ok = DecodeFrame(max_nonce, kMax);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(std::get<Ping>(*ok).nonce, kU64Max);

  // Bit 64 set in the 10th byte.
  EXPECT_EQ(
      DecodeFrame(Bytes({11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0}), kMax)
          .status()
          .ToString(),
      "Corruption: Ping frame: nonce: varint overflows 64 bits at offset 1");
  // More than 10 bytes.
  std::string eleven = Bytes({11});
  eleven.append(10, '\x80');
  eleven += Bytes({0, 0});
  EXPECT_EQ(DecodeFrame(eleven, kMax).status().ToString(),
            "Corruption: Ping frame: nonce: varint longer than 10 bytes at offset 1");
  // Non-minimal: 0 written as 0x80 0x00.
  EXPECT_EQ(DecodeFrame(Bytes({11, 0x80, 0x00, 0}), kMax).status().ToString(),
            "Corruption: Ping frame: nonce: non-minimal varint at offset 1");
  // Value too wide for a u32 field (Credit.frames = 2^32).
  EXPECT_EQ(DecodeFrame(Bytes({9, 0, 0x80, 0x80, 0x80, 0x80, 0x10}), kMax).status().ToString(),
            "Corruption: Credit frame: frames: value 4294967296 does not fit 32 bits at offset 2");
  // u16 field (Error.code = 65536).
  EXPECT_FALSE(DecodeFrame(Bytes({2, 0x80, 0x80, 0x04, 0}), kMax).ok());
}

TEST(ProtocolTest, HugeDeclaredLengthsAreRejectedWithoutAllocating) {
  // Transactions{database "d", entries count 2^62}, then 3 bytes.
  std::string count_bomb =
      Bytes({7, 1, 'd', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 1, 1});
  // CopyChunk with a 2^40-byte key.
  std::string length_bomb =
      Bytes({5, 1, 'd', 1, 't', 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 'k'});
  // Hello capabilities count 1e9.
  std::string list_bomb = Bytes({1, kProtocolVersion, 1, 'a', 0, 0x80, 0x94, 0xeb, 0xdc, 0x03});
  for (const std::string& frame : {count_bomb, length_bomb, list_bomb}) {
    const size_t before = AllocatedBytesForTesting();
    auto d = DecodeFrame(frame, kMax);
    const size_t used = AllocatedBytesForTesting() - before;
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Status::Code::kCorruption);
    EXPECT_LT(used, 2048u) << d.status().ToString();
  }
  EXPECT_EQ(DecodeFrame(count_bomb, kMax).status().ToString(),
            "Corruption: Transactions frame: entries: declared count 4611686018427387904 cannot "
            "fit in the 3 bytes left at offset 12");
  EXPECT_EQ(DecodeFrame(length_bomb, kMax).status().ToString(),
            "Corruption: CopyChunk frame: records.key: declared length 1099511627776 exceeds the "
            "1 bytes left at offset 13");
}

TEST(ProtocolTest, ErrorsNameTheField) {
  std::string frame =
      EncodeFrame(Transactions{"dev", {TxnEntry{1, 2, 3, 4, false, {{"t", "key", "v"}}}}});
  // Cut inside the key bytes.
  auto d = DecodeFrame(std::string_view(frame).substr(0, frame.size() - 3), kMax);
  EXPECT_EQ(d.status().ToString(),
            "Corruption: Transactions frame: entries.writes.key: declared length 3 exceeds the "
            "2 bytes left at offset 15");
  // A bad start tag.
  EXPECT_EQ(DecodeFrame(Bytes({3, 1, 'd', 0, 7}), kMax).status().ToString(),
            "Corruption: Subscribe frame: start: unknown start tag 7 at offset 5");
}

TEST(ProtocolTest, UnknownEntryFlagsAreRejected) {
  // Transactions "dev", one entry: sequence 1, origin 2, origin sequence 3, version 4,
  // flags 2 (unknown), no writes.
  EXPECT_EQ(
      DecodeFrame(Bytes({7, 3, 'd', 'e', 'v', 1, 1, 2, 3, 4, 2, 0}), kMax).status().ToString(),
      "Corruption: Transactions frame: entries.flags: unknown flags 2 at offset 11");
}

TEST(ProtocolTest, HelloOfAnotherVersionDecodesOnlyTheVersion) {
  // Version 3, followed by bytes in a layout v2 does not know.
  auto d = DecodeFrame(Bytes({1, 3, 0xff, 0xff, 0x99}), kMax);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  const Hello& h = std::get<Hello>(*d);
  EXPECT_EQ(h.protocol_version, 3);
  EXPECT_EQ(h.node_name, "");
  auto err = CheckPeerHello(h, "me");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(err->reason, "protocol version 3 is not supported; this node speaks 2");
  EXPECT_EQ(EncodeFrame(h), Bytes({1, 3}));
}

TEST(ProtocolTest, CheckPeerHello) {
  Hello h{kProtocolVersion, "node-b", "wss://b", {}, kMax, {"dev"}};
  EXPECT_FALSE(CheckPeerHello(h, "node-a").has_value());
  EXPECT_EQ(CheckPeerHello(h, "node-b")->code, ErrorCode::kNameConflict);
  h.node_name = "";
  EXPECT_EQ(CheckPeerHello(h, "node-a")->code, ErrorCode::kProtocol);
  h.node_name = "node-b";
  h.max_frame_bytes = 0;
  EXPECT_EQ(CheckPeerHello(h, "node-a")->code, ErrorCode::kProtocol);
}

TEST(ProtocolTest, NodeIdForNameIsFnv1a32) {
  EXPECT_EQ(NodeIdForName(""), 0x811c9dc5u);
  EXPECT_EQ(NodeIdForName("a"), 0xe40c292cu);
  EXPECT_EQ(NodeIdForName("foobar"), 0xbf9cf968u);
  EXPECT_EQ(NodeIdForName("node-a"), NodeIdForName(std::string("node-") + "a"));
  EXPECT_NE(NodeIdForName("node-a"), NodeIdForName("node-b"));
  // FNV-1a("ppkttia") == 0, and 0 means "no node".
  EXPECT_EQ(NodeIdForName("ppkttia"), 1u);
}

TEST(ProtocolTest, TxnEntryWireBytesMatchesEncoding) {
  TxnEntry e{1000,    0xffffffffu, 5,
             kU64Max, true,        {{"dog", std::string(200, 'k'), "v"}, {"c", "", ""}}};
  Transactions t{"dev", {e, e}};
  EXPECT_EQ(EncodeFrame(t).size(), TransactionsOverheadBytes("dev", 2) + 2 * TxnEntryWireBytes(e));
}

TEST(ProtocolTest, TxnEntryFromLogMovesBytes) {
  storage::LogEntry log;
  log.sequence = 9;
  log.origin = 4;
  log.origin_sequence = 2;
  log.version = 77;
  log.partial = true;
  log.writes.push_back({"dog", Bytes({0x20, 1}), Bytes({0, 9})});
  TxnEntry e = TxnEntryFromLog(std::move(log));
  EXPECT_TRUE((e == TxnEntry{9, 4, 2, 77, true, {{"dog", Bytes({0x20, 1}), Bytes({0, 9})}}}));
}

TEST(ProtocolTest, MessageTypeNames) {
  EXPECT_EQ(MessageTypeName(MessageType::kTransactions), "Transactions");
  EXPECT_EQ(MessageTypeName(static_cast<MessageType>(99)), "Unknown");
  EXPECT_EQ(TypeOf(Message(Pong{})), MessageType::kPong);
}

}  // namespace
}  // namespace meshdb::replication

namespace meshdb::replication {
namespace {

TEST(ProtocolTest, MergeHashesRejectsBadBucketCounts) {
  for (uint32_t count : {0u, 3u, 131072u}) {
    MergeHashes h{"dev", "dog", "", count, std::vector<uint64_t>(count, 0)};
    auto d = DecodeFrame(EncodeFrame(h), 16 << 20);
    EXPECT_EQ(d.status().code(), Status::Code::kCorruption) << count;
  }
  MergeHashes short_hashes{"dev", "dog", "", 4, {1, 2, 3}};
  EXPECT_EQ(DecodeFrame(EncodeFrame(short_hashes), 1 << 20).status().code(),
            Status::Code::kCorruption);
}

}  // namespace
}  // namespace meshdb::replication

namespace meshdb::replication {
namespace {

// "copy-stored": a chunk without stored values encodes exactly as before the capability (an
// older peer decodes it); the trailing fields are checked.
TEST(ProtocolTest, CopyChunkStoredValuesAreTrailingAndChecked) {
  CopyChunk plain{"d", "t", "", {{"k", "v"}}, false, {}};
  const std::string old_layout = Bytes({5, 1, 'd', 1, 't', 0, 1, 1, 'k', 1, 'v'});
  EXPECT_EQ(EncodeFrame(plain), old_layout);
  CopyChunk stored = plain;
  stored.stored_values = true;
  stored.dictionaries.push_back({300, "dict"});
  const std::string frame = EncodeFrame(stored);
  EXPECT_EQ(frame, old_layout + Bytes({1, 1, 0xac, 0x02, 4, 'd', 'i', 'c', 't'}));
  auto back = DecodeFrame(frame, kMax);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(std::get<CopyChunk>(*back), stored);
  // Unknown flag bits, no flags (dictionaries without stored values), a truncated dictionary.
  for (const std::string& bad : {old_layout + Bytes({2, 0}), old_layout + Bytes({0, 1, 1, 0}),
                                 old_layout + Bytes({1, 1, 0xac, 0x02, 9, 'd'})}) {
    auto d = DecodeFrame(bad, kMax);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Status::Code::kCorruption) << d.status().ToString();
  }
}

}  // namespace
}  // namespace meshdb::replication
