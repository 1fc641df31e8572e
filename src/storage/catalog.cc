#include "storage/catalog.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstring>

#include "storage/lmdb_write.h"
#include "storage/record_codec.h"
#include "storage/table_def_json.h"

namespace meshdb::storage {

namespace json = boost::json;

void TableState::RebuildPositions() {
  attr_pos.clear();
  for (size_t i = 0; i < def.attributes.size(); ++i) attr_pos.emplace(def.attributes[i].name, i);
  index_keys.AssignIds(def);
}

std::shared_ptr<TableState> TableState::Clone() const {
  auto t = std::make_shared<TableState>();
  t->def = def;
  t->records_dbi = records_dbi;
  t->index_dbi = index_dbi;
  t->staged_index_dbi = staged_index_dbi;
  t->attr_pos = attr_pos;
  t->index_keys = index_keys;
  t->record_count.store(record_count.load());
  t->last_updated_ms.store(last_updated_ms.load());
  return t;
}

Status OpenTableSubDbs(MDB_txn* txn, const std::string& table, TableState* state) {
  int rc = LmdbDbiOpen(txn, RecordsDbName(table).c_str(), MDB_CREATE, &state->records_dbi);
  if (rc == 0) {
    rc = LmdbDbiOpen(txn, IndexDbName(table).c_str(), MDB_CREATE | MDB_DUPSORT, &state->index_dbi);
  }
  if (rc == 0) {
    rc = LmdbDbiOpen(txn, StagedIndexDbName(table).c_str(), MDB_CREATE | MDB_DUPSORT,
                     &state->staged_index_dbi);
  }
  return rc == 0 ? Status::Ok() : LmdbError("open the sub-databases of table " + table, rc);
}

Status PutTableDefinition(MDB_txn* txn, MDB_dbi meta_dbi, const TableState& table) {
  auto put = [&](const std::string& key, const std::string& value) -> Status {
    MDB_val k = ToVal(key), v = ToVal(value);
    int rc = LmdbPut(txn, meta_dbi, &k, &v, 0);
    return rc == 0 ? Status::Ok() : LmdbError("put table definition", rc);
  };
  RETURN_IF_ERROR(put(MetaTableKey(table.def.name), TableDefToJson(table.def)));
  if (!table.index_keys.compact()) return Status::Ok();
  return put(MetaIndexKeysKey(table.def.name), table.index_keys.Serialize());
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
