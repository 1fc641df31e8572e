#include "ops/jobs.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "common/log.h"
#include "common/thread_annotations.h"
#include "ops/node_operations.h"
#include "ops/op_context.h"
#include "storage/store.h"
#include "storage/uuid_generator.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr const char* kSystemDb = "system";
constexpr const char* kJobTable = "hdb_job";
constexpr const char* kInProgress = "IN_PROGRESS";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-12-03T22:10:00.000Z".
std::string IsoTime(int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms % 1000));
  return text;
}

Status WriteRow(storage::Store* store, const std::string& id, json::object fields) {
  storage::WriteRequest request;
  request.database = kSystemDb;
  storage::WriteOp op;
  op.kind = storage::WriteKind::kUpsert;
  op.table = kJobTable;
  op.key = json::string(id);
  fields["id"] = json::string(id);
  op.fields = std::move(fields);
  request.ops.push_back(std::move(op));
  return store->Write(std::move(request)).status();
}

}  // namespace

class Jobs::Impl {
 public:
  explicit Impl(storage::Store* store) : store_(store), log_(log::For("jobs")) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Impl() { Stop(); }

  Result<std::string> Start(const std::string& type, const std::string& user, json::object request,
                            Work work) {
    std::string id;
    {
      common::MutexLock lock(mu_);
      if (stopping_) return Status::Unavailable("the node is stopping");
      id = uuids_.Next();
    }
    int64_t now = NowMs();
    RETURN_IF_ERROR(WriteRow(store_, id,
                             json::object{{"type", type},
                                          {"user", user},
                                          {"status", kInProgress},
                                          {"message", nullptr},
                                          {"created_datetime", now},
                                          {"start_datetime", now},
                                          {"end_datetime", nullptr},
                                          {"request", std::move(request)}}));
    log_->info("job {} ({}) started by {}", id, type, user);
    {
      common::MutexLock lock(mu_);
      queue_.emplace_back(id, std::move(work));
    }
    wake_.notify_one();
    return id;
  }

  void Stop() {
    {
      common::MutexLock lock(mu_);
      stopping_ = true;
    }
    cancel_ = true;
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  [[nodiscard]] storage::Store* store() const { return store_; }

 private:
  void Run() {
    while (true) {
      std::pair<std::string, Work> next;
      {
        common::MutexLock lock(mu_);
        wake_.wait(lock, [&]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      Result<std::string> outcome = next.second(cancel_);
      json::object end{{"status", outcome.ok() ? "COMPLETE" : "ERROR"},
                       {"message", outcome.ok() ? *outcome : outcome.status().message()},
                       {"end_datetime", NowMs()}};
      if (Status s = WriteRow(store_, next.first, std::move(end)); !s.ok()) {
        log_->error("job {}: cannot record its end: {}", next.first, s.ToString());
      }
      if (outcome.ok()) {
        log_->info("job {} complete: {}", next.first, *outcome);
      } else {
        log_->warn("job {} failed: {}", next.first, outcome.status().message());
      }
    }
  }

  storage::Store* store_;
  std::shared_ptr<spdlog::logger> log_;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  common::Mutex mu_;
  std::condition_variable_any wake_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::deque<std::pair<std::string, Work>> queue_ GUARDED_BY(mu_);
  storage::UuidGenerator uuids_ GUARDED_BY(mu_);
};

Result<std::unique_ptr<Jobs>> Jobs::Create(storage::Store* store) {
  if (!store->GetTable(kSystemDb, kJobTable).ok()) {
    storage::TableDef def;
    def.database = kSystemDb;
    def.name = kJobTable;
    def.primary_key = "id";
    def.replicate = false;  // a node's jobs are its own (HarperDB marks it so too)
    Status s = store->CreateTable(def);
    if (!s.ok() && !s.IsConflict()) return s.WithPrefix("creating system.hdb_job");
  }
  // Jobs the last run did not finish: they never will.
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot, store->Read(kSystemDb));
  std::vector<std::string> unfinished;
  RETURN_IF_ERROR(snapshot->ScanTable(kJobTable, [&](const storage::Record& record) {
    const json::value* status = record.doc.if_contains("status");
    const json::value* id = record.doc.if_contains("id");
    if (status && status->is_string() && status->get_string() == kInProgress && id &&
        id->is_string()) {
      unfinished.emplace_back(id->get_string());
    }
    return true;
  }));
  for (const std::string& id : unfinished) {
    RETURN_IF_ERROR(WriteRow(store, id,
                             json::object{{"status", "ERROR"},
                                          {"message", "the node stopped before the job ended"},
                                          {"end_datetime", NowMs()}}));
  }
  return std::unique_ptr<Jobs>(new Jobs(std::make_unique<Impl>(store)));
}

Jobs::Jobs(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jobs::~Jobs() { Stop(); }

Result<std::string> Jobs::Start(const std::string& type, const std::string& user,
                                json::object request, Work work) {
  return impl_->Start(type, user, std::move(request), std::move(work));
}

void Jobs::Stop() { impl_->Stop(); }

Result<json::array> Jobs::Get(const std::string& id) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot, impl_->store()->Read(kSystemDb));
  ASSIGN_OR_RETURN(std::optional<storage::Record> record,
                   snapshot->Get(kJobTable, json::string(id)));
  json::array out;
  if (record) out.push_back(std::move(record->doc));
  return out;
}

Result<json::array> Jobs::SearchByStartDate(int64_t from_ms, int64_t to_ms) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot, impl_->store()->Read(kSystemDb));
  json::array out;
  RETURN_IF_ERROR(snapshot->ScanTable(kJobTable, [&](const storage::Record& record) {
    const json::value* start = record.doc.if_contains("start_datetime");
    if (start == nullptr || !start->is_number()) return true;
    auto ms = start->to_number<int64_t>();
    if (ms < from_ms || ms > to_ms) return true;
    json::object row = record.doc;
    row["start_datetime_converted"] = IsoTime(ms);
    const json::value* end = record.doc.if_contains("end_datetime");
    row["end_datetime_converted"] = end != nullptr && end->is_number()
                                        ? json::value(IsoTime(end->to_number<int64_t>()))
                                        : json::value(nullptr);
    out.push_back(std::move(row));
    return true;
  }));
  return out;
}

