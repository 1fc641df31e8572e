// The messages of the meshdb replication protocol, version 1 (docs/protocol.md).
//
// Each message is a plain struct; Message is the variant of all of them, in type-code
// order (std::variant index + 1 == MessageType). Encoding and decoding live in codec.h.
// Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "replication/wire/version_vector.h"

namespace meshdb::storage {
struct LogEntry;
}  // namespace meshdb::storage

namespace meshdb::replication {

// --- Transport constants (docs/protocol.md §1). ---
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr std::string_view kSubprotocol = "meshdb-replication-v1";
inline constexpr std::string_view kReplicationPath = "/replication";
// Default largest frame a node accepts (and announces in Hello). 16 MiB: a transaction
// larger than this cannot replicate, so it is also the practical transaction size limit.
inline constexpr uint64_t kDefaultMaxFrameBytes = 16ull << 20;

// Capabilities announced in Hello. A side only uses a feature both announced.
inline constexpr std::string_view kCapTxnBatch = "txn-batch";  // >1 entry per Transactions
inline constexpr std::string_view kCapCopy = "copy";           // CopyBegin/Chunk/End
inline constexpr std::string_view kCapCredit = "credit";       // Credit flow control
inline constexpr std::string_view kCapMerge = "merge";         // MergeBegin..MergeEnd (types 13-17)
inline constexpr std::string_view kCapVerify = "verify";       // VerifyRequest/Response (18-19)
inline constexpr std::string_view kCapCall = "call";           // PeerCall/PeerCallResult (22-23)
inline constexpr std::string_view kCapMergeTotal = "merge-total";  // MergeTotal (24)
// CopyChunk may carry stored (compressed) values and their dictionaries (CopyChunk).
inline constexpr std::string_view kCapCopyStored = "copy-stored";

// A node's id: FNV-1a 32-bit of its node name, with 0 mapped to 1 (0 means "no node").
// Storage records carry it as their origin. Stable across versions and platforms.
uint32_t NodeIdForName(std::string_view node_name);

enum class MessageType : uint8_t {
  kHello = 1,
  kError = 2,
  kSubscribe = 3,
  kCopyBegin = 4,
  kCopyChunk = 5,
  kCopyEnd = 6,
  kTransactions = 7,
  kAck = 8,
  kCredit = 9,
  kSchema = 10,
  kPing = 11,
  kPong = 12,
  // Capability "merge" (docs/protocol.md §5.10).
  kMergeBegin = 13,
  kMergeHashes = 14,
  kMergeRequest = 15,
  kMergeRows = 16,
  kMergeEnd = 17,
  // Capability "verify".
  kVerifyRequest = 18,
  kVerifyResponse = 19,
  // The cross-signed join (docs/security.md): instead of Hello, on a connection upgraded
  // with a super_user's credentials.
  kJoinRequest = 20,
  kJoinGrant = 21,
  // Capability "call": a request one member makes of another over a live link.
  kPeerCall = 22,
  kPeerCallResult = 23,
  // Capability "merge-total": the rows a merge resync will send, before its MergeRows.
  kMergeTotal = 24,
};
inline constexpr uint8_t kMaxMessageType = 24;

// "Hello", "Transactions", ...; "Unknown" for other values.
std::string_view MessageTypeName(MessageType type);

// First frame each side sends. When protocol_version is not kProtocolVersion, the rest of
// the frame is in a layout this version does not know: the decoder fills only
// protocol_version, and the receiver answers Error kUnsupportedVersion and closes.
struct Hello {
  uint16_t protocol_version = kProtocolVersion;
  std::string node_name;
  std::string node_url;
  std::vector<std::string> capabilities;
  uint64_t max_frame_bytes = kDefaultMaxFrameBytes;  // largest frame the sender accepts
  std::vector<std::string> databases;                // databases the sender replicates
  bool operator==(const Hello&) const = default;
};

enum class ErrorCode : uint16_t {
  kProtocol = 1,            // malformed frame or message out of order
  kUnsupportedVersion = 2,  // Hello.protocol_version unknown
  kUnauthorized = 3,        // peer not allowed this database / at all
  kNameConflict = 4,        // peer claims our node name (or a name already connected)
  kTooLarge = 5,            // a frame or transaction over max_frame_bytes
  kInternal = 6,            // the sender failed; retry later
};

// Sent just before closing the WebSocket. Codes outside the enum decode as-is.
struct Error {
  ErrorCode code = ErrorCode::kProtocol;
  std::string reason;
  bool operator==(const Error&) const = default;
};

// Where a subscription starts.
struct StartFromVector {  // stream everything the vector does not cover
  VersionVector vector;
  // Hint: the subscriber has applied this publisher's log through this sender_sequence
  // (its persisted cursor for the publisher), so the publisher may start scanning after
  // it; entries are still filtered by `vector`. 0: no cursor, scan the retained log.
  uint64_t after_sender_sequence = 0;
  bool operator==(const StartFromVector&) const = default;
};
struct StartWithCopy {  // new subscriber: consistent snapshot, then stream from its vector
  bool operator==(const StartWithCopy&) const = default;
};
struct StartFromTime {  // skip the copy; stream transactions with version time >= this
  uint64_t start_time_ms = 0;
  bool operator==(const StartFromTime&) const = default;
};
using SubscribeStart = std::variant<StartFromVector, StartWithCopy, StartFromTime>;

// One rule of a subscriber's subscriptions for a database: whether it applies `table`'s rows
// ("" or "*": every table without a rule of its own). As in add_node's `subscriptions`.
struct TableRule {
  std::string table;
  bool subscribe = true;
  bool operator==(const TableRule&) const = default;
};

struct Subscribe {
  std::string database;
  std::vector<std::string> tables;  // empty: every replicated table
  SubscribeStart start;
  // Set when the subscriber's position (its cursor) was reached under other subscription
  // rules than today's: these were the rules. Before streaming, the publisher merges the
  // tables it publishes that these rules did not subscribe to (MergeBegin.new_tables), so a
  // table added to a subscription later is copied, then streamed.
  std::optional<std::vector<TableRule>> previous_rules;
  bool operator==(const Subscribe&) const = default;
};

struct CopyBegin {
  std::string database;
  VersionVector snapshot_vector;  // what the snapshot contains; streaming resumes after it
  uint64_t total_records = 0;     // for progress reporting only
  bool operator==(const CopyBegin&) const = default;
};

struct CopyRecord {
  std::string key;    // stored key bytes (storage/key_codec.h)
  std::string value;  // stored record bytes (storage/record_codec.h)
  bool operator==(const CopyRecord&) const = default;
};

// A compression dictionary that stored copy values name (storage/stored_record.h).
struct CopyDictionary {
  uint32_t id = 0;  // the id zstd derived from the bytes
  std::string bytes;
  bool operator==(const CopyDictionary&) const = default;
};

struct CopyChunk {
  std::string database;
  std::string table;
  std::string table_def_json;  // TableDefToJson; set on a table's first chunk, else ""
  std::vector<CopyRecord> records;
  // Capability "copy-stored" only (an older peer's decoder rejects the trailing fields they
  // add): records' values are the sender's stored values (format 1 record bytes, or format 2
  // compressed rows naming a dictionary id), and `dictionaries` the dictionaries they name
  // that were not sent before in this copy of this table (each once per table and copy).
  bool stored_values = false;
  std::vector<CopyDictionary> dictionaries;
  bool operator==(const CopyChunk&) const = default;
};

struct CopyEnd {
  std::string database;
  uint64_t snapshot_sequence = 0;  // the publisher's log position of the snapshot: the cursor
  bool operator==(const CopyEnd&) const = default;
};

struct TxnWrite {
  std::string table;
  std::string key;    // stored key bytes, as in storage::LogEntry::Write
  std::string value;  // stored record bytes (tombstone flag inside)
  bool operator==(const TxnWrite&) const = default;
};

// One whole transaction, as in the sender's transaction log.
struct TxnEntry {
  uint64_t sender_sequence = 0;  // the sender's local log sequence (what Ack refers to)
  uint32_t origin = 0;           // node id that made the transaction
  uint64_t origin_sequence = 0;  // its sequence on the origin
  uint64_t version = 0;          // HLC version
  // Some of the origin transaction's writes are missing (a subscription filtered them here
  // or on an earlier hop): the receiver applies the rest but its version vector does not
  // advance, so a complete copy arriving by another path is still applied.
  bool partial = false;
  std::vector<TxnWrite> writes;
  bool operator==(const TxnEntry&) const = default;
};

// Moves a log entry's bytes into a TxnEntry (no re-encoding).
TxnEntry TxnEntryFromLog(storage::LogEntry&& entry);

struct Transactions {
  std::string database;
  std::vector<TxnEntry> entries;  // ascending sender_sequence; whole transactions only
  bool operator==(const Transactions&) const = default;
};

struct Ack {
  std::string database;
  uint64_t sender_sequence = 0;  // highest applied and committed on the receiver
  bool operator==(const Ack&) const = default;
};

struct Credit {
  std::string database;
  uint32_t frames = 0;  // Transactions frames the publisher may have unacknowledged
  bool operator==(const Credit&) const = default;
};

struct Schema {
  std::string database;
  std::string table_def_json;  // TableDefToJson
  bool operator==(const Schema&) const = default;
};

struct Ping {
  uint64_t nonce = 0;
  uint64_t sent_ms = 0;
  bool operator==(const Ping&) const = default;
};

struct Pong {  // echoes the Ping's fields
  uint64_t nonce = 0;
  uint64_t sent_ms = 0;
  bool operator==(const Pong&) const = default;
};

// --- Merge resync (publisher -> subscriber unless noted). A subscriber whose position is
// below the publisher's log start: the publisher announces a merge, sends per-bucket hashes
// of each published table, the subscriber answers with the buckets that differ, the
// publisher sends its rows of those buckets (applied last-writer-wins), then MergeEnd. ---
struct MergeBegin {
  std::string database;
  uint64_t log_start = 0;       // the publisher's first retained log sequence
  uint64_t after_sequence = 0;  // the subscriber's position (below log_start - 1)
  uint32_t table_count = 0;     // MergeHashes frames that follow
  // True: not a resync of a trimmed position but of tables the subscriber newly subscribed
  // to (Subscribe.previous_rules). MergeEnd then carries an empty vector and sequence 0:
  // the subscriber's vector and cursor stay as they are and streaming resumes at its cursor.
  bool new_tables = false;
  bool operator==(const MergeBegin&) const = default;
};

struct MergeHashes {
  std::string database;
  std::string table;
  std::string table_def_json;     // TableDefToJson
  uint32_t bucket_count = 0;      // power of two (storage/range_hash.h)
  std::vector<uint64_t> buckets;  // bucket_count sums of row hashes (u64 big-endian each)
  bool operator==(const MergeHashes&) const = default;
};

struct MergeRequest {  // subscriber -> publisher, one per MergeHashes
  std::string database;
  std::string table;
  std::vector<uint32_t> buckets;  // ascending bucket numbers whose hashes differ
  bool operator==(const MergeRequest&) const = default;
};

struct MergeRows {
  std::string database;
  std::string table;
  std::vector<CopyRecord> records;  // raw rows of requested buckets, tombstones included
  bool operator==(const MergeRows&) const = default;
};

struct MergeEnd {
  std::string database;
  VersionVector snapshot_vector;   // what the hashed snapshot contains: the new vector floor
  uint64_t snapshot_sequence = 0;  // streaming resumes after it (the subscriber's cursor)
  uint64_t records_sent = 0;
  bool operator==(const MergeEnd&) const = default;
};

// Publisher -> subscriber, when the subscriber announced "merge-total": sent once every
// MergeRequest is in, before the first MergeRows. `records`: the rows of the requested buckets
// in the hashed snapshot S1, which the MergeRows frames carry (rows written to those buckets
// after S1 may add a few; progress only, never checked).
struct MergeTotal {
  std::string database;
  uint64_t records = 0;
  bool operator==(const MergeTotal&) const = default;
};

// --- cluster_verify: either side asks, the other answers on the same connection. ---
struct VerifyRequest {
  uint64_t request_id = 0;
  std::string database;
  std::string table;  // "" = every table that replicates
  bool operator==(const VerifyRequest&) const = default;
};

struct VerifyTable {
  std::string table;
  uint64_t hash = 0;          // sum of live rows' hashes (storage::RowHash)
  uint64_t record_count = 0;  // live rows
  bool operator==(const VerifyTable&) const = default;
};

struct VerifyResponse {
  uint64_t request_id = 0;
  std::string database;
  std::string error;  // "" on success
  std::vector<VerifyTable> tables;
  bool operator==(const VerifyResponse&) const = default;
};

// --- The cross-signed join: the joiner's first frame instead of Hello, on a connection
// upgraded with a super_user's credentials (add_node). The other side answers JoinGrant, or
// Error kUnauthorized with the reason, and closes. ---
struct JoinRequest {
  std::string node_name;  // the joiner's node name
  std::string node_url;   // the joiner's replication URL (its host is the other name signed)
  std::string csr_pem;    // a certificate signing request for the joiner's key
  std::string ca_pem;     // the joiner's CA certificate: trusted from now on for its peers
  bool operator==(const JoinRequest&) const = default;
};

struct JoinGrant {
  std::string node_name;        // the granting node's name
  std::string certificate_pem;  // the joiner's certificate, signed by ca_pem
  std::string ca_pem;           // the granting node's CA certificate
  // The CAs of the members the granting node knows (PEM, concatenated): the joiner trusts
  // them at once, so its first links to them verify before gossip brings their rows.
  std::string member_cas_pem;
  bool operator==(const JoinGrant&) const = default;
};

// --- A request one member makes of another on a live link (either side asks): the
// receiver answers PeerCallResult with the same request_id. The caller is the peer the link
// authenticated (its certificate or node token), never a name the payload claims. Methods:
//   "renew-certificate"  payload: a CSR for the caller's key (PEM); result: the certificate
//                        (PEM) signed by the receiver's CA (docs/security.md "Renewal")
//   "operation"          payload: an add_certificate / remove_certificate request (JSON, never
//                        with a private key); result: the operation's answer (JSON)
struct PeerCall {
  uint64_t request_id = 0;
  std::string method;
  std::string payload;
  bool operator==(const PeerCall&) const = default;
};

struct PeerCallResult {
  uint64_t request_id = 0;
  std::string error;  // "" on success
  std::string payload;
  bool operator==(const PeerCallResult&) const = default;
};

using Message = std::variant<Hello, Error, Subscribe, CopyBegin, CopyChunk, CopyEnd, Transactions,
                             Ack, Credit, Schema, Ping, Pong, MergeBegin, MergeHashes, MergeRequest,
                             MergeRows, MergeEnd, VerifyRequest, VerifyResponse, JoinRequest,
                             JoinGrant, PeerCall, PeerCallResult, MergeTotal>;

inline MessageType TypeOf(const Message& m) { return static_cast<MessageType>(m.index() + 1); }

// Checks a peer's Hello against this node. nullopt when acceptable; otherwise the Error to
// send before closing: kUnsupportedVersion, kProtocol (empty node name or
// max_frame_bytes 0), kNameConflict (the peer uses `own_node_name` or its id).
std::optional<Error> CheckPeerHello(const Hello& peer, std::string_view own_node_name);

}  // namespace meshdb::replication
