#include "replication/wire/codec.h"

#include <type_traits>
#include <utility>

#include "replication/wire/wire.h"

namespace meshdb::replication {
namespace {

// Smallest wire size of one list item: a varint or length prefix takes at least 1 byte.
constexpr size_t kMinStringBytes = 1;
constexpr size_t kMinRecordBytes = 2;      // key, value
constexpr size_t kMinWriteBytes = 3;       // table, key, value
constexpr size_t kMinEntryBytes = 6;       // 4 varints + flags + writes count
constexpr size_t kMinRuleBytes = 2;        // table, subscribe flag
constexpr size_t kMinDictionaryBytes = 2;  // id, bytes
// TxnEntry flags.
constexpr uint64_t kEntryPartial = 1;
// CopyChunk flags (trailing, "copy-stored").
constexpr uint64_t kChunkStoredValues = 1;

// Subscribe.start tags.
constexpr uint8_t kStartVector = 0;
constexpr uint8_t kStartCopy = 1;
constexpr uint8_t kStartTime = 2;

// ---------------------------------------------------------------- encoding

// CopyChunk and MergeRows records: count, then (key bytes, value bytes) each.
void PutRecords(WireWriter* w, const std::vector<CopyRecord>& records) {
  w->PutVarint(records.size());
  for (const auto& r : records) {
    w->PutBytes(r.key);
    w->PutBytes(r.value);
  }
}

void PutStrings(WireWriter* w, const std::vector<std::string>& list) {
  w->PutVarint(list.size());
  for (const auto& s : list) w->PutBytes(s);
}

void EncodeBody(WireWriter* w, const Hello& m) {
  w->PutVarint(m.protocol_version);
  // Only the version layout of kProtocolVersion is known; see Hello.
  if (m.protocol_version != kProtocolVersion) return;
  w->PutBytes(m.node_name);
  w->PutBytes(m.node_url);
  PutStrings(w, m.capabilities);
  w->PutVarint(m.max_frame_bytes);
  PutStrings(w, m.databases);
}

void EncodeBody(WireWriter* w, const Error& m) {
  w->PutVarint(static_cast<uint16_t>(m.code));
  w->PutBytes(m.reason);
}

void EncodeBody(WireWriter* w, const Subscribe& m) {
  w->PutBytes(m.database);
  PutStrings(w, m.tables);
  if (const auto* v = std::get_if<StartFromVector>(&m.start)) {
    w->PutU8(kStartVector);
    v->vector.EncodeTo(w);
    w->PutVarint(v->after_sender_sequence);
  } else if (std::holds_alternative<StartWithCopy>(m.start)) {
    w->PutU8(kStartCopy);
  } else {
    w->PutU8(kStartTime);
    w->PutVarint(std::get<StartFromTime>(m.start).start_time_ms);
  }
  w->PutBool(m.previous_rules.has_value());
  if (m.previous_rules) {
    w->PutVarint(m.previous_rules->size());
    for (const auto& rule : *m.previous_rules) {
      w->PutBytes(rule.table);
      w->PutBool(rule.subscribe);
    }
  }
}

void EncodeBody(WireWriter* w, const CopyBegin& m) {
  w->PutBytes(m.database);
  m.snapshot_vector.EncodeTo(w);
  w->PutVarint(m.total_records);
}

void EncodeBody(WireWriter* w, const CopyChunk& m) {
  w->PutBytes(m.database);
  w->PutBytes(m.table);
  w->PutBytes(m.table_def_json);
  PutRecords(w, m.records);
  // Trailing, only for stored values ("copy-stored"): a chunk without them is encoded as
  // before, so older peers decode it.
  if (!m.stored_values && m.dictionaries.empty()) return;
  w->PutVarint(m.stored_values ? kChunkStoredValues : 0);
  w->PutVarint(m.dictionaries.size());
  for (const auto& d : m.dictionaries) {
    w->PutVarint(d.id);
    w->PutBytes(d.bytes);
  }
}

void EncodeBody(WireWriter* w, const CopyEnd& m) {
  w->PutBytes(m.database);
  w->PutVarint(m.snapshot_sequence);
}

void EncodeBody(WireWriter* w, const Transactions& m) {
  w->PutBytes(m.database);
  w->PutVarint(m.entries.size());
  for (const auto& e : m.entries) {
    w->PutVarint(e.sender_sequence);
    w->PutVarint(e.origin);
    w->PutVarint(e.origin_sequence);
    w->PutVarint(e.version);
    w->PutVarint(e.partial ? kEntryPartial : 0);
    w->PutVarint(e.writes.size());
    for (const auto& wr : e.writes) {
      w->PutBytes(wr.table);
      w->PutBytes(wr.key);
      w->PutBytes(wr.value);
    }
  }
}

void EncodeBody(WireWriter* w, const Ack& m) {
  w->PutBytes(m.database);
  w->PutVarint(m.sender_sequence);
}

void EncodeBody(WireWriter* w, const Credit& m) {
  w->PutBytes(m.database);
  w->PutVarint(m.frames);
}

void EncodeBody(WireWriter* w, const Schema& m) {
  w->PutBytes(m.database);
  w->PutBytes(m.table_def_json);
}

void EncodeBody(WireWriter* w, const Ping& m) {
  w->PutVarint(m.nonce);
  w->PutVarint(m.sent_ms);
}

void EncodeBody(WireWriter* w, const Pong& m) {
  w->PutVarint(m.nonce);
  w->PutVarint(m.sent_ms);
}

void PutU64s(WireWriter* w, const std::vector<uint64_t>& values) {
  std::string bytes;
  bytes.reserve(values.size() * 8);
  for (uint64_t v : values) {
    for (int shift = 56; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(v >> shift));
  }
  w->PutBytes(bytes);
}

void EncodeBody(WireWriter* w, const MergeBegin& m) {
  w->PutBytes(m.database);
  w->PutVarint(m.log_start);
  w->PutVarint(m.after_sequence);
  w->PutVarint(m.table_count);
  w->PutBool(m.new_tables);
}

void EncodeBody(WireWriter* w, const MergeHashes& m) {
  w->PutBytes(m.database);
  w->PutBytes(m.table);
  w->PutBytes(m.table_def_json);
  w->PutVarint(m.bucket_count);
  PutU64s(w, m.buckets);
}

void EncodeBody(WireWriter* w, const MergeRequest& m) {
  w->PutBytes(m.database);
  w->PutBytes(m.table);
  w->PutVarint(m.buckets.size());
  for (uint32_t b : m.buckets) w->PutVarint(b);
}

void EncodeBody(WireWriter* w, const MergeRows& m) {
  w->PutBytes(m.database);
  w->PutBytes(m.table);
  PutRecords(w, m.records);
}

void EncodeBody(WireWriter* w, const MergeEnd& m) {
  w->PutBytes(m.database);
  m.snapshot_vector.EncodeTo(w);
  w->PutVarint(m.snapshot_sequence);
  w->PutVarint(m.records_sent);
}

void EncodeBody(WireWriter* w, const MergeTotal& m) {
  w->PutBytes(m.database);
  w->PutVarint(m.records);
}

void EncodeBody(WireWriter* w, const VerifyRequest& m) {
  w->PutVarint(m.request_id);
  w->PutBytes(m.database);
  w->PutBytes(m.table);
}

void EncodeBody(WireWriter* w, const VerifyResponse& m) {
  w->PutVarint(m.request_id);
  w->PutBytes(m.database);
  w->PutBytes(m.error);
  w->PutVarint(m.tables.size());
  for (const auto& t : m.tables) {
    w->PutBytes(t.table);
    w->PutVarint(t.hash);
    w->PutVarint(t.record_count);
  }
}

void EncodeBody(WireWriter* w, const JoinRequest& m) {
  w->PutBytes(m.node_name);
  w->PutBytes(m.node_url);
  w->PutBytes(m.csr_pem);
  w->PutBytes(m.ca_pem);
}

void EncodeBody(WireWriter* w, const JoinGrant& m) {
  w->PutBytes(m.node_name);
  w->PutBytes(m.certificate_pem);
  w->PutBytes(m.ca_pem);
  w->PutBytes(m.member_cas_pem);
}

void EncodeBody(WireWriter* w, const PeerCall& m) {
  w->PutVarint(m.request_id);
  w->PutBytes(m.method);
  w->PutBytes(m.payload);
}

void EncodeBody(WireWriter* w, const PeerCallResult& m) {
  w->PutVarint(m.request_id);
  w->PutBytes(m.error);
  w->PutBytes(m.payload);
}

// ---------------------------------------------------------------- decoding

Status ReadRecords(WireReader* r, std::vector<CopyRecord>* out) {
  size_t n = 0;
  RETURN_IF_ERROR(r->ReadCount(&n, kMinRecordBytes, "records"));
  for (size_t i = 0; i < n; ++i) {
    CopyRecord rec;
    RETURN_IF_ERROR(r->ReadBytes(&rec.key, "records.key"));
    RETURN_IF_ERROR(r->ReadBytes(&rec.value, "records.value"));
    out->push_back(std::move(rec));
  }
  return Status::Ok();
}

Status ReadStrings(WireReader* r, std::vector<std::string>* out, const char* field) {
  size_t n = 0;
  RETURN_IF_ERROR(r->ReadCount(&n, kMinStringBytes, field));
  out->clear();
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    RETURN_IF_ERROR(r->ReadBytes(&s, field));
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

Status DecodeBody(WireReader* r, Hello* m) {
  RETURN_IF_ERROR(r->ReadU16(&m->protocol_version, "protocol_version"));
  if (m->protocol_version != kProtocolVersion) {
    // A layout we do not know follows; the receiver answers kUnsupportedVersion.
    m->node_name.clear();
    m->node_url.clear();
    m->capabilities.clear();
    m->max_frame_bytes = kDefaultMaxFrameBytes;
    m->databases.clear();
    return Status::Ok();
  }
  RETURN_IF_ERROR(r->ReadBytes(&m->node_name, "node_name"));
  RETURN_IF_ERROR(r->ReadBytes(&m->node_url, "node_url"));
  RETURN_IF_ERROR(ReadStrings(r, &m->capabilities, "capabilities"));
  RETURN_IF_ERROR(r->ReadVarint(&m->max_frame_bytes, "max_frame_bytes"));
  RETURN_IF_ERROR(ReadStrings(r, &m->databases, "databases"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Error* m) {
  uint16_t code = 0;
  RETURN_IF_ERROR(r->ReadU16(&code, "code"));
  m->code = static_cast<ErrorCode>(code);
  RETURN_IF_ERROR(r->ReadBytes(&m->reason, "reason"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Subscribe* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(ReadStrings(r, &m->tables, "tables"));
  uint8_t tag = 0;
  RETURN_IF_ERROR(r->ReadU8(&tag, "start"));
  switch (tag) {
    case kStartVector: {
      StartFromVector s;
      RETURN_IF_ERROR(VersionVector::DecodeFrom(r, &s.vector));
      RETURN_IF_ERROR(r->ReadVarint(&s.after_sender_sequence, "after_sender_sequence"));
      m->start = std::move(s);
      break;
    }
    case kStartCopy:
      m->start = StartWithCopy{};
      break;
    case kStartTime: {
      StartFromTime s;
      RETURN_IF_ERROR(r->ReadVarint(&s.start_time_ms, "start_time_ms"));
      m->start = s;
      break;
    }
    default:
      return r->Error("start", "unknown start tag " + std::to_string(tag));
  }
  bool has_rules = false;
  RETURN_IF_ERROR(r->ReadBool(&has_rules, "previous_rules"));
  if (has_rules) {
    size_t n = 0;
    RETURN_IF_ERROR(r->ReadCount(&n, kMinRuleBytes, "previous_rules"));
    std::vector<TableRule> rules(n);
    for (auto& rule : rules) {
      RETURN_IF_ERROR(r->ReadBytes(&rule.table, "previous_rules.table"));
      RETURN_IF_ERROR(r->ReadBool(&rule.subscribe, "previous_rules.subscribe"));
    }
    m->previous_rules = std::move(rules);
  }
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, CopyBegin* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(VersionVector::DecodeFrom(r, &m->snapshot_vector));
  RETURN_IF_ERROR(r->ReadVarint(&m->total_records, "total_records"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, CopyChunk* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table, "table"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table_def_json, "table_def_json"));
  RETURN_IF_ERROR(ReadRecords(r, &m->records));
  if (r->AtEnd()) return Status::Ok();
  const size_t trailing_at = r->offset();
  const size_t trailing = r->remaining();
  uint64_t flags = 0;
  RETURN_IF_ERROR(r->ReadVarint(&flags, "flags"));
  // Trailing fields are only written for stored values: anything else is trailing bytes.
  if (flags == 0)
    return r->ErrorAt(trailing_at, "end", std::to_string(trailing) + " trailing bytes");
  if ((flags & ~kChunkStoredValues) != 0) return r->Error("flags", "unknown bits");
  m->stored_values = (flags & kChunkStoredValues) != 0;
  size_t n = 0;
  RETURN_IF_ERROR(r->ReadCount(&n, kMinDictionaryBytes, "dictionaries"));
  m->dictionaries.resize(n);
  for (auto& d : m->dictionaries) {
    RETURN_IF_ERROR(r->ReadU32(&d.id, "dictionaries.id"));
    RETURN_IF_ERROR(r->ReadBytes(&d.bytes, "dictionaries.bytes"));
  }
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, CopyEnd* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadVarint(&m->snapshot_sequence, "snapshot_sequence"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Transactions* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  size_t n = 0;
  RETURN_IF_ERROR(r->ReadCount(&n, kMinEntryBytes, "entries"));
  for (size_t i = 0; i < n; ++i) {
    TxnEntry e;
    RETURN_IF_ERROR(r->ReadVarint(&e.sender_sequence, "entries.sender_sequence"));
    RETURN_IF_ERROR(r->ReadU32(&e.origin, "entries.origin"));
    RETURN_IF_ERROR(r->ReadVarint(&e.origin_sequence, "entries.origin_sequence"));
    RETURN_IF_ERROR(r->ReadVarint(&e.version, "entries.version"));
    uint64_t flags = 0;
    RETURN_IF_ERROR(r->ReadVarint(&flags, "entries.flags"));
    if ((flags & ~kEntryPartial) != 0) {
      return r->Error("entries.flags", "unknown flags " + std::to_string(flags));
    }
    e.partial = (flags & kEntryPartial) != 0;
    size_t nw = 0;
    RETURN_IF_ERROR(r->ReadCount(&nw, kMinWriteBytes, "entries.writes"));
    for (size_t j = 0; j < nw; ++j) {
      TxnWrite w;
      RETURN_IF_ERROR(r->ReadBytes(&w.table, "entries.writes.table"));
      RETURN_IF_ERROR(r->ReadBytes(&w.key, "entries.writes.key"));
      RETURN_IF_ERROR(r->ReadBytes(&w.value, "entries.writes.value"));
      e.writes.push_back(std::move(w));
    }
    m->entries.push_back(std::move(e));
  }
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Ack* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadVarint(&m->sender_sequence, "sender_sequence"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Credit* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadU32(&m->frames, "frames"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Schema* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table_def_json, "table_def_json"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Ping* m) {
  RETURN_IF_ERROR(r->ReadVarint(&m->nonce, "nonce"));
  RETURN_IF_ERROR(r->ReadVarint(&m->sent_ms, "sent_ms"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, Pong* m) {
  RETURN_IF_ERROR(r->ReadVarint(&m->nonce, "nonce"));
  RETURN_IF_ERROR(r->ReadVarint(&m->sent_ms, "sent_ms"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, MergeBegin* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadVarint(&m->log_start, "log_start"));
  RETURN_IF_ERROR(r->ReadVarint(&m->after_sequence, "after_sequence"));
  RETURN_IF_ERROR(r->ReadU32(&m->table_count, "table_count"));
  RETURN_IF_ERROR(r->ReadBool(&m->new_tables, "new_tables"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, MergeHashes* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table, "table"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table_def_json, "table_def_json"));
  RETURN_IF_ERROR(r->ReadU32(&m->bucket_count, "bucket_count"));
  if (m->bucket_count == 0 || m->bucket_count > 65536 ||
      (m->bucket_count & (m->bucket_count - 1)) != 0) {
    return Status::Corruption("MergeHashes: bucket_count " + std::to_string(m->bucket_count) +
                              " is not a power of two up to 65536");
  }
  std::string bytes;
  RETURN_IF_ERROR(r->ReadBytes(&bytes, "buckets"));
  if (bytes.size() != size_t{m->bucket_count} * 8) {
    return Status::Corruption("MergeHashes: " + std::to_string(bytes.size()) +
                              " bucket bytes for bucket_count " + std::to_string(m->bucket_count));
  }
  m->buckets.resize(m->bucket_count);
  for (size_t i = 0; i < m->buckets.size(); ++i) {
    uint64_t v = 0;
    for (size_t j = 0; j < 8; ++j) v = (v << 8) | static_cast<unsigned char>(bytes[i * 8 + j]);
    m->buckets[i] = v;
  }
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, MergeRequest* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table, "table"));
  size_t n = 0;
  RETURN_IF_ERROR(r->ReadCount(&n, 1, "buckets"));
  for (size_t i = 0; i < n; ++i) {
    uint32_t b = 0;
    RETURN_IF_ERROR(r->ReadU32(&b, "buckets"));
    m->buckets.push_back(b);
  }
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, MergeRows* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table, "table"));
  RETURN_IF_ERROR(ReadRecords(r, &m->records));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, MergeTotal* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadVarint(&m->records, "records"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, MergeEnd* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(VersionVector::DecodeFrom(r, &m->snapshot_vector));
  RETURN_IF_ERROR(r->ReadVarint(&m->snapshot_sequence, "snapshot_sequence"));
  RETURN_IF_ERROR(r->ReadVarint(&m->records_sent, "records_sent"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, VerifyRequest* m) {
  RETURN_IF_ERROR(r->ReadVarint(&m->request_id, "request_id"));
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->table, "table"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, VerifyResponse* m) {
  RETURN_IF_ERROR(r->ReadVarint(&m->request_id, "request_id"));
  RETURN_IF_ERROR(r->ReadBytes(&m->database, "database"));
  RETURN_IF_ERROR(r->ReadBytes(&m->error, "error"));
  size_t n = 0;
  RETURN_IF_ERROR(r->ReadCount(&n, 3, "tables"));
  for (size_t i = 0; i < n; ++i) {
    VerifyTable t;
    RETURN_IF_ERROR(r->ReadBytes(&t.table, "tables.table"));
    RETURN_IF_ERROR(r->ReadVarint(&t.hash, "tables.hash"));
    RETURN_IF_ERROR(r->ReadVarint(&t.record_count, "tables.record_count"));
    m->tables.push_back(std::move(t));
  }
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, JoinRequest* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->node_name, "node_name"));
  RETURN_IF_ERROR(r->ReadBytes(&m->node_url, "node_url"));
  RETURN_IF_ERROR(r->ReadBytes(&m->csr_pem, "csr_pem"));
  RETURN_IF_ERROR(r->ReadBytes(&m->ca_pem, "ca_pem"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, JoinGrant* m) {
  RETURN_IF_ERROR(r->ReadBytes(&m->node_name, "node_name"));
  RETURN_IF_ERROR(r->ReadBytes(&m->certificate_pem, "certificate_pem"));
  RETURN_IF_ERROR(r->ReadBytes(&m->ca_pem, "ca_pem"));
  RETURN_IF_ERROR(r->ReadBytes(&m->member_cas_pem, "member_cas_pem"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, PeerCall* m) {
  RETURN_IF_ERROR(r->ReadVarint(&m->request_id, "request_id"));
  RETURN_IF_ERROR(r->ReadBytes(&m->method, "method"));
  RETURN_IF_ERROR(r->ReadBytes(&m->payload, "payload"));
  return r->ExpectEnd();
}

Status DecodeBody(WireReader* r, PeerCallResult* m) {
  RETURN_IF_ERROR(r->ReadVarint(&m->request_id, "request_id"));
  RETURN_IF_ERROR(r->ReadBytes(&m->error, "error"));
  RETURN_IF_ERROR(r->ReadBytes(&m->payload, "payload"));
  return r->ExpectEnd();
}

// Decodes the body as the variant alternative at index I.
template <size_t I>
Result<Message> DecodeAs(WireReader* r) {
  std::variant_alternative_t<I, Message> m;
  RETURN_IF_ERROR(DecodeBody(r, &m));
  return Message(std::in_place_index<I>, std::move(m));
}

template <size_t... I>
Result<Message> DecodeByIndex(size_t index, WireReader* r, std::index_sequence<I...>) {
  using Fn = Result<Message> (*)(WireReader*);
  static constexpr Fn kTable[] = {&DecodeAs<I>...};
  return kTable[index](r);
}

}  // namespace

void AppendFrame(const Message& m, std::string* out) {
  WireWriter w(out);
  w.PutU8(static_cast<uint8_t>(TypeOf(m)));
  std::visit([&w](const auto& body) { EncodeBody(&w, body); }, m);
}

std::string EncodeFrame(const Message& m) {
  std::string out;
  AppendFrame(m, &out);
  return out;
}

Result<Message> DecodeFrame(std::string_view bytes, size_t max_frame_bytes) {
  if (bytes.size() > max_frame_bytes) {
    return Status::TooLarge("frame of " + std::to_string(bytes.size()) +
                            " bytes exceeds max_frame_bytes " + std::to_string(max_frame_bytes));
  }
  if (bytes.empty()) return Status::Corruption("empty frame");
  const auto type = static_cast<uint8_t>(bytes[0]);
  static_assert(std::variant_size_v<Message> == kMaxMessageType);
  if (type == 0 || type > kMaxMessageType) {
    return Status::Corruption("unknown message type " + std::to_string(type));
  }
  const MessageType mt = static_cast<MessageType>(type);
  // MessageTypeName returns literals, so the pointer outlives the reader.
  WireReader r(bytes, MessageTypeName(mt).data());
  uint8_t skipped = 0;  // the type byte; offsets in errors count from the frame start
  RETURN_IF_ERROR(r.ReadU8(&skipped, "type"));
  return DecodeByIndex(type - 1, &r, std::make_index_sequence<kMaxMessageType>{});
}

size_t TxnEntryWireBytes(const TxnEntry& e) {
  size_t n = VarintSize(e.sender_sequence) + VarintSize(e.origin) + VarintSize(e.origin_sequence) +
             VarintSize(e.version) + 1 + VarintSize(e.writes.size());
  for (const auto& w : e.writes) {
    n += BytesSize(w.table.size()) + BytesSize(w.key.size()) + BytesSize(w.value.size());
  }
  return n;
}

size_t TransactionsOverheadBytes(std::string_view database, size_t entry_count) {
  return 1 + BytesSize(database.size()) + VarintSize(entry_count);
}

}  // namespace meshdb::replication
