#include "storage/wal_record.h"

#include <zlib.h>

#include <map>

#include "storage/index_key.h"
#include "storage/lmdb_handles.h"

namespace meshdb::storage {
namespace {

enum OpCode : uint8_t { kName = 1, kOpen = 2, kPut = 3, kDel = 4, kClear = 5, kDelAll = 6 };

void PutFixed(char* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetFixed(const char* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

void AppendBytes(std::string_view bytes, std::string* out) {
  AppendVarint(static_cast<uint32_t>(bytes.size()), out);
  out->append(bytes);
}

uint32_t Crc(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// Writes the header into frame[0, kWalFrameHeaderBytes); the payload follows it.
void WriteHeader(std::string& frame, WalFrameKind kind, uint64_t generation, uint64_t txnid) {
  char* h = frame.data();
  PutFixed(h, frame.size() - kWalFrameHeaderBytes, 4);
  PutFixed(h + 8, generation, 8);
  PutFixed(h + 16, txnid, 8);
  h[24] = static_cast<char>(kind);
  PutFixed(h + 4, Crc(std::string_view(frame).substr(8)), 4);
}

// Reads the payload's fields in order; any overrun makes ok() false.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view in) : in_(in) {}
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] bool done() const { return in_.empty(); }
  uint8_t Byte() {
    if (in_.empty()) return Fail(), 0;
    auto b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return b;
  }
  uint32_t Varint() {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      uint8_t b = Byte();
      if (!ok_) return 0;
      v |= uint32_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Fail(), 0;
  }
  std::string_view Bytes() {
    uint32_t n = Varint();
    if (!ok_ || n > in_.size()) return Fail(), std::string_view();
    std::string_view out = in_.substr(0, n);
    in_.remove_prefix(n);
    return out;
  }

 private:
  void Fail() { ok_ = false; }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

WalTxnRecorder::WalTxnRecorder() { Reset(); }

void WalTxnRecorder::Reset() {
  buf_.assign(kWalFrameHeaderBytes, '\0');
  ref_of_dbi_.clear();
  next_ref_ = 0;
  ops_ = 0;
}

uint32_t WalTxnRecorder::RefFor(MDB_dbi dbi, std::string_view name) {
  if (dbi >= ref_of_dbi_.size()) ref_of_dbi_.resize(dbi + 1, 0);
  if (ref_of_dbi_[dbi] == 0) {
    ref_of_dbi_[dbi] = ++next_ref_;
    buf_.push_back(static_cast<char>(kName));
    AppendVarint(next_ref_ - 1, &buf_);
    AppendBytes(name, &buf_);
  }
  return ref_of_dbi_[dbi] - 1;
}

void WalTxnRecorder::Open(MDB_dbi dbi, std::string_view name, unsigned flags) {
  if (dbi >= ref_of_dbi_.size()) ref_of_dbi_.resize(dbi + 1, 0);
  ref_of_dbi_[dbi] = ++next_ref_;
  buf_.push_back(static_cast<char>(kOpen));
  AppendVarint(next_ref_ - 1, &buf_);
  AppendBytes(name, &buf_);
  AppendVarint(flags, &buf_);
  ++ops_;
}

void WalTxnRecorder::KeyValueOp(uint8_t code, MDB_dbi dbi, std::string_view name,
                                std::string_view key, std::string_view value) {
  uint32_t ref = RefFor(dbi, name);
  buf_.push_back(static_cast<char>(code));
  AppendVarint(ref, &buf_);
  AppendBytes(key, &buf_);
  AppendBytes(value, &buf_);
  ++ops_;
}

void WalTxnRecorder::Put(MDB_dbi dbi, std::string_view name, std::string_view key,
                         std::string_view value) {
  KeyValueOp(kPut, dbi, name, key, value);
}

void WalTxnRecorder::Del(MDB_dbi dbi, std::string_view name, std::string_view key,
                         std::string_view value) {
  KeyValueOp(kDel, dbi, name, key, value);
}

void WalTxnRecorder::DelAll(MDB_dbi dbi, std::string_view name, std::string_view key) {
  uint32_t ref = RefFor(dbi, name);
  buf_.push_back(static_cast<char>(kDelAll));
  AppendVarint(ref, &buf_);
  AppendBytes(key, &buf_);
  ++ops_;
}

void WalTxnRecorder::Clear(MDB_dbi dbi, std::string_view name) {
  uint32_t ref = RefFor(dbi, name);
  buf_.push_back(static_cast<char>(kClear));
  AppendVarint(ref, &buf_);
  ++ops_;
}

std::string_view WalTxnRecorder::Frame(uint64_t generation, uint64_t txnid) {
  WriteHeader(buf_, WalFrameKind::kData, generation, txnid);
  return buf_;
}

std::string WalAbortFrame(uint64_t generation, uint64_t txnid) {
  std::string frame(kWalFrameHeaderBytes, '\0');
  WriteHeader(frame, WalFrameKind::kAbort, generation, txnid);
  return frame;
}

Result<std::vector<WalFrame>> ParseWalFrames(std::string_view bytes, uint64_t generation) {
  std::vector<WalFrame> frames;
  while (bytes.size() >= kWalFrameHeaderBytes) {
    const char* h = bytes.data();
    uint64_t length = GetFixed(h, 4);
    if (length > bytes.size() - kWalFrameHeaderBytes) break;
    std::string_view frame = bytes.substr(0, kWalFrameHeaderBytes + length);
    if (GetFixed(h + 4, 4) != Crc(frame.substr(8))) break;
    if (GetFixed(h + 8, 8) != generation) break;
    auto kind = static_cast<WalFrameKind>(h[24]);
    const uint64_t txnid = GetFixed(h + 16, 8);
    if (kind != WalFrameKind::kData && kind != WalFrameKind::kAbort) {
      return Status::Conflict("write-ahead log: the frame of transaction " + std::to_string(txnid) +
                              " has kind " + std::to_string(static_cast<uint8_t>(h[24])) +
                              ", which this binary does not know (written by a newer meshdb): "
                              "not replaying the log");
    }
    frames.push_back(WalFrame{kind, txnid, frame.substr(kWalFrameHeaderBytes)});
    bytes.remove_prefix(frame.size());
  }
  return frames;
}

Status ApplyWalPayload(MDB_txn* txn, std::string_view payload) {
  std::map<uint32_t, MDB_dbi> dbis;
  PayloadReader in(payload);
  auto malformed = [] { return Status::InvalidArgument("write-ahead log: malformed record"); };
  auto open = [&](uint32_t ref, std::string_view name, unsigned flags) -> Status {
    std::string n(name);
    MDB_dbi dbi = 0;
    int rc = mdb_dbi_open(txn, n.empty() ? nullptr : n.c_str(), flags, &dbi);
    if (rc != 0) return LmdbError("write-ahead log replay: open '" + n + "'", rc);
    dbis[ref] = dbi;
    return Status::Ok();
  };
  while (!in.done()) {
    uint8_t code = in.Byte();
    uint32_t ref = in.Varint();
    if (!in.ok()) return malformed();
    if (code == kName || code == kOpen) {
      std::string_view name = in.Bytes();
      unsigned flags = code == kOpen ? in.Varint() | MDB_CREATE : 0;
      if (!in.ok()) return malformed();
      RETURN_IF_ERROR(open(ref, name, flags));
      continue;
    }
    auto it = dbis.find(ref);
    if (it == dbis.end()) return malformed();
    int rc = 0;
    const char* what = "";
    if (code == kPut || code == kDel) {
      std::string_view key = in.Bytes();
      std::string_view value = in.Bytes();
      if (!in.ok()) return malformed();
      MDB_val k = ToVal(key), v = ToVal(value);
      if (code == kPut) {
        what = "put";
        rc = mdb_put(txn, it->second, &k, &v, 0);
      } else {
        what = "del";
        rc = mdb_del(txn, it->second, &k, &v);
      }
    } else if (code == kDelAll) {
      std::string_view key = in.Bytes();
      if (!in.ok()) return malformed();
      MDB_val k = ToVal(key);
      what = "del";
      rc = mdb_del(txn, it->second, &k, nullptr);
    } else if (code == kClear) {
      what = "drop";
      rc = mdb_drop(txn, it->second, 0);
    } else {
      return malformed();
    }
    if (rc != 0) return LmdbError(std::string("write-ahead log replay: ") + what, rc);
  }
  return Status::Ok();
}

}  // namespace meshdb::storage
