// ServiceImpl::CallPeer: a PeerCall to one member over a live link, with a deadline.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>

#include "common/thread_annotations.h"
#include "replication/engine/service_impl.h"

namespace meshdb::replication {

namespace {

// The caller's `done`, run once: by the answer or by the deadline, whichever comes first.
struct PendingCall {
  common::Mutex mu;
  bool fired GUARDED_BY(mu) = false;
  std::function<void(Result<std::string>)> done;
  std::unique_ptr<asio::steady_timer> timer;

  void Fire(Result<std::string> result) {
    {
      common::MutexLock lock(mu);
      if (fired) return;
      fired = true;
    }
    if (timer) timer->cancel();
    done(std::move(result));
  }
};

}  // namespace

void ServiceImpl::CallPeer(const std::string& name, std::string method, std::string payload,
                           std::chrono::milliseconds timeout,
                           std::function<void(Result<std::string>)> done) {
  std::shared_ptr<Link> link;
  {
    common::MutexLock lock(mu_);
    for (const auto& [key, candidate] : links_) {
      if (key.first != name) continue;
      // The system database's link is up whenever the peer is linked at all.
      if (!link || key.second == "system") link = candidate;
    }
  }
  auto pending = std::make_shared<PendingCall>();
  pending->done = std::move(done);
  if (!link || stopping()) {
    asio::post(ioc_, [pending, name] {
      pending->Fire(Status::Unavailable("no live replication link to '" + name + "'"));
    });
    return;
  }
  pending->timer = std::make_unique<asio::steady_timer>(ioc_, timeout);
  pending->timer->async_wait([pending, name](boost::system::error_code ec) {
    if (!ec) pending->Fire(Status::Unavailable("'" + name + "' did not answer in time"));
  });
  link->RequestCall(next_call_id_.fetch_add(1), std::move(method), std::move(payload),
                    [pending, name](PeerCallResult r) {
                      if (r.error.empty()) {
                        pending->Fire(std::move(r.payload));
                      } else {
                        pending->Fire(Status::PermissionDenied("'" + name + "': " + r.error));
                      }
                    });
}

}  // namespace meshdb::replication
