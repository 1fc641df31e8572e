#include "storage/record_codec.h"

#include <boost/json/serializer.hpp>

#include "common/json_parse.h"
#include "storage/zstd_frame.h"

namespace meshdb::storage {
namespace {

void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}
void PutU16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 2);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint16_t GetU16(const char* p) {
  return static_cast<uint16_t>((static_cast<unsigned char>(p[0]) << 8) |
                               static_cast<unsigned char>(p[1]));
}

// Reads from a byte range, failing once it runs out.
struct Reader {
  std::string_view in;
  bool ok = true;
  const char* Take(size_t n) {
    if (!ok || in.size() < n) {
      ok = false;
      return nullptr;
    }
    const char* p = in.data();
    in.remove_prefix(n);
    return p;
  }
};

// Thread-local scratch buffers keep their capacity between entries, but not that of a rare
// huge one.
void ReleaseIfLarge(std::string* buffer) {
  if (buffer->capacity() > (size_t{16} << 20)) std::string().swap(*buffer);
}

}  // namespace

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (56 - 8 * i));
  out->append(b, 8);
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string SequenceKey(uint64_t sequence) {
  std::string k;
  PutU64(&k, sequence);
  return k;
}

void EncodeRecordHeader(const RecordHeader& header, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kRecordFormat));
  out->push_back(static_cast<char>(header.tombstone ? kFlagTombstone : 0));
  PutU64(out, header.version);
  PutU32(out, header.origin);
}

void EncodeRecord(const RecordHeader& header, const boost::json::object& doc, std::string* out) {
  EncodeRecordHeader(header, out);
  // Serialize straight into the buffer, chunk by chunk, without a temporary string.
  boost::json::serializer sr;
  sr.reset(&doc);
  char buf[4096];
  while (!sr.done()) out->append(sr.read(buf, sizeof buf));
}

Status DecodeRecordHeader(std::string_view bytes, RecordHeader* header, std::string_view* json) {
  if (bytes.size() < kRecordHeaderBytes || static_cast<unsigned char>(bytes[0]) != kRecordFormat) {
    return Status::Corruption("bad record header");
  }
  header->tombstone = (static_cast<unsigned char>(bytes[1]) & kFlagTombstone) != 0;
  header->version = GetU64(bytes.data() + 2);
  header->origin = GetU32(bytes.data() + 10);
  *json = bytes.substr(kRecordHeaderBytes);
  return Status::Ok();
}

Status DecodeRecord(std::string_view bytes, Record* record, bool* tombstone) {
  RecordHeader h;
  std::string_view json;
  RETURN_IF_ERROR(DecodeRecordHeader(bytes, &h, &json));
  *tombstone = h.tombstone;
  record->version = h.version;
  record->origin = h.origin;
  record->doc.clear();
  if (h.tombstone || json.empty()) return Status::Ok();
  boost::system::error_code ec;
  boost::json::value v = ParseJson(json, ec);
  if (ec || !v.is_object()) return Status::Corruption("record document is not a JSON object");
  record->doc = std::move(v.get_object());
  return Status::Ok();
}

void EncodeLogEntry(const LogEntry& entry, std::string* out) {
  // The writes, raw, then compressed behind the header when that is smaller.
  thread_local std::string body;
  body.clear();
  for (const auto& w : entry.writes) {
    PutU16(&body, static_cast<uint16_t>(w.table.size()));
    body.append(w.table);
    PutU16(&body, static_cast<uint16_t>(w.key.size()));
    body.append(w.key);
    PutU32(&body, static_cast<uint32_t>(w.value.size()));
    body.append(w.value);
  }
  out->clear();
  out->push_back(0);  // format, set below
  PutU32(out, entry.origin);
  PutU64(out, entry.origin_sequence);
  PutU64(out, entry.version);
  PutU32(out, static_cast<uint32_t>(entry.writes.size()));
  const size_t header = out->size();
  bool compressed = false;
  if (body.size() >= kLogCompressMinBytes) {
    ZstdCompress(body, kLogCompressLevel, nullptr, out);
    compressed = out->size() - header < body.size();
    if (!compressed) out->resize(header);
  }
  if (!compressed) out->append(body);
  ReleaseIfLarge(&body);
  unsigned char format = entry.partial ? kLogFormatPartial : kLogFormatComplete;
  if (compressed) format = entry.partial ? kLogFormatPartialZstd : kLogFormatCompleteZstd;
  (*out)[0] = static_cast<char>(format);
}

Status DecodeLogEntry(uint64_t sequence, std::string_view bytes, LogEntry* entry) {
  Reader r{bytes};
  const char* p = r.Take(kLogHeaderBytes);
  if (p == nullptr) return Status::Corruption("bad log entry header");
  const auto format = static_cast<unsigned char>(p[0]);
  const bool compressed = format == kLogFormatCompleteZstd || format == kLogFormatPartialZstd;
  if (format != kLogFormatComplete && format != kLogFormatPartial && !compressed) {
    return Status::Corruption("bad log entry format " + std::to_string(format));
  }
  entry->sequence = sequence;
  entry->partial = format == kLogFormatPartial || format == kLogFormatPartialZstd;
  entry->origin = GetU32(p + 1);
  entry->origin_sequence = GetU64(p + 5);
  entry->version = GetU64(p + 13);
  uint32_t n = GetU32(p + 21);
  entry->writes.clear();
  thread_local std::string body;
  if (compressed) {
    body.clear();
    if (Status s = ZstdDecompress(r.in, nullptr, &body); !s.ok()) {
      return Status::Corruption("bad log entry: " + s.message());
    }
    r.in = body;
  }
  // Every write takes at least 8 bytes: a count beyond that is corrupt, not a reason to reserve.
  if (n > r.in.size() / 8) return Status::Corruption("bad log entry write count");
  entry->writes.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    LogEntry::Write w;
    const char* q = r.Take(2);
    if (!q) break;
    const char* t = r.Take(GetU16(q));
    if (!t) break;
    w.table.assign(t, GetU16(q));
    q = r.Take(2);
    if (!q) break;
    const char* k = r.Take(GetU16(q));
    if (!k) break;
    w.key.assign(k, GetU16(q));
    q = r.Take(4);
    if (!q) break;
    const char* v = r.Take(GetU32(q));
    if (!v) break;
    w.value.assign(v, GetU32(q));
    entry->writes.push_back(std::move(w));
  }
  const bool ok = r.ok && r.in.empty();
  ReleaseIfLarge(&body);
  if (!ok) return Status::Corruption("bad log entry");
  return Status::Ok();
}

}  // namespace meshdb::storage
