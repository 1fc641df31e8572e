// JSON values in and out of SQLite (docs/sql.md "Types").
//
// Strings are TEXT, integers INTEGER, other numbers REAL, null NULL. SQLite has no booleans,
// objects or arrays, so:
//   - a boolean is the INTEGER 0/1 with subtype kBooleanSubtype ('B'): `active = true`
//     compares as SQLite always does, and a result column that still carries the subtype
//     reads back as true/false;
//   - an object or array is its JSON text with subtype kJsonSubtype ('J', the subtype
//     SQLite's JSON functions use), so `address->>'city'` and json_extract() read nested
//     attributes, and a result column still carrying the subtype reads back as JSON.
// SQLite drops subtypes when a value passes through a sorter or an aggregate; such a result
// then reads as the number or the JSON text.
#pragma once

#include <sqlite3.h>

#include <boost/json/value.hpp>

namespace meshdb::sql {

inline constexpr unsigned kJsonSubtype = 'J';
inline constexpr unsigned kBooleanSubtype = 'B';

// Sets the result of a SQLite function or xColumn call to `value`.
void SetResult(sqlite3_context* ctx, const boost::json::value& value);

// A SQLite value as JSON (subtypes as above; a BLOB reads as its bytes, a string). The bytes
// are kept as they are, so a value that is not UTF-8 is refused when it is stored
// (storage/write_text_check.h).
boost::json::value ToJson(sqlite3_value* value);

// ToJson for a result column: text that is not valid UTF-8 (a BLOB, CAST(x'ff' AS TEXT)) has
// each invalid byte replaced by U+FFFD, so the response stays valid JSON.
boost::json::value ToResultJson(sqlite3_value* value);

// Whether `value` is a number or a string: what a primary key or an index bound can be.
bool IsKeyValue(const boost::json::value& value);

}  // namespace meshdb::sql
