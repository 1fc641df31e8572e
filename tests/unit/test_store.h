// Opens the Store a unit test works on: in a directory of the test's own, not durable (tests
// never need the fsync), with a small map.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "storage/store.h"

namespace meshdb::testing {

// Opens a Store in `database_dir` (created if missing), not durable, with a map of
// `map_size_bytes`, as node `local_node_id` (the origin of its writes), into `*store`. Adds a
// fatal failure if it cannot be opened.
inline void OpenTestStore(const std::string& database_dir, uint64_t map_size_bytes,
                          std::unique_ptr<storage::Store>* store, uint32_t local_node_id = 1) {
  storage::StoreOptions options;
  options.database_dir = database_dir;
  options.durable = false;
  options.map_size_bytes = map_size_bytes;
  options.local_node_id = local_node_id;
  auto opened = storage::Store::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  *store = std::move(opened).value();
}

}  // namespace meshdb::testing
