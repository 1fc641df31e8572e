// cluster_status's `connections` read back typed (link_summary.h): what membership waits on
// when it removes a node, and which peers the console's peer_links asks.
#include "replication/engine/link_summary.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace meshdb::replication {
namespace {

std::vector<PeerLinkSummary> Summarize(const char* text) {
  return SummarizeLinks(boost::json::parse(text).as_array());
}

TEST(LinkSummary, ReadsEachPeerAndItsSockets) {
  std::vector<PeerLinkSummary> peers = Summarize(R"([
    {"name": "b", "url": "wss://b:9933", "replicates": true, "database_sockets": [
      {"database": "system", "connected": true, "acked_sequence": 42},
      {"database": "dev", "connected": false, "acked_sequence": 7}]},
    {"name": "", "url": "wss://c:9933", "database_sockets": []}])");
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0].name, "b");
  EXPECT_EQ(peers[0].url, "wss://b:9933");
  ASSERT_EQ(peers[0].sockets.size(), 2u);
  EXPECT_EQ(peers[0].sockets[1].database, "dev");
  EXPECT_FALSE(peers[0].sockets[1].connected);
  EXPECT_EQ(peers[0].sockets[1].acked_sequence, 7u);
  ASSERT_EQ(peers[0].SystemSockets().size(), 1u);
  EXPECT_EQ(peers[0].SystemSockets()[0].acked_sequence, 42u);
  EXPECT_TRUE(peers[0].SystemLinkLive());
  // A route that has not answered yet: no name, no sockets, no live system link.
  EXPECT_EQ(peers[1].name, "");
  EXPECT_EQ(peers[1].url, "wss://c:9933");
  EXPECT_FALSE(peers[1].SystemLinkLive());
}

TEST(LinkSummary, AMissingOrMistypedFieldReadsAsItsDefault) {
  std::vector<PeerLinkSummary> peers = Summarize(R"([
    7,
    {"name": 3, "database_sockets": [
      "not an object",
      {"database": "system", "connected": "yes", "acked_sequence": -1},
      {"database": "system", "acked_sequence": "9"}]},
    {"url": "wss://d:9933", "database_sockets": {"system": true}}])");
  ASSERT_EQ(peers.size(), 2u);  // the number is not a peer
  EXPECT_EQ(peers[0].name, "");
  ASSERT_EQ(peers[0].SystemSockets().size(), 2u);
  for (const SocketSummary& s : peers[0].SystemSockets()) {
    EXPECT_FALSE(s.connected);
    EXPECT_EQ(s.acked_sequence, 0u);
  }
  EXPECT_FALSE(peers[0].SystemLinkLive());
  EXPECT_EQ(peers[1].url, "wss://d:9933");
  EXPECT_TRUE(peers[1].sockets.empty());
}

}  // namespace
}  // namespace meshdb::replication
