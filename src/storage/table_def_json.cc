#include "storage/table_def_json.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <utility>

namespace meshdb::storage {
namespace {

namespace json = boost::json;

Status Bad(const std::string& field, const char* problem) {
  return Status::Corruption("table definition: \"" + field + "\" " + problem);
}

// Optional string field; absent leaves *out unchanged.
Status GetString(const json::object& o, const char* field, bool required, std::string* out) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr) return required ? Bad(field, "is missing") : Status::Ok();
  if (!v->is_string()) return Bad(field, "is not a string");
  *out = std::string(v->get_string());
  return Status::Ok();
}

Status GetBool(const json::object& o, const char* field, bool* out) {
  const json::value* v = o.if_contains(field);
  if (v == nullptr) return Status::Ok();
  if (!v->is_bool()) return Bad(field, "is not a boolean");
  *out = v->get_bool();
  return Status::Ok();
}

}  // namespace

std::string TableDefToJson(const TableDef& def, bool with_database) {
  json::object o;
  if (with_database) o["database"] = def.database;
  o["name"] = def.name;
  o["primary_key"] = def.primary_key;
  o["schema_defined"] = def.schema_defined;
  o["replicate"] = def.replicate;
  json::array attrs;
  for (const auto& a : def.attributes) {
    attrs.push_back(json::object{{"name", a.name}, {"type", a.type}, {"indexed", a.indexed}});
  }
  o["attributes"] = std::move(attrs);
  return json::serialize(o);
}

Result<TableDef> TableDefFromJson(std::string_view text, std::string_view default_database) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Status::Corruption("table definition is not JSON: " + ec.message());
  if (!v.is_object()) return Status::Corruption("table definition is not a JSON object");
  const json::object& o = v.get_object();

  TableDef def;
  def.database = std::string(default_database);
  RETURN_IF_ERROR(GetString(o, "database", false, &def.database));
  RETURN_IF_ERROR(GetString(o, "name", true, &def.name));
  if (def.name.empty()) return Bad("name", "is empty");
  RETURN_IF_ERROR(GetString(o, "primary_key", true, &def.primary_key));
  RETURN_IF_ERROR(GetBool(o, "schema_defined", &def.schema_defined));
  RETURN_IF_ERROR(GetBool(o, "replicate", &def.replicate));
  if (const json::value* attrs = o.if_contains("attributes")) {
    if (!attrs->is_array()) return Bad("attributes", "is not an array");
    for (const json::value& a : attrs->get_array()) {
      if (!a.is_object()) return Bad("attributes", "holds a non-object");
      const json::object& ao = a.get_object();
      AttributeDef attr;
      RETURN_IF_ERROR(GetString(ao, "name", true, &attr.name));
      RETURN_IF_ERROR(GetString(ao, "type", false, &attr.type));
      RETURN_IF_ERROR(GetBool(ao, "indexed", &attr.indexed));
      def.attributes.push_back(std::move(attr));
    }
  }
  return def;
}

}  // namespace meshdb::storage
