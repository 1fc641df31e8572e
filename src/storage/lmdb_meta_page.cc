#include "storage/lmdb_meta_page.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace meshdb::storage {
namespace {

constexpr size_t kPageHeaderBytes = 16;  // MDB_page: pgno, pad, flags, lower/upper
constexpr size_t kMagicOffset = kPageHeaderBytes;
constexpr size_t kVersionOffset = kPageHeaderBytes + 4;
// MDB_meta: magic 4, version 4, address 8, mapsize 8, dbs 2 x 48, last_pg 8, then txnid.
constexpr size_t kTxnidOffset = kPageHeaderBytes + 4 + 4 + 8 + 8 + (2 * size_t{48}) + 8;
constexpr uint32_t kMagic = 0xBEEFC0DE;
constexpr uint32_t kDataVersion = 1;

template <typename T>
T Load(const std::string& page, size_t offset) {
  T v;
  std::memcpy(&v, page.data() + offset, sizeof v);
  return v;
}

Status Errno(const std::string& what) {
  return Status::IOError(what + ": " + std::strerror(errno));
}

}  // namespace

uint64_t LmdbMetaPageTxnid(const std::string& page) { return Load<uint64_t>(page, kTxnidOffset); }

Result<std::string> ReadLmdbMetaPage(int fd, uint32_t page_size, uint64_t txnid) {
  for (uint32_t slot = 0; slot < 2; ++slot) {
    std::string page(page_size, '\0');
    ssize_t n = ::pread(fd, page.data(), page_size, static_cast<off_t>(slot) * page_size);
    if (n != static_cast<ssize_t>(page_size)) return Errno("read LMDB meta page");
    if (Load<uint32_t>(page, kMagicOffset) != kMagic ||
        Load<uint32_t>(page, kVersionOffset) != kDataVersion) {
      return Status::InvalidArgument("not an LMDB 0.9 meta page (data format version 1)");
    }
    if (LmdbMetaPageTxnid(page) == txnid) return page;
  }
  return Status::NotFound("no LMDB meta page of transaction " + std::to_string(txnid));
}

Status RestoreLmdbMetaPage(const std::string& path, const std::string& page) {
  if (page.size() < kTxnidOffset + 8 || Load<uint32_t>(page, kMagicOffset) != kMagic) {
    return Status::InvalidArgument("not an LMDB meta page");
  }
  common::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Errno("open " + path);
  for (uint64_t slot = 0; slot < 2; ++slot) {
    std::string copy = page;
    std::memcpy(copy.data(), &slot, sizeof slot);  // the page header's pgno
    auto offset = static_cast<off_t>(slot * page.size());
    if (::pwrite(fd.get(), copy.data(), copy.size(), offset) != static_cast<ssize_t>(copy.size())) {
      return Errno("write LMDB meta page of " + path);
    }
  }
  if (::fdatasync(fd.get()) != 0) return Errno("sync " + path);
  return Status::Ok();
}

}  // namespace meshdb::storage
