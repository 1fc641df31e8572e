// Internal to config/: YAML text <-> JSON trees, with HarperDB's scalar casting.
#pragma once

#include <boost/json/value.hpp>
#include <string>

#include "common/status.h"

namespace meshdb::config::internal {

// Parses YAML. Plain scalars are cast as CastValue does (true/false, numbers, null, "~",
// empty); quoted scalars stay strings. An empty document gives an empty object.
// InvalidArgument "<what>: <yaml-cpp message>" on a syntax error.
Result<boost::json::value> ParseYaml(const std::string& text, const std::string& what);

// Emits `tree` as block YAML. `header` (may be empty) is written first as '#' comment lines.
// Strings that would read back as another type are quoted.
std::string EmitYaml(const boost::json::value& tree, const std::string& header);

}  // namespace meshdb::config::internal
