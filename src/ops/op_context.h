// What an operation handler gets: the node's services, the authenticated caller, the request
// body, and the completion to call exactly once.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <string>
#include <utility>

#include "common/status.h"
#include "ops/operations.h"

namespace meshdb::config {
class Config;
}
namespace meshdb::storage {
class Store;
}

namespace meshdb::ops {

class Auth;

// The authenticated user making a request.
struct Caller {
  std::string username;
  bool super_user = false;
  bool cluster_user = false;
  // The role row: {role, id, permission:{...}, __createdtime__, __updatedtime__}.
  boost::json::object role;
  // role["permission"] as an object (empty when absent).
  [[nodiscard]] const boost::json::object& permission() const;
};

// Node services shared by every handler. Constant after construction; pointees outlive it.
struct OpEnv {
  storage::Store* store = nullptr;
  const config::Config* config = nullptr;
  Auth* auth = nullptr;
  // See OpsDeps::on_certificates_changed.
  std::function<void()> on_certificates_changed;
  // See OpsDeps::fan_out.
  std::function<void(boost::json::object request, std::function<void(boost::json::array)> done)>
      fan_out;
};

// One invocation of an operation handler.
struct OpCall {
  const OpEnv* env = nullptr;
  Caller caller;
  boost::json::object body;  // the request, owned by the call
  Operations::Done done;     // call exactly once (through Reply or Fail)

  void Reply(boost::json::value response) const {
    done(OpResult{Status::Ok(), std::move(response), false});
  }
  // `extra` (an object or null) is merged into the error body by net/.
  void Fail(Status status, boost::json::value extra = nullptr) const {
    done(OpResult{std::move(status), std::move(extra), false});
  }
  void ReplyMessage(const std::string& message) const;  // {"message": message}
};

using Handler = void (*)(OpCall call);

}  // namespace meshdb::ops
