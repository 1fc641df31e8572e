#include "storage/index_build.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <boost/json/object.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <queue>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/json_parse.h"
#include "storage/index_edits.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"

namespace meshdb::storage {

namespace json = boost::json;

// A spilled run: an unlinked temporary file. Declared in the header, so it and the types it
// holds are outside the anonymous namespace.
class RunFile {
 public:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  using Handle = std::unique_ptr<std::FILE, Closer>;

  explicit RunFile(Handle f) : f_(std::move(f)) {}
  Handle Release() { return std::move(f_); }

 private:
  Handle f_;
};

namespace {

using UniqueFile = RunFile::Handle;

Status FileError(const std::string& what) {
  return Status::IOError("index build: " + what + ": " + std::strerror(errno));
}

// An anonymous temporary file in `dir`: unlinked at once, so a crash leaves nothing behind.
Result<UniqueFile> OpenTempFile(const std::string& dir) {
  static std::atomic<uint64_t> counter{0};  // background threads of several tables
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
    int rc = LmdbCursorPut(cursor_, &k, &d, same_key ? MDB_APPENDDUP : MDB_APPEND);
    if (rc == MDB_KEYEXIST) {
      // Out of LMDB's order (should not happen: both are byte order): a plain put is right
      // whatever the order, only slower.
      ++stats->fallback_puts;
      rc = LmdbCursorPut(cursor_, &k, &d, MDB_NODUPDATA);
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
  if (from + 8 <= s.size()) {
    uint64_t raw;
    std::memcpy(&raw, s.data() + from, sizeof(raw));
    if constexpr (std::endian::native == std::endian::little) raw = __builtin_bswap64(raw);
    return raw;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v <<= 8;
    if (from + i < s.size()) v |= static_cast<unsigned char>(s[from + i]);
  }
  return v;
}

// Sorts [first, last) by `less`, whose order begins with the byte strings digit(e, 0),
// digit(e, 1), ..., digit(e, digits - 1) (each 0-255) compared in turn: MSD radix sort in place
// (American flag sort) on those bytes, `less` for ranges that are small or equal on all of
// them. A byte every element of a range shares costs one counting pass and no moves.
template <typename T, typename Digit, typename Less>
void RadixSort(T* first, T* last, size_t depth, size_t digits, const Digit& digit,
               const Less& less) {
  constexpr size_t kSmall = 64;
  for (;;) {
    const size_t n = static_cast<size_t>(last - first);
    if (n < kSmall || depth >= digits) {
      std::sort(first, last, less);
      return;
    }
    size_t count[256] = {};
    for (T* e = first; e != last; ++e) ++count[digit(*e, depth)];
    if (count[digit(*first, depth)] == n) {  // one bucket: the next byte
      ++depth;
      continue;
    }
    size_t head[256], tail[256];
    size_t sum = 0;
    for (size_t b = 0; b < 256; ++b) {
      head[b] = sum;
      sum += count[b];
      tail[b] = sum;
    }
    for (size_t b = 0; b < 256; ++b) {
      while (head[b] < tail[b]) {
        T v = first[head[b]];
        size_t d = digit(v, depth);
        while (d != b) {  // each swap puts one element in its bucket for good
          std::swap(v, first[head[d]++]);
          d = digit(v, depth);
        }
        first[head[b]++] = v;
      }
    }
    T* begin = first;
    for (const size_t in_bucket : count) {
      if (in_bucket > 1) RadixSort(begin, begin + in_bucket, depth + 1, digits, digit, less);
      begin += in_bucket;
    }
    return;
  }
}

}  // namespace

// One run of entries in memory: keys and record keys back to back, and per entry the first
// bytes of its value and record key. Why: a sort that compares through offsets misses the
// CPU cache on nearly every comparison (the bytes lie anywhere in a 64 MiB buffer); with the
// attribute's rank and 16 value bytes inline most comparisons never leave the entry array.
class RunBuffer {
 public:
  // `rank`: the attribute's position among the table's indexed attribute names, sorted;
  // `value_offset`: where the value starts in `key` (after the attribute's key prefix).
  void Add(uint32_t rank, size_t value_offset, std::string_view key, std::string_view record) {
    entries_.push_back(Entry{
        Prefix8(key, value_offset), Prefix8(key, value_offset + 8), Prefix8(record, 0),
        static_cast<uint32_t>(bytes_.size()), rank, static_cast<uint16_t>(key.size()),
        static_cast<uint16_t>(record.size()), static_cast<uint16_t>(key.size() - value_offset)});
    bytes_ += key;
    bytes_ += record;
  }
  [[nodiscard]] size_t bytes() const { return bytes_.size() + entries_.size() * sizeof(Entry); }
  [[nodiscard]] bool empty() const { return entries_.empty(); }

