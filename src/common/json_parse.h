// JSON text to boost::json::value with correctly rounded doubles.
//
// Boost.JSON 1.81's parser converts some decimal numbers to a neighbouring double (about one
// random double in ten: the shortest text of x can parse to x's neighbour), so a document it
// serialized does not always parse back to itself, and a client could read back a number
// that is not the one it wrote. ParseJson keeps Boost.JSON's grammar and limits (default
// parse_options: strict JSON, at most kMaxJsonDepth levels of nesting) but converts every
// number that is not an exact 64-bit integer from its text with std::from_chars, which rounds
// correctly. A number a double cannot hold (1e400) becomes +-infinity, as in Boost.JSON;
// callers that store values refuse it (FindNonFiniteNumber, common/json_text.h).
//
// Thread-safe (pure function).
#pragma once

#include <cstddef>
#include <string_view>

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

namespace meshdb {

// Boost.JSON's default nesting limit, which ParseJson applies.
inline constexpr size_t kMaxJsonDepth = 32;

// Parses exactly one JSON document (surrounding whitespace allowed). On failure returns
// null, sets `ec`, and sets *consumed (when given) to the offset where parsing stopped.
boost::json::value ParseJson(std::string_view text, boost::system::error_code& ec,
                             size_t* consumed = nullptr);

}  // namespace meshdb
