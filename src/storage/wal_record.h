// The write-ahead log's record: what one LMDB write transaction changed, as physical key/value
// operations on named sub-databases, framed with a checksum (see write_ahead_log.h for how
// records are written, synced and replayed).
//
// Frame: [u32 payload length][u32 crc32 of everything after it][u64 generation][u64 LMDB txnid]
// [u8 kind] then the payload; integers little-endian.
// A frame whose length runs past the file, whose checksum fails, or whose generation is not the
// one expected ends the log: it is a torn write or an older generation's bytes. A whole frame
// of this generation with a kind this code does not know was written by a newer binary: the
// log is refused rather than ended there (ending it would drop that binary's commits). So a
// later change to the log adds frame kinds or payload codes, and keeps this header.
//
// Payload of a kData frame: a sequence of operations, each starting with a u8 code:
//   kName  <varint ref> <varint len><name>                 ref names a sub-database below
//   kOpen  <varint ref> <varint len><name> <varint flags>  mdb_dbi_open(MDB_CREATE | flags)
//   kPut   <varint ref> <varint len><key> <varint len><value>
//   kDel   <varint ref> <varint len><key> <varint len><value>  (value ignored unless DUPSORT)
//   kDelAll <varint ref> <varint len><key>                  every value of the key
//   kClear <varint ref>                                    mdb_drop(dbi, 0)
// A kAbort frame (empty payload) says the kData frame before it, of the same txnid, did not
// commit.
//
// Thread-safety: none; a recorder belongs to the storage writer thread.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::storage {

enum class WalFrameKind : uint8_t { kData = 1, kAbort = 2 };

inline constexpr size_t kWalFrameHeaderBytes = 4 + 4 + 8 + 8 + 1;

// Builds one transaction's payload as its changes are made. The frame header's room is kept at
// the front of the buffer, so Frame() writes it in place without copying the payload.
class WalTxnRecorder {
 public:
  WalTxnRecorder();

  // Starts a new transaction: forgets the previous one's operations.
  void Reset();
  [[nodiscard]] bool empty() const { return ops_ == 0; }

  // `name` is the sub-database's name ("" for LMDB's unnamed main database).
  void Open(MDB_dbi dbi, std::string_view name, unsigned flags);
  void Put(MDB_dbi dbi, std::string_view name, std::string_view key, std::string_view value);
  void Del(MDB_dbi dbi, std::string_view name, std::string_view key, std::string_view value);
  void DelAll(MDB_dbi dbi, std::string_view name, std::string_view key);
  void Clear(MDB_dbi dbi, std::string_view name);

  // Writes the frame header for (`generation`, `txnid`) and returns the whole frame. Valid
  // until the next call that changes the recorder.
  std::string_view Frame(uint64_t generation, uint64_t txnid);

 private:
  // The transaction-local ref of `dbi`, naming it first (a kName operation) if it is new.
  uint32_t RefFor(MDB_dbi dbi, std::string_view name);
  // A kPut or kDel operation.
  void KeyValueOp(uint8_t code, MDB_dbi dbi, std::string_view name, std::string_view key,
                  std::string_view value);
  std::string buf_;
  std::vector<uint32_t> ref_of_dbi_;  // 0: not named in this transaction yet; else ref + 1
  uint32_t next_ref_ = 0;
  size_t ops_ = 0;
};

// An empty kAbort frame for (`generation`, `txnid`).
std::string WalAbortFrame(uint64_t generation, uint64_t txnid);

struct WalFrame {
  WalFrameKind kind;
  uint64_t txnid;
  std::string_view payload;
};

// Reads the frames of `generation` from the start of `bytes` (a log file's contents), up to the
// first frame that is torn, fails its checksum or belongs to another generation. Conflict,
// naming the kind and the transaction, at a whole frame of an unknown kind.
Result<std::vector<WalFrame>> ParseWalFrames(std::string_view bytes, uint64_t generation);

// Applies a kData payload to `txn` (a write transaction of the environment it was recorded
// in). IOError naming the operation when LMDB refuses one (the data file does not match the
// log), InvalidArgument when the payload is malformed.
Status ApplyWalPayload(MDB_txn* txn, std::string_view payload);

}  // namespace meshdb::storage
