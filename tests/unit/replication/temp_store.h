// A test fixture holding a Store in a temporary directory, opened before each test and closed
// (then its directory removed) after it. Shared by the engine's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "storage/store.h"
#include "temp_dir.h"

namespace meshdb::replication {

class TempStore : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StoreOptions options;
    options.database_dir = dir_.path();
    options.durable = false;
    options.map_size_bytes = 64ull << 20;
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override { store_.reset(); }

  meshdb::testing::TempDir dir_{"meshdb-engine-test"};  // outlives store_
  std::unique_ptr<storage::Store> store_;
};

}  // namespace meshdb::replication
