#include "storage/direct_appender.h"

#include <liburing.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace meshdb::storage {

void DirectAppender::RingDeleter::operator()(io_uring* ring) const {
  io_uring_queue_exit(ring);
  delete ring;
}

DirectAppender::~DirectAppender() {
  if (started_) (void)Finish();  // the kernel may still read the buffer
}

bool DirectAppender::UseRing(std::string* why) {
  if (ring_) return true;
  auto ring = std::make_unique<io_uring>();
  int rc = io_uring_queue_init(2, ring.get(), 0);
  if (rc < 0) {
    *why = std::strerror(-rc);
    return false;
  }
  ring_.reset(ring.release());
  return true;
}

Status DirectAppender::Append(int fd, uint64_t offset, std::string_view bytes) {
  RETURN_IF_ERROR(Start(fd, offset, bytes));
  return Finish();
}

Status DirectAppender::Start(int fd, uint64_t offset, std::string_view bytes) {
  if (started_) return Status::Internal("direct append started before the previous one finished");
  if (offset % kBlockBytes != tail_.size()) {
    return Status::Internal("direct append at " + std::to_string(offset) +
                            " does not follow the previous one");
  }
  const uint64_t start = offset - tail_.size();
  const size_t used = tail_.size() + bytes.size();
  const size_t length = RoundUpToBlock(used);
  if (length > capacity_) {
    void* p = std::aligned_alloc(kBlockBytes, length);
    if (p == nullptr) return Status::IOError("write-ahead log: out of memory for a direct write");
    buffer_.reset(static_cast<char*>(p));
    capacity_ = length;
  }
  char* buf = buffer_.get();
  std::memcpy(buf, tail_.data(), tail_.size());
  std::memcpy(buf + tail_.size(), bytes.data(), bytes.size());
  std::memset(buf + used, 0, length - used);
  // The tail is what the next write rewrites from memory, whatever this one's outcome: after
  // a failed write the log fails for good.
  const size_t last_block = used / kBlockBytes * kBlockBytes;
  tail_.assign(buf + last_block, used - last_block);
  started_ = true;
  fd_ = fd;
  start_ = start;
  length_ = length;
  if (ring_) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());  // never null: one write at a time
    io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(length), start);
    int rc = io_uring_submit(ring_.get());
    if (rc != 1) {  // e.g. out of kernel memory; the log fails, so the entry is never retried
      started_ = false;
      return Status::IOError(std::string("submit write-ahead log write: ") +
                             (rc < 0 ? std::strerror(-rc) : "not taken"));
    }
    return Status::Ok();
  }
  outcome_ = WriteRest(0);
  return Status::Ok();
}

Status DirectAppender::Finish() {
  if (!started_) return Status::Internal("direct append finished without a start");
  started_ = false;
  if (!ring_) return std::exchange(outcome_, Status::Ok());
  io_uring_cqe* cqe = nullptr;
  int rc = 0;
  do {
    rc = io_uring_wait_cqe(ring_.get(), &cqe);
  } while (rc == -EINTR);
  if (rc < 0)
    return Status::IOError(std::string("wait for write-ahead log write: ") + std::strerror(-rc));
  const int res = cqe->res;
  io_uring_cqe_seen(ring_.get(), cqe);
  if (res < 0) return Status::IOError(std::string("write write-ahead log: ") + std::strerror(-res));
  // A short direct write stops at a block boundary; the rest follows from there.
  return WriteRest(static_cast<size_t>(res));
}

Status DirectAppender::WriteRest(size_t done) {
  while (done < length_) {
    ssize_t n =
        ::pwrite(fd_, buffer_.get() + done, length_ - done, static_cast<off_t>(start_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::IOError(std::string("write write-ahead log: ") +
                             (n < 0 ? std::strerror(errno) : "nothing written"));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace meshdb::storage
