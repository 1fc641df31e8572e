// The log file sink with rotation by size and by age (logging.rotation.*, docs/operations.md).
//
// spdlog's rotating_file_sink rotates by size only and its daily/hourly sinks at fixed clock
// times, so HarperDB's `interval` ("every 12H since the last rotation") needs this one. It
// writes and rotates as spdlog's rotating_file_sink does, with spdlog's file helper: hdb.log is
// renamed hdb.1.log, hdb.1.log hdb.2.log, ..., and the oldest beyond `max_files` is deleted.
//
// A rotation happens before writing the line that crosses `max_bytes`, or the first line at or
// after `interval` since the file was opened or last rotated: an idle node rotates at its next
// line, not on a timer. An empty file is never rotated.
//
// Thread-safety: an spdlog sink (its mutex); any thread.
#pragma once

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace meshdb::log {

class RotatingFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens (appends to) `path`. `max_bytes` 0: no size limit; `interval` 0: no age limit.
  // Throws spdlog::spdlog_ex when the file cannot be opened (spdlog's convention).
  RotatingFileSink(std::string path, uint64_t max_bytes, std::chrono::seconds interval,
                   size_t max_files);

  // "dir/hdb.log", 2 -> "dir/hdb.2.log".
  static std::string RotatedName(const std::string& path, size_t index);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void Rotate(spdlog::log_clock::time_point now);

  const std::string path_;
  const uint64_t max_bytes_;
  const std::chrono::seconds interval_;
  const size_t max_files_;
  spdlog::details::file_helper file_;
  uint64_t size_ = 0;
  spdlog::log_clock::time_point next_rotation_;
};

}  // namespace meshdb::log