  [[nodiscard]] size_t size() const { return entries_.size(); }
  [[nodiscard]] std::pair<std::string_view, std::string_view> At(size_t i) const {
    return {KeyOf(entries_[i]), RecordOf(entries_[i])};
  }

  // Replaces each entry's rank r by order[r].
  void Rerank(const std::vector<uint32_t>& order) {
    for (Entry& e : entries_) e.rank = order[e.rank];
  }

  // (index key, record key) byte order: the attribute names sort as the keys' first bytes do
  // (0x00 ends each name and is below every other byte), then the values, then record keys.
  // Radix-sorted on the inline rank and value bytes first (RadixSort), which orders all but
  // the ties the comparator below then settles.
  void Sort() {
    auto less = [this](const Entry& a, const Entry& b) {
      if (a.rank != b.rank) return a.rank < b.rank;
      if (a.value0 != b.value0) return a.value0 < b.value0;
      if (a.value1 != b.value1) return a.value1 < b.value1;
      if (a.value_size <= 16 && b.value_size <= 16) {
        // Both values are inline (zero-padded): equal, or the shorter is a prefix of the
        // longer. Ties are common (a batch's rows share their timestamps), and skip memcmp.
        if (a.value_size != b.value_size) return a.value_size < b.value_size;
      } else if (int c = KeyOf(a).compare(KeyOf(b)); c != 0) {
        return c < 0;
      }
      if (a.record0 != b.record0) return a.record0 < b.record0;
      return RecordOf(a) < RecordOf(b);
    };
    // Bytes 0-3: the rank, big-endian; 4-11: value0's; 12-19: value1's.
    auto digit = [](const Entry& e, size_t i) -> size_t {
      if (i < 4) return (e.rank >> (8 * (3 - i))) & 0xff;
      const uint64_t word = i < 12 ? e.value0 : e.value1;
      return (word >> (8 * (7 - (i - 4) % 8))) & 0xff;
    };
    RadixSort(entries_.data(), entries_.data() + entries_.size(), 0, 20, digit, less);
  }
  // In order. The bytes of the entries a few places ahead are prefetched: sorted, they are
  // read from anywhere in the buffer, and the cache misses were most of a run's spill.
  template <typename Fn>
  Status ForEach(Fn&& fn) const {
    constexpr size_t kAhead = 16;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (i + kAhead < entries_.size()) {
        __builtin_prefetch(bytes_.data() + entries_[i + kAhead].offset);
      }
      RETURN_IF_ERROR(fn(KeyOf(entries_[i]), RecordOf(entries_[i])));
    }
    return Status::Ok();
  }
  // Room for a run of `run_bytes` (address space only until written): filled by doubling, each
  // run would copy the buffer several times and fault in fresh pages for every copy.
  void Reserve(size_t run_bytes) {
    entries_.reserve(run_bytes / sizeof(Entry) + 1);
    bytes_.reserve(run_bytes + 2 * kMaxKeyBytes);  // the entry that fills it
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
    uint16_t value_size;  // key_size less the attribute and its 0x00 (same attribute: same)
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

namespace {

// Entries [u32 key size][u32 record size][key][record]... are gathered into blocks of this
// size, each written with one call.
constexpr size_t kRunWriteBlockBytes = 1u << 20;

// A run file is used by one thread at a time (written by the spill worker, which is joined
// before the merge reads it), so it is read through stdio's unlocked calls: three calls per
// entry, millions of entries, and the stream lock was most of each call.
Status WriteRun(const RunBuffer& run, std::FILE* f) {
  std::string block;
  block.reserve(kRunWriteBlockBytes + 2 * kMaxKeyBytes + 2 * sizeof(uint32_t));
  auto flush = [&] {
    if (std::fwrite(block.data(), 1, block.size(), f) != block.size()) {
      return FileError("write run");
    }
    block.clear();
    return Status::Ok();
  };
  RETURN_IF_ERROR(run.ForEach([&](std::string_view key, std::string_view record) {
    uint32_t sizes[2] = {static_cast<uint32_t>(key.size()), static_cast<uint32_t>(record.size())};
    block.append(reinterpret_cast<const char*>(sizes), sizeof(sizes));
    block += key;
    block += record;
    return block.size() >= kRunWriteBlockBytes ? flush() : Status::Ok();
  }));
  return flush();
}

// One sorted run being merged: a spilled file or the last run, still in memory.
class RunSource {
 public:
  virtual ~RunSource() = default;
  // False at the end of the run; sets *status on a read error.
  virtual bool Next(Status* status) = 0;
  [[nodiscard]] virtual std::string_view key() const = 0;
  [[nodiscard]] virtual std::string_view record() const = 0;
};

// Reads one spilled run back, entry by entry.
class RunReader : public RunSource {
 public:
  explicit RunReader(UniqueFile f) : f_(std::move(f)) {}
  bool Next(Status* status) override {
    uint32_t sizes[2];
    if (fread_unlocked(sizes, sizeof(sizes), 1, f_.get()) != 1) {  // see WriteRun
      if (std::ferror(f_.get())) *status = FileError("read run");
      return false;
    }
    key_.resize(sizes[0]);
    record_.resize(sizes[1]);
    if (fread_unlocked(key_.data(), 1, sizes[0], f_.get()) != sizes[0] ||
        fread_unlocked(record_.data(), 1, sizes[1], f_.get()) != sizes[1]) {
      *status = FileError("read run (truncated)");
      return false;
    }
    return true;
  }
  [[nodiscard]] std::string_view key() const override { return key_; }
  [[nodiscard]] std::string_view record() const override { return record_; }

 private:
  UniqueFile f_;
  std::string key_;
  std::string record_;
};

class MemoryRunReader : public RunSource {
 public:
  explicit MemoryRunReader(const RunBuffer& run) : run_(run) {}
  bool Next(Status* /*status*/) override {
    if (next_ >= run_.size()) return false;
    std::tie(key_, record_) = run_.At(next_++);
    return true;
  }
  [[nodiscard]] std::string_view key() const override { return key_; }
  [[nodiscard]] std::string_view record() const override { return record_; }

 private:
  const RunBuffer& run_;
  size_t next_ = 0;
  std::string_view key_, record_;
};

// Merged entries travel from the merging thread to the writer in blocks of
// [u32 key size][u32 record size][key][record]...
constexpr size_t kMergeBlockBytes = 1u << 20;
constexpr size_t kMergeBlocksInFlight = 4;

class BlockQueue {
 public:
  // Producer: false when the consumer gave up.
  bool Push(std::string block) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return blocks_.size() < kMergeBlocksInFlight || closed_; });
    if (closed_) return false;
    blocks_.push_back(std::move(block));
    cv_.notify_all();
    return true;
  }
  // Producer: no more blocks; `status` is the merge's outcome.
  void Finish(Status status) {
    std::lock_guard lock(mu_);
    done_ = true;
    status_ = std::move(status);
    cv_.notify_all();
  }
  // Consumer: false at the end (then status()).
  bool Pop(std::string* block) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !blocks_.empty() || done_; });
    if (blocks_.empty()) return false;
    *block = std::move(blocks_.front());
    blocks_.pop_front();
    cv_.notify_all();
    return true;
  }
  // Consumer: stops the producer (on an error of its own).
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> blocks_;
  bool done_ = false;
  bool closed_ = false;
  Status status_;
};

