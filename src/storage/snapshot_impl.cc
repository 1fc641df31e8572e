#include "storage/snapshot_impl.h"

#include <unordered_set>

#include "common/hlc.h"
#include "storage/index_edits.h"
#include "storage/index_key.h"
#include "storage/index_levels.h"
#include "storage/key_codec.h"
#include "storage/record_codec.h"

namespace meshdb::storage {

namespace json = boost::json;

namespace {

enum class Position { kBelow, kIn, kAbove };

// Exact comparison of a full value encoding against a range given as encodings.
struct EncodedRange {
  std::optional<std::string> lower, upper, prefix;
  bool lower_inclusive = true, upper_inclusive = true;

  [[nodiscard]] Position Classify(std::string_view v) const {
    if (prefix) {
      if (v.starts_with(*prefix)) return Position::kIn;
      return v < std::string_view(*prefix) ? Position::kBelow : Position::kAbove;
    }
    if (lower) {
      int c = v.compare(*lower);
      if (c < 0 || (c == 0 && !lower_inclusive)) return Position::kBelow;
    }
    if (upper) {
      int c = v.compare(*upper);
      if (c > 0 || (c == 0 && !upper_inclusive)) return Position::kAbove;
    }
    return Position::kIn;
  }
  // Where a cursor starts.
  [[nodiscard]] std::string_view Start() const {
    if (prefix) return *prefix;
    if (lower) return *lower;
    return {};
  }
};

Result<EncodedRange> EncodeRange(const IndexRange& range) {
  EncodedRange r;
  r.lower_inclusive = range.lower_inclusive;
  r.upper_inclusive = range.upper_inclusive;
  if (range.string_prefix) {
    r.prefix = std::string(1, static_cast<char>(kTagString)) + *range.string_prefix;
    return r;
  }
  if (range.lower) {
    std::string enc;
    RETURN_IF_ERROR(AppendEncodedValue(*range.lower, &enc));
    r.lower = std::move(enc);
  }
  if (range.upper) {
    std::string enc;
    RETURN_IF_ERROR(AppendEncodedValue(*range.upper, &enc));
    r.upper = std::move(enc);
  }
  return r;
}

// Decodes a live record stored in one of `db`'s records sub-dbs; false for a tombstone.
Result<bool> DecodeLive(MDB_txn* txn, const Database& db, const MDB_val& v, Record* record) {
  thread_local std::string scratch;
  ASSIGN_OR_RETURN(std::string_view bytes, UnpackRecord(txn, db, FromVal(v), &scratch));
  bool tombstone = false;
  RETURN_IF_ERROR(DecodeRecord(bytes, record, &tombstone));
  return !tombstone;
}

// The smallest encoding of attribute `attr`'s index values in `doc` that lies in `range` and
// starts with `cut` (an index entry's possibly cut value), if any: the exact re-check of a
// cut entry, and its place in index order.
std::optional<std::string> MatchingValue(const json::object& doc, const std::string& attr,
                                         const EncodedRange& range, std::string_view cut) {
  const json::value* v = doc.if_contains(attr);
  if (v == nullptr) return std::nullopt;
  std::optional<std::string> best;
  std::string enc;
  ForEachIndexValue(*v, [&](const json::value& e) {
    enc.clear();
    if (!AppendEncodedValue(e, &enc).ok() || !enc.starts_with(cut)) return;
    if (range.Classify(enc) != Position::kIn) return;
    if (!best || enc < *best) best = enc;
  });
  return best;
}

}  // namespace

Result<std::shared_ptr<const TableState>> SnapshotImpl::Table(const std::string& table) const {
  auto t = db_->FindTable(table);
  if (!t) return Status::NotFound(TableNotFound(db_->name, table));
  return t;
}

Result<std::optional<Record>> SnapshotImpl::Get(const std::string& table, const json::value& key) {
  ASSIGN_OR_RETURN(auto t, Table(table));
  std::string enc;
  RETURN_IF_ERROR(AppendEncodedValue(key, &enc));
  if (enc.size() > kMaxKeyBytes) return std::optional<Record>();
  MDB_val k = ToVal(enc), v;
  int rc = mdb_get(txn_.get(), t->records_dbi, &k, &v);
  // EINVAL: the table was created after this snapshot began.
  if (rc == MDB_NOTFOUND || rc == EINVAL) return std::optional<Record>();
  if (rc != 0) return LmdbError("get", rc);
  Record record;
  ASSIGN_OR_RETURN(bool live, DecodeLive(txn_.get(), *db_, v, &record));
  if (!live) return std::optional<Record>();
  return std::optional<Record>(std::move(record));
}

Status SnapshotImpl::ScanTable(const std::string& table, const RecordVisitor& visit) {
  ASSIGN_OR_RETURN(auto t, Table(table));
  MDB_cursor* raw = nullptr;
  int rc = mdb_cursor_open(txn_.get(), t->records_dbi, &raw);
  if (rc == EINVAL) return Status::Ok();
  if (rc != 0) return LmdbError("cursor", rc);
  mdb_cursor_close(raw);
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), t->records_dbi));
  MDB_val k, v;
  Record record;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    ASSIGN_OR_RETURN(bool live, DecodeLive(txn_.get(), *db_, v, &record));
    if (live && !visit(record)) return Status::Ok();
  }
  if (rc != MDB_NOTFOUND) return LmdbError("scan table", rc);
  return Status::Ok();
}

