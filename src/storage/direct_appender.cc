#include "storage/direct_appender.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace meshdb::storage {

Status DirectAppender::Append(int fd, uint64_t offset, std::string_view bytes) {
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
  for (size_t done = 0; done < length;) {
    ssize_t n = ::pwrite(fd, buf + done, length - done, static_cast<off_t>(start + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::IOError(std::string("write write-ahead log: ") +
                             (n < 0 ? std::strerror(errno) : "nothing written"));
    }
    // A short direct write stops at a block boundary; the rest follows from there.
    done += static_cast<size_t>(n);
  }
  const size_t last_block = used / kBlockBytes * kBlockBytes;
  tail_.assign(buf + last_block, used - last_block);
  return Status::Ok();
}

}  // namespace meshdb::storage
