#include "ops/csv_load_ops.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "common/http_client.h"
#include "config/config.h"
#include "ops/attribute_permissions.h"
#include "ops/auth.h"
#include "ops/csv_records.h"
#include "ops/fields.h"
#include "ops/jobs.h"
#include "ops/node_operations.h"
#include "ops/op_context.h"
#include "ops/record_support.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr size_t kReadChunkBytes = size_t{1} << 20;
constexpr std::chrono::minutes kDownloadTimeout{10};

// Hands the CSV to `feed` piece by piece; an error from `feed` stops it.
using Feed = std::function<Status(std::string_view piece)>;
using Source = std::function<Status(const Feed& feed)>;

Status FeedText(const std::string& text, const Feed& feed) {
  for (size_t at = 0; at < text.size(); at += kReadChunkBytes) {
    RETURN_IF_ERROR(feed(std::string_view(text).substr(at, kReadChunkBytes)));
  }
  return Status::Ok();
}

Source TextSource(std::string text) {
  return [text = std::move(text)](const Feed& feed) { return FeedText(text, feed); };
}

Source FileSource(std::string path) {
  return [path = std::move(path)](const Feed& feed) -> Status {
    std::ifstream file(path, std::ios::binary);
    if (!file)
      return Status::InvalidArgument("cannot read '" + path + "': " + std::strerror(errno));
    std::string piece(kReadChunkBytes, '\0');
    while (file) {
      file.read(piece.data(), static_cast<std::streamsize>(piece.size()));
      RETURN_IF_ERROR(feed(std::string_view(piece.data(), static_cast<size_t>(file.gcount()))));
    }
    if (file.bad()) return Status::IOError("reading '" + path + "' failed");
    return Status::Ok();
  };
}

Source UrlSource(std::string url) {
  return [url = std::move(url)](const Feed& feed) -> Status {
    size_t slash = url.find('/', url.find("://") + 3);
    std::string base = url.substr(0, slash);
    HttpRequest request;
    request.target = slash == std::string::npos ? "/" : url.substr(slash);
    request.max_response_bytes = kCsvMaxDownloadBytes;
    ASSIGN_OR_RETURN(HttpClient client, HttpClient::Create(HttpTlsFiles{}));
    ASSIGN_OR_RETURN(
        HttpResponse response,
        client.Send(base, request,
                    std::chrono::duration_cast<std::chrono::milliseconds>(kDownloadTimeout)));
    if (response.status != 200) {
      return Status::InvalidArgument("downloading " + url + " answered HTTP " +
                                     std::to_string(response.status));
    }
    return FeedText(response.body, feed);
  };
}

storage::WriteKind KindOf(const std::string& action) {
  if (action == "update") return storage::WriteKind::kUpdate;
  if (action == "upsert") return storage::WriteKind::kUpsert;
  return storage::WriteKind::kInsert;
}

// The job: reads the source, writes each full batch, then the rest. `rules`: the caller's
// attribute permissions, checked on each batch before it is written.
Result<std::string> Load(storage::Store* store, const storage::TableDef& def,
                         storage::WriteKind kind, const Source& source,
                         const std::optional<AttributePermissions>& rules,
                         const std::atomic<bool>& stopping) {
  CsvRecordReader reader;
  json::array batch;
  size_t applied = 0;
  auto write = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    if (std::optional<OpResult> denied = rules ? rules->CheckWrite(kind, batch) : std::nullopt) {
      return Status::PermissionDenied(
          denied->status.message() + ": " +
          json::serialize(denied->body.get_object().at("unauthorized_access")));
    }
    ASSIGN_OR_RETURN(storage::WriteResult result, WriteRecordsNow(*store, def, kind, batch));
    for (storage::WriteOutcome outcome : result.outcomes) {
      if (outcome == storage::WriteOutcome::kApplied) ++applied;
    }
    batch.clear();
    return Status::Ok();
  };
  RETURN_IF_ERROR(source([&](std::string_view piece) -> Status {
    if (stopping) {
      return Status::Unavailable("the node stopped after loading " + std::to_string(applied) +
                                 " records");
    }
    RETURN_IF_ERROR(reader.Feed(piece, batch));
    return batch.size() >= kCsvBatchRecords ? write() : Status::Ok();
  }));
  RETURN_IF_ERROR(reader.Finish(batch));
  RETURN_IF_ERROR(write());
  return "successfully loaded " + std::to_string(applied) + " of " +
         std::to_string(reader.records()) + " records";
}

// What each load reads its CSV from: the request field and how to open it.
struct LoadKind {
  const char* operation;
  const char* field;
  Result<Source> (*open)(const std::string& value, const config::Config& config);
  // Not null: only super_user roles may run it; HarperDB's name for its 403 text.
  const char* super_user_name;
};

Result<Source> OpenData(const std::string& value, const config::Config& /*config*/) {
  return TextSource(value);
}

