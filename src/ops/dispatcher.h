// The dispatcher: parses the request body, authenticates the caller, finds the operation,
// checks the caller may run it, and calls its handler. See operations.h for the contract.
#pragma once

#include <memory>

#include "ops/auth.h"
#include "ops/op_context.h"
#include "ops/operations.h"

namespace meshdb::ops {

class Dispatcher final : public Operations {
 public:
  // `env.store` and `env.config` must outlive the dispatcher; it owns `auth`.
  Dispatcher(OpEnv env, std::unique_ptr<Auth> auth);
  void Execute(OpRequest request, Done done) override;

 private:
  std::unique_ptr<Auth> auth_;
  OpEnv env_;  // Constant after construction; env_.auth points into auth_.
};

}  // namespace meshdb::ops
