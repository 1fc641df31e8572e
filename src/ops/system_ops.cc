// system_information, get_configuration, set_configuration, restart.
#include <netdb.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "common/log.h"
#include "config/config.h"
#include "ops/fields.h"
#include "ops/handlers.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

// Binds the value of a Result or fails the call with its Status.
#define ASSIGN_OR_RETURN_VOID_FAIL(lhs, expr)                                                      \
  auto MESHDB_CONCAT(_r_, __LINE__) = (expr);                                                      \
  if (!MESHDB_CONCAT(_r_, __LINE__).ok()) return call.Fail(MESHDB_CONCAT(_r_, __LINE__).status()); \
  lhs = std::move(MESHDB_CONCAT(_r_, __LINE__)).value()  // NOLINT(bugprone-macro-parentheses)

namespace {

const auto process_start = std::chrono::steady_clock::now();

// Resident set size of this process in bytes, from /proc/self/statm.
uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// KEY=value lines of /etc/os-release (quotes removed).
std::map<std::string, std::string> OsRelease() {
  std::map<std::string, std::string> out;
  std::ifstream file("/etc/os-release");
  std::string line;
  while (std::getline(file, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'')) {
      value = value.substr(1, value.size() - 2);
    }
    out[line.substr(0, eq)] = value;
  }
  return out;
}

// The host's canonical name (the resolver's), else its plain name.
std::string FullyQualifiedName(const std::string& hostname) {
  addrinfo hints{};
  hints.ai_flags = AI_CANONNAME;
  addrinfo* found = nullptr;
  std::string fqdn = hostname;
  if (getaddrinfo(hostname.c_str(), nullptr, &hints, &found) == 0) {
    if (found != nullptr && found->ai_canonname != nullptr) fqdn = found->ai_canonname;
    freeaddrinfo(found);
  }
  return fqdn;
}

// As HarperDB's (the systeminformation package): platform, distro, release (the
// distribution's version), codename, kernel, arch, hostname, fqdn.
// This process's CPU use since it started, in percent of one core (user + system time over
// wall time, from /proc/self/stat).
double ProcessCpuPercent() {
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // fields 3.. after the name
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  double cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - process_start).count();
  return wall_s > 0 ? std::round(cpu_s / wall_s * 10000) / 100 : 0;
}

json::object SystemSection(const config::Settings& settings) {
  struct utsname uts {};
  uname(&uts);
  std::map<std::string, std::string> os = OsRelease();
  return {{"platform", "linux"},
          {"distro", os.count("NAME") ? os["NAME"] : std::string(uts.sysname)},
          {"release", os.count("VERSION_ID") ? os["VERSION_ID"] : std::string()},
          {"codename", os.count("VERSION_CODENAME") ? os["VERSION_CODENAME"] : std::string()},
          {"kernel", uts.release},
          {"arch", uts.machine},
          {"hostname", uts.nodename},
          {"fqdn", FullyQualifiedName(uts.nodename)},
          {"node_version", "meshdb 0.1.0"},
          {"node_name", settings.replication_hostname.empty() ? settings.operations_host
                                                              : settings.replication_hostname}};
}

json::object TimeSection() {
  auto now = std::chrono::system_clock::now();
  double uptime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - process_start).count();
  // The local zone as the C library knows it (TZ, /etc/localtime): "GMT+0100" and its name.
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&t, &local);
  char offset[8] = "+0000";
  std::strftime(offset, sizeof offset, "%z", &local);
  return {{"current",
           std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
          {"uptime", uptime_s},
          {"timezone", std::string("GMT") + offset},
          {"timezoneName", local.tm_zone != nullptr ? local.tm_zone : "UTC"}};
}

json::object CpuSection() {
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  return {{"cores", std::thread::hardware_concurrency()},
          {"physicalCores", std::thread::hardware_concurrency()},
          {"current_load",
           json::object{{"avgLoad1", load[0]}, {"avgLoad5", load[1]}, {"avgLoad15", load[2]}}}};
}

json::object MemorySection() {
  struct sysinfo info {};
  sysinfo(&info);
  uint64_t unit = info.mem_unit;
  uint64_t total = info.totalram * unit, free = info.freeram * unit;
  return {{"total", total}, {"free", free}, {"used", total - free}, {"rss", ResidentBytes()}};
}

json::object DiskSection(const config::Settings& settings) {
  struct statvfs fs {};
  if (statvfs(settings.storage_path.c_str(), &fs) != 0) return {};
  uint64_t block = fs.f_frsize;
  return {{"path", settings.storage_path},
          {"total", fs.f_blocks * block},
          {"available", fs.f_bavail * block},
          {"used", (fs.f_blocks - fs.f_bfree) * block}};
}

