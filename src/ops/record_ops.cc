// Writing records: insert, update, upsert and delete (as HarperDB 4.7 answers them). Each request
// is one storage WriteRequest, applied all-or-nothing by the storage writer, which decides per
// record whether it applies or is skipped; the reply is built from its outcomes on the
// writer thread.
#include <boost/json/array.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ops/fields.h"
#include "ops/handlers.h"
#include "ops/record_support.h"
#include "ops/typed_values.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

using storage::WriteKind;

// A null or "" primary key asks for a generated one.
bool IsMissingKey(const json::value* v) {
  return v == nullptr || v->is_null() || (v->is_string() && v->get_string().empty());
}

// Validates `records` and builds the write, moving each record into its op (the records are
// left empty: a request's records are its largest part, and copying them cost an allocation
// per attribute and freeing the originals later). `generated[i]` is set when op i has no key.
Status BuildWrite(const storage::TableDef& def, WriteKind kind, json::array& records,
                  storage::WriteRequest* request, std::vector<bool>* generated) {
  request->database = def.database;
  request->ops.reserve(records.size());
  generated->reserve(records.size());
  std::vector<std::string> type_errors;
  for (size_t i = 0; i < records.size(); ++i) {
    json::object fields = std::move(records[i].get_object());  // checked to be objects
    storage::WriteOp op;
    op.kind = kind;
    op.table = def.name;
    const json::value* key = fields.if_contains(def.primary_key);
    const bool missing = IsMissingKey(key);
    if (missing) {
      if (kind == WriteKind::kUpdate) {
        return Status::InvalidArgument(
            "a valid hash attribute must be provided with update record, check log for more "
            "info");
      }
      fields.erase(def.primary_key);  // the store generates the key
    } else {
      RETURN_IF_ERROR(
          CheckKeyType(*key, "'records[" + std::to_string(i) + "]." + def.primary_key + "'"));
      op.key = *key;
    }
    if (def.schema_defined) {
      Status s = CheckRecordTypes(def, fields);
      if (!s.ok()) type_errors.push_back(s.message());
    }
    op.fields = std::move(fields);
    request->ops.push_back(std::move(op));
    generated->push_back(missing);
  }
  return JoinValidation(type_errors);
}

// Reads database, table and records, reporting table and records problems together as
// HarperDB's validator does.
struct WriteTarget {
  std::string database;
  std::string table;
  json::array* records = nullptr;  // in the request's body
};

Result<WriteTarget> ReadTarget(json::object& body) {
  WriteTarget target;
  std::vector<std::string> errors;
  Result<std::string> table = TableField(body);
  if (table.ok()) {
    target.table = std::move(*table);
  } else {
    errors.push_back(table.status().message());
  }
  json::value* records = body.if_contains("records");
  if (records == nullptr || records->is_null()) {
    errors.emplace_back("'records' is required");
  } else if (!records->is_array()) {
    errors.emplace_back("'records' must be an array");
  } else {
    json::array& list = records->get_array();
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_object()) {
        errors.push_back("'records[" + std::to_string(i) + "]' must be of type object");
        break;
      }
    }
    target.records = &list;
  }
  RETURN_IF_ERROR(JoinValidation(errors));
  ASSIGN_OR_RETURN(target.database, DatabaseField(body));
  return target;
}

const char* Verb(WriteKind kind) {
  switch (kind) {
    case WriteKind::kInsert:
      return "inserted";
    case WriteKind::kUpdate:
      return "updated";
    default:
      return "upserted";
  }
}

// The reply to insert/update/upsert: generated keys are reported as null, as HarperDB does.
json::object WriteReply(WriteKind kind, const storage::WriteResult& result,
                        const std::vector<bool>& generated) {
  json::array applied;
  json::array skipped;
  for (size_t i = 0; i < result.outcomes.size(); ++i) {
    json::value key = generated[i] ? json::value(nullptr) : result.keys[i];
    if (result.outcomes[i] == storage::WriteOutcome::kApplied) {
      applied.push_back(std::move(key));
    } else {
      skipped.push_back(std::move(key));
    }
  }
  json::object out;
  out["message"] = std::string(Verb(kind)) + " " + std::to_string(applied.size()) + " of " +
                   std::to_string(result.outcomes.size()) + " records";
  switch (kind) {
    case WriteKind::kInsert:
      out["inserted_hashes"] = std::move(applied);
      out["skipped_hashes"] = std::move(skipped);
      break;
    case WriteKind::kUpdate:
      out["update_hashes"] = std::move(applied);
      out["skipped_hashes"] = std::move(skipped);
      break;
    default:
      out["upserted_hashes"] = std::move(applied);
      break;
  }
  return out;
}

