#include "cli/status_view.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

namespace meshdb::cli {
namespace {

// One peer "b" with one socket of "dev" carrying `socket_fields` (JSON members).
std::string Format(const std::string& socket_fields) {
  return FormatStatus(boost::json::parse(
      R"({"node_name": "a", "url": "ws://a:9925", "link_errors": 0, "connections": [
          {"name": "b", "database_sockets": [{"database": "dev", "state": "CatchingUp",
           "connected": true, "records_behind": 7, "ms_behind": 12, )" +
      socket_fields + "}]}]}"));
}

// The cell of `column` in the first row under the header of `out`.
std::string Cell(const std::string& out, const std::string& column) {
  const size_t header = out.find("PEER");
  const size_t row = out.find('\n', header) + 1;
  const size_t at = out.find(column, header) - header;
  const size_t end = out.find("  ", row + at);
  return out.substr(row + at, end - row - at);
}

TEST(StatusView, ShowsACopyAsRecordsOfTotal) {
  std::string out = Format(R"("copy_progress": {"records": 1500, "total": 20000})");
  EXPECT_EQ(Cell(out, "COPY"), "1500/20000");
  EXPECT_EQ(Cell(out, "MERGE"), "-");
}

TEST(StatusView, ShowsAMergeBothWaysWithPhaseAndTotal) {
  std::string out = Format(
      R"("copy_progress": null,
         "merge_progress": {"phase": "receiving", "records": 300, "total": 1200, "rate": 50.0,
                            "elapsed_ms": 900},
         "merge_send_progress": {"phase": "hashing", "records": 0, "total": null, "rate": 0,
                                 "elapsed_ms": 40})");
  EXPECT_EQ(Cell(out, "COPY"), "-");
  EXPECT_NE(out.find("in receiving 300/1200, out hashing 0/?"), std::string::npos) << out;
}

TEST(StatusView, NoMergeRunningIsADash) {
  std::string out = Format(R"("merge_progress": null, "merge_send_progress": null)");
  EXPECT_EQ(Cell(out, "MERGE"), "-");
  EXPECT_NE(out.find("CatchingUp"), std::string::npos);
}

}  // namespace
}  // namespace meshdb::cli
