// Peer calls on one link (docs/protocol.md, PeerCall/PeerCallResult): matches the peer's
// answers to this node's calls. Answering the peer's calls is the service's on_peer_call.
// Owned by a Link and used on its strand only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "replication/wire/message.h"

namespace meshdb::replication {

class LinkCalls {
 public:
  using Done = std::function<void(PeerCallResult)>;

  // From the peer's Hello: it announced "call".
  void set_peer_answers(bool v) { peer_answers_ = v; }

  // Our call `id`: the frame to send, or nullopt when `done` was already answered with an
  // error (the peer lacks "call", or the link is not open).
  std::optional<PeerCall> Request(uint64_t id, std::string method, std::string payload, Done done,
                                  bool open);
  // The peer's answer: runs its call's `done` (late answers after a timeout are dropped).
  void OnResult(PeerCallResult&& r);
  // The link closes: every pending `done` gets `why`.
  void FailPending(const std::string& why);

 private:
  bool peer_answers_ = false;
  std::map<uint64_t, Done> pending_;
};

}  // namespace meshdb::replication
