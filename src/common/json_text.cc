#include "common/json_text.h"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>

namespace meshdb {

namespace json = boost::json;

namespace {

// Number::prototype.toString: the shortest round-tripping digits, in plain notation for
// 1e-6 <= |d| < 1e21 and in exponent notation ("1e+21", "1.5e-7") outside it.
void AppendDouble(double d, std::string& out) {
  if (!std::isfinite(d)) {  // JSON.stringify writes NaN and Infinity as null
    out += "null";
    return;
  }
  if (d == 0) {
    out += '0';
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view text(buf, static_cast<size_t>(end - buf));
  size_t e = text.find('e');
  std::string_view mantissa = text.substr(0, e);
  int exponent = std::stoi(std::string(text.substr(e + 1)));
  if (mantissa[0] == '-') {
    out += '-';
    mantissa.remove_prefix(1);
  }
  std::string digits;  // the significant digits without the point
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  const int n = static_cast<int>(digits.size());
  if (exponent >= 21 || exponent < -6) {
    out += digits[0];
    if (n > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += exponent > 0 ? "e+" : "e";
    out += std::to_string(exponent);
  } else if (exponent >= n - 1) {  // an integer: digits then zeros
    out += digits;
    out.append(static_cast<size_t>(exponent - (n - 1)), '0');
  } else if (exponent >= 0) {  // point inside the digits
    out.append(digits, 0, static_cast<size_t>(exponent + 1));
    out += '.';
    out.append(digits, static_cast<size_t>(exponent + 1));
  } else {  // 0.000ddd
    out += "0.";
    out.append(static_cast<size_t>(-exponent - 1), '0');
    out += digits;
  }
}

void AppendString(json::string_view s, std::string& out) {
  // serialize() of a string gives the escaped, quoted form.
  out += json::serialize(json::value(s));
}

}  // namespace

void AppendJsonText(const json::value& value, std::string& out) {
  switch (value.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      out += std::to_string(value.get_int64());
      return;
    case json::kind::uint64:
      out += std::to_string(value.get_uint64());
      return;
    case json::kind::double_:
      AppendDouble(value.get_double(), out);
      return;
    case json::kind::string:
      AppendString(value.get_string(), out);
      return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) out += ',';
        first = false;
        AppendJsonText(item, out);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.get_object()) {
        if (!first) out += ',';
        first = false;
        AppendString(key, out);
        out += ':';
        AppendJsonText(item, out);
      }
      out += '}';
      return;
    }
  }
}

namespace {

bool FindNonFinite(const json::value& value, std::string& path) {
  switch (value.kind()) {
    case json::kind::double_:
      return !std::isfinite(value.get_double());
    case json::kind::array: {
      const json::array& items = value.get_array();
      for (size_t i = 0; i < items.size(); ++i) {
        const size_t length = path.size();
        path += '[' + std::to_string(i) + ']';
        if (FindNonFinite(items[i], path)) return true;
        path.resize(length);
      }
      return false;
    }
    case json::kind::object:
      for (const auto& [key, item] : value.get_object()) {
        const size_t length = path.size();
        if (!path.empty()) path += '.';
        path.append(key.data(), key.size());
        if (FindNonFinite(item, path)) return true;
        path.resize(length);
      }
      return false;
    default:
      return false;
  }
}

}  // namespace

std::optional<std::string> FindNonFiniteNumber(const json::value& value) {
  std::string path;
  if (FindNonFinite(value, path)) return path;
  return std::nullopt;
}

std::string ToJsonText(const json::value& value) {
  std::string out;
  AppendJsonText(value, out);
  return out;
}

}  // namespace meshdb
