// system_information, get_configuration, set_configuration, restart.
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "common/log.h"
#include "config/config.h"
#include "ops/handlers.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

const auto kStartTime = std::chrono::steady_clock::now();

// Resident set size of this process in bytes, from /proc/self/statm.
uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

json::object SystemSection(const config::Settings& settings) {
  struct utsname uts {};
  uname(&uts);
  return {{"platform", uts.sysname}, {"release", uts.release}, {"hostname", uts.nodename},
          {"arch", uts.machine},     {"node_version", "meshdb 0.1.0"},
          {"node_name", settings.replication_hostname.empty() ? settings.operations_host
                                                              : settings.replication_hostname}};
}

json::object TimeSection() {
  auto now = std::chrono::system_clock::now();
  double uptime_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - kStartTime).count();
  return {{"current", std::chrono::duration_cast<std::chrono::milliseconds>(
                          now.time_since_epoch()).count()},
          {"uptime", uptime_s},
          {"timezone", "UTC"}};
}

json::object CpuSection() {
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  return {{"cores", std::thread::hardware_concurrency()},
          {"physicalCores", std::thread::hardware_concurrency()},
          {"current_load", json::object{{"avgLoad1", load[0]}, {"avgLoad5", load[1]},
                                        {"avgLoad15", load[2]}}}};
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
  static const char* kAll[] = {"system", "time",   "cpu",        "memory",  "disk",
                               "network", "harperdb_processes", "table_size", "metrics",
                               "threads"};
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
    if (section == "system") out["system"] = SystemSection(settings);
    else if (section == "time") out["time"] = TimeSection();
    else if (section == "cpu") out["cpu"] = CpuSection();
    else if (section == "memory") out["memory"] = MemorySection();
    else if (section == "disk") out["disk"] = DiskSection(settings);
    else if (section == "network") out["network"] = json::object{};
    else if (section == "harperdb_processes") {
      out["harperdb_processes"] = json::object{
          {"core", json::array{json::object{{"pid", getpid()}, {"parentPid", getppid()},
                                            {"name", "meshdb"}, {"mem", ResidentBytes()}}}},
          {"clustering", json::array{}}};
    } else if (section == "table_size") out["table_size"] = TableSizes(*call.env->store);
    else if (section == "metrics" || section == "database_metrics") out[section] = json::object{};
    else if (section == "threads") out["threads"] = json::array{};
  }
  call.Reply(std::move(out));
}

void GetConfiguration(OpCall call) { call.Reply(call.env->config->tree()); }

void SetConfiguration(OpCall call) {
  json::object flat;
  for (const auto& [key, value] : call.body) {
    if (key == "operation" || key == "username" || key == "password") continue;
    flat[key] = value;
  }
  const config::Settings& settings = call.env->config->settings();
  Status status = config::Config::SetInFile(call.env->config->file_path(),
                                            settings.root_path + "/backup", flat);
  if (status.IsInvalidArgument()) {
    return call.Fail(
        Status::InvalidArgument("HarperDB config file validation error: " + status.message()));
  }
  if (!status.ok()) return call.Fail(status);
  log::For("ops")->info("set_configuration wrote {} key(s) to {}", flat.size(),
                        call.env->config->file_path());
  call.ReplyMessage(
      "Configuration successfully set. You must restart HarperDB for new config settings to take "
      "effect.");
}

void Restart(OpCall call) {
  log::For("ops")->info("restart requested by '{}'", call.caller.username);
  call.done(OpResult{Status::Ok(),
                     json::object{{"message", "Restarting HarperDB. This may take up to 60 seconds."}},
                     /*restart_after_reply=*/true});
}

}  // namespace meshdb::ops
