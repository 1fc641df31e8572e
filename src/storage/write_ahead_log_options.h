// When a write-ahead log (write_ahead_log.h) checkpoints, writing LMDB's pages back;
// a plain struct so LmdbEnvOptions can carry it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/status.h"

namespace meshdb::storage {

struct WriteAheadLogOptions {
  // The longest time between two checkpoints while commits happen.
  std::chrono::milliseconds checkpoint_interval{1000};
  // A checkpoint is also due after this much log...
  uint64_t checkpoint_bytes = 16ull << 20;
  // ...or once the commits since the last one began freed this many bytes of pages: while a
  // checkpoint's pin lives LMDB reuses no page freed since, so the file grows by as much.
  uint64_t checkpoint_freed_bytes = 32ull << 20;
  // A commit after which that reaches this much waits for a checkpoint of its own (when the
  // background one is slower than the writes): the bound on what a slow sync adds to the file.
  uint64_t freed_limit_bytes = 128ull << 20;
  // Each log file is first allocated this much; when a generation outgrows its file, the file's
  // allocation doubles (at least to what the frame needs). So a database that writes little
  // keeps two small files, and a busy one settles near twice its longest generation, which
  // `checkpoint_bytes` bounds. Files are never shrunk.
  uint64_t initial_log_bytes = 1ull << 20;
  // Appends go to the log files with O_DIRECT | O_DSYNC (direct_appender.h) when the
  // filesystem allows it; false, or a filesystem without O_DIRECT: pwrite then fdatasync.
  bool direct_io = true;
  // Direct appends are submitted through io_uring and LMDB's commit runs while the disk writes
  // the frame (direct_appender.h); false, or a kernel that refuses io_uring: the frame is on
  // the disk before LMDB commits.
  bool io_uring = true;
  // Tests only: when it returns true, a commit whose frame is in the log aborts the LMDB
  // transaction instead of committing it, as a failed mdb_txn_commit (EIO) would.
  std::function<bool()> lmdb_commit_fails_for_testing;
  // Tests only: runs before each frame is appended; an error is that append's failure, as a
  // full disk's or an I/O error's would be.
  std::function<Status()> before_append_for_testing;
  // Tests only: runs after LMDB committed a transaction whose frame is still being written
  // (before the commit waits for it); an error is that write's failure, as an I/O error's would
  // be.
  std::function<Status()> before_frame_durable_for_testing;
};

}  // namespace meshdb::storage
