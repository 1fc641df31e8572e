#include "ops/record_support.h"

#include <cmath>

#include "ops/typed_values.h"

namespace meshdb::ops {

namespace json = boost::json;

Result<std::string> TableField(const json::object& body) {
  auto it = body.find("table");
  if (it == body.end() || it->value().is_null()) {
    return Status::InvalidArgument("'table' is required");
  }
  const json::value& v = it->value();
  if (v.is_int64() || v.is_uint64() || v.is_double()) return JsStringify(v);
  if (!v.is_string()) return Status::InvalidArgument("'table' must be a string");
  if (v.get_string().empty()) return Status::InvalidArgument("'table' is not allowed to be empty");
  return std::string(v.get_string());
}

Status NotFoundAsInvalid(Status status) {
  if (!status.IsNotFound()) return status;
  return Status::InvalidArgument(status.message());
}

Result<storage::TableDef> LookupTable(const storage::Store& store, const std::string& database,
                                      const std::string& table, bool missing_is_invalid) {
  Result<storage::TableDef> def = store.GetTable(database, table);
  if (!def.ok() && missing_is_invalid) return NotFoundAsInvalid(def.status());
  return def;
}

Status CheckKeyType(const json::value& key, const std::string& what) {
  if (key.is_string()) return Status::Ok();
  if (key.is_int64() || key.is_uint64()) return Status::Ok();
  if (key.is_double() && std::isfinite(key.get_double())) return Status::Ok();
  return Status::InvalidArgument(what + " must be a string or a number");
}

Result<Projection> GetAttributesField(const json::object& body, bool required) {
  Projection p;
  auto it = body.find("get_attributes");
  if (it == body.end() || it->value().is_null()) {
    if (required) return Status::InvalidArgument("'get_attributes' is required");
    return p;
  }
  if (!it->value().is_array()) return Status::InvalidArgument("'get_attributes' must be an array");
  p.raw = false;
  const json::array& list = it->value().get_array();
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) {
      return Status::InvalidArgument("'get_attributes[" + std::to_string(i) +
                                     "]' must be a string");
    }
    std::string name(list[i].get_string());
    if (name == "*") p.all = true;
    p.attributes.push_back(std::move(name));
  }
  return p;
}

json::object Project(const Projection& projection, const storage::TableDef& def,
                     const json::object& doc) {
  if (projection.raw) return doc;
  json::object out;
  auto put = [&](const std::string& name) {
    const json::value* v = doc.if_contains(name);
    out[name] = v != nullptr ? *v : json::value(nullptr);
  };
  if (projection.all) {
    out.reserve(def.attributes.size());
    for (const storage::AttributeDef& a : def.attributes) put(a.name);
    for (const auto& [name, v] : doc) {
      if (!out.contains(name)) out[name] = v;
    }
    return out;
  }
  for (const std::string& name : projection.attributes) put(name);
  return out;
}

namespace {

// Reads an optional non-negative integer field into *out (left alone when absent).
Status NonNegative(const json::object& body, const char* name, std::optional<size_t>* out) {
  auto it = body.find(name);
  if (it == body.end() || it->value().is_null()) return Status::Ok();
  const json::value& v = it->value();
  double d = 0;
  if (v.is_int64()) {
    d = static_cast<double>(v.get_int64());
  } else if (v.is_uint64()) {
    d = static_cast<double>(v.get_uint64());
  } else if (v.is_double()) {
    d = std::floor(v.get_double());
  } else {
    return Status::InvalidArgument("'" + std::string(name) + "' must be a number");
  }
  if (d < 0) {
    return Status::InvalidArgument("'" + std::string(name) +
                                   "' must be greater than or equal to 0");
  }
  *out = static_cast<size_t>(d);
  return Status::Ok();
}

}  // namespace

Result<Paging> PagingFields(const json::object& body) {
  Paging paging;
  std::optional<size_t> offset;
  RETURN_IF_ERROR(NonNegative(body, "limit", &paging.limit));
  RETURN_IF_ERROR(NonNegative(body, "offset", &offset));
  paging.offset = offset.value_or(0);
  return paging;
}

void ApplyPaging(const Paging& paging, std::vector<json::object>* records) {
  if (paging.offset >= records->size()) {
    records->clear();
    return;
  }
  records->erase(records->begin(), records->begin() + static_cast<ptrdiff_t>(paging.offset));
  if (paging.limit && records->size() > *paging.limit) records->resize(*paging.limit);
}

}  // namespace meshdb::ops
