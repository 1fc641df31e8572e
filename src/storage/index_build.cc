#include "storage/index_build.h"

#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <queue>
#include <string_view>
#include <vector>

#include "common/json_parse.h"
#include "storage/index_edits.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/record_codec.h"

namespace meshdb::storage {

namespace json = boost::json;

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using UniqueFile = std::unique_ptr<std::FILE, FileCloser>;

Status FileError(const std::string& what) {
  return Status::IOError("index build: " + what + ": " + std::strerror(errno));
}

// An anonymous temporary file in `dir`: unlinked at once, so a crash leaves nothing behind.
Result<UniqueFile> OpenTempFile(const std::string& dir) {
  static uint64_t counter = 0;
  std::string path =
      dir + "/.index-build-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  UniqueFile f(std::fopen(path.c_str(), "w+b"));
  if (!f) return FileError("create " + path);
  ::unlink(path.c_str());
  return f;
}

// Appends (index key, record key) pairs in sorted order at the right edge of the index.
class Appender {
 public:
  explicit Appender(MDB_cursor* cursor) : cursor_(cursor) {}

  Status Put(std::string_view key, std::string_view record, IndexBuildStats* stats) {
    const bool same_key = have_prev_ && key == prev_key_;
    if (same_key && record == prev_record_) return Status::Ok();  // an array's repeated value
    MDB_val k = ToVal(key), d = ToVal(record);
    // As mdb_load does: MDB_APPEND for a new key, MDB_APPENDDUP for the next record of the
    // current one.
    int rc = mdb_cursor_put(cursor_, &k, &d, same_key ? MDB_APPENDDUP : MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
      // Out of LMDB's order (should not happen: both are byte order): a plain put is right
      // whatever the order, only slower.
      ++stats->fallback_puts;
      rc = mdb_cursor_put(cursor_, &k, &d, MDB_NODUPDATA);
      if (rc == MDB_KEYEXIST) rc = 0;
    }
    if (rc != 0) return LmdbError("append index entry", rc);
    ++stats->entries;
    prev_key_.assign(key);
    prev_record_.assign(record);
    have_prev_ = true;
    return Status::Ok();
  }

 private:
  MDB_cursor* cursor_;  // owned by the caller; live while this is used
  bool have_prev_ = false;
  std::string prev_key_;
  std::string prev_record_;
};

// Big-endian bytes [from, from + 8) of `s`, zero-padded: comparing two of these as integers
// orders the strings' bytes there as memcmp does.
uint64_t Prefix8(std::string_view s, size_t from) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v <<= 8;
    if (from + i < s.size()) v |= static_cast<unsigned char>(s[from + i]);
  }
  return v;
}

// One run of entries in memory: keys and record keys back to back, and per entry the first
// bytes of its value and record key. Why: a sort that compares through offsets misses the
// CPU cache on nearly every comparison (the bytes lie anywhere in a 64 MiB buffer); with the
// attribute's rank and 16 value bytes inline most comparisons never leave the entry array.
class RunBuffer {
 public:
  // `rank`: the attribute's position among the table's indexed attribute names, sorted;
  // `value_offset`: where the value starts in `key` (after the attribute and its 0x00).
  void Add(uint32_t rank, size_t value_offset, std::string_view key, std::string_view record) {
    entries_.push_back(Entry{Prefix8(key, value_offset), Prefix8(key, value_offset + 8),
                             Prefix8(record, 0), static_cast<uint32_t>(bytes_.size()), rank,
                             static_cast<uint16_t>(key.size()),
                             static_cast<uint16_t>(record.size())});
    bytes_ += key;
    bytes_ += record;
  }
  [[nodiscard]] size_t bytes() const { return bytes_.size() + entries_.size() * sizeof(Entry); }
  [[nodiscard]] bool empty() const { return entries_.empty(); }

  // (index key, record key) byte order: the attribute names sort as the keys' first bytes do
  // (0x00 ends each name and is below every other byte), then the values, then record keys.
  void Sort() {
    std::sort(entries_.begin(), entries_.end(), [this](const Entry& a, const Entry& b) {
      if (a.rank != b.rank) return a.rank < b.rank;
      if (a.value0 != b.value0) return a.value0 < b.value0;
      if (a.value1 != b.value1) return a.value1 < b.value1;
      if (int c = KeyOf(a).compare(KeyOf(b)); c != 0) return c < 0;
      if (a.record0 != b.record0) return a.record0 < b.record0;
      return RecordOf(a) < RecordOf(b);
    });
  }
  template <typename Fn>
  Status ForEach(Fn&& fn) const {
    for (const Entry& e : entries_) RETURN_IF_ERROR(fn(KeyOf(e), RecordOf(e)));
    return Status::Ok();
  }
  void Clear() {
    entries_.clear();
    bytes_.clear();
  }

 private:
  struct Entry {
    uint64_t value0;   // value bytes 0-7
    uint64_t value1;   // value bytes 8-15
    uint64_t record0;  // record key bytes 0-7
    uint32_t offset;
    uint32_t rank;
    uint16_t key_size;  // index keys and record keys are at most kMaxKeyBytes
    uint16_t record_size;
  };
  [[nodiscard]] std::string_view KeyOf(const Entry& e) const {
    return std::string_view(bytes_).substr(e.offset, e.key_size);
  }
  [[nodiscard]] std::string_view RecordOf(const Entry& e) const {
    return std::string_view(bytes_).substr(e.offset + e.key_size, e.record_size);
  }

  std::string bytes_;
  std::vector<Entry> entries_;
};

