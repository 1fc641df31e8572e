// A scripted ops::Operations for net tests: records requests, answers with `next_result`
// at once, or holds the completion when `hold` is set (CompleteHeld() answers later).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ops/operations.h"

namespace meshdb::net {

class FakeOperations : public ops::Operations {
 public:
  void Execute(ops::OpRequest request, Done done) override {
    requests.push_back(std::move(request));
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    done(next_result);
  }
  void CompleteHeld() {
    auto pending = std::move(held);
    held.clear();
    for (auto& done : pending) done(next_result);
  }

  std::vector<ops::OpRequest> requests;
  ops::OpResult next_result{Status::Ok(), boost::json::object{{"message", "ok"}}, false};
  bool hold = false;
  std::vector<Done> held;
};

}  // namespace meshdb::net
