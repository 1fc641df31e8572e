// The JSON form of a table definition carried by Schema and CopyChunk frames.
//
//   {"database":"dev","name":"dog","primary_key":"id","schema_defined":false,
//    "replicate":true,"attributes":[{"name":"id","type":"","indexed":true}, ...]}
//
// storage/table_def_json.h with "database" always written: the one codec, strict on input.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::replication {

// Compact JSON; every field is written.
std::string TableDefToJson(const storage::TableDef& def);

// Parses TableDefToJson's output (storage::TableDefFromJson: required fields, defaults and
// errors there; "database" defaults to ""). Never throws.
Result<storage::TableDef> TableDefFromJson(std::string_view json);

}  // namespace meshdb::replication
