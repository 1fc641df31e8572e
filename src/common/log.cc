#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "common/rotating_file_sink.h"
#include "common/thread_annotations.h"

namespace meshdb::log {

using common::Mutex;
using common::MutexLock;

namespace {
struct State {
  Mutex mu;
  std::vector<spdlog::sink_ptr> sinks GUARDED_BY(mu);
  std::string node_name GUARDED_BY(mu) = "-";
  spdlog::level::level_enum level GUARDED_BY(mu) = spdlog::level::info;
};

State& GetState() {
  static State* state = [] {
    auto* s = new State();
    MutexLock lock(s->mu);  // not shared yet; the lock is for the analysis
    s->sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    return s;
  }();
  return *state;
}

std::string PatternFor(std::string_view node_name) {
  return "%Y-%m-%d %H:%M:%S.%e %l [node " + std::string(node_name) + "] [%n] %v";
}
}  // namespace

spdlog::level::level_enum ParseLevel(std::string_view level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "warn") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "fatal" || level == "notify") return spdlog::level::critical;
  return spdlog::level::info;
}

std::string Init(std::string_view node_name, std::string_view level, const FileOptions& file) {
  State& s = GetState();
  MutexLock lock(s.mu);
  s.node_name = std::string(node_name);
  s.level = ParseLevel(level);
  s.sinks.clear();
  s.sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  std::string error;
  if (!file.path.empty()) {
    try {
      if (file.rotate && file.rotate_interval_s != 0) {
        s.sinks.push_back(std::make_shared<RotatingFileSink>(
            file.path, file.rotate_bytes, std::chrono::seconds(file.rotate_interval_s),
            file.keep_files));
      } else if (file.rotate && file.rotate_bytes != 0) {
        // By size only: spdlog's own sink does it.
        s.sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
            file.path, file.rotate_bytes, file.keep_files));
      } else {
        s.sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.path));
      }
    } catch (const spdlog::spdlog_ex& e) {
      error = e.what();  // the stderr sink still works
    }
  }
  // apply_all runs the lambda here, under the lock; the analysis cannot see into it, so the
  // guarded fields are read out first.
  spdlog::apply_all([sinks = s.sinks, pattern = PatternFor(s.node_name),
                     level = s.level](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks() = sinks;
    logger->set_pattern(pattern);
    logger->set_level(level);
    // Every line written is flushed (debug lines too, once the level allows them).
    logger->flush_on(spdlog::level::trace);
  });
  return error;
}

void SetLevel(std::string_view level) {
  State& s = GetState();
  MutexLock lock(s.mu);
  s.level = ParseLevel(level);
  spdlog::apply_all([level = s.level](const std::shared_ptr<spdlog::logger>& logger) {
    logger->set_level(level);
  });
}

std::shared_ptr<spdlog::logger> For(std::string_view subsystem) {
  std::string name(subsystem);
  if (auto existing = spdlog::get(name)) return existing;
  State& s = GetState();
  MutexLock lock(s.mu);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, s.sinks.begin(), s.sinks.end());
  logger->set_pattern(PatternFor(s.node_name));
  logger->set_level(s.level);
  logger->flush_on(spdlog::level::trace);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace meshdb::log
