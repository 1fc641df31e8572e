// cluster_status's view of the links between this node's peers (`peer_links: true`,
// docs/replication.md): what a linked member tells of its own links when asked (the
// "link-summary" PeerCall, docs/protocol.md), and how this node shows each member's answer.
//
// Only what draws a link ever leaves a node this way: the peer's name, and per database the
// state, whether it is connected, records and ms behind, copy/merge progress and the dial
// error that tells a refusal from a stopped peer. No URL, sequence, apply error, credential or
// counter. The same reduction runs on both sides, so a member cannot make this node show more.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>

#include "common/status.h"

namespace meshdb::server {

// `connections` (ReplicationService::ConnectionsStatus, or a member's answer) reduced to
// [{"name", "database_sockets": [{"database", "state", "connected", "records_behind",
// "ms_behind", "copy_progress", "merge_progress", "merge_send_progress", "last_dial_error"}]}]
// (progress objects to their records, total, phase, rate and elapsed_ms). Entries without a
// name and fields of the wrong type are dropped.
boost::json::array SummarizeLinks(const boost::json::array& connections);

// A member's answer to "link-summary": {"node_name", "links": SummarizeLinks(connections)}.
std::string LinkSummaryAnswer(const std::string& node_name, const boost::json::array& connections);

// The entry of cluster_status's `peer_links` for `member`: {"node_name", "status": "ok",
// "links"} from its answer (reduced again), or {"node_name", "status": "unknown", "reason"}
// when the call failed (no live link, no answer in time, a member that takes no calls or
// does not know this one) or the answer is not a summary. `node_name` is always `member`,
// the name the link authenticated, never one the answer claims.
boost::json::object PeerLinksEntry(const std::string& member, const Result<std::string>& answer);

}  // namespace meshdb::server
