// Durable appends to a file opened O_DIRECT | O_DSYNC (the write-ahead log's files): each
// Append is one write of the aligned blocks its bytes touch, on the disk when it returns.
//
// Why: a buffered append followed by fdatasync goes through the page cache and the
// filesystem's writeback of the dirty page; a direct write skips both. On this project's VM
// a loop of appends took ~20 µs less CPU and ~25 µs less time per durable append, and a lone
// insert ~10 µs less server CPU (bench/README.md "Direct writes to the write-ahead log").
//
// O_DIRECT needs the buffer, the offset and the length aligned, so the partial block before
// the new bytes is written again from memory (the bytes this appender wrote there last), and
// the rest of the last block is zeros. A file whose last block held other bytes (an older
// generation of the log) has them zeroed; a zero frame header ends the log on replay.
//
// With a ring (UseRing: io_uring, liburing), Start submits the write and returns at once, so the
// caller can work while the disk writes (the write-ahead log commits LMDB's transaction meanwhile)
// and Finish waits for it. Without one, Start writes and Finish reports how that went.
//
// Thread-safety: none; one appender per writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

struct io_uring;  // liburing

namespace meshdb::storage {

class DirectAppender {
 public:
  // Alignment of buffers, offsets and lengths: a page, a multiple of any logical block size.
  static constexpr uint64_t kBlockBytes = 4096;

  // `bytes` rounded up to a whole number of blocks.
  static constexpr uint64_t RoundUpToBlock(uint64_t bytes) {
    return (bytes + kBlockBytes - 1) / kBlockBytes * kBlockBytes;
  }

  DirectAppender() = default;
  ~DirectAppender();  // waits for a write still in flight
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  // Later writes are submitted through an io_uring of this appender's own. false, with the
  // kernel's reason in `*why`, when it refuses one (no io_uring, or a sandbox forbids it): the
  // writes stay synchronous.
  bool UseRing(std::string* why);

  // Starts writing `bytes` at `offset` of `fd` (O_DIRECT | O_DSYNC); `bytes` may be released
  // when it returns. `offset` is where the previous write ended, or 0 after Restart. The file
  // must be allocated up to `offset + bytes.size()` rounded up to kBlockBytes. One write at a
  // time: Finish before the next Start. IOError/Internal when it could not start.
  Status Start(int fd, uint64_t offset, std::string_view bytes);

  // Waits for the write Start began: Ok once its bytes are durable. IOError on failure.
  Status Finish();

  // Start then Finish.
  Status Append(int fd, uint64_t offset, std::string_view bytes);

  // The next write starts a file from offset 0.
  void Restart() { tail_.clear(); }

 private:
  // Writes buffer_[done, length_) at start_ + done synchronously.
  Status WriteRest(size_t done);

  struct FreeDeleter {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, FreeDeleter> buffer_;  // kBlockBytes-aligned
  size_t capacity_ = 0;
  std::string tail_;  // the bytes of the last partial block written, before the next offset
  struct RingDeleter {
    void operator()(io_uring* ring) const;
  };
  std::unique_ptr<io_uring, RingDeleter> ring_;
  // The write Start began: in flight on the ring when there is one, else done with `outcome_`.
  bool started_ = false;
  int fd_ = -1;
  uint64_t start_ = 0;
  size_t length_ = 0;
  Status outcome_ = Status::Ok();  // without a ring
};

}  // namespace meshdb::storage
