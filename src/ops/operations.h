// The operations API, independent of HTTP: a request body in, a result out.
//
// net/ hands every POST to Operations::Execute and maps the OpResult's Status to an HTTP
// status (the one place that mapping lives: net/http_status.h). Error bodies are
// {"error": status.message()} with `body`'s fields (an object) merged in, e.g. the
// `unauthorized_access` list of a 403.
//
// Thread-safety: Execute may be called from any thread, concurrently.
#pragma once

#include <boost/json/value.hpp>
#include <functional>
#include <string>

#include "common/status.h"

namespace meshdb::ops {

struct OpRequest {
  std::string body;            // raw request body (JSON)
  std::string authorization;   // the Authorization header, "" when absent
  std::string remote_address;  // peer IP, for authentication.authorizeLocal
};

struct OpResult {
  Status status;                     // OK, or the error to report
  boost::json::value body;           // OK: the response. Error: extra fields (object) or null
  bool restart_after_reply = false;  // `restart`: reply (Connection: close), then restart
};

class Operations {
 public:
  using Done = std::function<void(OpResult)>;
  virtual ~Operations() = default;
  // Runs the operation named in the body. `done` is called exactly once, possibly before
  // Execute returns, possibly on the storage writer thread: it must only post work.
  virtual void Execute(OpRequest request, Done done) = 0;
};

}  // namespace meshdb::ops
