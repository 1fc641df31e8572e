// Runs one operation handler in an ops unit test and waits for its answer.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <future>
#include <memory>
#include <utility>

#include "ops/op_context.h"

namespace meshdb::ops::testing {

// Calls `handler` with `body` from `caller` in `env`, and waits for the result it answers
// with (from whichever thread answers). `env` must outlive the call.
inline OpResult CallOp(const std::function<void(OpCall)>& handler, const OpEnv* env, Caller caller,
                       boost::json::object body) {
  auto promise = std::make_shared<std::promise<OpResult>>();
  std::future<OpResult> future = promise->get_future();
  handler(OpCall{env, std::move(caller), std::move(body),
                 [promise](OpResult r) { promise->set_value(std::move(r)); }});
  return future.get();
}

}  // namespace meshdb::ops::testing
