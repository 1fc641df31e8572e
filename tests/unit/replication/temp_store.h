// A test fixture holding a Store in a temporary directory, opened before each test and closed
// (then its directory removed) after it. Shared by the engine's unit tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "storage/store.h"
#include "temp_dir.h"
#include "test_store.h"

namespace meshdb::replication {

class TempStore : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(meshdb::testing::OpenTestStore(dir_.path(), 64ull << 20, &store_));
  }
  void TearDown() override { store_.reset(); }

  meshdb::testing::TempDir dir_{"meshdb-engine-test"};  // outlives store_
  std::unique_ptr<storage::Store> store_;
};

}  // namespace meshdb::replication
