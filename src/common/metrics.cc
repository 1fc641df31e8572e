#include "common/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>

namespace meshdb::metrics {

using common::MutexLock;

// --- Histogram -------------------------------------------------------------------------------

Histogram::Histogram(std::vector<uint64_t> bounds, double scale)
    : bounds_(std::move(bounds)),
      scale_(scale),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  assert(std::is_sorted(bounds_.begin(), bounds_.end()) && scale_ > 0);
}

void Histogram::Observe(uint64_t value) {
  // Few buckets: a linear scan beats a binary search on this size.
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

const std::vector<uint64_t>& LatencyBoundsNs() {
  static const std::vector<uint64_t> bounds = {
      50'000,      100'000,       250'000,       500'000,       1'000'000,     2'500'000,
      5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,
      500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
  return bounds;
}

const std::vector<uint64_t>& PowersOfTwoBounds() {
  static const std::vector<uint64_t> bounds = [] {
    std::vector<uint64_t> b;
    for (uint64_t v = 1; v <= 4096; v *= 2) b.push_back(v);
    return b;
  }();
  return bounds;
}

// --- Names and values ------------------------------------------------------------------------

namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; label values also the double quote.
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string FormatUnsigned(uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return {buf, end};
}

}  // namespace

bool ValidMetricName(std::string_view name) {
  if (name.empty() || !(IsAlpha(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAlpha(c) || IsDigit(c) || c == ':'; });
}

bool ValidLabelName(std::string_view name) {
  if (name.empty() || !IsAlpha(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsAlpha(c) || IsDigit(c); });
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(value));
    return {buf, end};
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return {buf, end};
}

// --- Exposition ------------------------------------------------------------------------------

bool Exposition::Begin(std::string_view name, std::string_view help, Type type) {
  current_.clear();
  if (!ValidMetricName(name) || begun_.contains(name)) return false;
  begun_.emplace(name);
  current_ = std::string(name);
  current_type_ = type;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
  return true;
}

void Exposition::WriteSample(std::string_view suffix, const Labels& labels, std::string_view value,
                             std::string_view extra_name, std::string_view extra_value) {
  if (current_.empty()) return;
  for (const auto& [name, v] : labels) {
    if (!ValidLabelName(name) || name == "le") return;
  }
  out_ += current_;
  out_ += suffix;
  if (!labels.empty() || !extra_name.empty()) {
    out_ += '{';
    bool first = true;
    auto add = [&](std::string_view name, std::string_view v) {
      if (!first) out_ += ',';
      first = false;
      out_ += name;
      out_ += "=\"";
      AppendEscaped(out_, v, true);
      out_ += '"';
    };
    for (const auto& [name, v] : labels) add(name, v);
    if (!extra_name.empty()) add(extra_name, extra_value);
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

void Exposition::Sample(const Labels& labels, double value) {
  if (current_type_ == Type::kHistogram) return;
  WriteSample("", labels, FormatValue(value));
}

void Exposition::Sample(const Labels& labels, uint64_t value) {
  if (current_type_ == Type::kHistogram) return;
  WriteSample("", labels, FormatUnsigned(value));
}

void Exposition::Sample(const Labels& labels, int64_t value) {
  if (value >= 0) return Sample(labels, static_cast<uint64_t>(value));
  Sample(labels, static_cast<double>(value));
}

void Exposition::HistogramSamples(const Labels& labels, const Histogram& histogram) {
  if (current_type_ != Type::kHistogram) return;
  Histogram::Snapshot s = histogram.Read();
  const std::vector<uint64_t>& bounds = histogram.bounds();
  for (size_t i = 0; i < bounds.size(); ++i) {
    WriteSample("_bucket", labels, FormatUnsigned(s.cumulative[i]), "le",
                FormatValue(static_cast<double>(bounds[i]) / histogram.scale()));
  }
  WriteSample("_bucket", labels, FormatUnsigned(s.count), "le", "+Inf");
  WriteSample("_sum", labels, FormatValue(static_cast<double>(s.sum) / histogram.scale()));
  WriteSample("_count", labels, FormatUnsigned(s.count));
}

// --- Family ----------------------------------------------------------------------------------

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<uint64_t> bounds, double scale)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)),
      scale_(scale) {}

