#include "common/rotating_file_sink.h"

#include <spdlog/details/os.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include <cstdio>

namespace meshdb::log {

RotatingFileSink::RotatingFileSink(std::string path, uint64_t max_bytes,
                                   std::chrono::seconds interval, size_t max_files)
    : path_(std::move(path)), max_bytes_(max_bytes), interval_(interval), max_files_(max_files) {
  file_.open(path_);
  size_ = file_.size();
  next_rotation_ = spdlog::log_clock::now() + interval_;
}

std::string RotatingFileSink::RotatedName(const std::string& path, size_t index) {
  return spdlog::sinks::rotating_file_sink_st::calc_filename(path, index);
}

void RotatingFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  const bool too_big = max_bytes_ != 0 && size_ + formatted.size() > max_bytes_;
  const bool too_old = interval_.count() != 0 && msg.time >= next_rotation_;
  if ((too_big || too_old) && size_ > 0) Rotate(msg.time);
  if (too_old) next_rotation_ = msg.time + interval_;
  file_.write(formatted);
  size_ += formatted.size();
}

void RotatingFileSink::flush_() { file_.flush(); }

void RotatingFileSink::Rotate(spdlog::log_clock::time_point now) {
  file_.close();
  for (size_t i = max_files_; i > 0; --i) {
    const std::string from = RotatedName(path_, i - 1);
    if (!spdlog::details::os::path_exists(from)) continue;
    const std::string to = RotatedName(path_, i);
    (void)spdlog::details::os::remove(to);
    if (spdlog::details::os::rename(from, to) != 0) {
      // Keep logging into a fresh file rather than growing one that cannot be moved.
      file_.reopen(true);
      size_ = 0;
      next_rotation_ = now + interval_;
      spdlog::throw_spdlog_ex("cannot rename " + from + " to " + to, errno);
    }
  }
  file_.reopen(true);
  size_ = 0;
  next_rotation_ = now + interval_;
}

}  // namespace meshdb::log
