#include "ops/op_metrics.h"

namespace meshdb::ops {

const char* StatusLabel(Status::Code code) {
  using Code = Status::Code;
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not_found";
    case Code::kConflict:
      return "conflict";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kUnauthenticated:
      return "unauthenticated";
    case Code::kPermissionDenied:
      return "permission_denied";
    case Code::kTooLarge:
      return "too_large";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kCorruption:
      return "corruption";
    case Code::kIOError:
      return "io_error";
    case Code::kInternal:
      return "internal";
  }
  return "internal";
}

void OpMetrics::Slot::Record(const Status& status, std::chrono::nanoseconds elapsed) {
  auto& cell = by_status_[static_cast<size_t>(status.code())];
  metrics::Counter* counter = cell.load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = counts_->GetCounter({name_, StatusLabel(status.code())});
    cell.store(counter, std::memory_order_release);
  }
  counter->Add();
  latency_->Observe(elapsed.count() < 0 ? 0 : static_cast<uint64_t>(elapsed.count()));
}

OpMetrics::OpMetrics()
    : counts_(metrics::Registry::Default().AddCounter(
          "meshdb_operations_total",
          "Operations API requests answered, by operation and outcome (status \"ok\" or the "
          "error kind; docs/operations.md maps them to HTTP codes).",
          {"operation", "status"})),
      latency_(metrics::Registry::Default().AddHistogram(
          "meshdb_operation_duration_seconds",
          "Time from a parsed request to its answer, by operation.", {"operation"},
          metrics::LatencyBoundsNs(), 1e9)) {
  unknown_ = std::make_unique<Slot>("unknown", counts_, latency_->GetHistogram({"unknown"}));
}

void OpMetrics::Register(std::string_view operation) {
  std::string name(operation);
  if (slots_.contains(name)) return;
  auto slot = std::make_unique<Slot>(name, counts_, latency_->GetHistogram({name}));
  slots_.emplace(std::move(name), std::move(slot));
}

OpMetrics::Slot* OpMetrics::Find(std::string_view operation) const {
  // Heterogeneous lookup needs C++20 transparent hashing; the names are short.
  auto it = slots_.find(std::string(operation));
  return it == slots_.end() ? unknown_.get() : it->second.get();
}

void CountRecordsRead(const std::string& database, uint64_t records) {
  if (!metrics::RecordingEnabled()) return;
  static metrics::Family* family = metrics::Registry::Default().AddCounter(
      "meshdb_records_read_total", "Records returned by the search operations, by database.",
      {"database"});
  // Cells are never freed, so a per-thread cache of them needs no lock after the first use.
  thread_local std::unordered_map<std::string, metrics::Counter*> cache;
  auto it = cache.find(database);
  if (it == cache.end()) it = cache.emplace(database, family->GetCounter({database})).first;
  it->second->Add(records);
}

}  // namespace meshdb::ops