void WriteRecords(OpCall call, WriteKind kind) {
  Result<WriteTarget> target = ReadTarget(call.body);
  if (!target.ok()) return call.Fail(target.status());
  Result<storage::TableDef> def =
      LookupTable(*call.env->store, target->database, target->table, /*missing_is_invalid=*/true);
  if (!def.ok()) return call.Fail(def.status());
  storage::WriteRequest request;
  std::vector<bool> generated;
  if (Status s = BuildWrite(*def, kind, *target->records, &request, &generated); !s.ok()) {
    return call.Fail(s);
  }
  if (request.ops.empty()) {
    return call.Reply(WriteReply(kind, storage::WriteResult{}, generated));
  }
  // What is left of the body is freed here, by the thread that parsed it, not by the storage
  // writer that ends the call.
  call.body = json::object();
  storage::Store* store = call.env->store;
  // `done` only posts the answer to the connection, so this thread may apply the write.
  store->WriteAsyncOrInline(
      std::move(request), [call = std::move(call), kind,
                           generated = std::move(generated)](Result<storage::WriteResult> result) {
        if (!result.ok()) return call.Fail(NotFoundAsInvalid(result.status()));
        call.Reply(WriteReply(kind, *result, generated));
      });
}

}  // namespace

Result<storage::WriteResult> WriteRecordsNow(storage::Store& store, const storage::TableDef& def,
                                             WriteKind kind, json::array& records) {
  storage::WriteRequest request;
  std::vector<bool> generated;
  RETURN_IF_ERROR(BuildWrite(def, kind, records, &request, &generated));
  if (request.ops.empty()) return storage::WriteResult{};
  Result<storage::WriteResult> result = store.Write(std::move(request));
  if (!result.ok()) return NotFoundAsInvalid(result.status());
  return result;
}

void Insert(OpCall call) { WriteRecords(std::move(call), WriteKind::kInsert); }
void Update(OpCall call) { WriteRecords(std::move(call), WriteKind::kUpdate); }
void Upsert(OpCall call) { WriteRecords(std::move(call), WriteKind::kUpsert); }

void Delete(OpCall call) {
  Result<std::string> table = TableField(call.body);
  if (!table.ok()) return call.Fail(table.status());
  const json::value* ids = FirstOf(call.body, {"ids", "hash_values"});
  if (ids == nullptr || ids->is_null()) {
    return call.Fail(Status::InvalidArgument("'hash_values' is required"));
  }
  if (!ids->is_array()) {
    return call.Fail(
        Status::InvalidArgument("'hash_values' must be an array. 'ids' must be an array"));
  }
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  Result<storage::TableDef> def = LookupTable(*call.env->store, *database, *table, false);
  if (!def.ok()) return call.Fail(def.status());

  storage::WriteRequest request;
  request.database = *database;
  const json::array& list = ids->get_array();
  for (size_t i = 0; i < list.size(); ++i) {
    if (Status s = CheckKeyType(list[i], "'ids[" + std::to_string(i) + "]'"); !s.ok()) {
      return call.Fail(s);
    }
    storage::WriteOp op;
    op.kind = WriteKind::kDelete;
    op.table = *table;
    op.key = list[i];
    request.ops.push_back(std::move(op));
  }
  auto reply = [](const OpCall& c, const storage::WriteResult& result) {
    json::array deleted;
    json::array skipped;
    for (size_t i = 0; i < result.outcomes.size(); ++i) {
      (result.outcomes[i] == storage::WriteOutcome::kApplied ? deleted : skipped)
          .push_back(result.keys[i]);
    }
    const size_t total = result.outcomes.size();
    json::object out;
    out["message"] = std::to_string(deleted.size()) + " of " + std::to_string(total) +
                     (total == 1 ? " record" : " records") + " successfully deleted";
    out["deleted_hashes"] = std::move(deleted);
    out["skipped_hashes"] = std::move(skipped);
    c.Reply(std::move(out));
  };
  if (request.ops.empty()) return reply(call, storage::WriteResult{});
  storage::Store* store = call.env->store;
  store->WriteAsync(std::move(request),
                    [call = std::move(call), reply](Result<storage::WriteResult> result) {
                      if (!result.ok()) return call.Fail(result.status());
                      reply(call, *result);
                    });
}

}  // namespace meshdb::ops