Family::Cell& Family::CellFor(const LabelValues& values) {
  assert(values.size() == label_names_.size());
  auto it = cells_.find(values);
  if (it != cells_.end()) return it->second;
  Cell& cell = cells_[values];
  switch (type_) {
    case Type::kCounter:
      cell.counter = std::make_unique<Counter>();
      break;
    case Type::kGauge:
      cell.gauge = std::make_unique<Gauge>();
      break;
    case Type::kHistogram:
      cell.histogram = std::make_unique<Histogram>(bounds_, scale_);
      break;
  }
  return cell;
}

Counter* Family::GetCounter(const LabelValues& values) {
  assert(type_ == Type::kCounter);
  MutexLock lock(mu_);
  return CellFor(values).counter.get();
}

Gauge* Family::GetGauge(const LabelValues& values) {
  assert(type_ == Type::kGauge);
  MutexLock lock(mu_);
  return CellFor(values).gauge.get();
}

Histogram* Family::GetHistogram(const LabelValues& values) {
  assert(type_ == Type::kHistogram);
  MutexLock lock(mu_);
  return CellFor(values).histogram.get();
}

void Family::Write(Exposition& out) const {
  if (!out.Begin(name_, help_, type_)) return;
  MutexLock lock(mu_);
  Labels labels;
  for (const auto& [values, cell] : cells_) {
    labels.clear();
    for (size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
    switch (type_) {
      case Type::kCounter:
        out.Sample(labels, cell.counter->value());
        break;
      case Type::kGauge:
        out.Sample(labels, cell.gauge->value());
        break;
      case Type::kHistogram:
        out.HistogramSamples(labels, *cell.histogram);
        break;
    }
  }
}

// --- Registry ------------------------------------------------------------------------------

namespace {
std::atomic<bool> recording{true};  // RecordingEnabled()
}  // namespace

bool RecordingEnabled() { return recording.load(std::memory_order_relaxed); }

Registry::Registry() {
  MutexLock lock(mu_);
  access_.allowed = LoopbackOnly();
}

Registry& Registry::Default() {
  static auto* registry = new Registry();
  return *registry;
}

common::IpAllowList Registry::LoopbackOnly() {
  common::IpAllowList list;
  if (auto v4 = common::ParseIpBlock("127.0.0.0/8"); v4.ok()) list.Add(*v4);
  if (auto v6 = common::ParseIpBlock("::1"); v6.ok()) list.Add(*v6);
  return list;
}

Family* Registry::Add(const std::string& name, const std::string& help, Type type,
                      std::vector<std::string> label_names, std::vector<uint64_t> bounds,
                      double scale) {
  assert(ValidMetricName(name));
  assert(std::all_of(label_names.begin(), label_names.end(),
                     [](const std::string& l) { return ValidLabelName(l) && l != "le"; }));
  MutexLock lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    assert(it->second->type() == type);
    return it->second.get();
  }
  auto family =
      std::make_unique<Family>(name, help, type, std::move(label_names), std::move(bounds), scale);
  Family* raw = family.get();
  families_.emplace(name, std::move(family));
  return raw;
}

Family* Registry::AddCounter(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names) {
  return Add(name, help, Type::kCounter, std::move(label_names), {}, 1);
}

Family* Registry::AddGauge(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names) {
  return Add(name, help, Type::kGauge, std::move(label_names), {}, 1);
}

Family* Registry::AddHistogram(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names, std::vector<uint64_t> bounds,
                               double scale) {
  return Add(name, help, Type::kHistogram, std::move(label_names), std::move(bounds), scale);
}

uint64_t Registry::AddCollector(Collector collector) {
  MutexLock lock(collectors_mu_);
  uint64_t id = next_collector_id_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void Registry::RemoveCollector(uint64_t id) {
  MutexLock lock(collectors_mu_);
  collectors_.erase(id);
}

std::string Registry::Render() const {
  Exposition out;
  std::vector<const Family*> families;
  {
    MutexLock lock(mu_);
    // Families are never removed: the pointers outlive the lock.
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  for (const Family* family : families) family->Write(out);
  MutexLock lock(collectors_mu_);
  for (const auto& [id, collector] : collectors_) collector(out);
  return out.Take();
}

void Registry::SetScrapeAccess(ScrapeAccess access) {
  if (this == &Default()) recording.store(access.enabled, std::memory_order_relaxed);
  MutexLock lock(mu_);
  access_ = std::move(access);
}

bool Registry::MayScrape(std::string_view remote_address) const {
  MutexLock lock(mu_);
  return access_.enabled && access_.allowed.Contains(remote_address);
}

bool Registry::ScrapeEnabled() const {
  MutexLock lock(mu_);
  return access_.enabled;
}

}  // namespace meshdb::metrics
