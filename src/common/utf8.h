// UTF-8 text as JSON must carry it (RFC 8259 section 8.1): no overlong forms, no surrogates
// (CESU-8), nothing above U+10FFFF. meshdb's JSON parser refuses text that breaks these rules,
// so a stored record holding such a string could never be read back; the store refuses it
// (storage/write_text_check.h), and text that comes from elsewhere (SQLite's BLOB and CAST
// results) is made valid before it reaches a response. Validation is Boost.Locale's decoder.
// Thread-safe (pure functions).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace meshdb {

[[nodiscard]] bool IsValidUtf8(std::string_view text);

// `text` with every invalid sequence replaced by U+FFFD, one per byte that cannot start or
// continue a sequence. Valid text comes back unchanged.
[[nodiscard]] std::string ToValidUtf8(std::string_view text);

// The path ("name", "tags[2]", "address.city", or "" for `value` itself) of the first string
// in `value`, or object key, that is not valid UTF-8; nullopt when there is none.
[[nodiscard]] std::optional<std::string> FindInvalidUtf8(const boost::json::value& value);
[[nodiscard]] std::optional<std::string> FindInvalidUtf8(const boost::json::object& object);

}  // namespace meshdb
