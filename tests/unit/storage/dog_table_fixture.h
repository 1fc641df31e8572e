// A fixture for the index tests: one LMDB environment in a temporary directory holding the
// table "dog" (records "r:dog", index "x:dog" and its staged level "xs:dog"), primary key `id`,
// attributes id, name, tags and age indexed and note not.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "raw_lmdb.h"
#include "storage/catalog.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "temp_dir.h"

namespace meshdb::storage::testing {

// The encoded primary key of record `id`.
inline std::string Key(int id) { return EncodeKey(boost::json::value(id)).value(); }

class DogTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        CreateTestEnv(dir_.path() + "/t.mdb", 64ull << 20,
                      {{"r:dog", MDB_CREATE, &table_.records_dbi},
                       {"x:dog", MDB_CREATE | MDB_DUPSORT, &table_.index_dbi},
                       {"xs:dog", MDB_CREATE | MDB_DUPSORT, &table_.staged_index_dbi}},
                      &env_));
    table_.def.primary_key = "id";
    for (const char* attr : {"id", "name", "tags", "age"}) {
      table_.def.attributes.push_back(AttributeDef{attr, "", true});
    }
    table_.def.attributes.push_back(AttributeDef{"note", "", false});
    table_.RebuildPositions();
  }

  meshdb::testing::TempDir dir_;
  LmdbEnv env_;
  TableState table_;
};

}  // namespace meshdb::storage::testing
