// Prometheus metrics: counters, gauges and histograms in a process-wide registry, and the text
// exposition format (version 0.0.4) that `GET /metrics` serves (docs/operations.md).
//
//   static metrics::Counter* writes = metrics::Registry::Default()
//       .AddCounter("meshdb_x_total", "What it counts.", {"database"})->GetCounter({"dev"});
//   writes->Add(3);
//
// Cost on a hot path: Counter::Add and Histogram::Observe are one or two relaxed atomic adds,
// with no lock and no allocation. Family::Get takes the registry's lock and may allocate:
// call it once per label set and keep the pointer. Cells are never freed before the registry,
// so a kept pointer stays valid (a label set, once created, is exported until the process ends).
//
// What changes at scrape time (link states, sizes) is better read then than mirrored into
// gauges: a Collector writes such families straight into the Exposition.
//
// Thread-safety: everything here may be used from any thread; Exposition is a plain value.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ip_allow_list.h"
#include "common/thread_annotations.h"

namespace meshdb::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;
// Name/value pairs for one sample written by a collector.
using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// A monotonically increasing count.
class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  [[nodiscard]] int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations counted into fixed buckets. Values are observed in integer units (e.g.
// nanoseconds) and exposed divided by `scale` (1e9: seconds), so the hot path has no
// floating-point atomics.
class Histogram {
 public:
  // `bounds`: the buckets' inclusive upper bounds in observed units, ascending; a +Inf bucket
  // follows the last. `scale` > 0.
  Histogram(std::vector<uint64_t> bounds, double scale);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(uint64_t value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    uint64_t count = 0;
    uint64_t sum = 0;  // observed units
  };
  // The buckets are read one by one while others may observe: a snapshot is consistent in
  // itself (cumulative counts ascend; the last equals count), the sum may be a little ahead.
  [[nodiscard]] Snapshot Read() const;
  [[nodiscard]] const std::vector<uint64_t>& bounds() const { return bounds_; }
  [[nodiscard]] double scale() const { return scale_; }

 private:
  const std::vector<uint64_t> bounds_;
  const double scale_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> sum_{0};
};

// Upper bounds for latencies in nanoseconds, 50 us to 10 s (with scale 1e9: seconds).
const std::vector<uint64_t>& LatencyBoundsNs();
// 1, 2, 4, ..., 4096.
const std::vector<uint64_t>& PowersOfTwoBounds();

// The text exposition format, written family by family: Begin, then that family's samples.
//
//   # HELP meshdb_operations_total Operations run, by operation and outcome.
//   # TYPE meshdb_operations_total counter
//   meshdb_operations_total{operation="insert",status="ok"} 12
class Exposition {
 public:
  // Starts a family: its HELP and TYPE lines. False (and the family's samples are dropped
  // until the next Begin) when `name` is not a valid metric name or was begun before: the
  // format allows each family once.
  bool Begin(std::string_view name, std::string_view help, Type type);
  // A sample of the current counter or gauge family. Label names must be valid (a sample with
  // a bad one is dropped); values are escaped.
  void Sample(const Labels& labels, double value);
  void Sample(const Labels& labels, uint64_t value);
  void Sample(const Labels& labels, int64_t value);
  // The _bucket, _sum and _count samples of the current histogram family.
  void HistogramSamples(const Labels& labels, const Histogram& histogram);

  [[nodiscard]] const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void WriteSample(std::string_view suffix, const Labels& labels, std::string_view value,
                   std::string_view extra_name = {}, std::string_view extra_value = {});

  std::string out_;
  std::set<std::string, std::less<>> begun_;
  std::string current_;  // the family being written; "" after a refused Begin
  Type current_type_ = Type::kCounter;
};

// Whether `name` may name a metric ([a-zA-Z_:][a-zA-Z0-9_:]*) or a label ([a-zA-Z_][a-zA-Z0-9_]*,
// not starting with "__").
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);
// A sample value as the format writes it: integers without a fraction, "+Inf", "NaN".
std::string FormatValue(double value);

// Whether the hot paths record (false after SetScrapeAccess with enabled == false: the node's
// metrics.enabled). One relaxed load; code that observes per request checks it first.
bool RecordingEnabled();

class Registry;

// One metric family: a name, help, type and label names, and a cell per label set.
class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<uint64_t> bounds = {}, double scale = 1);
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The cell for `values` (one per label name), created on first use. Takes a lock: keep the
  // pointer. Asserts the kind matches the family's type and the value count its labels.
  Counter* GetCounter(const LabelValues& values);
  Gauge* GetGauge(const LabelValues& values);
  Histogram* GetHistogram(const LabelValues& values);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] Type type() const { return type_; }
  void Write(Exposition& out) const;

 private:
  struct Cell {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Cell& CellFor(const LabelValues& values) REQUIRES(mu_);

  // Constant after construction.
  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::vector<uint64_t> bounds_;
  const double scale_;

  mutable common::Mutex mu_;
  std::map<LabelValues, Cell> cells_ GUARDED_BY(mu_);
};

// Writes families computed at scrape time. Must not call the registry's Add/Remove methods.
using Collector = std::function<void(Exposition&)>;

// Who may read GET /metrics (metrics.enabled, metrics.allowedIps).
struct ScrapeAccess {
  bool enabled = true;
  common::IpAllowList allowed;  // empty: nobody; see Registry::LoopbackOnly
};

class Registry {
 public:
  Registry();
  // The process-wide registry that GET /metrics renders. Never destroyed.
  static Registry& Default();

  // The family named `name`, added on first call; later calls with the same name return it
  // (the type and labels must match: asserted). Names and labels must be valid (asserted).
  Family* AddCounter(const std::string& name, const std::string& help,
                     std::vector<std::string> label_names = {});
  Family* AddGauge(const std::string& name, const std::string& help,
                   std::vector<std::string> label_names = {});
  Family* AddHistogram(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names, std::vector<uint64_t> bounds,
                       double scale);

  // Collectors run at every Render, after the families, in the order added. RemoveCollector
  // waits for a Render running it to finish, so what the collector captured may be freed
  // once it returns.
  uint64_t AddCollector(Collector collector);
  void RemoveCollector(uint64_t id);

  // The exposition of every family, then every collector's.
  [[nodiscard]] std::string Render() const;

  // Also sets RecordingEnabled() to access.enabled (the Default registry's only).
  void SetScrapeAccess(ScrapeAccess access);
  // Whether a scrape from `remote_address` is served: the endpoint is enabled and the address
  // is in the allowed list. Default: enabled, loopback only (127.0.0.0/8, ::1).
  [[nodiscard]] bool MayScrape(std::string_view remote_address) const;
  [[nodiscard]] bool ScrapeEnabled() const;
  static common::IpAllowList LoopbackOnly();

 private:
  Family* Add(const std::string& name, const std::string& help, Type type,
              std::vector<std::string> label_names, std::vector<uint64_t> bounds, double scale);

  mutable common::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ GUARDED_BY(mu_);
  ScrapeAccess access_ GUARDED_BY(mu_);

  // Held while collectors run, so RemoveCollector can wait for them.
  mutable common::Mutex collectors_mu_;
  std::map<uint64_t, Collector> collectors_ GUARDED_BY(collectors_mu_);
  uint64_t next_collector_id_ GUARDED_BY(collectors_mu_) = 1;
};

}  // namespace meshdb::metrics
