#include "storage/catalog.h"

#include <cstring>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "storage/record_codec.h"

namespace meshdb::storage {

namespace json = boost::json;

void TableState::RebuildPositions() {
  attr_pos.clear();
  for (size_t i = 0; i < def.attributes.size(); ++i) attr_pos.emplace(def.attributes[i].name, i);
}

std::shared_ptr<TableState> TableState::Clone() const {
  auto t = std::make_shared<TableState>();
  t->def = def;
  t->records_dbi = records_dbi;
  t->index_dbi = index_dbi;
  t->attr_pos = attr_pos;
  t->record_count.store(record_count.load());
  t->last_updated_ms.store(last_updated_ms.load());
  return t;
}

std::string MetaVectorKey(uint32_t origin) {
  std::string k(kMetaVectorPrefix);
  for (int shift = 24; shift >= 0; shift -= 8) k.push_back(static_cast<char>(origin >> shift));
  return k;
}

TableDef NormalizeTableDef(const TableDef& in) {
  TableDef def = in;
  def.attributes.clear();
  AttributeDef pk{in.primary_key, "", true};
  if (const AttributeDef* given = in.FindAttribute(in.primary_key)) pk = *given;
  def.attributes.push_back(pk);
  auto has = [&](const std::string& name) { return def.FindAttribute(name) != nullptr; };
  if (!def.schema_defined) {
    for (const char* ts : {"__createdtime__", "__updatedtime__"}) {
      if (const AttributeDef* given = in.FindAttribute(ts)) {
        def.attributes.push_back(*given);
      } else {
        def.attributes.push_back({ts, "", true});
      }
    }
  }
  for (const auto& a : in.attributes) {
    if (!has(a.name)) def.attributes.push_back(a);
  }
  return def;
}

std::string TableDefToJson(const TableDef& def) {
  json::object o;
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

Result<TableDef> TableDefFromJson(const std::string& database, std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return Status::Corruption("bad table definition");
  const auto& o = v.get_object();
  TableDef def;
  def.database = database;
  try {
    def.name = std::string(o.at("name").as_string());
    def.primary_key = std::string(o.at("primary_key").as_string());
    def.schema_defined = o.at("schema_defined").as_bool();
    def.replicate = o.at("replicate").as_bool();
    for (const auto& a : o.at("attributes").as_array()) {
      const auto& ao = a.as_object();
      def.attributes.push_back(AttributeDef{std::string(ao.at("name").as_string()),
                                            std::string(ao.at("type").as_string()),
                                            ao.at("indexed").as_bool()});
    }
  } catch (const std::exception&) {
    return Status::Corruption("bad table definition of '" + database + "'");
  }
  return def;
}

std::string EncodeTableStats(uint64_t count, double last_updated_ms) {
  std::string out;
  PutU64(&out, count);
  uint64_t bits;
  std::memcpy(&bits, &last_updated_ms, sizeof bits);
  PutU64(&out, bits);
  return out;
}

void DecodeTableStats(std::string_view bytes, uint64_t* count, double* last_updated_ms) {
  *count = 0;
  *last_updated_ms = 0;
  if (bytes.size() != 16) return;
  *count = GetU64(bytes.data());
  uint64_t bits = GetU64(bytes.data() + 8);
  std::memcpy(last_updated_ms, &bits, sizeof bits);
}

std::string TableNotFound(const std::string& database, const std::string& table) {
  return "Table '" + database + "." + table + "' does not exist";
}
std::string DatabaseNotFound(const std::string& database) {
  return "database '" + database + "' does not exist";
}

}  // namespace meshdb::storage