// Merges the sorted runs into `queue` (runs on its own thread).
Status MergeInto(std::vector<std::unique_ptr<RunSource>>& sources, BlockQueue& queue) {
  auto greater = [&sources](size_t a, size_t b) {
    int c = sources[a]->key().compare(sources[b]->key());
    return c != 0 ? c > 0 : sources[a]->record() > sources[b]->record();
  };
  std::priority_queue<size_t, std::vector<size_t>, decltype(greater)> heap(greater);
  Status status;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i]->Next(&status)) heap.push(i);
    RETURN_IF_ERROR(status);
  }
  std::string block;
  while (!heap.empty()) {
    size_t i = heap.top();
    heap.pop();
    const std::string_view key = sources[i]->key(), record = sources[i]->record();
    uint32_t sizes[2] = {static_cast<uint32_t>(key.size()), static_cast<uint32_t>(record.size())};
    block.append(reinterpret_cast<const char*>(sizes), sizeof(sizes));
    block += key;
    block += record;
    if (block.size() >= kMergeBlockBytes) {
      if (!queue.Push(std::move(block))) return Status::Ok();  // the writer gave up
      block = std::string();
      block.reserve(kMergeBlockBytes + 2 * kMaxKeyBytes + 2 * sizeof(uint32_t));
    }
    if (sources[i]->Next(&status)) heap.push(i);
    RETURN_IF_ERROR(status);
  }
  if (!block.empty()) queue.Push(std::move(block));
  return Status::Ok();
}