Status SnapshotImpl::ScanIndex(const std::string& table, const std::string& attribute,
                               const IndexRange& range, const RecordVisitor& visit) {
  ASSIGN_OR_RETURN(auto t, Table(table));
  ASSIGN_OR_RETURN(EncodedRange r, EncodeRange(range));
  const bool primary = attribute == t->def.primary_key;
  if (!primary) {
    const AttributeDef* def = t->Find(attribute);
    if (def == nullptr || !def->indexed) {
      return Status::InvalidArgument("attribute '" + attribute + "' is not indexed in " +
                                     db_->name + "." + table);
    }
  }
  MDB_cursor* probe = nullptr;
  int rc = mdb_cursor_open(txn_.get(), primary ? t->records_dbi : t->index_dbi, &probe);
  if (rc == EINVAL) return Status::Ok();  // table newer than this snapshot
  if (rc != 0) return LmdbError("cursor", rc);
  mdb_cursor_close(probe);

  MDB_val k, v;
  Record record;
  if (primary) {
    // The records sub-db is keyed by the same encoding: scan it directly.
    ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), t->records_dbi));
    std::string start(r.Start());
    k = ToVal(start);
    MDB_cursor_op op = start.empty() ? MDB_FIRST : MDB_SET_RANGE;
    for (rc = mdb_cursor_get(cursor.get(), &k, &v, op); rc == 0;
         rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
      Position pos = r.Classify(FromVal(k));
      if (pos == Position::kAbove) return Status::Ok();
      if (pos == Position::kBelow) continue;
      ASSIGN_OR_RETURN(bool live, DecodeLive(txn_.get(), *db_, v, &record));
      if (live && !visit(record)) return Status::Ok();
    }
    if (rc != MDB_NOTFOUND) return LmdbError("scan index", rc);
    return Status::Ok();
  }

  const IndexKeyLayout& layout = t->index_keys;
  std::string prefix;
  if (!layout.Prefix(attribute, &prefix)) return Status::Ok();  // no entry has been written
  ASSIGN_OR_RETURN(IndexLevelsReader entries, IndexLevelsReader::Open(txn_.get(), *t));
  // Cutting is monotonic: every entry whose value is >= the start has a cut >= its cut.
  // An equality range matches one value: the records under a cut entry need no sorting.
  const bool single_value = r.lower && r.upper && *r.lower == *r.upper;
  std::string start = prefix;
  // A long value looked up by equality: its entries are exactly the ones whose key is its
  // cut and hash (compact layout).
  const bool exact_key =
      single_value && layout.compact() && r.Start().size() > layout.value_bytes();
  if (exact_key) {
    layout.AppendValuePart(r.Start(), &start);
  } else {
    start.append(layout.Cut(r.Start(), prefix.size()));
  }
  std::unordered_set<std::string> seen;
  // The records of the run of cut entries sharing the cut value `group_cut`, with their
  // matching values: LMDB orders them by hash and record key, so they are sorted by value
  // and visited when the run ends.
  std::vector<std::pair<std::string, Record>> group;
  std::string group_cut;
  auto flush = [&]() {
    std::stable_sort(group.begin(), group.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    bool more = true;
    for (auto& [value, rec] : group) {
      if (more) more = visit(rec);
    }
    group.clear();
    return more;
  };
  for (Status read = entries.Seek(start);; read = entries.Next()) {
    RETURN_IF_ERROR(read);
    if (!entries.valid()) break;
    std::string_view key = entries.key();
    if (exact_key && key != start) break;
    if (!key.starts_with(prefix)) break;
    std::string_view value = layout.CutValue(key, prefix.size());
    if (!group.empty() && value != group_cut && !flush()) return Status::Ok();
    const bool cut = layout.MaybeCut(key, prefix.size());
    Position pos = r.Classify(value);
    // A cut value is a prefix of the real one (so never above it): "above" is final,
    // anything else needs the record to decide.
    if (pos == Position::kAbove) break;
    if (pos == Position::kBelow && !cut) continue;
    std::string pk(entries.record());
    if (seen.count(pk) != 0) continue;
    MDB_val rk = ToVal(pk), rv;
    int grc = mdb_get(txn_.get(), t->records_dbi, &rk, &rv);
    if (grc == MDB_NOTFOUND) continue;
    if (grc != 0) return LmdbError("get indexed record", grc);
    ASSIGN_OR_RETURN(bool live, DecodeLive(txn_.get(), *db_, rv, &record));
    if (!live) continue;
    if (cut) {
      std::optional<std::string> matching = MatchingValue(record.doc, attribute, r, value);
      if (!matching) continue;
      seen.insert(std::move(pk));
      if (!single_value) {
        group_cut.assign(value);
        group.emplace_back(std::move(*matching), std::move(record));
        continue;
      }
    } else {
      seen.insert(std::move(pk));
    }
    if (!visit(record)) return Status::Ok();
  }
  if (!group.empty()) flush();
  return Status::Ok();
}