json::array TableSizes(storage::Store& store) {
  json::array out;
  for (const std::string& db : store.ListDatabases()) {
    auto tables = store.ListTables(db);
    if (!tables.ok()) continue;
    for (const storage::TableDef& def : *tables) {
      auto stats = store.GetStats(db, def.name);
      if (!stats.ok()) continue;
      out.push_back(json::object{{"schema", db},
                                 {"table", def.name},
                                 {"table_size", stats->table_size_bytes},
                                 {"record_count", stats->record_count},
                                 {"transaction_log_size", stats->log_size_bytes}});
    }
  }
  return out;
}

}  // namespace

void SystemInformation(OpCall call) {
  const config::Settings& settings = call.env->config->settings();
  static constexpr const char* kAll[] = {
      "system",     "time",    "cpu",    "memory", "disk", "network", "harperdb_processes",
      "table_size", "metrics", "threads"};
  std::vector<std::string> wanted;
  if (auto it = call.body.find("attributes"); it != call.body.end() && !it->value().is_null()) {
    if (!it->value().is_array()) {
      return call.Fail(Status::InvalidArgument("'attributes' must be an array"));
    }
    for (const json::value& v : it->value().get_array()) {
      if (v.is_string()) wanted.emplace_back(v.get_string());
    }
  } else {
    wanted.assign(std::begin(kAll), std::end(kAll));
  }
  json::object out;
  for (const std::string& section : wanted) {
    if (section == "system")
      out["system"] = SystemSection(settings);
    else if (section == "time")
      out["time"] = TimeSection();
    else if (section == "cpu")
      out["cpu"] = CpuSection();
    else if (section == "memory")
      out["memory"] = MemorySection();
    else if (section == "disk")
      out["disk"] = DiskSection(settings);
    else if (section == "network")
      out["network"] = json::object{};
    else if (section == "harperdb_processes") {
      out["harperdb_processes"] =
          json::object{{"core", json::array{json::object{{"pid", getpid()},
                                                         {"parentPid", getppid()},
                                                         {"name", "meshdb"},
                                                         {"cpu", ProcessCpuPercent()},
                                                         {"mem", ResidentBytes()}}}},
                       {"clustering", json::array{}}};
    } else if (section == "table_size")
      out["table_size"] = TableSizes(*call.env->store);
    else if (section == "metrics" || section == "database_metrics")
      out[section] = json::object{};
    else if (section == "threads")
      out["threads"] = json::array{};
  }
  call.Reply(std::move(out));
}

void GetConfiguration(OpCall call) { call.Reply(call.env->config->RedactedTree()); }

void SetConfiguration(OpCall call) {
  json::object flat;
  for (const auto& [key, value] : call.body) {
    if (key == "operation" || key == "username" || key == "password") continue;
    flat[key] = value;
  }
  const config::Settings& settings = call.env->config->settings();
  Result<config::Config::SetReport> report = config::Config::SetInFile(
      call.env->config->file_path(), settings.root_path + "/backup", flat);
  if (report.status().IsInvalidArgument()) {
    return call.Fail(Status::InvalidArgument("HarperDB config file validation error: " +
                                             report.status().message()));
  }
  if (!report.ok()) return call.Fail(report.status());
  auto joined = [](const std::vector<std::string>& keys) {
    std::string out;
    for (const std::string& key : keys) out += (out.empty() ? "" : ", ") + key;
    return out;
  };
  auto log = log::For("ops");
  log->info("set_configuration wrote {} key(s) to {}", report->keys.size(),
            call.env->config->file_path());
  if (!report->inert.empty()) {
    log->warn("set_configuration wrote keys meshdb does not act on: {} (docs/configuration.md)",
              joined(report->inert));
  }
  if (!report->ignored.empty()) {
    log->warn("set_configuration ignored keys that name no configuration key: {}",
              joined(report->ignored));
  }
  // Going beyond HarperDB: the log level applies at once (the rest waits for a restart).
  for (const auto& [key, value] : flat) {
    if (value.is_string() && config::Config::KnownKeyPath(key) == "logging.level") {
      log::SetLevel(value.get_string());
      log::For("ops")->info("logging.level is now '{}'", std::string_view(value.get_string()));
    }
  }
  // HarperDB's answer; the keys meshdb will not act on, or did not write, are named beside
  // the message (docs/configuration.md "set_configuration") so nothing is accepted silently.
  json::object out{{"message",
                    "Configuration successfully set. You must restart HarperDB for new config "
                    "settings to take effect."}};
  if (!report->inert.empty()) {
    out["inert_keys"] = json::array(report->inert.begin(), report->inert.end());
  }
  if (!report->ignored.empty()) {
    out["ignored_keys"] = json::array(report->ignored.begin(), report->ignored.end());
  }
  call.Reply(std::move(out));
}

