#include "replication/wire/table_def_json.h"

#include "storage/table_def_json.h"

namespace meshdb::replication {

std::string TableDefToJson(const storage::TableDef& def) {
  return storage::TableDefToJson(def, /*with_database=*/true);
}

Result<storage::TableDef> TableDefFromJson(std::string_view json) {
  return storage::TableDefFromJson(json);
}

}  // namespace meshdb::replication