Status WriteRun(const RunBuffer& run, std::FILE* f) {
  return run.ForEach([f](std::string_view key, std::string_view record) {
    uint32_t sizes[2] = {static_cast<uint32_t>(key.size()), static_cast<uint32_t>(record.size())};
    if (std::fwrite(sizes, sizeof(sizes), 1, f) != 1 ||
        std::fwrite(key.data(), 1, key.size(), f) != key.size() ||
        std::fwrite(record.data(), 1, record.size(), f) != record.size()) {
      return FileError("write run");
    }
    return Status::Ok();
  });
}

// Reads one sorted run back, entry by entry.
class RunReader {
 public:
  explicit RunReader(UniqueFile f) : f_(std::move(f)) {}
  // False at the end of the run; sets *status on a read error.
  bool Next(Status* status) {
    uint32_t sizes[2];
    if (std::fread(sizes, sizeof(sizes), 1, f_.get()) != 1) {
      if (std::ferror(f_.get())) *status = FileError("read run");
      return false;
    }
    key_.resize(sizes[0]);
    record_.resize(sizes[1]);
    if (std::fread(key_.data(), 1, sizes[0], f_.get()) != sizes[0] ||
        std::fread(record_.data(), 1, sizes[1], f_.get()) != sizes[1]) {
      *status = FileError("read run (truncated)");
      return false;
    }
    return true;
  }
  [[nodiscard]] const std::string& key() const { return key_; }
  [[nodiscard]] const std::string& record() const { return record_; }

 private:
  UniqueFile f_;
  std::string key_;
  std::string record_;
};

Status MergeRuns(std::vector<UniqueFile> files, Appender& out, IndexBuildStats* stats) {
  std::vector<RunReader> readers;
  readers.reserve(files.size());
  for (auto& f : files) {
    if (std::fseek(f.get(), 0, SEEK_SET) != 0) return FileError("rewind run");
    readers.emplace_back(std::move(f));
  }
  auto greater = [&readers](size_t a, size_t b) {
    int c = readers[a].key().compare(readers[b].key());
    return c != 0 ? c > 0 : readers[a].record() > readers[b].record();
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(greater)> heap(greater);
  Status status;
  for (size_t i = 0; i < readers.size(); ++i) {
    if (readers[i].Next(&status)) heap.push(i);
    RETURN_IF_ERROR(status);
  }
  while (!heap.empty()) {
    size_t i = heap.top();
    heap.pop();
    RETURN_IF_ERROR(out.Put(readers[i].key(), readers[i].record(), stats));
    if (readers[i].Next(&status)) heap.push(i);
    RETURN_IF_ERROR(status);
  }
  return Status::Ok();
}

}  // namespace

Status RebuildIndex(MDB_txn* txn, const Database& db, const TableState& table,
                    const std::string& temp_dir, size_t run_bytes, IndexBuildStats* stats) {
  int rc = mdb_drop(txn, table.index_dbi, 0);
  if (rc != 0) return LmdbError("empty index", rc);
  // Indexed attributes (the primary key has no entries: r:<t> serves it), ranked by name.
  std::vector<std::string> names;
  for (const AttributeDef& a : table.def.attributes) {
    if (a.indexed && a.name != table.def.primary_key) names.push_back(a.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  auto rank_of = [&names](const std::string& attr) -> int64_t {
    auto it = std::lower_bound(names.begin(), names.end(), attr);
    return it != names.end() && *it == attr ? it - names.begin() : -1;
  };

  RunBuffer run;
  std::vector<UniqueFile> run_files;
  std::string key_buf;
  std::string record_buf;
  {
    ASSIGN_OR_RETURN(Cursor rows, Cursor::Open(txn, table.records_dbi));
    MDB_val k, v;
    for (rc = mdb_cursor_get(rows.get(), &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(rows.get(), &k, &v, MDB_NEXT)) {
      ASSIGN_OR_RETURN(std::string_view record, UnpackRecord(txn, db, FromVal(v), &record_buf));
      RecordHeader header;
      std::string_view text;
      RETURN_IF_ERROR(DecodeRecordHeader(record, &header, &text));
      if (header.tombstone) continue;
      boost::system::error_code ec;
      json::value parsed = ParseJson(text, ec);
      if (ec || !parsed.is_object())
        return Status::Corruption("stored record is not a JSON object");
      const std::string_view record_key = FromVal(k);
      for (const auto& [name, value] : parsed.get_object()) {
        const std::string attr(name);
        const int64_t rank = rank_of(attr);
        if (rank < 0) continue;
        ForEachIndexValue(value, [&](const json::value& scalar) {
          EncodeIndexKey(attr, scalar, &key_buf);
          run.Add(static_cast<uint32_t>(rank), attr.size() + 1, key_buf, record_key);
        });
      }
      ++stats->rows;
      if (run.bytes() >= run_bytes) {
        run.Sort();
        ASSIGN_OR_RETURN(UniqueFile f, OpenTempFile(temp_dir));
        RETURN_IF_ERROR(WriteRun(run, f.get()));
        run_files.push_back(std::move(f));
        run.Clear();
      }
    }
    if (rc != MDB_NOTFOUND) return LmdbError("scan records", rc);
  }

  ASSIGN_OR_RETURN(Cursor index, Cursor::Open(txn, table.index_dbi));
  Appender out(index.get());
  run.Sort();
  if (run_files.empty()) {
    stats->runs = run.empty() ? 0 : 1;
    return run.ForEach(
        [&](std::string_view key, std::string_view record) { return out.Put(key, record, stats); });
  }
  if (!run.empty()) {
    ASSIGN_OR_RETURN(UniqueFile f, OpenTempFile(temp_dir));
    RETURN_IF_ERROR(WriteRun(run, f.get()));
    run_files.push_back(std::move(f));
    run.Clear();
  }
  stats->runs = run_files.size();
  return MergeRuns(std::move(run_files), out, stats);
}

}  // namespace meshdb::storage
