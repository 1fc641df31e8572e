// The JSON form of a table definition carried by Schema and CopyChunk frames.
//
//   {"database":"dev","name":"dog","primary_key":"id","schema_defined":false,
//    "replicate":true,"attributes":[{"name":"id","type":"","indexed":true}, ...]}
//
// A superset of storage's own meta format (it adds "database"). Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::replication {

// Compact JSON; every field is written.
std::string TableDefToJson(const storage::TableDef& def);

// Parses TableDefToJson's output. "name" (non-empty) and "primary_key" are required;
// "database" defaults to "", "schema_defined" to false, "replicate" to true, "attributes"
// to []; in an attribute, "name" is required, "type" defaults to "" and "indexed" to true.
// Corruption naming the field when the text is not JSON, not an object, or a field has the
// wrong type. Never throws.
Result<storage::TableDef> TableDefFromJson(std::string_view json);

}  // namespace meshdb::replication
