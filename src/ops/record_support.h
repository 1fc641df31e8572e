// Pieces shared by the record and search operations: the `table` field, table lookup with
// the status each operation answers, primary-key checks, `get_attributes` projection and
// limit/offset paging.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::ops {

// The required `table` field: "'table' is required" when missing or null, "'table' is not
// allowed to be empty", "'table' must be a string" for objects, arrays and booleans. A
// number is taken as its decimal name, as HarperDB does ("Table 'dev.5' does not exist").
Result<std::string> TableField(const boost::json::object& body);

// `status` with a NotFound code turned into InvalidArgument (same text): HarperDB answers
// 400 for unknown tables in insert/update/upsert.
Status NotFoundAsInvalid(Status status);

// db.table from the catalog. NotFound "database 'db' does not exist" /
// "Table 'db.t' does not exist"; InvalidArgument with the same text when
// `missing_is_invalid`.
Result<storage::TableDef> LookupTable(const storage::Store& store, const std::string& database,
                                      const std::string& table, bool missing_is_invalid);

// A primary key must be a string or a number. InvalidArgument
// "<what> must be a string or a number" otherwise.
Status CheckKeyType(const boost::json::value& key, const std::string& what);

// What get_attributes asked for.
struct Projection {
  bool raw = true;                      // absent: the stored record as is
  bool all = false;                     // contains "*": every table attribute
  std::vector<std::string> attributes;  // otherwise: these, in this order
};

// Reads `get_attributes`: "'get_attributes' is required" (when `required`),
// "'get_attributes' must be an array", "'get_attributes[0]' must be a string".
Result<Projection> GetAttributesField(const boost::json::object& body, bool required);

// The record as `projection` shapes it: all -> every attribute of `def` in order (null when
// absent), then any other attributes the record holds; a list -> those (null when absent).
boost::json::object Project(const Projection& projection, const storage::TableDef& def,
                            const boost::json::object& doc);

struct Paging {
  size_t offset = 0;
  std::optional<size_t> limit;  // nullopt: no limit

  // Whether `count` results (before paging) already cover offset + limit.
  [[nodiscard]] bool Full(size_t count) const { return limit && count >= offset + *limit; }
};

// Reads `limit` and `offset`: non-negative integers; "'limit' must be a number" /
// "'limit' must be greater than or equal to 0" (same for offset).
Result<Paging> PagingFields(const boost::json::object& body);

// Drops the first `offset` records and keeps at most `limit`.
void ApplyPaging(const Paging& paging, std::vector<boost::json::object>* records);

// The write path of insert / update / upsert, for callers that already hold records
// (csv loads): validates `records` (objects) for `def` and writes them as one transaction.
// The records are moved into the write: `records` holds empty objects afterwards.
// Defined in record_ops.cc.
Result<storage::WriteResult> WriteRecordsNow(storage::Store& store, const storage::TableDef& def,
                                             storage::WriteKind kind, boost::json::array& records);

}  // namespace meshdb::ops
