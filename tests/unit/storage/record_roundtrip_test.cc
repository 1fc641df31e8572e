// Property test: every document the operations API accepts survives the record codec.
// Random JSON texts (extreme and out-of-range numbers, nesting to the parser's depth limit,
// escaped NULs, surrogate pairs, other escapes) go through what the dispatcher does with a
// body (ParseJson, then FindNonFiniteNumber); each
// accepted document must come back from EncodeRecord + DecodeRecord equal to itself, and
// each refused one must be refused for the number a double cannot hold.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "common/json_parse.h"
#include "common/json_text.h"
#include "storage/record_codec.h"

namespace meshdb::storage {
namespace {

namespace json = boost::json;

// A record sits two levels down in a body ({"records":[{...}]}).
constexpr int kMaxRecordDepth = static_cast<int>(kMaxJsonDepth) - 2;

class JsonTextGenerator {
 public:
  explicit JsonTextGenerator(uint32_t seed) : rng_(seed) {}

  // A JSON object text nesting at most `depth` levels (the object itself is one).
  std::string Object(int depth) {
    std::string out = "{";
    const int fields = Pick(0, 5);
    for (int i = 0; i < fields; ++i) {
      if (i > 0) out += ',';
      out += String();
      out += ':';
      out += Value(depth - 1);
    }
    return out + '}';
  }

  // An object nested exactly `depth` levels: objects and arrays alternating inward.
  std::string Deep(int depth) { return DeepValue(depth, true); }

  // Whether a number a double cannot hold was written since the last call.
  bool TakeOutOfRange() { return std::exchange(out_of_range_, false); }

 private:
  std::string DeepValue(int depth, bool object) {
    if (depth <= 1) return object ? "{\"leaf\":" + Number() + "}" : "[" + String() + "]";
    std::string inner = DeepValue(depth - 1, !object);
    return object ? "{\"n\":" + inner + "}" : "[" + inner + "]";
  }

  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::string Value(int depth) {
    const int kind = Pick(0, depth > 0 ? 7 : 5);
    switch (kind) {
      case 0:
        return "null";
      case 1:
        return Pick(0, 1) ? "true" : "false";
      case 2:
      case 3:
        return Number();
      case 4:
      case 5:
        return String();
      case 6: {
        std::string out = "[";
        const int n = Pick(0, 4);
        for (int i = 0; i < n; ++i) out += (i ? "," : "") + Value(depth - 1);
        return out + ']';
      }
      default:
        return Object(depth);
    }
  }

  std::string Number() {
    static const char* const kEdges[] = {
        "0",
        "-0",
        "-0.0",
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "4.9e-324",
        "-4.9e-324",
        "2.2250738585072014e-308",
        "1e-400",
        "-1e-400",  // underflow to zero: representable
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "0.1",
        "1e21",
        "1E-7",
        "1e400",
        "-1e400",
        "1.8e308",
        "-2e308",  // a double cannot hold these
        "",        // stands for a 401-digit integer, which neither can
    };
    const int pick = Pick(0, 3);
    std::string text;
    if (pick == 0) {
      text = kEdges[Pick(0, std::size(kEdges) - 1)];
      if (text.empty()) text = "1" + std::string(400, '0');
    } else if (pick == 1) {
      text = std::to_string(std::uniform_int_distribution<int64_t>()(rng_));
    } else {
      std::uniform_real_distribution<double> mantissa(-10, 10);
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17ge%d", mantissa(rng_), Pick(-330, 330));
      text = buf;
    }
    json::value parsed = json::parse(text);  // what a body would hold
    if (parsed.is_double() && !std::isfinite(parsed.get_double())) out_of_range_ = true;
    return text;
  }

  std::string String() {
    static const char* const kPieces[] = {
        "a",
        "Z",
        "\\u0000",
        "\\ud83d\\ude00",
        "\\\"",
        "\\\\",
        "\\/",
        "\\n",
        "\\t",
        "\\b\\f\\r",
        "\\u00e9",
        "\xc3\xa9",  // é, raw UTF-8
        "\xe2\x82\xac",
        "\xf0\x9f\x98\x80",  // €, and U+1F600 as raw UTF-8
        "\\u001f",
        "\\uFFFF",
        " ",
        "key",
        "\\u2028",
    };
    std::string out = "\"";
    const int n = Pick(0, 6);
    for (int i = 0; i < n; ++i) out += kPieces[Pick(0, std::size(kPieces) - 1)];
    return out + '"';
  }

