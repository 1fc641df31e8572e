#include "sql/values.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "common/utf8.h"

namespace meshdb::sql {

namespace json = boost::json;

void SetResult(sqlite3_context* ctx, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      sqlite3_result_null(ctx);
      return;
    case json::kind::bool_:
      sqlite3_result_int(ctx, value.get_bool() ? 1 : 0);
      sqlite3_result_subtype(ctx, kBooleanSubtype);
      return;
    case json::kind::int64:
      sqlite3_result_int64(ctx, value.get_int64());
      return;
    case json::kind::uint64:
      if (value.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        sqlite3_result_int64(ctx, static_cast<int64_t>(value.get_uint64()));
      } else {
        sqlite3_result_double(ctx, static_cast<double>(value.get_uint64()));
      }
      return;
    case json::kind::double_:
      sqlite3_result_double(ctx, value.get_double());
      return;
    case json::kind::string: {
      const json::string& s = value.get_string();
      sqlite3_result_text64(ctx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      return;
    }
    case json::kind::array:
    case json::kind::object: {
      std::string text = json::serialize(value);
      sqlite3_result_text64(ctx, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      sqlite3_result_subtype(ctx, kJsonSubtype);
      return;
    }
  }
}

json::value ToJson(sqlite3_value* value) {
  switch (sqlite3_value_type(value)) {
    case SQLITE_NULL:
      return nullptr;
    case SQLITE_INTEGER: {
      const sqlite3_int64 n = sqlite3_value_int64(value);
      if (sqlite3_value_subtype(value) == kBooleanSubtype && (n == 0 || n == 1)) {
        return json::value(n == 1);
      }
      return json::value(static_cast<int64_t>(n));
    }
    case SQLITE_FLOAT: {
      const double d = sqlite3_value_double(value);
      if (!std::isfinite(d)) return nullptr;  // JSON cannot carry it
      return json::value(d);
    }
    default: {  // TEXT or BLOB
      const auto* data = static_cast<const char*>(sqlite3_value_type(value) == SQLITE_BLOB
                                                      ? sqlite3_value_blob(value)
                                                      : sqlite3_value_text(value));
      std::string_view text(data == nullptr ? "" : data,
                            static_cast<size_t>(sqlite3_value_bytes(value)));
      if (sqlite3_value_subtype(value) == kJsonSubtype) {
        boost::system::error_code ec;
        json::value parsed = json::parse(text, ec);
        if (!ec) return parsed;
      }
      return json::value(json::string(text));
    }
  }
}

json::value ToResultJson(sqlite3_value* value) {
  json::value out = ToJson(value);
  if (out.is_string() && !IsValidUtf8(out.get_string())) {
    out = json::string(ToValidUtf8(out.get_string()));
  }
  return out;
}

bool IsKeyValue(const json::value& value) {
  if (value.is_string() || value.is_int64() || value.is_uint64()) return true;
  return value.is_double() && std::isfinite(value.get_double());
}

}  // namespace meshdb::sql
