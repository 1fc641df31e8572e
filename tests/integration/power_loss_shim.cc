// An LD_PRELOAD library for test_crash's power-loss test: keeps, next to each LMDB data file
// the process writes (and each write-ahead log file), the image a power cut would leave on the
// disk, so the test can kill -9 the process, put those images in place of the files and restart on
// them.
//
// The image holds only what a completed fsync/fdatasync covered: every write to a file whose
// name ends in ".mdb" (or is a log file beside one) is remembered as a pending range, and when an
// fsync or fdatasync of that file returns, the ranges pending when it was called are copied from
// the file into the image. A file opened with O_DSYNC or O_SYNC (the log's direct appends,
// which may also be written through io_uring, unseen here) gets no image but a marker,
// "<image>.synchronous": each of its writes is durable when it completes, so the file itself is
// what a power cut leaves (a write in flight at the kill was never answered; torn, its frame
// fails its checksum). Writes that no sync covered are absent from the image, as if the machine
// lost power right at the kill: the harshest outcome a crash may have (any unsynced write may be
// lost), which is the one that shows a write answered before it was durable.
//
// $POWER_LOSS_SHIM_DIR names the directory that receives the images (same base names as the
// files). Each image starts as a copy of its file when the process first opens the file.
// Nothing else changes: every call goes to libc.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

struct Tracked {
  std::string image;  // path of the image
  std::vector<std::pair<off_t, size_t>> pending;
  bool synchronous = false;  // opened O_DSYNC/O_SYNC: marked, not imaged
};

std::mutex mu;
std::map<std::string, Tracked>& Files() {  // by the data file's path
  static auto* files = new std::map<std::string, Tracked>();
  return *files;
}
std::map<int, std::pair<std::string, bool>>& Fds() {  // fd -> (path, writes are synchronous)
  static auto* fds = new std::map<int, std::pair<std::string, bool>>();
  return *fds;
}

template <typename F>
F Real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using OpenFn = int (*)(const char*, int, ...);
using CloseFn = int (*)(int);

// The shim's own files bypass the wrappers below (they would take `mu` again).
int RawOpen(const char* path, int flags) {
  static const auto real = Real<OpenFn>("open");
  return real(path, flags | O_CLOEXEC, 0644);
}
void RawClose(int fd) {
  static const auto real = Real<CloseFn>("close");
  real(fd);
}

// Whether `fd` is a tracked data file's descriptor.
bool IsTracked(int fd) {
  std::lock_guard lock(mu);
  return Fds().contains(fd);
}

// Copies [offset, offset + len) of the file at `path` into `image`.
void CopyRange(const std::string& path, const std::string& image, off_t offset, size_t len) {
  static const auto real_pread = Real<PreadFn>("pread");
  static const auto real_pwrite = Real<PwriteFn>("pwrite");
  int from_fd = RawOpen(path.c_str(), O_RDONLY);
  int out = RawOpen(image.c_str(), O_WRONLY | O_CREAT);
  if (from_fd < 0 || out < 0) std::abort();
  std::vector<char> buf(1 << 20);
  while (len > 0) {
    size_t n = std::min(len, buf.size());
    ssize_t got = real_pread(from_fd, buf.data(), n, offset);
    if (got <= 0) break;
    if (real_pwrite(out, buf.data(), static_cast<size_t>(got), offset) != got) std::abort();
    offset += got;
    len -= static_cast<size_t>(got);
  }
  RawClose(out);
  RawClose(from_fd);
}

// LMDB's data files and, beside each, the write-ahead log's files (storage/write_ahead_log.h).
bool IsDurableFile(const std::string& p) {
  for (const char* suffix : {".mdb", ".mdb-wal.0", ".mdb-wal.1", ".mdb-checkpoint"}) {
    if (p.ends_with(suffix)) return true;
  }
  return false;
}

