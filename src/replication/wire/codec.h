// Frame encoder and decoder of the replication protocol (docs/protocol.md §2-§3).
//
// A frame is one WebSocket binary message: a u8 message type, then the body. Both functions
// are pure (no I/O, no globals) and safe to call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "replication/wire/message.h"

namespace meshdb::replication {

// The frame bytes of `m`. Never fails; the caller checks the size against the peer's
// max_frame_bytes (TxnEntryWireBytes helps to cut Transactions frames in time).
std::string EncodeFrame(const Message& m);
// Appends the frame to *out (which must be non-null).
void AppendFrame(const Message& m, std::string* out);

// Decodes exactly one frame. Errors, each naming the message, field and offset:
//   TooLarge    bytes.size() > max_frame_bytes (checked before anything else);
//   Corruption  empty frame, unknown type, truncated field, a declared length or count the
//               rest of the frame cannot hold, varint over 64 bits / 10 bytes / non-minimal,
//               a value too wide for its field, bad bool or start tag, a version vector not
//               in canonical order, trailing bytes.
// Never reads outside `bytes`, never throws; declared lengths and counts are checked
// against the remaining bytes before anything is allocated, so memory use is bounded by
// the frame size times the in-memory overhead of the smallest item (at most ~40x, for a
// Transactions frame of empty writes).
// Every accepted frame is canonical: EncodeFrame(*DecodeFrame(b)) == b, except a Hello of
// another protocol_version, of which only the version is decoded.
Result<Message> DecodeFrame(std::string_view bytes, size_t max_frame_bytes);

// Bytes one entry adds to a Transactions frame's body.
size_t TxnEntryWireBytes(const TxnEntry& entry);
// Bytes of a Transactions frame for `database` with no entries (type, database, count of
// up to `entry_count` entries).
size_t TransactionsOverheadBytes(std::string_view database, size_t entry_count);

}  // namespace meshdb::replication