namespace {

// "2026-12-03", "2026-12-03T22:10:00", with optional ".sss" and "Z": ms since the epoch (UTC).
std::optional<int64_t> ParseIsoMs(const std::string& text) {
  std::tm utc{};
  int millis = 0;
  int n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &utc.tm_year, &utc.tm_mon, &utc.tm_mday, &n) !=
      3) {
    return std::nullopt;
  }
  size_t pos = static_cast<size_t>(n);
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ')) {
    int m = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d:%2d%n", &utc.tm_hour, &utc.tm_min, &utc.tm_sec,
                    &m) != 3) {
      return std::nullopt;
    }
    pos += 1 + static_cast<size_t>(m);
    if (pos < text.size() && text[pos] == '.') {
      int d = 0;
      if (std::sscanf(text.c_str() + pos + 1, "%3d%n", &millis, &d) != 1) return std::nullopt;
      pos += 1 + static_cast<size_t>(d);
    }
  }
  if (pos < text.size() && text[pos] == 'Z') ++pos;
  if (pos != text.size()) return std::nullopt;
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&utc)) * 1000 + millis;
}

Result<int64_t> DateField(const json::object& body, const char* name) {
  const json::value* v = body.if_contains(name);
  if (v == nullptr || v->is_null())
    return Status::InvalidArgument("'" + std::string(name) + "' is required");
  if (v->is_number()) return v->to_number<int64_t>();
  if (v->is_string()) {
    if (std::optional<int64_t> ms = ParseIsoMs(std::string(v->get_string()))) return *ms;
  }
  return Status::InvalidArgument("'" + std::string(name) + "' must be a date (ISO 8601)");
}

}  // namespace

void RegisterJobOperations(NodeOperations* ops, Jobs* jobs) {
  ops->RegisterOperation(
      "get_job",
      [jobs](OpCall call) {
        const json::value* id = call.body.if_contains("id");
        if (id == nullptr || id->is_null()) {
          return call.Fail(Status::InvalidArgument("'id' is required"));
        }
        if (!id->is_string()) return call.Fail(Status::InvalidArgument("'id' must be a string"));
        Result<json::array> rows = jobs->Get(std::string(id->get_string()));
        if (!rows.ok()) return call.Fail(rows.status());
        call.Reply(std::move(*rows));
      },
      nullptr);
  ops->RegisterOperation(
      "search_jobs_by_start_date",
      [jobs](OpCall call) {
        Result<int64_t> from = DateField(call.body, "from_date");
        Result<int64_t> to = DateField(call.body, "to_date");
        if (!from.ok()) return call.Fail(from.status());
        if (!to.ok()) return call.Fail(to.status());
        Result<json::array> rows = jobs->SearchByStartDate(*from, *to);
        if (!rows.ok()) return call.Fail(rows.status());
        call.Reply(std::move(*rows));
      },
      "searchJobsByStartDate");
}

}  // namespace meshdb::ops
