#include "replication/wire/message.h"

#include <utility>

#include "storage/store.h"

namespace meshdb::replication {

uint32_t NodeIdForName(std::string_view node_name) {
  uint32_t h = 2166136261u;  // FNV-1a 32-bit offset basis
  for (char c : node_name) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;  // FNV prime
  }
  return h == 0 ? 1 : h;
}

std::string_view MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHello:
      return "Hello";
    case MessageType::kError:
      return "Error";
    case MessageType::kSubscribe:
      return "Subscribe";
    case MessageType::kCopyBegin:
      return "CopyBegin";
    case MessageType::kCopyChunk:
      return "CopyChunk";
    case MessageType::kCopyEnd:
      return "CopyEnd";
    case MessageType::kTransactions:
      return "Transactions";
    case MessageType::kAck:
      return "Ack";
    case MessageType::kCredit:
      return "Credit";
    case MessageType::kSchema:
      return "Schema";
    case MessageType::kPing:
      return "Ping";
    case MessageType::kPong:
      return "Pong";
    case MessageType::kMergeBegin:
      return "MergeBegin";
    case MessageType::kMergeHashes:
      return "MergeHashes";
    case MessageType::kMergeRequest:
      return "MergeRequest";
    case MessageType::kMergeRows:
      return "MergeRows";
    case MessageType::kMergeEnd:
      return "MergeEnd";
    case MessageType::kVerifyRequest:
      return "VerifyRequest";
    case MessageType::kVerifyResponse:
      return "VerifyResponse";
    case MessageType::kJoinRequest:
      return "JoinRequest";
    case MessageType::kJoinGrant:
      return "JoinGrant";
    case MessageType::kPeerCall:
      return "PeerCall";
    case MessageType::kPeerCallResult:
      return "PeerCallResult";
    case MessageType::kMergeTotal:
      return "MergeTotal";
  }
  return "Unknown";
}

TxnEntry TxnEntryFromLog(storage::LogEntry&& entry) {
  TxnEntry out;
  out.sender_sequence = entry.sequence;
  out.origin = entry.origin;
  out.origin_sequence = entry.origin_sequence;
  out.version = entry.version;
  out.partial = entry.partial;
  out.writes.reserve(entry.writes.size());
  for (auto& w : entry.writes) {
    out.writes.push_back(TxnWrite{std::move(w.table), std::move(w.key), std::move(w.value)});
  }
  return out;
}

std::optional<Error> CheckPeerHello(const Hello& peer, std::string_view own_node_name) {
  if (peer.protocol_version != kProtocolVersion) {
    return Error{ErrorCode::kUnsupportedVersion,
                 "protocol version " + std::to_string(peer.protocol_version) +
                     " is not supported; this node speaks " + std::to_string(kProtocolVersion)};
  }
  if (peer.node_name.empty()) return Error{ErrorCode::kProtocol, "Hello without a node name"};
  if (peer.max_frame_bytes == 0) {
    return Error{ErrorCode::kProtocol, "Hello with max_frame_bytes 0"};
  }
  if (peer.node_name == own_node_name) {
    return Error{ErrorCode::kNameConflict, "peer uses this node's name '" + peer.node_name + "'"};
  }
  if (NodeIdForName(peer.node_name) == NodeIdForName(own_node_name)) {
    return Error{ErrorCode::kNameConflict,
                 "node name '" + peer.node_name + "' hashes to this node's id; rename one node"};
  }
  return std::nullopt;
}

}  // namespace meshdb::replication
