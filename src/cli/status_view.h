// `meshdb status`: cluster_status as one screen a person reads (nodes, links, lag, errors).
// Thread-safety: a pure function.
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace meshdb::cli {

// The summary of a cluster_status answer:
//   node 127.0.0.1 (ws://127.0.0.1:9925), 1 peer, link errors: 0
//   PEER       DATABASE  STATE       CONNECTED  BEHIND  LAG_MS  LATENCY_MS  COPY  MERGE ERROR
//   127.0.0.2  dev       CatchingUp  yes        0       0       0.4         -     in receiving
//   300/1200  -
// COPY is an initial copy's records/total; MERGE a merge resync's, "in <phase>" for the
// peer's rows coming here, "out <phase>" for ours going there ("?" while its total is not
// known yet).
std::string FormatStatus(const boost::json::value& status);

}  // namespace meshdb::cli
