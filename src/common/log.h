// The one logging facade. Every line carries the node name and a subsystem tag:
//   2026-11-23 13:50:01.123 info [node 127.0.0.2] [storage] opened database 'dev'
// Use: auto log = meshdb::log::For("storage"); log->info("opened {}", name);
// Keys, values and private keys are never logged. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace meshdb::log {

// Configures the sinks: stderr always, plus `file_path` when not empty. `level` is one of
// HarperDB's levels (notify, fatal, error, warn, info, debug, trace). Call once at start-up;
// loggers made before are reconfigured.
void Init(std::string_view node_name, std::string_view level, const std::string& file_path);

// The logger for a subsystem ("storage", "http", "ops", ...). Cheap after the first call.
std::shared_ptr<spdlog::logger> For(std::string_view subsystem);

// Maps a HarperDB level name to spdlog's; unknown names give info.
spdlog::level::level_enum ParseLevel(std::string_view level);

}  // namespace meshdb::log
