// Reading request fields with HarperDB's validation texts ("'table' is required",
// "'table' must be a string"). All return InvalidArgument on bad input.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::ops {

// `database`, or its legacy name `schema`; "data" when neither is given.
// InvalidArgument "'database' must be a string" for other types.
Result<std::string> DatabaseField(const boost::json::object& body);

// A required string field: "'<name>' is required" when missing or null,
// "'<name>' must be a string" for another type,
// "'<name>' is not allowed to be empty" for "".
Result<std::string> RequiredString(const boost::json::object& body, std::string_view name);

// An optional string field: "" when missing or null; "'<name>' must be a string" otherwise.
Result<std::string> OptionalString(const boost::json::object& body, std::string_view name);

// The first of `names` present in body (aliases such as ids/hash_values), or nullptr.
const boost::json::value* FirstOf(const boost::json::object& body,
                                  std::initializer_list<std::string_view> names);

// Checks a database/table/attribute name: 1-250 printable ASCII characters without '/' or
// '`'. InvalidArgument "'<field>' names cannot include backticks or forward slashes".
Status ValidateName(std::string_view field, const std::string& name);

// Several validation messages joined with ". ", as Joi does; OK when `messages` is empty.
Status JoinValidation(const std::vector<std::string>& messages);

}  // namespace meshdb::ops
