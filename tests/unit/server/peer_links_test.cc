#include "server/peer_links.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdint>
#include <string>

namespace meshdb::server {
namespace {

namespace json = boost::json;

// A ConnectionsStatus entry as cluster_status shows it, with fields that must not leave.
constexpr const char* kConnections = R"([
  {"name": "c", "url": "wss://c:9933", "replicates": true, "subscriptions": null,
   "database_sockets": [
     {"database": "dev", "state": "Backoff", "connected": false, "records_behind": 40,
      "ms_behind": 2500, "latency": 0.4, "sent_sequence": 9, "acked_sequence": 5,
      "last_error": "cannot apply: row text", "last_dial_error": "peer refused our credentials",
      "copy_progress": null,
      "merge_progress": {"phase": "receiving", "records": 3, "total": 9, "rate": 1.5,
                         "elapsed_ms": 70, "secret": "x"},
      "merge_send_progress": null, "bytes_sent": 100}]},
  {"url": "ws://unnamed:9925", "database_sockets": []}
])";

TEST(PeerLinks, SummaryKeepsOnlyWhatDrawsALink) {
  json::array links = SummarizeLinks(json::parse(kConnections).as_array());
  ASSERT_EQ(links.size(), 1u) << "an entry without a name is dropped";
  const json::object& link = links[0].as_object();
  EXPECT_EQ(link.size(), 2u) << json::serialize(link);  // name, database_sockets
  EXPECT_EQ(link.at("name").as_string(), "c");
  const json::object& socket = link.at("database_sockets").as_array()[0].as_object();
  EXPECT_EQ(socket.at("database").as_string(), "dev");
  EXPECT_EQ(socket.at("state").as_string(), "Backoff");
  EXPECT_FALSE(socket.at("connected").as_bool());
  EXPECT_EQ(socket.at("records_behind").to_number<int64_t>(), 40);
  EXPECT_EQ(socket.at("ms_behind").to_number<int64_t>(), 2500);
  EXPECT_EQ(socket.at("last_dial_error").as_string(), "peer refused our credentials");
  EXPECT_TRUE(socket.at("copy_progress").is_null());
  EXPECT_EQ(socket.at("merge_progress").as_object().size(), 5u);
  for (const char* gone : {"url", "latency", "sent_sequence", "last_error", "bytes_sent"}) {
    EXPECT_FALSE(socket.contains(gone)) << gone;
    EXPECT_FALSE(link.contains(gone)) << gone;
  }
}

TEST(PeerLinks, AnEntryFromAnAnswerIsReducedAgainAndNamedByTheLink) {
  std::string answer = LinkSummaryAnswer("b", json::parse(kConnections).as_array());
  // A member claiming another name, or adding fields, changes nothing of what is shown.
  json::object claimed = json::parse(answer).as_object();
  claimed["node_name"] = "someone-else";
  claimed["links"].as_array()[0].as_object()["url"] = "wss://c:9933";
  json::object entry = PeerLinksEntry("b", json::serialize(claimed));
  EXPECT_EQ(entry.at("node_name").as_string(), "b");
  EXPECT_EQ(entry.at("status").as_string(), "ok");
  const json::object& link = entry.at("links").as_array()[0].as_object();
  EXPECT_EQ(link.at("name").as_string(), "c");
  EXPECT_FALSE(link.contains("url"));
}

TEST(PeerLinks, AMemberThatDoesNotAnswerIsUnknownWithTheReason) {
  json::object entry = PeerLinksEntry("c", Status::Unavailable("'c' did not answer in time"));
  EXPECT_EQ(entry.at("node_name").as_string(), "c");
  EXPECT_EQ(entry.at("status").as_string(), "unknown");
  EXPECT_EQ(entry.at("reason").as_string(), "'c' did not answer in time");
  EXPECT_FALSE(entry.contains("links"));
}

TEST(PeerLinks, AnAnswerThatIsNotASummaryIsUnknown) {
  for (const char* answer : {"", "not json", "[]", R"({"links": 3})"}) {
    json::object entry = PeerLinksEntry("b", std::string(answer));
    EXPECT_EQ(entry.at("status").as_string(), "unknown") << answer;
    EXPECT_EQ(entry.at("reason").as_string(), "its answer is not a link summary") << answer;
  }
}

}  // namespace
}  // namespace meshdb::server
