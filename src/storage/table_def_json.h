// The JSON form of a table definition: how storage keeps it in meta ("table:<name>") and, with
// "database" added, how replication carries it in Schema, CopyChunk and MergeHashes frames
// (replication/wire/table_def_json.h).
//
//   {"database":"dev","name":"dog","primary_key":"id","schema_defined":false,
//    "replicate":true,"attributes":[{"name":"id","type":"","indexed":true}, ...]}
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::storage {

// Compact JSON; every field is written, "database" only when `with_database`.
std::string TableDefToJson(const TableDef& def, bool with_database = false);

// Parses either form; safe for hostile input (a peer's frame). "name" (non-empty) and
// "primary_key" are required; "database" defaults to `default_database`, "schema_defined" to
// false, "replicate" to true, "attributes" to []; in an attribute, "name" is required, "type"
// defaults to "" and "indexed" to true. Corruption naming the field when the text is not
// JSON, not an object, or a field is missing or has the wrong type. Never throws.
Result<TableDef> TableDefFromJson(std::string_view json, std::string_view default_database = "");

}  // namespace meshdb::storage
