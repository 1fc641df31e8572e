// A fixture for ops unit tests that run handlers over a real Store.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "call_op.h"
#include "ops/op_context.h"
#include "storage/store.h"
#include "temp_dir.h"
#include "test_store.h"

namespace meshdb::ops::testing {

// A Store in `<dir_>/db` (dir_: a temporary directory of the test's own), an OpEnv holding
// only that store, and a super-user caller "admin". The store is closed after each test.
class OpsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty());
    ASSERT_NO_FATAL_FAILURE(meshdb::testing::OpenTestStore(dir_ + "/db", 64ull << 20, &store_));
    env_.store = store_.get();
    caller_.username = "admin";
    caller_.super_user = true;
  }
  void TearDown() override { store_.reset(); }

  // Runs `handler` on `body` (JSON text) as caller_ and waits for its result.
  OpResult Run(Handler handler, const std::string& body) {
    return CallOp(handler, &env_, caller_, boost::json::parse(body).as_object());
  }

  meshdb::testing::TempDir temp_{"meshdb-ops"};  // outlives store_
  const std::string dir_ = temp_.path();
  std::unique_ptr<storage::Store> store_;
  OpEnv env_;
  Caller caller_;
};

}  // namespace meshdb::ops::testing