// Merges the runs on a second thread while this one appends the entries to the index: the
// merge (reading, comparing) and LMDB's appends each take about half of the work.
Status MergeRuns(std::vector<std::unique_ptr<RunSource>> sources, Appender& out,
                 IndexBuildStats* stats) {
  BlockQueue queue;
  std::thread merger([&] { queue.Finish(MergeInto(sources, queue)); });
  Status status;
  std::string block;
  while (status.ok() && queue.Pop(&block)) {
    for (size_t at = 0; at < block.size() && status.ok();) {
      uint32_t sizes[2];
      std::memcpy(sizes, block.data() + at, sizeof(sizes));
      at += sizeof(sizes);
      const std::string_view key(block.data() + at, sizes[0]);
      const std::string_view record(block.data() + at + sizes[0], sizes[1]);
      at += sizes[0] + sizes[1];
      status = out.Put(key, record, stats);
    }
  }
  queue.Close();
  merger.join();
  return status.ok() ? queue.status() : status;
}

}  // namespace

IndexCollector::IndexCollector(std::string temp_dir, size_t run_bytes)
    : temp_dir_(std::move(temp_dir)),
      run_bytes_(run_bytes),
      current_(std::make_unique<RunBuffer>()),
      spilling_(std::make_unique<RunBuffer>()) {
  current_->Reserve(run_bytes_);
}

IndexCollector::~IndexCollector() {
  if (worker_.joinable()) worker_.join();
}

int32_t IndexCollector::AttributeId(const TableState& table, std::string_view name) {
  if (auto it = attributes_.find(name); it != attributes_.end()) return it->second;
  const std::string attr(name);
  const AttributeDef* def = table.Find(attr);
  int32_t id = -1;
  std::string prefix;
  // The primary key has no entries: r:<t> serves it.
  if (def != nullptr && def->indexed && attr != table.def.primary_key &&
      table.index_keys.Prefix(attr, &prefix)) {
    id = static_cast<int32_t>(names_.size());
    names_.push_back(attr);
    prefixes_.push_back(std::move(prefix));
  }
  attributes_.emplace(attr, id);
  return id;
}

int32_t IndexCollector::AttributeIdAt(const TableState& table, size_t position,
                                      std::string_view name) {
  if (position < by_position_.size() && by_position_[position].first == name) {
    return by_position_[position].second;
  }
  const int32_t id = AttributeId(table, name);
  if (position >= by_position_.size()) by_position_.resize(position + 1);
  by_position_[position] = {std::string(name), id};
  return id;
}

bool IndexCollector::MatchesDefinition(const TableState& table) const {
  for (const auto& [name, id] : attributes_) {
    const AttributeDef* def = table.Find(name);
    const bool indexed = def != nullptr && def->indexed && name != table.def.primary_key;
    if (indexed != (id >= 0)) return false;
  }
  return true;
}