namespace {

// One line of hdb.log as common/log.h writes it:
//   2026-11-23 14:19:38.952 info [node n1] [server] message
// Returns nullopt for lines of another shape (e.g. continuation lines).
std::optional<json::object> ParseLogLine(std::string_view line) {
  constexpr size_t kTimeChars = 23;  // "YYYY-MM-DD HH:MM:SS.mmm"
  if (line.size() < kTimeChars + 2 || line[4] != '-' || line[10] != ' ') return std::nullopt;
  std::string timestamp(line.substr(0, kTimeChars));
  timestamp[10] = 'T';
  timestamp += 'Z';
  std::string_view rest = line.substr(kTimeChars + 1);
  size_t space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string level(rest.substr(0, space));
  if (level == "warning") level = "warn";
  if (level == "critical") level = "fatal";
  rest.remove_prefix(space + 1);
  // Skip "[node x] " and "[subsystem] ": HarperDB's own lines carry no tags (the file keeps
  // the subsystem).
  for (int i = 0; i < 2 && !rest.empty() && rest[0] == '['; ++i) {
    size_t close = rest.find("] ");
    if (close == std::string_view::npos) break;
    rest.remove_prefix(close + 2);
  }
  return json::object{{"timestamp", timestamp},
                      {"thread", "main/0"},
                      {"level", level},
                      {"tags", json::array()},
                      {"message", rest}};
}

}  // namespace

void ReadLog(OpCall call) {
  static constexpr std::string_view kLevels[] = {"notify", "fatal", "error", "warn",
                                                 "info",   "debug", "trace"};
  const json::object& body = call.body;
  int64_t limit = 1000, start = 0;
  for (auto [name, target, min] : {std::tuple{"limit", &limit, 1}, {"start", &start, 0}}) {
    auto it = body.find(name);
    if (it == body.end()) continue;
    if (!it->value().is_int64() || it->value().get_int64() < min) {
      return call.Fail(Status::InvalidArgument(
          "'" + std::string(name) + "' must be a number " +
          (min == 1 ? "greater than or equal to 1" : "greater than or equal to 0")));
    }
    *target = it->value().get_int64();
  }
  ASSIGN_OR_RETURN_VOID_FAIL(std::string level, OptionalString(body, "level"));
  if (!level.empty() &&
      std::find(std::begin(kLevels), std::end(kLevels), level) == std::end(kLevels)) {
    return call.Fail(Status::InvalidArgument(
        "'level' must be one of [notify, fatal, error, warn, info, debug, trace]"));
  }
  ASSIGN_OR_RETURN_VOID_FAIL(std::string from, OptionalString(body, "from"));
  ASSIGN_OR_RETURN_VOID_FAIL(std::string until, OptionalString(body, "until"));
  ASSIGN_OR_RETURN_VOID_FAIL(std::string order, OptionalString(body, "order"));
  ASSIGN_OR_RETURN_VOID_FAIL(std::string filter, OptionalString(body, "filter"));
  if (!order.empty() && order != "asc" && order != "desc") {
    return call.Fail(Status::InvalidArgument("'order' must be one of [asc, desc]"));
  }

  std::ifstream file(call.env->config->settings().log_dir + "/hdb.log");
  json::array entries;
  std::string line;
  while (std::getline(file, line)) {
    std::optional<json::object> entry = ParseLogLine(line);
    if (!entry) continue;
    std::string_view ts = (*entry)["timestamp"].get_string();
    if (!level.empty() && (*entry)["level"].get_string() != level) continue;
    if (!from.empty() && ts < std::string_view(from)) continue;
    if (!until.empty() && ts > std::string_view(until)) continue;
    if (!filter.empty() && line.find(filter) == std::string::npos) continue;
    entries.push_back(std::move(*entry));
  }
  if (order == "desc") std::reverse(entries.begin(), entries.end());
  json::array page;
  for (size_t i = static_cast<size_t>(start);
       i < entries.size() && page.size() < static_cast<size_t>(limit); ++i) {
    page.push_back(std::move(entries[i]));
  }
  call.Reply(std::move(page));
}

void Restart(OpCall call) {
  log::For("ops")->info("restart requested by '{}'", call.caller.username);
  call.done(
      OpResult{Status::Ok(),
               json::object{{"message", "Restarting HarperDB. This may take up to 60 seconds."}},
               /*restart_after_reply=*/true});
}

}  // namespace meshdb::ops
