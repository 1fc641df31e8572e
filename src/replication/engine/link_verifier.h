// cluster_verify on one link (docs/protocol.md, VerifyRequest/VerifyResponse): answers the
// peer's requests with this node's table hashes and matches the peer's answers to ours.
// Owned by a Link and used on its strand only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "replication/wire/message.h"

namespace meshdb::storage {
class Store;
}

namespace meshdb::replication {

class LinkVerifier {
 public:
  using Done = std::function<void(VerifyResponse)>;

  LinkVerifier(storage::Store* store, std::string database)
      : store_(store), database_(std::move(database)) {}

  // From the peer's Hello: it announced "verify".
  void set_peer_verifies(bool v) { peer_verifies_ = v; }

  // Our request `id`: the frame to send, or nullopt when `done` was already answered with an
  // error (the peer lacks "verify", or the link is not open).
  std::optional<VerifyRequest> Request(uint64_t id, std::string table, Done done, bool open);
  // The peer's request: per-table hashes of our store (`table` "" = every table that leaves
  // this node).
  VerifyResponse Answer(const VerifyRequest& r) const;
  // The peer's answer: runs its request's `done` (late answers after a timeout are dropped).
  void OnResponse(VerifyResponse&& r);
  // The link closes: every pending `done` gets `why`.
  void FailPending(const std::string& why);

 private:
  storage::Store* const store_;
  const std::string database_;
  bool peer_verifies_ = false;
  std::map<uint64_t, Done> pending_;
};

}  // namespace meshdb::replication
