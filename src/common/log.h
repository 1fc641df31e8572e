// The one logging facade. Every line carries the node name and a subsystem tag:
//   2026-11-23 13:50:01.123 info [node 127.0.0.2] [storage] opened database 'dev'
// Use: auto log = meshdb::log::For("storage"); log->info("opened {}", name);
// Keys, values and private keys are never logged. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace meshdb::log {

// The log file and its rotation (logging.rotation.*; common/rotating_file_sink.h).
struct FileOptions {
  std::string path;  // "" for no file
  bool rotate = false;
  uint64_t rotate_bytes = 0;       // 0: no size limit
  uint64_t rotate_interval_s = 0;  // 0: no age limit
  size_t keep_files = 10;          // rotated files kept: hdb.1.log (newest) .. hdb.10.log
};

// Configures the sinks: stderr always, plus the file when `file.path` is not empty. `level` is
// one of HarperDB's levels (notify, fatal, error, warn, info, debug, trace). Call once at
// start-up; loggers made before are reconfigured. Returns why the file could not be opened
// ("" when it was, or none was asked for): stderr still works.
std::string Init(std::string_view node_name, std::string_view level, const FileOptions& file);

// Changes the level of every logger, those made later included (set_configuration
// logging_level takes effect at once).
void SetLevel(std::string_view level);

// The logger for a subsystem ("storage", "http", "ops", ...). Cheap after the first call.
std::shared_ptr<spdlog::logger> For(std::string_view subsystem);

// Maps a HarperDB level name to spdlog's; unknown names give info.
spdlog::level::level_enum ParseLevel(std::string_view level);

}  // namespace meshdb::log
