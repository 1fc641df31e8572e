#include "common/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>
#include <vector>

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

void Init(std::string_view node_name, std::string_view level, const std::string& file_path) {
  State& s = GetState();
  MutexLock lock(s.mu);
  s.node_name = std::string(node_name);
  s.level = ParseLevel(level);
  s.sinks.clear();
  s.sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!file_path.empty()) {
    try {
      s.sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file_path));
    } catch (const spdlog::spdlog_ex&) {
      // The stderr sink still works; the caller checks the log directory separately.
    }
  }
  // apply_all runs the lambda here, under the lock; the analysis cannot see into it, so the
  // guarded fields are read out first.
  spdlog::apply_all([sinks = s.sinks, pattern = PatternFor(s.node_name),
                     level = s.level](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks() = sinks;
    logger->set_pattern(pattern);
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
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
  logger->flush_on(spdlog::level::info);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace meshdb::log