Status SnapshotImpl::ScanLog(uint64_t from_sequence, const LogVisitor& visit) {
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), db_->log_dbi));
  std::string start = SequenceKey(from_sequence);
  MDB_val k = ToVal(start), v;
  LogEntry entry;
  int rc;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    if (k.mv_size != 8) return Status::Corruption("bad txlog key");
    RETURN_IF_ERROR(
        DecodeLogEntry(GetU64(static_cast<const char*>(k.mv_data)), FromVal(v), &entry));
    if (!visit(entry)) return Status::Ok();
  }
  if (rc != MDB_NOTFOUND) return LmdbError("scan txlog", rc);
  return Status::Ok();
}

Result<VersionVector> SnapshotImpl::ReadVersionVector() {
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), db_->meta_dbi));
  VersionVector vector;
  MDB_val k = ToVal(kMetaVectorPrefix), v;
  int rc;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = FromVal(k);
    if (!key.starts_with(kMetaVectorPrefix)) break;
    if (key.size() != kMetaVectorPrefix.size() + 4 || v.mv_size != 8) {
      return Status::Corruption("bad version vector entry");
    }
    uint32_t origin = 0;
    for (char c : key.substr(kMetaVectorPrefix.size())) {
      origin = (origin << 8) | static_cast<unsigned char>(c);
    }
    vector[origin] = GetU64(static_cast<const char*>(v.mv_data));
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("scan version vector", rc);
  return vector;
}

