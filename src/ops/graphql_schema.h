// A minimal loader for HarperDB-style GraphQL schema files (schema.graphql):
//
//   # comment
//   type Dog @table(database: "dev", table: "dog", replicate: false) @export {
//     id: ID! @primaryKey
//     name: String @indexed
//     age: Int
//     tags: [String]
//   }
//
// Only `type` definitions exist in the grammar; a type becomes a table when it carries
// @table. @table's arguments are all optional: database ("data"), table (the type name),
// replicate (true). The primary key is the field marked @primaryKey, else the first field
// typed `ID!`. Field types map to storage types: ID, String, Int, Long, Float, Boolean;
// anything else (other names, lists) is "Any". @indexed marks a field indexed. The
// directives @export, @sealed, @createdTime and @updatedTime are accepted and ignored; any
// other directive is an error. Commas are insignificant, as in GraphQL.
//
// Thread-safety: pure functions, plus LoadSchemaFiles which uses the store (thread-safe).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::ops {

// Parses `text`. Returned tables have schema_defined = true, the primary key first. Errors
// are InvalidArgument "<file_name>:<line>:<column>: expected <what>, got <token>" (or a
// semantic message with the same prefix: duplicate table/field, no primary key).
Result<std::vector<storage::TableDef>> ParseGraphqlSchema(std::string_view text,
                                                          const std::string& file_name);

// Reads and parses every file of `paths` (IOError naming a file that cannot be read), then
// applies each table to `store`: created when missing; else its missing attributes are
// added (Store::ApplyTableDef). A table that exists with a different replicate flag or
// primary key keeps them (those are fixed at creation); a warning is logged. Nothing is
// applied when any file fails to parse. `store` must outlive the call.
Status LoadSchemaFiles(const std::vector<std::string>& paths, storage::Store* store);

}  // namespace meshdb::ops
