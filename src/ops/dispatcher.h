// The dispatcher: parses the request body, authenticates the caller, finds the operation,
// checks the caller may run it, and calls its handler. See operations.h for the contract.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "ops/auth.h"
#include "ops/node_operations.h"
#include "ops/op_context.h"
#include "ops/op_metrics.h"
#include "ops/operations.h"

namespace meshdb::ops {

class Dispatcher final : public NodeOperations {
 public:
  // `env.store` and `env.config` must outlive the dispatcher; it owns `auth`.
  Dispatcher(OpEnv env, std::unique_ptr<Auth> auth);
  void Execute(OpRequest request, Done done) override;
  void RegisterOperation(std::string name, std::function<void(OpCall)> handler,
                         const char* super_user_name) override;
  Auth* auth() override { return auth_.get(); }
  void ExecuteFannedOut(boost::json::object body, Done done) override;

 private:
  struct AddedOperation {
    std::function<void(OpCall)> handler;
    const char* super_user_name = nullptr;
  };
  // Operations added by later layers; written before serving starts, then read-only.
  std::unordered_map<std::string, AddedOperation> added_;
  std::unique_ptr<Auth> auth_;
  OpEnv env_;  // Constant after construction; env_.auth points into auth_.
  // Every operation's metrics; written with added_, then read-only.
  OpMetrics metrics_;
};

}  // namespace meshdb::ops
