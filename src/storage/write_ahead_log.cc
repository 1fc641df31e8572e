#include "storage/write_ahead_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>

#include "common/log.h"
#include "storage/lmdb_meta_page.h"

namespace meshdb::storage {
namespace {

namespace fs = std::filesystem;

// Checkpoint slot: [u32 magic][u32 crc32 of the rest][u64 sequence][u64 generation]
// [u32 page size][u32 0] then the meta page. Slot i starts at i * kSlotStride.
constexpr uint32_t kSlotMagic = 0x4d574350;  // "MWCP"
constexpr size_t kSlotHeaderBytes = 32;
constexpr off_t kSlotStride = 128 << 10;  // past any LMDB page size

std::string LogPath(const std::string& data_path, int file) {
  return data_path + "-wal." + std::to_string(file);
}
std::string CheckpointPath(const std::string& data_path) { return data_path + "-checkpoint"; }

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

template <typename T>
T LoadScalar(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void StoreScalar(char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

uint32_t SlotCrc(const std::string& slot) {
  return static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(slot.data()) + 8,
                                     static_cast<uInt>(slot.size() - 8)));
}

struct CheckpointSlot {
  uint64_t sequence = 0;
  uint64_t generation = 0;
  std::string meta_page;
};

// The newer valid slot of the checkpoint file, or none.
std::optional<CheckpointSlot> ReadNewestSlot(int fd) {
  std::optional<CheckpointSlot> newest;
  for (int i = 0; i < 2; ++i) {
    char header[kSlotHeaderBytes];
    if (::pread(fd, header, sizeof header, i * kSlotStride) != sizeof header) continue;
    if (LoadScalar<uint32_t>(header) != kSlotMagic) continue;
    uint32_t page_size = LoadScalar<uint32_t>(header + 24);
    if (page_size == 0 || page_size > kSlotStride - kSlotHeaderBytes) continue;
    std::string slot(kSlotHeaderBytes + page_size, '\0');
    if (::pread(fd, slot.data(), slot.size(), i * kSlotStride) !=
        static_cast<ssize_t>(slot.size())) {
      continue;
    }
    if (LoadScalar<uint32_t>(slot.data() + 4) != SlotCrc(slot)) continue;
    CheckpointSlot s{LoadScalar<uint64_t>(slot.data() + 8), LoadScalar<uint64_t>(slot.data() + 16),
                     slot.substr(kSlotHeaderBytes)};
    if (!newest || s.sequence > newest->sequence) newest = std::move(s);
  }
  return newest;
}

Result<std::string> ReadWholeFile(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Errno("stat write-ahead log");
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("read write-ahead log");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

Status WriteAll(int fd, std::string_view bytes, uint64_t offset) {
  while (!bytes.empty()) {
    ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("write write-ahead log");
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace

WriteAheadLog::WriteAheadLog(std::string data_path, const WriteAheadLogOptions& options)
    : data_path_(std::move(data_path)), options_(options) {}

WriteAheadLog::~WriteAheadLog() { Stop(); }

WriteAheadLog* WriteAheadLog::Of(MDB_env* env) {
  return static_cast<WriteAheadLog*>(mdb_env_get_userctx(env));
}

Status WriteAheadLog::RemoveFiles(const std::string& data_path) {
  for (const std::string& path :
       {CheckpointPath(data_path), LogPath(data_path, 0), LogPath(data_path, 1)}) {
    std::error_code ec;
    fs::remove(path, ec);
    if (ec) return Status::IOError("remove " + path + ": " + ec.message());
  }
  return Status::Ok();
}

Result<std::unique_ptr<WriteAheadLog>> WriteAheadLog::Prepare(const std::string& data_path,
                                                              const WriteAheadLogOptions& options) {
  std::unique_ptr<WriteAheadLog> wal(new WriteAheadLog(data_path, options));
  const std::string checkpoint_path = CheckpointPath(data_path);
  common::UniqueFd fd(::open(checkpoint_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno != ENOENT) return Errno("open " + checkpoint_path);
    return wal;  // a new environment, or one written before the log existed: synced by LMDB
  }
  std::optional<CheckpointSlot> slot = ReadNewestSlot(fd.get());
  // No valid slot: the node stopped while creating the log, before any transaction used it.
  if (!slot) return wal;
  if (!fs::exists(data_path)) {
    return Status::InvalidArgument("write-ahead log checkpoint " + checkpoint_path +
                                   " without its data file " + data_path);
  }
  RETURN_IF_ERROR(RestoreLmdbMetaPage(data_path, slot->meta_page));
  wal->checkpoint_found_ = true;
  wal->checkpoint_generation_ = slot->generation;
  wal->checkpoint_sequence_ = slot->sequence;
  return wal;
}

Status WriteAheadLog::OpenFiles() {
  bool created = false;
  // Opens `path` read-write with `extra_flags`, creating it if missing; -1 and errno on failure.
  auto open = [&](const std::string& path, int extra_flags) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | extra_flags);
    if (fd < 0 && errno == ENOENT) {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | extra_flags, 0644);
      created = created || fd >= 0;
    }
    return fd;
  };
  // Direct appends when the filesystem takes O_DIRECT (tmpfs refuses it: EINVAL). Both files
  // are in one directory, so the first says for both.
  direct_ = options_.direct_io;
  for (int i = 0; i < 2; ++i) {
    const std::string path = LogPath(data_path_, i);
    int fd = direct_ ? open(path, O_DIRECT | O_DSYNC) : -1;
    if (fd < 0 && direct_ && i == 0 && errno == EINVAL) direct_ = false;
    if (fd < 0 && !direct_) fd = open(path, 0);
    if (fd < 0) return Errno("open " + path);
    log_fds_[i].Reset(fd);
  }
  if (direct_ && options_.io_uring) {
    std::string why;
    common::MutexLock lock(commit_mu_);
    if (!appender_.UseRing(&why)) {
      static std::once_flag logged;
      std::call_once(logged, [&] {
        log::For("storage")->info(
            "io_uring unavailable ({}): each write-ahead log append completes before LMDB commits",
            why);
      });
    }
  }
  for (int i = 0; i < 2; ++i) {
    struct stat st {};
    if (::fstat(log_fds_[i].get(), &st) != 0) return Errno("stat write-ahead log");
    uint64_t size = static_cast<uint64_t>(st.st_size);
    // Whole blocks, so a direct append never writes past the end.
    const uint64_t initial = DirectAppender::RoundUpToBlock(options_.initial_log_bytes);
    if (size < initial) {
      int rc = ::posix_fallocate(log_fds_[i].get(), 0, static_cast<off_t>(initial));
      if (rc != 0)
        return Status::IOError("allocate " + LogPath(data_path_, i) + ": " + std::strerror(rc));
      if (::fsync(log_fds_[i].get()) != 0) return Errno("sync " + LogPath(data_path_, i));
      size = initial;
    }
    common::MutexLock lock(commit_mu_);
    allocated_[i] = size;
  }
  const std::string checkpoint_path = CheckpointPath(data_path_);
  int checkpoint_fd = open(checkpoint_path, 0);
  if (checkpoint_fd < 0) return Errno("open " + checkpoint_path);
  checkpoint_fd_.Reset(checkpoint_fd);
  data_fd_.Reset(::open(data_path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!data_fd_.valid()) return Errno("open " + data_path_);
  if (created) {
    // The new files' names must survive a power cut before any commit relies on them.
    common::UniqueFd dir(::open(fs::path(data_path_).parent_path().c_str(), O_RDONLY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) != 0) return Errno("sync the database directory");
  }
  return Status::Ok();
}

Status WriteAheadLog::Start(MDB_env* env) {
  env_ = env;
  MDB_stat st;
  int rc = mdb_env_stat(env, &st);
  if (rc != 0) return LmdbError("mdb_env_stat", rc);
  page_size_ = st.ms_psize;
  RETURN_IF_ERROR(OpenFiles());
  {
    common::MutexLock lock(commit_mu_);
    freelist_ = std::make_unique<LmdbFreelistReader>(env);
  }
  // A reader at the checkpoint's transaction S until the checkpoint below is synced: LMDB then
  // reuses no page of S's tree for a replayed transaction, so a replay that fails or a crash
  // before that checkpoint leaves S whole, and the next open starts from it again.
  ReadTxn replay_pin;
  if (checkpoint_found_) {
    ASSIGN_OR_RETURN(replay_pin, ReadTxn::Begin(env));
    RETURN_IF_ERROR(Replay());
  }
  {
    common::MutexLock lock(commit_mu_);
    // The checkpoint below switches to generation_ + 1: past both generations replay read.
    generation_ = checkpoint_found_ ? checkpoint_generation_ + 1 : 0;
  }
  RETURN_IF_ERROR(Checkpoint());
  replay_pin = ReadTxn();
  PublishVisible();  // what replay committed
  mdb_env_set_userctx(env, this);
  started_ = true;
  checkpointer_ = std::thread([this] { CheckpointerLoop(); });
  return Status::Ok();
}

Status WriteAheadLog::Replay() {
  // Both generations are read and their frames checked before any is replayed: a log this
  // binary refuses changes nothing.
  std::string bytes[2];
  std::vector<WalFrame> generations[2];
  for (int g = 0; g < 2; ++g) {
    const uint64_t generation = checkpoint_generation_ + g;
    // Read through the page cache: a direct descriptor needs aligned buffers.
    const std::string path = LogPath(data_path_, static_cast<int>(generation % 2));
    common::UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) return Errno("open " + path);
    ASSIGN_OR_RETURN(bytes[g], ReadWholeFile(in.get()));
    Result<std::vector<WalFrame>> parsed = ParseWalFrames(bytes[g], generation);
    if (!parsed.ok()) return Status::Conflict(path + ": " + parsed.status().message());
    generations[g] = std::move(parsed).value();
  }
  size_t replayed = 0;
  for (const std::vector<WalFrame>& frames : generations) {
    for (size_t i = 0; i < frames.size(); ++i) {
      const WalFrame& frame = frames[i];
      if (frame.kind != WalFrameKind::kData) continue;
      // A data frame followed by an abort of the same transaction never committed.
      if (i + 1 < frames.size() && frames[i + 1].kind == WalFrameKind::kAbort &&
          frames[i + 1].txnid == frame.txnid) {
        continue;
      }
      MDB_txn* txn = nullptr;
      int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
      if (rc != 0) return LmdbError("write-ahead log replay: begin", rc);
      if (mdb_txn_id(txn) != frame.txnid) {
        uint64_t at = mdb_txn_id(txn);
        mdb_txn_abort(txn);
        return Status::IOError("write-ahead log of " + data_path_ + " holds transaction " +
                               std::to_string(frame.txnid) + " where the data file expects " +
                               std::to_string(at));
      }
      Status applied = ApplyWalPayload(txn, frame.payload);
      if (!applied.ok()) {
        mdb_txn_abort(txn);
        return Status::IOError(data_path_ + ": " + applied.message());
      }
      rc = mdb_txn_commit(txn);
      if (rc != 0) return LmdbError("write-ahead log replay: commit", rc);
      ++replayed;
    }
  }
  if (replayed > 0) {
    log::For("storage")->warn("{}: replayed {} transactions from the write-ahead log", data_path_,
                              replayed);
  }
  return Status::Ok();
}

void WriteAheadLog::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (checkpointer_.joinable()) {
    {
      common::MutexLock lock(thread_mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    checkpointer_.join();
  }
  if (started_) {
    Status st = Checkpoint();
    if (!st.ok()) {
      log::For("storage")->error("{}: final checkpoint failed: {}", data_path_, st.message());
    }
    mdb_env_set_userctx(env_, nullptr);
  }
  {
    common::MutexLock lock(commit_mu_);
    freelist_.reset();  // its transaction ends before the environment closes
  }
  common::MutexLock lock(checkpoint_mu_);
  pin_ = ReadTxn();
}

void WriteAheadLog::RegisterDbi(MDB_dbi dbi, std::string_view name) {
  if (dbi >= dbi_names_.size()) dbi_names_.resize(dbi + 1);
  dbi_names_[dbi] = std::string(name);
}

const std::string* WriteAheadLog::NameOf(MDB_dbi dbi) const {
  if (dbi >= dbi_names_.size() || dbi_names_[dbi].empty()) return nullptr;
  return &dbi_names_[dbi];
}

void WriteAheadLog::BeginTxn() {
  recorder_.Reset();
  skip_log_ = false;
}

void WriteAheadLog::RecordOpen(MDB_dbi dbi, unsigned flags) {
  if (skip_log_) return;
  const std::string* name = NameOf(dbi);
  if (name == nullptr) return SkipLog();
  recorder_.Open(dbi, *name, flags & ~MDB_CREATE);
}

void WriteAheadLog::RecordPut(MDB_dbi dbi, const MDB_val& key, const MDB_val& value) {
  if (skip_log_) return;
  const std::string* name = NameOf(dbi);
  if (name == nullptr) return SkipLog();
  recorder_.Put(dbi, *name, FromVal(key), FromVal(value));
}

void WriteAheadLog::RecordDel(MDB_dbi dbi, const MDB_val& key, const MDB_val* value) {
  if (skip_log_) return;
  const std::string* name = NameOf(dbi);
  if (name == nullptr) return SkipLog();
  if (value == nullptr) {
    recorder_.DelAll(dbi, *name, FromVal(key));
  } else {
    recorder_.Del(dbi, *name, FromVal(key), FromVal(*value));
  }
}

void WriteAheadLog::RecordClear(MDB_dbi dbi) {
  if (skip_log_) return;
  const std::string* name = NameOf(dbi);
  if (name == nullptr) return SkipLog();
  recorder_.Clear(dbi, *name);
}

Status WriteAheadLog::StartAppend(std::string_view frame) {
  if (options_.before_append_for_testing) RETURN_IF_ERROR(options_.before_append_for_testing());
  const int file = static_cast<int>(generation_ % 2);
  const int fd = log_fds_[file].get();
  if (DirectAppender::RoundUpToBlock(offset_ + frame.size()) > allocated_[file]) {
    uint64_t want =
        DirectAppender::RoundUpToBlock(std::max(offset_ + frame.size(), 2 * allocated_[file]));
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(want));
    if (rc != 0)
      return Status::IOError("allocate write-ahead log: " + std::string(std::strerror(rc)));
    // The new length must be durable before a frame past the old one counts on it.
    if (::fdatasync(fd) != 0) return Errno("sync write-ahead log");
    allocated_[file] = want;
  }
  if (direct_) {
    RETURN_IF_ERROR(appender_.Start(fd, offset_, frame));
  } else {
    RETURN_IF_ERROR(WriteAll(fd, frame, offset_));
    if (::fdatasync(fd) != 0) return Errno("sync write-ahead log");
  }
  offset_ += frame.size();
  bytes_since_checkpoint_ += frame.size();
  return Status::Ok();
}

Status WriteAheadLog::FinishAppend() { return direct_ ? appender_.Finish() : Status::Ok(); }

Status WriteAheadLog::AppendFrame(std::string_view frame) {
  RETURN_IF_ERROR(StartAppend(frame));
  return FinishAppend();
}

Status WriteAheadLog::Commit(MDB_txn* txn) {
  if (skip_log_) {
    {
      common::MutexLock lock(commit_mu_);
      if (failed_) {
        mdb_txn_abort(txn);
        return Status::IOError("the write-ahead log failed earlier; restart the node");
      }
      int rc = mdb_txn_commit(txn);
      if (rc != 0) return LmdbError("mdb_txn_commit", rc);
      PublishVisible();  // as before the log existed: visible now, durable once checkpointed
    }
    return Checkpoint();
  }
  if (recorder_.empty()) {
    int rc = mdb_txn_commit(txn);  // changes nothing: LMDB writes no page
    if (rc != 0) return LmdbError("mdb_txn_commit", rc);
    PublishVisible();
    return Status::Ok();
  }
  bool want_checkpoint = false;
  bool must_checkpoint = false;
  {
    common::MutexLock lock(commit_mu_);
    if (failed_) {
      mdb_txn_abort(txn);
      return Status::IOError("the write-ahead log failed earlier; restart the node");
    }
    const uint64_t txnid = mdb_txn_id(txn);
    Status started = StartAppend(recorder_.Frame(generation_, txnid));
    if (!started.ok()) {
      failed_ = true;
      mdb_txn_abort(txn);
      log::For("storage")->error("{}: write-ahead log: {}; every later write fails until restart",
                                 data_path_, started.message());
      return started;
    }
    // While the disk writes the frame: readers wait for it (AwaitVisible).
    int rc = CommitLmdb(txn);
    Status appended = Status::Ok();
    if (rc == 0 && options_.before_frame_durable_for_testing) {
      appended = options_.before_frame_durable_for_testing();
    }
    Status finished = FinishAppend();
    if (appended.ok()) appended = std::move(finished);
    if (!appended.ok()) {
      failed_ = true;
      if (rc == 0) {  // LMDB holds a transaction the log does not: no reader may see it
        common::MutexLock visible_lock(visible_mu_);
        visible_failed_ = true;
        visible_changed_.notify_all();
      }
      log::For("storage")->error("{}: write-ahead log: {}; every later write{} fails until restart",
                                 data_path_, appended.message(), rc == 0 ? " and every read" : "");
      return appended;
    }
    if (rc != 0) {
      Status aborted = AppendFrame(WalAbortFrame(generation_, txnid));
      if (!aborted.ok()) {
        failed_ = true;
        log::For("storage")->error(
            "{}: write-ahead log: could not mark a failed commit: {}; every later write fails "
            "until restart",
            data_path_, aborted.message());
      }
      return LmdbError("mdb_txn_commit", rc);
    }
    PublishVisible();
    freed_bytes_since_checkpoint_ += freelist_->PagesFreedBy(txnid) * page_size_;
    must_checkpoint = freed_bytes_since_checkpoint_ >= options_.freed_limit_bytes;
    want_checkpoint = freed_bytes_since_checkpoint_ >= options_.checkpoint_freed_bytes ||
                      bytes_since_checkpoint_ >= options_.checkpoint_bytes;
  }
  // The commit is durable in the log whatever the checkpoint does: a failed one is logged and
  // fails the commits after this one. Once it is taken here the checkpointer has nothing due.
  if (must_checkpoint) {
    (void)Checkpoint();
    return Status::Ok();
  }
  if (want_checkpoint) {
    {
      common::MutexLock lock(thread_mu_);
      checkpoint_wanted_ = true;
    }
    wake_.notify_one();
  }
  return Status::Ok();
}

void WriteAheadLog::PublishVisible() {
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) != 0) return;
  const uint64_t newest = info.me_last_txnid;
  if (newest <= visible_txnid_.load(std::memory_order_relaxed)) return;
  common::MutexLock lock(visible_mu_);
  visible_txnid_.store(newest, std::memory_order_release);
  visible_changed_.notify_all();
}

