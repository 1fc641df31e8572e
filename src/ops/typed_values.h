// Type checks for tables created with explicit attributes (schema_defined), worded as
// HarperDB words them, e.g.
//   Value "notint" in property id must be an integer (from -2147483648 to 2147483647)
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::ops {

// The value as JavaScript's JSON.stringify writes it (shortest round-trip numbers).
std::string JsStringify(const boost::json::value& value);

// Checks every typed attribute of `record` against `def` (null and absent values pass;
// untyped and "Any" attributes accept anything). OK, or InvalidArgument with every failure
// joined by ". ".
Status CheckRecordTypes(const storage::TableDef& def, const boost::json::object& record);

}  // namespace meshdb::ops
