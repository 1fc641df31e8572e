// JSON text as JavaScript writes it. Boost.JSON prints doubles in exponent form
// (1.795443580546221E12); HarperDB clients see 1795443580546.221. This serializer prints
// each double as its shortest round-tripping form, in plain notation when that is the
// shorter one, and integral doubles without a fraction ("5", not "5.0"), as
// JSON.stringify does. Everything else matches boost::json::serialize.
// Thread-safe (pure function).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>

namespace meshdb {

std::string ToJsonText(const boost::json::value& value);

// Appends the text to `out` (for building bodies without extra copies).
void AppendJsonText(const boost::json::value& value, std::string& out);

// The path ("records[0].v") of the first number in `value` that is not a finite double, or
// nullopt. Boost.JSON parses a literal a double cannot hold (1e400, -1e400) as +-infinity,
// which no JSON text can carry: a stored record holding one could never be read back, so
// the operations API refuses such input.
std::optional<std::string> FindNonFiniteNumber(const boost::json::value& value);

}  // namespace meshdb