Status IndexCollector::AddRow(const TableState& table, std::string_view record_key,
                              const json::object& doc) {
  size_t position = 0;
  for (const auto& [name, value] : doc) {
    const int32_t id = AttributeIdAt(table, position++, std::string_view(name.data(), name.size()));
    if (id < 0) continue;
    const std::string& attr = names_[static_cast<size_t>(id)];
    ForEachIndexValue(value, [&](const json::value& scalar) {
      table.index_keys.Encode(attr, scalar, &key_buf_);
      current_->Add(static_cast<uint32_t>(id), prefixes_[static_cast<size_t>(id)].size(), key_buf_,
                    record_key);
    });
  }
  ++rows_;
  return current_->bytes() >= run_bytes_ ? Spill() : Status::Ok();
}

void IndexCollector::Rerank(RunBuffer& run) const {
  std::vector<uint32_t> by_name(names_.size());
  for (uint32_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
  std::sort(by_name.begin(), by_name.end(),
            [this](uint32_t a, uint32_t b) { return prefixes_[a] < prefixes_[b]; });
  std::vector<uint32_t> order(names_.size());
  for (uint32_t pos = 0; pos < by_name.size(); ++pos) order[by_name[pos]] = pos;
  run.Rerank(order);
}

Status IndexCollector::Join() {
  if (!worker_.joinable()) return Status::Ok();
  worker_.join();
  spilling_->Clear();  // keeps its memory for the next run
  if (worker_file_) files_.push_back(std::move(worker_file_));
  return worker_status_;
}

Status IndexCollector::Spill() {
  RETURN_IF_ERROR(Join());
  Rerank(*current_);
  std::swap(current_, spilling_);
  current_->Reserve(run_bytes_);  // no-op once it has held a run
  worker_ = std::thread([this] {
    RunBuffer& run = *spilling_;
    run.Sort();
    auto f = OpenTempFile(temp_dir_);
    if (!f.ok()) {
      worker_status_ = f.status();
      return;
    }
    worker_status_ = WriteRun(run, f->get());
    if (worker_status_.ok()) worker_file_ = std::make_unique<RunFile>(std::move(f).value());
  });
  return Status::Ok();
}

Status IndexCollector::Finish(MDB_txn* txn, const TableState& table, IndexBuildStats* stats) {
  RETURN_IF_ERROR(Join());
  stats->rows = rows_;
  for (MDB_dbi level : {table.index_dbi, table.staged_index_dbi}) {
    int rc = LmdbClear(txn, level);
    if (rc != 0) return LmdbError("empty index", rc);
  }
  ASSIGN_OR_RETURN(Cursor index, Cursor::Open(txn, table.index_dbi));
  Appender out(index.get());
  Rerank(*current_);
  current_->Sort();
  if (files_.empty()) {
    stats->runs = current_->empty() ? 0 : 1;
    return current_->ForEach(
        [&](std::string_view key, std::string_view record) { return out.Put(key, record, stats); });
  }
  std::vector<std::unique_ptr<RunSource>> runs;
  for (auto& f : files_) {
    UniqueFile file = f->Release();
    if (std::fseek(file.get(), 0, SEEK_SET) != 0) return FileError("rewind run");
    runs.push_back(std::make_unique<RunReader>(std::move(file)));
  }
  files_.clear();
  if (!current_->empty()) runs.push_back(std::make_unique<MemoryRunReader>(*current_));
  stats->runs = runs.size();
  return MergeRuns(std::move(runs), out, stats);
}

Status RebuildIndex(MDB_txn* txn, const Database& db, const TableState& table,
                    const std::string& temp_dir, size_t run_bytes, IndexBuildStats* stats) {
  IndexCollector collector(temp_dir, run_bytes);
  std::string record_buf;
  {
    ASSIGN_OR_RETURN(Cursor rows, Cursor::Open(txn, table.records_dbi));
    MDB_val k, v;
    int rc;
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
      RETURN_IF_ERROR(collector.AddRow(table, FromVal(k), parsed.get_object()));
    }
    if (rc != MDB_NOTFOUND) return LmdbError("scan records", rc);
  }
  return collector.Finish(txn, table, stats);
}

}  // namespace meshdb::storage
