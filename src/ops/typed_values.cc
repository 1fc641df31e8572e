#include "ops/typed_values.h"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <vector>

#include "ops/fields.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr double kMaxSafeInteger = 9007199254740992.0;  // 2^53, as HarperDB's Long bound

bool IsNumber(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

double AsDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

bool IsIntegerWithin(const json::value& v, double bound_low, double bound_high) {
  if (!IsNumber(v)) return false;
  double d = AsDouble(v);
  return std::isfinite(d) && std::floor(d) == d && d >= bound_low && d <= bound_high;
}

// The failure text for `value` in `name` of type `type`, or "" when it fits.
std::string CheckOne(const std::string& name, const std::string& type, const json::value& value) {
  auto fail = [&](const char* what) {
    return "Value " + JsStringify(value) + " in property " + name + " must be " + what;
  };
  if (type == "Int") {
    if (!IsIntegerWithin(value, -2147483648.0, 2147483647.0)) {
      return fail("an integer (from -2147483648 to 2147483647)");
    }
  } else if (type == "Long") {
    if (!IsIntegerWithin(value, -kMaxSafeInteger, kMaxSafeInteger)) {
      return fail("an integer (from -9007199254740992 to 9007199254740992)");
    }
  } else if (type == "Float" || type == "Number") {
    if (!IsNumber(value)) return fail("a number");
  } else if (type == "String") {
    if (!value.is_string()) return fail("a string");
  } else if (type == "Boolean") {
    if (!value.is_bool()) return fail("a boolean");
  } else if (type == "ID") {
    if (!value.is_string() && !IsIntegerWithin(value, -kMaxSafeInteger, kMaxSafeInteger)) {
      return fail("a string, or an integer");
    }
  }
  return "";
}

}  // namespace

std::string JsStringify(const json::value& value) {
  if (value.is_double()) {
    double d = value.get_double();
    if (!std::isfinite(d)) return "null";
    if (std::floor(d) == d && std::fabs(d) < 1e21) {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed, 0);
      return std::string(buf, r.ptr);
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, r.ptr);
  }
  return json::serialize(value);
}

Status CheckRecordTypes(const storage::TableDef& def, const json::object& record) {
  std::vector<std::string> failures;
  for (const storage::AttributeDef& attr : def.attributes) {
    if (attr.type.empty() || attr.type == "Any") continue;
    const json::value* v = record.if_contains(attr.name);
    if (v == nullptr || v->is_null()) continue;
    std::string failure = CheckOne(attr.name, attr.type, *v);
    if (!failure.empty()) failures.push_back(std::move(failure));
  }
  return JoinValidation(failures);
}

}  // namespace meshdb::ops