// Whether `path` is `place` or lies below it (both canonical).
bool Within(const std::filesystem::path& path, const std::filesystem::path& place) {
  auto [end, _] = std::mismatch(place.begin(), place.end(), path.begin(), path.end());
  return end == place.end();
}

// PermissionDenied when `path` is one of the node's own files: anything under its root, data
// or log directory (keys, configuration, database files, logs), its configuration file or a
// configured private key. Loading one would put a secret into a row that is served and
// replicated (docs/security.md).
Status RefuseNodeFile(const std::string& path, const config::Config& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file = fs::canonical(path, ec);
  if (ec) return Status::InvalidArgument("cannot read file '" + path + "': " + ec.message());
  const config::Settings& settings = config.settings();
  for (const std::string& place :
       {settings.root_path, settings.storage_path, settings.log_dir, config.file_path(),
        settings.tls_private_key, settings.ops_tls_private_key}) {
    if (place.empty()) continue;
    const fs::path own = fs::weakly_canonical(place, ec);
    if (ec || !Within(file, own)) continue;
    return Status::PermissionDenied("file_path '" + path +
                                    "' is one of this node's own files (its data, keys, logs or "
                                    "configuration under '" +
                                    own.string() + "'): csv_file_load does not read them");
  }
  return Status::Ok();
}

Result<Source> OpenFile(const std::string& path, const config::Config& config) {
  std::ifstream probe(path);
  if (!probe) {
    return Status::InvalidArgument("cannot read file '" + path + "': " + std::strerror(errno));
  }
  RETURN_IF_ERROR(RefuseNodeFile(path, config));
  return FileSource(path);
}

Result<Source> OpenUrl(const std::string& url, const config::Config& /*config*/) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("'csv_url' must be an http:// or https:// URL");
  }
  return UrlSource(url);
}

void StartLoad(const LoadKind& load, storage::Store* store, Jobs* jobs, OpCall call) {
  std::vector<std::string> errors;
  Result<std::string> table = TableField(call.body);
  if (!table.ok()) errors.push_back(table.status().message());
  Result<std::string> source_text = RequiredString(call.body, load.field);
  if (!source_text.ok()) errors.push_back(source_text.status().message());
  Result<std::string> action = OptionalString(call.body, "action");
  std::string action_name = action.ok() && !action->empty() ? *action : "insert";
  if (action_name != "insert" && action_name != "update" && action_name != "upsert") {
    errors.emplace_back("'action' must be one of [insert, update, upsert]");
  }
  if (Status s = JoinValidation(errors); !s.ok()) return call.Fail(s);
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  Result<storage::TableDef> def = LookupTable(*store, *database, *table, true);
  if (!def.ok()) return call.Fail(def.status());
  if (!call.caller.super_user) {
    auto denied =
        action_name == "insert" ? call.env->auth->CheckTableAccess(call.caller, *database, *table,
                                                                   {TableAccess::kInsert})
        : action_name == "update"
            ? call.env->auth->CheckTableAccess(call.caller, *database, *table,
                                               {TableAccess::kUpdate})
            : call.env->auth->CheckTableAccess(call.caller, *database, *table,
                                               {TableAccess::kInsert, TableAccess::kUpdate});
    if (denied) return call.done(std::move(*denied));
  }
  Result<Source> source = load.open(*source_text, *call.env->config);
  if (!source.ok()) return call.Fail(source.status());
  json::object request = call.body;
  request.erase("data");  // the job row keeps what was asked, not the bulk
  request.erase("password");
  storage::WriteKind kind = KindOf(action_name);
  Result<std::string> id = jobs->Start(
      load.operation, call.caller.username, std::move(request),
      [store, def = *def, kind, source = std::move(*source),
       rules = AttributePermissions::For(call.caller, *def)](const std::atomic<bool>& stopping) {
        return Load(store, def, kind, source, rules, stopping);
      });
  if (!id.ok()) return call.Fail(id.status());
  call.Reply(json::object{{"message", "Starting job with id " + *id}, {"job_id", *id}});
}

// Reading the server's own files is for super users only, as PostgreSQL's COPY FROM a file is
// (HarperDB lets any role with insert run it: docs/compatibility.md).
constexpr LoadKind kLoads[] = {
    {"csv_data_load", "data", OpenData, nullptr},
    {"csv_file_load", "file_path", OpenFile, "csvFileLoad"},
    {"csv_url_load", "csv_url", OpenUrl, nullptr},
};

}  // namespace

void RegisterCsvLoadOperations(NodeOperations* ops, storage::Store* store, Jobs* jobs) {
  for (const LoadKind& load : kLoads) {
    ops->RegisterOperation(
        load.operation,
        [&load, store, jobs](OpCall call) { StartLoad(load, store, jobs, std::move(call)); },
        load.super_user_name);
  }
}

}  // namespace meshdb::ops
