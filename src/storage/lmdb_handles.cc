#include "storage/lmdb_handles.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "storage/write_ahead_log.h"

namespace meshdb::storage {

Status LmdbError(std::string_view what, int rc) {
  return Status::IOError(std::string(what) + ": " + mdb_strerror(rc));
}

LmdbEnv::LmdbEnv() = default;
LmdbEnv::~LmdbEnv() { Close(); }

LmdbEnv::LmdbEnv(LmdbEnv&& other) noexcept
    : env_(std::exchange(other.env_, nullptr)),
      wal_(std::move(other.wal_)),
      reserved_bytes_(std::exchange(other.reserved_bytes_, 0)) {}

LmdbEnv& LmdbEnv::operator=(LmdbEnv&& other) noexcept {
  if (this != &other) {
    Close();
    env_ = std::exchange(other.env_, nullptr);
    wal_ = std::move(other.wal_);
    reserved_bytes_ = std::exchange(other.reserved_bytes_, 0);
  }
  return *this;
}

void LmdbEnv::Close() {
  if (wal_) wal_->Stop();
  if (env_ != nullptr) mdb_env_close(std::exchange(env_, nullptr));
  wal_.reset();
}

uint64_t LmdbEnv::UsedBytes() const {
  MDB_envinfo info;
  MDB_stat stat;
  if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0) return 0;
  return (static_cast<uint64_t>(info.me_last_pgno) + 1) * stat.ms_psize;
}

Status LmdbEnv::ReserveAhead(uint64_t max_headroom_bytes) {
  constexpr uint64_t kMinHeadroomBytes = 1ull << 20;
  const uint64_t used = UsedBytes();
  unsigned flags = 0;
  const bool write_map = mdb_env_get_flags(env_, &flags) == 0 && (flags & MDB_WRITEMAP) != 0;
  const uint64_t headroom =
      write_map ? max_headroom_bytes
                : std::clamp(used / 16, std::min(kMinHeadroomBytes, max_headroom_bytes),
                             max_headroom_bytes);
  if (reserved_bytes_ >= used + headroom / 2) return Status::Ok();
  int fd = -1;
  if (int rc = mdb_env_get_fd(env_, &fd); rc != 0) return LmdbError("mdb_env_get_fd", rc);
  // Allocates [0, target): blocks already allocated cost a walk of the extent tree, once per
  // process; after that only the new tail. Not judged by the file size, which under
  // MDB_WRITEMAP is the map size whatever is allocated.
  uint64_t target = used + headroom;
  uint64_t from = std::min(reserved_bytes_, used);
  int err = posix_fallocate(fd, static_cast<off_t>(from), static_cast<off_t>(target - from));
  // Filesystems without fallocate (EOPNOTSUPP) still work, only slower.
  if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
    return Status::IOError(std::string("posix_fallocate: ") + std::strerror(err));
  }
  reserved_bytes_ = target;
  return Status::Ok();
}

Result<LmdbEnv> LmdbEnv::Open(const std::string& path, const LmdbEnvOptions& options) {
  LmdbEnv env;
  int rc = mdb_env_create(&env.env_);
  if (rc != 0) return LmdbError("mdb_env_create", rc);
  rc = mdb_env_set_mapsize(env.env_, options.map_size_bytes);
  if (rc != 0) return LmdbError("mdb_env_set_mapsize", rc);
  rc = mdb_env_set_maxdbs(env.env_, options.max_dbs);
  if (rc != 0) return LmdbError("mdb_env_set_maxdbs", rc);
  rc = mdb_env_set_maxreaders(env.env_, options.max_readers);
  if (rc != 0) return LmdbError("mdb_env_set_maxreaders", rc);
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
  const bool logged = options.durable && options.write_ahead_log && !options.write_map;
  if (logged) {
    ASSIGN_OR_RETURN(env.wal_, WriteAheadLog::Prepare(path, options.log_options));
    flags |= MDB_NOSYNC;
  }
  if (!options.durable) flags |= MDB_NOSYNC;
  if (options.durable && !options.sync_meta) flags |= MDB_NOMETASYNC;
  if (options.write_map) flags |= MDB_WRITEMAP;
  rc = mdb_env_open(env.env_, path.c_str(), flags, 0644);
  if (rc != 0) return LmdbError("mdb_env_open " + path, rc);
  if (logged) RETURN_IF_ERROR(env.wal_->Start(env.env_));
  return env;
}

ReadTxn& ReadTxn::operator=(ReadTxn&& other) noexcept {
  if (this != &other) {
    Reset();
    txn_ = std::exchange(other.txn_, nullptr);
  }
  return *this;
}

void ReadTxn::Reset() {
  if (txn_ != nullptr) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

Result<ReadTxn> ReadTxn::Begin(MDB_env* env) {
  ReadTxn txn;
  int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn.txn_);
  if (rc != 0) return LmdbError("mdb_txn_begin(read)", rc);
  // A commit's LMDB transaction is visible before its log frame is durable: wait for it.
  if (WriteAheadLog* wal = WriteAheadLog::Of(env)) {
    RETURN_IF_ERROR(wal->AwaitVisible(mdb_txn_id(txn.txn_)));
  }
  return txn;
}

WriteTxn& WriteTxn::operator=(WriteTxn&& other) noexcept {
  if (this != &other) {
    Abort();
    txn_ = std::exchange(other.txn_, nullptr);
  }
  return *this;
}

Result<WriteTxn> WriteTxn::Begin(MDB_env* env) {
  WriteTxn txn;
  int rc = mdb_txn_begin(env, nullptr, 0, &txn.txn_);
  if (rc != 0) return LmdbError("mdb_txn_begin(write)", rc);
  if (WriteAheadLog* wal = WriteAheadLog::Of(env)) wal->BeginTxn();
  return txn;
}

Status WriteTxn::Commit() {
  // mdb_txn_commit frees the handle even when it fails.
  MDB_txn* txn = std::exchange(txn_, nullptr);
  if (txn == nullptr) return Status::Internal("commit of a finished transaction");
  if (WriteAheadLog* wal = WriteAheadLog::Of(mdb_txn_env(txn))) return wal->Commit(txn);
  int rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbError("mdb_txn_commit", rc);
  return Status::Ok();
}

void WriteTxn::Abort() {
  if (txn_ != nullptr) {
    mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
}

Result<Cursor> Cursor::Open(MDB_txn* txn, MDB_dbi dbi) {
  Cursor c;
  int rc = mdb_cursor_open(txn, dbi, &c.cursor_);
  if (rc != 0) return LmdbError("mdb_cursor_open", rc);
  return c;
}

}  // namespace meshdb::storage
