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
// ParseJson is thread-safe (a pure function); a JsonParser is used by one thread at a time.
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string_view>

namespace meshdb {

// Boost.JSON's default nesting limit, which ParseJson applies.
inline constexpr size_t kMaxJsonDepth = 32;

// What ParseJson tells besides the value.
struct ParseJsonInfo {
  size_t consumed = 0;      // on failure: the offset where parsing stopped
  bool non_finite = false;  // some number became +-infinity (a double cannot hold it)
};

// Parses exactly one JSON document (surrounding whitespace allowed). On failure returns
// null and sets `ec`. `info` (may be null) receives ParseJsonInfo.
boost::json::value ParseJson(std::string_view text, boost::system::error_code& ec,
                             ParseJsonInfo* info = nullptr);

// ParseJson for many documents in turn: keeps the parser and its working stack from one
// document to the next (ParseJson allocates both afresh every time), and builds each value
// in the memory resource given (e.g. one monotonic_resource for a batch of documents, freed
// at once). Not thread-safe: one thread at a time.
class JsonParser {
 public:
  JsonParser();
  ~JsonParser();
  JsonParser(const JsonParser&) = delete;
  JsonParser& operator=(const JsonParser&) = delete;

  // As ParseJson; the value (and everything in it) uses `sp`.
  boost::json::value Parse(std::string_view text, boost::system::error_code& ec,
                           ParseJsonInfo* info = nullptr, boost::json::storage_ptr sp = {});

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshdb
