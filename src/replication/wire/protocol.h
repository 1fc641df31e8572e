// The meshdb replication wire protocol, version 2 (kProtocolVersion in message.h; the
// WebSocket subprotocol name stays meshdb-replication-v1): everything the replication
// engine needs to speak it, without sockets. docs/protocol.md is the specification.
//
//   message.h         message structs, Message variant, constants, NodeIdForName,
//                     CheckPeerHello
//   codec.h           EncodeFrame / DecodeFrame
//   version_vector.h  VersionVector (origin id -> highest origin sequence)
//   table_def_json.h  TableDefToJson / TableDefFromJson (Schema, CopyChunk payloads)
#pragma once

#include "replication/wire/codec.h"           // IWYU pragma: export
#include "replication/wire/message.h"         // IWYU pragma: export
#include "replication/wire/table_def_json.h"  // IWYU pragma: export
#include "replication/wire/version_vector.h"  // IWYU pragma: export
