#include "security/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace meshdb::security {

Status WritePrivateFile(const std::string& path, const std::string& contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(path + ": " + std::strerror(errno));
  // An existing file keeps its old mode through O_CREAT: reset it before writing the secret.
  if (::fchmod(fd, 0600) != 0) {
    Status s = Status::IOError(path + ": " + std::strerror(errno));
    ::close(fd);
    return s;
  }
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::IOError(path + ": " + std::strerror(errno));
      ::close(fd);
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = Status::IOError(path + ": " + std::strerror(errno));
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return Status::IOError(path + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": no such file");
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::IOError(path + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IOError(path + ": read failed");
  return ss.str();
}

Status EnsurePrivateDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError(dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return Status::IOError(dir + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace meshdb::security
