// `meshdb status`: cluster_status as one screen a person reads (nodes, links, lag, errors).
// Thread-safety: a pure function.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace meshdb::cli {

// The summary of a cluster_status answer:
//   node 127.0.0.1 (ws://127.0.0.1:9925), 1 peer, link errors: 0
//   PEER        DATABASE  STATE      BEHIND   LAG     LATENCY  COPY  ERROR
//   127.0.0.2   dev       Streaming  0        0 ms    0.4 ms   -     -
std::string FormatStatus(const boost::json::value& status);

}  // namespace meshdb::cli
