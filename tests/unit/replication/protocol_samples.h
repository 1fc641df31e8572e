// Sample replication messages shared by tests/unit/replication/protocol_test.cc and the
// fuzz corpus generator (tests/fuzz/frame_corpus_gen.cc).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "replication/wire/protocol.h"

namespace meshdb::replication {

// The bytes listed, e.g. SampleBytes({0, 1, 255}).
inline std::string SampleBytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// One message of every type, with edge values: binary bytes, NULs, max integers.
inline std::vector<Message> SampleMessages() {
  VersionVector vv;
  vv.Advance(NodeIdForName("node-a"), 42);
  vv.Advance(0xffffffffu, std::numeric_limits<uint64_t>::max());
  std::vector<Message> m;
  m.push_back(Hello{kProtocolVersion,
                    "node-a",
                    "wss://a.example:9925",
                    {"txn-batch", "copy", "credit"},
                    kDefaultMaxFrameBytes,
                    {"dev", "data"}});
  m.push_back(Hello{});
  m.push_back(Error{ErrorCode::kUnsupportedVersion, "speak v1"});
  m.push_back(Error{static_cast<ErrorCode>(65535), ""});
  m.push_back(Subscribe{"dev", {"dog", "cat"}, StartFromVector{vv, 987654321}, std::nullopt});
  m.push_back(Subscribe{"dev", {}, StartFromVector{}, std::nullopt});
  m.push_back(Subscribe{"dev", {}, StartWithCopy{}, std::nullopt});
  m.push_back(Subscribe{"dev", {"dog"}, StartFromTime{1700000000000}, std::nullopt});
  m.push_back(Subscribe{"dev", {}, StartFromVector{vv, 5}, std::vector<TableRule>{}});
  m.push_back(Subscribe{
      "dev", {}, StartFromVector{vv, 5}, std::vector<TableRule>{{"*", false}, {"dog", true}}});
  m.push_back(CopyBegin{"dev", vv, 123456789});
  m.push_back(CopyChunk{"dev",
                        "dog",
                        R"({"name":"dog"})",
                        {{SampleBytes({0, 1, 255}), std::string(300, 'v')}, {"k2", ""}},
                        false,
                        {}});
  m.push_back(CopyChunk{"dev", "dog", "", {}, false, {}});
  // "copy-stored": stored values and the dictionaries they name.
  m.push_back(CopyChunk{"dev",
                        "dog",
                        "",
                        {{"k", SampleBytes({2, 0, 1})}},
                        true,
                        {{0xfedcba98u, std::string(40, 'd')}, {1, ""}}});
  m.push_back(CopyChunk{"dev", "dog", "", {}, true, {}});
  m.push_back(CopyEnd{"dev"});
  m.push_back(CopyEnd{"dev", std::numeric_limits<uint64_t>::max()});
  TxnEntry e1{
      7,    0xffffffffu,
      3,    std::numeric_limits<uint64_t>::max(),
      true, {{"dog", SampleBytes({0x20, 0, 0x7f}), SampleBytes({1, 2, 0, 3})}, {"cat", "k", ""}}};
  TxnEntry e2{8, 1, 1, 0, false, {}};
  m.push_back(Transactions{"dev", {e1, e2}});
  m.push_back(Transactions{"", {}});
  m.push_back(Ack{"dev", std::numeric_limits<uint64_t>::max()});
  m.push_back(Credit{"dev", 0xffffffffu});
  m.push_back(Schema{"dev", R"({"name":"dog","primary_key":"id"})"});
  m.push_back(Ping{std::numeric_limits<uint64_t>::max(), 1});
  m.push_back(Pong{0, 1700000000123});
  m.push_back(MergeBegin{"dev", 500, 12, 3});
  m.push_back(MergeBegin{"dev", 0, 12, 1, true});
  m.push_back(MergeHashes{"dev",
                          "dog",
                          R"({"name":"dog"})",
                          4,
                          {0, 1, std::numeric_limits<uint64_t>::max(), 0x0102030405060708ull}});
  m.push_back(MergeRequest{"dev", "dog", {0, 3, 65535}});
  m.push_back(MergeRequest{"dev", "dog", {}});
  m.push_back(MergeRows{"dev", "dog", {{SampleBytes({0, 1}), std::string(40, 'r')}, {"k", ""}}});
  m.push_back(MergeEnd{"dev", vv, 77, 1000});
  m.push_back(MergeTotal{"dev", 0});
  m.push_back(MergeTotal{"dev", std::numeric_limits<uint64_t>::max()});
  m.push_back(VerifyRequest{std::numeric_limits<uint64_t>::max(), "dev", ""});
  m.push_back(VerifyRequest{1, "dev", "dog"});
  m.push_back(VerifyResponse{
      1, "dev", "", {{"dog", std::numeric_limits<uint64_t>::max(), 3}, {"cat", 0, 0}}});
  m.push_back(VerifyResponse{2, "dev", "database 'dev' does not exist", {}});
  m.push_back(JoinRequest{"node-c", "wss://node-c:9933",
                          "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
                          "REQUEST-----\n",
                          "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"});
  m.push_back(JoinRequest{});
  m.push_back(JoinGrant{"node-a", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                        "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n", ""});
  m.push_back(JoinGrant{"node-b", "",
                        "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
                        "-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n"
                        "-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----\n"});
  m.push_back(PeerCall{7, "renew-certificate",
                       "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE "
                       "REQUEST-----\n"});
  m.push_back(PeerCall{});
  m.push_back(
      PeerCallResult{7, "", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"});
  m.push_back(PeerCallResult{8, "'x' is not a member", ""});
  return m;
}

}  // namespace meshdb::replication