  std::mt19937 rng_;
  bool out_of_range_ = false;
};

// What the dispatcher does with a body: parse it, then refuse a non-finite number. Returns
// the accepted value, or nullopt after checking why it was refused.
std::optional<json::value> Accept(const std::string& text, bool expect_out_of_range) {
  boost::system::error_code ec;
  ParseJsonInfo info;
  json::value v = ParseJson(text, ec, &info);
  EXPECT_FALSE(ec) << ec.message() << " in " << text;
  if (ec) return std::nullopt;
  // The dispatcher walks the value only when the parser saw a non-finite number (which a
  // later duplicate key may have replaced).
  const bool found = FindNonFiniteNumber(v).has_value();
  EXPECT_TRUE(info.non_finite || !found) << text;
  if (found) {
    EXPECT_TRUE(expect_out_of_range) << text;
    return std::nullopt;
  }
  return v;
}

void ExpectRoundTrip(const json::value& accepted) {
  RecordHeader header{false, 0x0123456789abcdefULL, 0xfeedbeefU};
  std::string bytes;
  EncodeRecord(header, accepted.as_object(), &bytes);
  Record decoded;
  bool tombstone = true;
  Status st = DecodeRecord(bytes, &decoded, &tombstone);
  ASSERT_TRUE(st.ok()) << st.ToString() << " for " << json::serialize(accepted);
  EXPECT_FALSE(tombstone);
  EXPECT_EQ(decoded.version, header.version);
  EXPECT_EQ(decoded.origin, header.origin);
  EXPECT_EQ(json::value(decoded.doc), accepted) << json::serialize(accepted);
  // What a client reads (ToJsonText writes integral doubles as integers, as JavaScript does)
  // parses back to a document that reads the same.
  boost::system::error_code ec;
  const std::string text = ToJsonText(accepted);
  EXPECT_EQ(ToJsonText(ParseJson(text, ec)), text);
}

TEST(RecordRoundTripTest, EveryAcceptedRandomDocumentRoundTrips) {
  constexpr uint32_t kSeed = 20261203;
  JsonTextGenerator gen(kSeed);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string text = gen.Object(1 + i % kMaxRecordDepth);
    std::optional<json::value> v = Accept(text, gen.TakeOutOfRange());
    if (v) {
      ExpectRoundTrip(*v);
      ++accepted;
    } else {
      ++refused;
    }
  }
  // Both branches ran: the generator is not so tame that nothing was refused.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 100);
}

TEST(RecordRoundTripTest, DocumentsNestedToTheAcceptedLimitRoundTrip) {
  JsonTextGenerator gen(7);
  for (int depth = 1; depth <= kMaxRecordDepth; ++depth) {
    const std::string record = gen.Deep(depth);
    // As the body that carries it: two more levels.
    const std::string body = R"({"operation":"insert","records":[)" + record + "]}";
    std::optional<json::value> v = Accept(body, false);
    ASSERT_TRUE(v.has_value()) << "depth " << depth;
    ExpectRoundTrip(v->at("records").at(0));
  }
  // One level more is refused by the parser, so never stored.
  boost::system::error_code ec;
  ParseJson(R"({"operation":"insert","records":[)" + gen.Deep(kMaxRecordDepth + 1) + "]}", ec);
  EXPECT_EQ(ec, json::error::too_deep);
}

TEST(RecordRoundTripTest, OutOfRangeNumbersAreFoundWherever) {
  EXPECT_EQ(FindNonFiniteNumber(json::parse(R"({"id":"x","v":1e400})")), "v");
  EXPECT_EQ(FindNonFiniteNumber(json::parse(R"({"records":[{"id":1},{"a":{"b":[1,-1e400]}}]})")),
            "records[1].a.b[1]");
  EXPECT_EQ(FindNonFiniteNumber(json::parse(R"({"v":1.7976931348623157e308,"w":1e-400})")),
            std::nullopt);
}

}  // namespace
}  // namespace meshdb::storage