void NoteOpen(int fd, const char* path, int flags) {
  if (fd < 0 || path == nullptr) return;
  std::string p(path);
  if (!IsDurableFile(p)) return;
  const char* dir = std::getenv("POWER_LOSS_SHIM_DIR");
  if (dir == nullptr || p.starts_with(std::string(dir) + "/")) return;
  std::lock_guard lock(mu);
  auto& files = Files();
  if (!files.contains(p)) {
    std::string image = std::string(dir) + "/" + p.substr(p.rfind('/') + 1);
    ::unlink(image.c_str());
    struct stat st {};
    if (::stat(path, &st) == 0) CopyRange(p, image, 0, static_cast<size_t>(st.st_size));
    int touch = RawOpen(image.c_str(), O_WRONLY | O_CREAT);
    if (touch >= 0) RawClose(touch);
    files.emplace(p, Tracked{image, {}, false});
  }
  const bool synchronous = (flags & (O_DSYNC | O_SYNC)) != 0;
  Tracked& t = files[p];
  if (synchronous && !t.synchronous) {
    t.synchronous = true;
    int marker = RawOpen((t.image + ".synchronous").c_str(), O_WRONLY | O_CREAT);
    if (marker >= 0) RawClose(marker);
  }
  Fds()[fd] = {p, synchronous};
}

void NoteWrite(int fd, off_t offset, ssize_t written) {
  if (written <= 0) return;
  std::lock_guard lock(mu);
  auto it = Fds().find(fd);
  if (it == Fds().end()) return;
  if (it->second.second) return;  // durable as it completed: the file is its own image
  Files()[it->second.first].pending.emplace_back(offset, static_cast<size_t>(written));
}

using SyncFn = int (*)(int);

// fsync or fdatasync (`real`) of `fd`, copying into the image what the sync covered.
int Sync(SyncFn real, int fd) {
  std::vector<std::pair<off_t, size_t>> covered;
  std::string path;
  {
    std::lock_guard lock(mu);
    auto it = Fds().find(fd);
    if (it != Fds().end()) {
      path = it->second.first;
      covered.swap(Files()[path].pending);
    }
  }
  int rc = real(fd);
  if (path.empty()) return rc;
  std::lock_guard lock(mu);
  Tracked& t = Files()[path];
  if (rc != 0) {  // not synced: still pending
    t.pending.insert(t.pending.end(), covered.begin(), covered.end());
    return rc;
  }
  for (auto [offset, len] : covered) CopyRange(path, t.image, offset, len);
  return rc;
}

// open or open64 (`real`) of `path`, its mode read from `ap` when `flags` create; tracks the fd.
int OpenTracked(OpenFn real, const char* path, int flags, va_list ap) {
  mode_t mode = 0;
  if ((flags & O_CREAT) != 0) mode = static_cast<mode_t>(va_arg(ap, int));
  int fd = real(path, flags, mode);
  NoteOpen(fd, path, flags);
  return fd;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  static const auto real = Real<OpenFn>("open");
  va_list ap;
  va_start(ap, flags);
  int fd = OpenTracked(real, path, flags, ap);
  va_end(ap);
  return fd;
}

int open64(const char* path, int flags, ...) {
  static const auto real = Real<OpenFn>("open64");
  va_list ap;
  va_start(ap, flags);
  int fd = OpenTracked(real, path, flags, ap);
  va_end(ap);
  return fd;
}

int close(int fd) {
  static const auto real = Real<CloseFn>("close");
  {
    std::lock_guard lock(mu);
    Fds().erase(fd);
  }
  return real(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  static const auto real = Real<PwriteFn>("pwrite");
  ssize_t rc = real(fd, buf, n, offset);
  NoteWrite(fd, offset, rc);
  return rc;
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  static const auto real = Real<PwriteFn>("pwrite64");
  ssize_t rc = real(fd, buf, n, offset);
  NoteWrite(fd, offset, rc);
  return rc;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  static const auto real = Real<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  ssize_t rc = real(fd, iov, count, offset);
  NoteWrite(fd, offset, rc);
  return rc;
}

ssize_t write(int fd, const void* buf, size_t n) {
  static const auto real = Real<ssize_t (*)(int, const void*, size_t)>("write");
  if (!IsTracked(fd)) return real(fd, buf, n);
  off_t at = ::lseek(fd, 0, SEEK_CUR);
  ssize_t rc = real(fd, buf, n);
  if (at >= 0) NoteWrite(fd, at, rc);
  return rc;
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  static const auto real = Real<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (!IsTracked(fd)) return real(fd, iov, count);
  off_t at = ::lseek(fd, 0, SEEK_CUR);
  ssize_t rc = real(fd, iov, count);
  if (at >= 0) NoteWrite(fd, at, rc);
  return rc;
}

int fdatasync(int fd) {
  static const auto real = Real<SyncFn>("fdatasync");
  return Sync(real, fd);
}

int fsync(int fd) {
  static const auto real = Real<SyncFn>("fsync");
  return Sync(real, fd);
}

}  // extern "C"