Status WriteAheadLog::AwaitVisible(uint64_t txnid) {
  if (txnid <= visible_txnid_.load(std::memory_order_acquire)) return Status::Ok();
  common::MutexLock lock(visible_mu_);
  ++readers_waiting_;
  visible_changed_.wait(lock, [&]() REQUIRES(visible_mu_) {
    return visible_failed_ || txnid <= visible_txnid_.load(std::memory_order_acquire);
  });
  --readers_waiting_;
  if (txnid <= visible_txnid_.load(std::memory_order_acquire)) return Status::Ok();
  return Status::IOError(data_path_ +
                         ": a write-ahead log write failed after LMDB committed its transaction; "
                         "restart the node");
}

size_t WriteAheadLog::ReadersWaiting() {
  common::MutexLock lock(visible_mu_);
  return readers_waiting_;
}

int WriteAheadLog::CommitLmdb(MDB_txn* txn) {
  if (options_.lmdb_commit_fails_for_testing && options_.lmdb_commit_fails_for_testing()) {
    mdb_txn_abort(txn);
    return EIO;
  }
  return mdb_txn_commit(txn);
}

void WriteAheadLog::Fail() {
  common::MutexLock lock(commit_mu_);
  failed_ = true;
}

Status WriteAheadLog::Checkpoint() {
  common::MutexLock checkpoint_lock(checkpoint_mu_);
  ReadTxn pin;
  uint64_t txnid = 0;
  uint64_t generation = 0;
  std::string meta_page;
  {
    common::MutexLock lock(commit_mu_);
    if (failed_) return Status::IOError("the write-ahead log failed earlier");
    auto begun = ReadTxn::Begin(env_);
    if (!begun.ok()) {  // e.g. every reader slot taken: tried again at the next one
      log::For("storage")->warn("{}: checkpoint postponed: {}", data_path_,
                                begun.status().message());
      return begun.status();
    }
    pin = std::move(begun).value();
    txnid = mdb_txn_id(pin.get());
    if (pin_.get() != nullptr && txnid == pinned_txnid_) return Status::Ok();
    auto page = ReadLmdbMetaPage(data_fd_.get(), page_size_, txnid);
    if (!page.ok()) {
      failed_ = true;
      log::For("storage")->error("{}: checkpoint failed: {}; every later write fails until restart",
                                 data_path_, page.status().message());
      return page.status();
    }
    meta_page = std::move(page).value();
    generation = ++generation_;
    offset_ = 0;
    appender_.Restart();
    bytes_since_checkpoint_ = 0;
    freed_bytes_since_checkpoint_ = 0;
  }
  int rc = mdb_env_sync(env_, 1);
  Status st = rc == 0 ? WriteCheckpointSlot(generation, meta_page) : LmdbError("mdb_env_sync", rc);
  if (!st.ok()) {
    Fail();
    log::For("storage")->error("{}: checkpoint failed: {}; every later write fails until restart",
                               data_path_, st.message());
    return st;
  }
  pin_ = std::move(pin);
  pinned_txnid_ = txnid;
  return Status::Ok();
}

