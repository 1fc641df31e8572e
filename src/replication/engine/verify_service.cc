// ServiceImpl::VerifyPeers: fans a VerifyRequest out to every live link of a database and
// gathers the answers for cluster_verify (verify_ops.h).
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <mutex>

#include "common/thread_annotations.h"
#include "replication/engine/service_impl.h"

namespace meshdb::replication {

namespace {

constexpr std::chrono::seconds kVerifyTimeout{10};

struct VerifyGather {
  common::Mutex mu;
  size_t remaining GUARDED_BY(mu) = 0;
  bool fired GUARDED_BY(mu) = false;
  std::vector<PeerVerifyResult> results GUARDED_BY(mu);
  std::vector<std::string> waiting GUARDED_BY(mu);  // peers not answered yet
  std::function<void(std::vector<PeerVerifyResult>)> done;
  std::unique_ptr<asio::steady_timer> timer;

  // Calls done once (outside the lock).
  void Fire(bool timed_out) {
    std::vector<PeerVerifyResult> out;
    {
      common::MutexLock lock(mu);
      if (fired) return;
      fired = true;
      if (timed_out) {
        for (const auto& peer : waiting) {
          results.push_back(PeerVerifyResult{peer, "timed out", false, {}});
        }
      }
      out = std::move(results);
    }
    if (timer) timer->cancel();
    done(std::move(out));
  }
};

}  // namespace

void ServiceImpl::VerifyPeers(const std::string& database, const std::string& table,
                              std::function<void(std::vector<PeerVerifyResult>)> done) {
  std::vector<std::shared_ptr<Link>> links;
  std::vector<PeerVerifyResult> unreachable;
  {
    common::MutexLock lock(mu_);
    for (const auto& [key, link] : links_) {
      if (key.second == database) links.push_back(link);
    }
    for (const auto& peer : peers_) {
      const std::string& name = peer->spec.name;
      if (!peer->listed || peer->removed || membership_removed_.contains(name)) continue;
      if (!name.empty() && links_.contains({name, database})) continue;  // asked below
      unreachable.push_back(
          PeerVerifyResult{name.empty() ? peer->spec.url : name,
                           "unreachable: no live replication link for database " + database,
                           true,
                           {}});
    }
  }
  auto gather = std::make_shared<VerifyGather>();
  gather->done = std::move(done);
  {
    common::MutexLock lock(gather->mu);  // not shared yet; the lock is for the analysis
    gather->results = std::move(unreachable);
    gather->remaining = links.size();
    for (const auto& link : links) gather->waiting.push_back(link->peer_name());
  }
  if (links.empty() || stopping()) {
    asio::post(ioc_, [gather] { gather->Fire(false); });
    return;
  }
  gather->timer = std::make_unique<asio::steady_timer>(ioc_, kVerifyTimeout);
  gather->timer->async_wait([gather](boost::system::error_code ec) {
    if (!ec) gather->Fire(true);
  });
  for (const auto& link : links) {
    const uint64_t id = next_verify_id_.fetch_add(1);
    link->RequestVerify(id, table, [gather, peer = link->peer_name()](VerifyResponse r) {
      bool all = false;
      {
        common::MutexLock lock(gather->mu);
        if (gather->fired) return;
        PeerVerifyResult result{peer, std::move(r.error), false, {}};
        for (auto& t : r.tables) {
          result.tables.push_back(PeerTableHash{std::move(t.table), t.hash, t.record_count});
        }
        gather->results.push_back(std::move(result));
        std::erase(gather->waiting, peer);
        all = --gather->remaining == 0;
      }
      if (all) gather->Fire(false);
    });
  }
}

}  // namespace meshdb::replication
