// The operations API's metrics (docs/operations.md): meshdb_operations_total{operation,status}
// and meshdb_operation_duration_seconds{operation}, in metrics::Registry::Default().
//
// Only names registered before serving become label values; any other name the request
// carries counts as "unknown", so a client cannot grow the exposition without bound.
//
// Thread-safety: Register before serving (not concurrently with anything); Find and Record
// from any thread, lock-free except the first Record of an (operation, status) pair.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/metrics.h"
#include "common/status.h"

namespace meshdb::ops {

class OpMetrics {
 public:
  // One operation's cells.
  class Slot {
   public:
    Slot(std::string name, metrics::Family* counts, metrics::Histogram* latency)
        : name_(std::move(name)), counts_(counts), latency_(latency) {}
    // Counts one run that ended with `status` after `elapsed`.
    void Record(const Status& status, std::chrono::nanoseconds elapsed);

   private:
    static constexpr size_t kCodes = static_cast<size_t>(Status::Code::kInternal) + 1;
    const std::string name_;
    metrics::Family* const counts_;
    metrics::Histogram* const latency_;
    // Created on first use (two racing threads get the same cell from the family).
    std::array<std::atomic<metrics::Counter*>, kCodes> by_status_{};
  };

  OpMetrics();
  void Register(std::string_view operation);
  // The slot of a registered operation, else the "unknown" one. Never null.
  [[nodiscard]] Slot* Find(std::string_view operation) const;

 private:
  metrics::Family* counts_;
  metrics::Family* latency_;
  std::unordered_map<std::string, std::unique_ptr<Slot>> slots_;
  std::unique_ptr<Slot> unknown_;
};

// Adds `records` to meshdb_records_read_total{database}: records returned by the search
// operations. Lock-free after a thread's first call for a database.
void CountRecordsRead(const std::string& database, uint64_t records);

// "ok", "not_found", "invalid_argument", ...: the status label's values.
const char* StatusLabel(Status::Code code);

}  // namespace meshdb::ops