Status WriteAheadLog::WriteCheckpointSlot(uint64_t generation, const std::string& meta_page) {
  const uint64_t sequence = ++checkpoint_sequence_;
  std::string slot(kSlotHeaderBytes, '\0');
  StoreScalar<uint32_t>(slot.data(), kSlotMagic);
  StoreScalar<uint64_t>(slot.data() + 8, sequence);
  StoreScalar<uint64_t>(slot.data() + 16, generation);
  StoreScalar<uint32_t>(slot.data() + 24, static_cast<uint32_t>(meta_page.size()));
  slot += meta_page;
  StoreScalar<uint32_t>(slot.data() + 4, SlotCrc(slot));
  RETURN_IF_ERROR(WriteAll(checkpoint_fd_.get(), slot, (sequence % 2) * kSlotStride));
  if (::fdatasync(checkpoint_fd_.get()) != 0) return Errno("sync write-ahead log checkpoint");
  return Status::Ok();
}

void WriteAheadLog::CheckpointerLoop() {
  common::MutexLock lock(thread_mu_);
  while (true) {
    wake_.wait_for(lock, options_.checkpoint_interval,
                   [&]() REQUIRES(thread_mu_) { return stopping_ || checkpoint_wanted_; });
    if (stopping_) return;
    checkpoint_wanted_ = false;
    lock.unlock();
    Status st = Checkpoint();
    lock.lock();
    if (!st.ok() && Failed()) return;  // logged; commits fail from now on
  }
}

bool WriteAheadLog::Failed() {
  common::MutexLock lock(commit_mu_);
  return failed_;
}

}  // namespace meshdb::storage