Status SnapshotImpl::ScanRaw(const std::string& table, const RawVisitor& visit) {
  // Record bytes as they were written, whatever form they take at rest: what copies ship
  // and range hashes hash is the same on every node.
  std::string scratch;
  Status unpack_error = Status::Ok();
  Status st = ScanStored(table, [&](std::string_view key, std::string_view stored) {
    Result<std::string_view> record = UnpackRecord(txn_.get(), *db_, stored, &scratch);
    if (!record.ok()) {
      unpack_error = record.status();
      return false;
    }
    return visit(key, *record);
  });
  return st.ok() ? unpack_error : st;
}

Status SnapshotImpl::ScanStored(const std::string& table, const RawVisitor& visit) {
  ASSIGN_OR_RETURN(auto t, Table(table));
  MDB_cursor* probe = nullptr;
  int rc = mdb_cursor_open(txn_.get(), t->records_dbi, &probe);
  if (rc == EINVAL) return Status::Ok();  // table newer than this snapshot
  if (rc != 0) return LmdbError("cursor", rc);
  mdb_cursor_close(probe);
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), t->records_dbi));
  MDB_val k, v;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    if (!visit(FromVal(k), FromVal(v))) return Status::Ok();
  }
  if (rc != MDB_NOTFOUND) return LmdbError("scan raw", rc);
  return Status::Ok();
}

Result<std::string> SnapshotImpl::RecordDictionary(uint32_t id) {
  return ReadRecordDictionaryBytes(txn_.get(), db_->meta_dbi, id);
}

Result<uint64_t> SnapshotImpl::LastSequence() {
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), db_->log_dbi));
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND) return uint64_t{0};
  if (rc != 0) return LmdbError("last txlog entry", rc);
  if (k.mv_size != 8) return Status::Corruption("bad txlog key");
  return GetU64(static_cast<const char*>(k.mv_data));
}

Result<uint64_t> SnapshotImpl::FindSequenceAtOrAfterTime(uint64_t ms) {
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn_.get(), db_->log_dbi));
  // The entry at or after `seq`: its sequence and version (from the value's header:
  // [u8 format][u32 origin][u64 origin_sequence][u64 version]).
  struct Found {
    uint64_t sequence;
    uint64_t version;
  };
  auto at_or_after = [&](uint64_t seq, MDB_cursor_op op) -> Result<std::optional<Found>> {
    std::string key = SequenceKey(seq);
    MDB_val k = ToVal(key), v;
    int rc = mdb_cursor_get(cursor.get(), &k, &v, op);
    if (rc == MDB_NOTFOUND) return std::optional<Found>();
    if (rc != 0) return LmdbError("seek txlog", rc);
    if (k.mv_size != 8 || v.mv_size < 21) return Status::Corruption("bad txlog entry");
    return std::optional<Found>(Found{GetU64(static_cast<const char*>(k.mv_data)),
                                      GetU64(static_cast<const char*>(v.mv_data) + 13)});
  };
  ASSIGN_OR_RETURN(auto first, at_or_after(0, MDB_FIRST));
  ASSIGN_OR_RETURN(auto last, at_or_after(0, MDB_LAST));
  if (!first) return uint64_t{1};
  if (HybridClock::Millis(last->version) < ms) return last->sequence + 1;
  if (HybridClock::Millis(first->version) >= ms) return first->sequence;
  // Invariant: the entry at `lo` is before `ms`, the entry at `hi` is at or after it.
  uint64_t lo = first->sequence, hi = last->sequence;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    ASSIGN_OR_RETURN(auto found, at_or_after(mid, MDB_SET_RANGE));
    if (!found || found->sequence >= hi) {
      hi = mid;  // no entry in [mid, hi): keys are sparse here (cannot happen while dense)
      continue;
    }
    if (HybridClock::Millis(found->version) >= ms) {
      hi = found->sequence;
    } else {
      lo = found->sequence;
    }
  }
  return hi;
}

}  // namespace meshdb::storage
