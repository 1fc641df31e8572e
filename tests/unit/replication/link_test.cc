// A Link driven over boost::beast::test::stream: the other end is a scripted peer writing
// and parsing raw WebSocket frames, so tests can refuse Hellos, cut a frame at every byte,
// stop reading, and fail a write (beast::test::fail_count) in the middle of a copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/_experimental/test/fail_count.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/hlc.h"
#include "common/metrics.h"
#include "replication/engine/link_stream.h"
#include "replication/engine/replication_metrics.h"
#include "replication/engine/service_impl.h"
#include "replication/wire/codec.h"
#include "replication/wire/message.h"
#include "replication/wire/table_def_json.h"
#include "storage/store.h"

namespace meshdb::replication {
namespace {

namespace test = beast::test;
using LinkWs = WsLinkStream<test::stream>;
constexpr char kDb[] = "dev";
constexpr char kTable[] = "items";

// One WebSocket frame (FIN set). `mask`: client -> server frames are masked (key 0).
std::string WsFrame(std::string_view payload, uint8_t opcode = 2, bool mask = false) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | opcode));
  const uint8_t m = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(m | payload.size()));
  } else if (payload.size() < 65536) {
    out.push_back(static_cast<char>(m | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xff));
  }
  if (mask) out.append(4, '\0');  // key 0: the payload is unchanged
  out.append(payload);
  return out;
}

// The scripted end of a connection: raw bytes on a test::stream after the WebSocket upgrade.
class Peer {
 public:
  Peer(test::stream& raw, bool is_client) : raw_(raw), is_client_(is_client) {}

  void SendBytes(std::string_view bytes) {
    beast::error_code ec;
    asio::write(raw_, asio::buffer(bytes.data(), bytes.size()), ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  void Send(const Message& m) { SendBytes(FrameOf(m)); }
  [[nodiscard]] std::string FrameOf(const Message& m) const {
    return WsFrame(EncodeFrame(m), 2, is_client_);
  }
  void Close() {
    if (raw_closed_) return;
    raw_closed_ = true;
    raw_.close();
  }

  // Every whole message the link wrote since the last call.
  std::vector<Message> Received() {
    Poll();
    std::vector<Message> out = std::move(inbox_);
    inbox_.clear();
    return out;
  }
  // Parses what the link wrote; answers its close frame (then drops the connection), as a
  // WebSocket peer does.
  void Poll() {
    if (raw_closed_) return;
    std::vector<Message>& out = inbox_;
    std::string_view in = raw_.str();
    std::string message;
    for (;;) {
      std::string_view rest = in.substr(consumed_);
      if (rest.size() < 2) break;
      const uint8_t b0 = static_cast<uint8_t>(rest[0]);
      const uint8_t b1 = static_cast<uint8_t>(rest[1]);
      size_t pos = 2;
      uint64_t len = b1 & 0x7f;
      if (len == 126 || len == 127) {
        const size_t n = len == 126 ? 2 : 8;
        if (rest.size() < pos + n) break;
        len = 0;
        for (size_t i = 0; i < n; ++i) len = (len << 8) | static_cast<uint8_t>(rest[pos + i]);
        pos += n;
      }
      const bool masked = (b1 & 0x80) != 0;
      char key[4] = {0, 0, 0, 0};
      if (masked) {
        if (rest.size() < pos + 4) break;
        for (int i = 0; i < 4; ++i) key[i] = rest[pos + i];
        pos += 4;
      }
      if (rest.size() < pos + len) break;
      std::string payload(rest.substr(pos, len));
      for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
      }
      consumed_ += pos + len;
      const uint8_t opcode = b0 & 0x0f;
      if (opcode == 8) {
        closed_ = true;
        if (answers_close_) AnswerClose();
        return;
      }
      if (opcode >= 8) continue;  // ping, pong
      message += payload;
      if ((b0 & 0x80) == 0) continue;  // more fragments follow
      auto decoded = DecodeFrame(message, 1u << 30);
      message.clear();
      EXPECT_TRUE(decoded.ok()) << decoded.status().ToString();
      if (decoded.ok()) out.push_back(std::move(decoded).value());
      whole_ = consumed_;
    }
    // An unfinished fragmented message is parsed again, whole, by a later call.
    consumed_ = whole_;
  }
  [[nodiscard]] bool closed() const { return closed_; }
  // The link's close frame is left unanswered (its close waits) until AnswerClose.
  void HoldClose() { answers_close_ = false; }
  void AnswerClose() {
    if (raw_closed_) return;
    SendBytes(WsFrame("", 8, is_client_));
    Close();
  }

 private:
  test::stream& raw_;
  const bool is_client_;
  size_t consumed_ = 0;
  size_t whole_ = 0;     // end of the last whole message parsed
  bool closed_ = false;  // the link sent a close frame
  bool raw_closed_ = false;
  bool answers_close_ = true;
  std::vector<Message> inbox_;
};

template <typename T>
std::vector<T> OfType(const std::vector<Message>& ms) {
  std::vector<T> out;
  for (const auto& m : ms) {
    if (auto* t = std::get_if<T>(&m)) out.push_back(*t);
  }
  return out;
}

// A node: a store holding dev.items and a (started) replication service.
struct Node {
  std::filesystem::path dir;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<ServiceImpl> service;
};

class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override { ioc_ = std::make_unique<asio::io_context>(); }
  void TearDown() override {
    for (auto& n : nodes_) n->service->Stop();  // waits for store callbacks, joins copies
    ioc_.reset();
    for (auto& n : nodes_) {
      n->service.reset();
      n->store.reset();
      std::filesystem::remove_all(n->dir);
    }
  }

  Node& AddNode(const std::string& name) {
    auto n = std::make_unique<Node>();
    n->dir = std::filesystem::temp_directory_path() /
             ("meshdb_link_test_" + name + "_" + std::to_string(std::random_device{}()));
    storage::StoreOptions so;
    so.database_dir = n->dir.string();
    so.durable = false;
    so.map_size_bytes = 64ull << 20;
    auto store = storage::Store::Open(so);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    n->store = std::move(store).value();
    storage::TableDef def;
    def.database = kDb;
    def.name = kTable;
    def.primary_key = "id";
    EXPECT_TRUE(n->store->CreateTable(def).ok());
    ServiceOptions o;
    o.store = n->store.get();
    o.node_name = name;
    o.node_url = "ws://" + name + ":9925";
    o.log_trim_interval_ms = 0;
    n->service = std::make_unique<ServiceImpl>(o);
    n->service->Start();
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // Writes `count` transactions of one row each (key i, a `bytes`-long value).
  static void WriteRows(Node& n, int from, int count, size_t bytes = 16) {
    for (int i = from; i < from + count; ++i) {
      storage::WriteRequest req;
      req.database = kDb;
      storage::WriteOp op;
      op.table = kTable;
      op.key = i;
      op.fields["id"] = i;
      op.fields["v"] = std::string(bytes, 'x');
      req.ops.push_back(std::move(op));
      ASSERT_TRUE(n.store->Write(std::move(req)).ok());
    }
  }
  static bool HasRow(Node& n, int key) {
    auto snap = n.store->Read(kDb);
    if (!snap.ok()) return false;
    auto r = (*snap)->Get(kTable, boost::json::value(key));
    return r.ok() && r->has_value();
  }
  static uint64_t Cursor(Node& n, const std::string& peer) {
    auto c = n.store->PeerCursor(kDb, peer);
    return c.ok() ? *c : 0;
  }
  // The node's log from `from` as a Transactions frame's entries.
  static std::vector<TxnEntry> LogEntries(Node& n, uint64_t from = 1) {
    std::vector<TxnEntry> out;
    auto snap = n.store->Read(kDb);
    EXPECT_TRUE(snap.ok());
    (void)(*snap)->ScanLog(from, [&](const storage::LogEntry& e) {
      storage::LogEntry copy = e;
      out.push_back(TxnEntryFromLog(std::move(copy)));
      return true;
    });
    return out;
  }

  // The raw rows of the node's table, as MergeRows carries them.
  static std::vector<CopyRecord> RawRows(Node& n) {
    std::vector<CopyRecord> out;
    auto snap = n.store->Read(kDb);
    EXPECT_TRUE(snap.ok());
    EXPECT_TRUE((*snap)
                    ->ScanRaw(kTable,
                              [&](std::string_view key, std::string_view value) {
                                out.push_back(CopyRecord{std::string(key), std::string(value)});
                                return true;
                              })
                    .ok());
    return out;
  }
  // Trims the node's log to its last entry: a peer at any earlier position needs a merge.
  static void TrimWholeLog(Node& n) {
    storage::RetentionPolicy p;
    p.now_ms = HybridClock::Millis(~0ull >> 1);  // far future: every entry is old
    p.max_age_ms = 1;
    auto r = n.store->TrimLog(kDb, p);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  // A link of `node` on a fresh test::stream pair, upgraded; the peer end is returned in
  // *peer_raw. Outbound links are the WebSocket client.
  struct Running {
    std::shared_ptr<Link> link;
    std::shared_ptr<std::optional<Status>> result = std::make_shared<std::optional<Status>>();
    std::unique_ptr<websocket::stream<test::stream>> peer_ws;
    std::shared_ptr<Peer> peer;
    bool upgraded = false;
    [[nodiscard]] bool ended() const { return result->has_value(); }
  };
  Running Start(Node& node, bool outbound, const std::string& peer_name,
                test::fail_count* fc = nullptr, std::string token_name = "",
                std::optional<uint64_t> start_time_ms = 1) {
    Running r;
    test::stream link_end = fc ? test::stream(*ioc_, *fc) : test::stream(*ioc_);
    test::stream peer_end(*ioc_);
    link_end.connect(peer_end);
    auto stream = std::make_unique<LinkWs>(std::move(link_end));
    r.peer_ws = std::make_unique<websocket::stream<test::stream>>(std::move(peer_end));
    int upgraded = 0;
    bool upgrade_failed = false;
    LinkWs* link_ws = stream.get();
    websocket::stream<test::stream>* peer_ws = r.peer_ws.get();
    auto count = [&, link_ws, peer_ws](beast::error_code ec) {
      if (ec && !upgrade_failed) {  // (a fail count) end the other side's wait too
        upgrade_failed = true;
        link_ws->ws().next_layer().close();
        peer_ws->next_layer().close();
      }
      ++upgraded;
    };
    if (outbound) {
      stream->ws().async_handshake("peer", std::string(kReplicationPath), count);
      r.peer_ws->async_accept(count);
    } else {
      stream->ws().async_accept(count);
      r.peer_ws->async_handshake("node", std::string(kReplicationPath), count);
    }
    EXPECT_TRUE(RunUntil([&] { return upgraded == 2; }));
    if (upgrade_failed) {
      EXPECT_NE(fc, nullptr) << "the WebSocket upgrade failed";
      return r;
    }
    r.upgraded = true;
    r.peer = std::make_shared<Peer>(r.peer_ws->next_layer(), !outbound);
    peers_.push_back(r.peer);
    std::shared_ptr<PeerEntry> entry;
    if (outbound) {
      entry = std::make_shared<PeerEntry>();
      entry->spec.name = peer_name;
      entry->spec.url = "ws://" + peer_name + ":9925";
      entry->spec.dial = false;
      entry->spec.start_time_ms = start_time_ms;  // stream from a time: no copy
    }
    auto strand = asio::make_strand(*ioc_);
    r.link = std::make_shared<Link>(node.service.get(), strand, outbound, kDb, entry);
    asio::co_spawn(strand, r.link->RunOpen(std::move(stream), std::move(token_name)),
                   [result = r.result](std::exception_ptr e, Status st) {
                     if (e) st = Status::Internal("exception");
                     *result = std::move(st);
                   });
    return r;
  }

  static Hello HelloFrom(const std::string& name, uint64_t max_frame = kDefaultMaxFrameBytes) {
    Hello h;
    h.node_name = name;
    h.node_url = "ws://" + name + ":9925";
    h.capabilities = {std::string(kCapTxnBatch), std::string(kCapCopy), std::string(kCapCredit)};
    h.max_frame_bytes = max_frame;
    h.databases = {std::string(kSystemDatabase), kDb};
    return h;
  }
  // A Hello from a peer that merges (a publisher whose log no longer reaches its position
  // merges with it instead of streaming).
  static Hello MergingHelloFrom(const std::string& name) {
    Hello h = HelloFrom(name);
    h.capabilities.emplace_back(kCapMerge);
    return h;
  }

  // Runs the io_context (scripted peers answer close frames meanwhile) until `done()` or
  // `timeout`; true when done.
  bool RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::erase_if(peers_, [](const std::weak_ptr<Peer>& p) { return p.expired(); });
      for (auto& weak : peers_) {
        if (auto p = weak.lock()) p->Poll();
      }
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (ioc_->stopped()) ioc_->restart();
      ioc_->run_one_for(std::chrono::milliseconds(2));
    }
  }
  // A merge the link publishes to the scripted `peer`: waits for its MergeHashes (the link
  // then waits for the peer's MergeRequest).
  std::vector<MergeHashes> AwaitMergeHashes(Peer& peer) {
    std::vector<MergeHashes> hashes;
    EXPECT_TRUE(RunUntil([&] {
      for (auto& h : OfType<MergeHashes>(peer.Received())) hashes.push_back(std::move(h));
      return !hashes.empty();
    }));
    return hashes;
  }
  // Closes `r`'s link; true once its run ended.
  bool EndsWhenClosed(Running& r) {
    r.link->Close("test over");
    return RunUntil([&] { return r.ended(); });
  }
  // A connection from `from` to `node` while another one is live: refused as the duplicate
  // before our Hello, its run ending in an error. Adds a fatal failure if it does not end.
  void ExpectRefusedAsDuplicate(Node& node, const std::string& from) {
    Running dup = Start(node, /*outbound=*/false, from);
    dup.peer->Send(HelloFrom(from));
    ASSERT_TRUE(RunUntil([&] { return dup.ended(); }));
    EXPECT_EQ(dup.link->refusal(), LinkRefusal::kDuplicate);
    EXPECT_FALSE(dup.result->value().ok());
    EXPECT_TRUE(OfType<Hello>(dup.peer->Received()).empty());  // refused before our Hello
  }
  // A connection from `from` to `node` that the name rule keeps: `replaced` ends, the new one
  // stays live until closed. Adds a fatal failure if `replaced` does not end.
  void ExpectKeptOver(Node& node, const std::string& from, const Running& replaced) {
    Running kept = Start(node, /*outbound=*/false, from);
    kept.peer->Send(HelloFrom(from));
    ASSERT_TRUE(RunUntil([&] { return replaced.ended(); }));
    EXPECT_FALSE(kept.ended());
    EXPECT_EQ(kept.link->refusal(), LinkRefusal::kNone);
    EXPECT_TRUE(EndsWhenClosed(kept));
  }
  // The state of `node`'s first socket entry for kDb ("" when it has none).
  static std::string SocketState(Node& node) {
    for (const auto& conn : node.service->ConnectionsStatus()) {
      for (const auto& socket : conn.as_object().at("database_sockets").as_array()) {
        if (socket.as_object().at("database") == kDb) {
          return std::string(socket.as_object().at("state").as_string());
        }
      }
    }
    return std::string();
  }
  // Makes `node` dial `peer_name` at a port `listener` opens on 127.0.0.1, where the kernel
  // accepts the TCP connection and nobody answers the upgrade; returns once the dial is under
  // way (its socket entry Connecting). Closing `listener` fails the dial. Adds a fatal failure
  // if the dial does not start.
  void StartDialThatHangs(Node& node, const std::string& peer_name, tcp::acceptor& listener) {
    listener.open(tcp::v4());
    listener.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    listener.listen();
    PeerSpec spec;
    spec.name = peer_name;
    spec.url = "ws://127.0.0.1:" + std::to_string(listener.local_endpoint().port());
    node.service->SetPeers({spec});
    ASSERT_TRUE(RunUntil([&] { return SocketState(node) == "Connecting"; }));
  }
  // Runs whatever is ready (and what store callbacks post) for `d`.
  void RunFor(std::chrono::milliseconds d) {
    RunUntil([] { return false; }, d);
  }
  // Runs every handler that is ready, and those they make ready, until none is (no waiting:
  // what other threads post later is not awaited).
  void Drain() {
    do {
      if (ioc_->stopped()) ioc_->restart();
    } while (ioc_->poll() > 0);
  }
  test::fail_count& FailCount(size_t n) {  // outlives the links that use it
    fail_counts_.push_back(std::make_unique<test::fail_count>(n));
    return *fail_counts_.back();
  }

  std::unique_ptr<asio::io_context> ioc_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::weak_ptr<Peer>> peers_;
  std::vector<std::unique_ptr<test::fail_count>> fail_counts_;
};

// --- Handshake refusals: the link refuses, says why, and the peer gets an Error frame. ---

TEST_F(LinkTest, RefusesAFirstFrameThatIsNotHello) {
  Node& a = AddNode("node-a");
  Running r = Start(a, /*outbound=*/false, "node-b");
  r.peer->Send(Ping{1, 2});
  ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  EXPECT_FALSE(r.result->value().ok());
  EXPECT_EQ(r.link->refusal(), LinkRefusal::kNotHello);
  auto errors = OfType<Error>(r.peer->Received());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kProtocol);
  EXPECT_TRUE(r.peer->closed());
}

TEST_F(LinkTest, RefusesAHelloClaimingItsOwnName) {
  Node& a = AddNode("node-a");
  Running r = Start(a, /*outbound=*/false, "node-a");
  r.peer->Send(HelloFrom("node-a"));
  ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  EXPECT_EQ(r.link->refusal(), LinkRefusal::kBadHello);
  auto received = r.peer->Received();
  EXPECT_TRUE(OfType<Hello>(received).empty());  // an inbound link answers Hello only when live
  auto errors = OfType<Error>(received);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kNameConflict);
}

TEST_F(LinkTest, RefusesAHelloNamingAnotherNodeThanItsToken) {
  Node& a = AddNode("node-a");
  Running r = Start(a, /*outbound=*/false, "node-b", nullptr, /*token_name=*/"node-c");
  r.peer->Send(HelloFrom("node-b"));
  ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  EXPECT_EQ(r.link->refusal(), LinkRefusal::kTokenMismatch);
  EXPECT_EQ(r.result->value().code(), Status::Code::kPermissionDenied);
  auto errors = OfType<Error>(r.peer->Received());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kNameConflict);
}

TEST_F(LinkTest, RefusesARemovedNode) {
  Node& a = AddNode("node-a");
  a.service->SetRemovedNodes({"node-b"});
  Running r = Start(a, /*outbound=*/false, "node-b");
  r.peer->Send(HelloFrom("node-b"));
  ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  EXPECT_EQ(r.link->refusal(), LinkRefusal::kRemovedPeer);
  auto errors = OfType<Error>(r.peer->Received());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::kUnauthorized);
}

TEST_F(LinkTest, ReportsThePeersRefusal) {
  Node& a = AddNode("node-a");
  Running r = Start(a, /*outbound=*/true, "node-b");
  r.peer->Send(Error{ErrorCode::kUnauthorized, "not today"});
  ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  EXPECT_EQ(r.link->refusal(), LinkRefusal::kRefusedByPeer);
  EXPECT_NE(r.result->value().message().find("not today"), std::string::npos);
  EXPECT_FALSE(r.link->peer_refused_our_certificate());
}

// The refused node tells a refusal of its certificate as untrusted from any other refusal
// (it then presents a certificate from its own CA: server/node_identity.h).
TEST_F(LinkTest, ReportsThatThePeerRefusedOurCertificate) {
  Node& a = AddNode("node-a");
  Running r = Start(a, /*outbound=*/true, "node-b");
  r.peer->Send(Error{ErrorCode::kUnauthorized,
                     "node 'node-a' " + std::string(kUntrustedCertificateWords) +
                         ": its certificate (serial 01) is no longer trusted: unable to get "
                         "local issuer certificate"});
  ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  EXPECT_EQ(r.link->refusal(), LinkRefusal::kRefusedByPeer);
  EXPECT_TRUE(r.link->peer_refused_our_certificate());
}

TEST_F(LinkTest, DuplicateConnectionIsRefusedAndTheKeptOneStaysLive) {
  // node-a dials node-b: the connection node-b dials back is the duplicate ("node-a" < "node-b"
  // dials the keeper).
  Node& a = AddNode("node-a");
  Running kept = Start(a, /*outbound=*/true, "node-b");
  kept.peer->Send(HelloFrom("node-b"));
  ASSERT_TRUE(RunUntil([&] { return !OfType<Subscribe>(kept.peer->Received()).empty(); }));
  ASSERT_NO_FATAL_FAILURE(ExpectRefusedAsDuplicate(a, "node-b"));
  Drain();
  EXPECT_FALSE(kept.ended());
  EXPECT_EQ(kept.link->refusal(), LinkRefusal::kNone);
  EXPECT_TRUE(EndsWhenClosed(kept));
}

// --- Duplicates and initial copies: a copy only runs on the connection that stays. ---

// Whether `ms` holds a Subscribe that asks for an initial copy.
bool AsksForCopy(const std::vector<Message>& ms) {
  for (const auto& s : OfType<Subscribe>(ms)) {
    if (std::holds_alternative<StartWithCopy>(s.start)) return true;
  }
  return false;
}

TEST_F(LinkTest, ConnectionCarryingACopyIsKeptOverTheLowerNamesDuplicate) {
  // node-b (empty: it copies) dialled node-a and asked for a copy; node-a's own dial arrives
  // next. "node-a" < "node-b" would keep node-a's connection, but that would cut the copy: the
  // copying connection stays until its copy ended.
  Node& b = AddNode("node-b");
  Running copying = Start(b, /*outbound=*/true, "node-a", nullptr, "", std::nullopt);
  copying.peer->Send(HelloFrom("node-a"));
  ASSERT_TRUE(RunUntil([&] { return AsksForCopy(copying.peer->Received()); }));
  ASSERT_NO_FATAL_FAILURE(ExpectRefusedAsDuplicate(b, "node-a"));
  Drain();
  EXPECT_FALSE(copying.ended());
  // The copy ends (its end committed and acknowledged): the connection no longer carries one,
  // and the duplicate rule is the name rule again.
  constexpr uint64_t kSnapshot = 5;
  copying.peer->Send(CopyBegin{kDb, VersionVector(), 0});
  copying.peer->Send(CopyEnd{kDb, kSnapshot});
  ASSERT_TRUE(RunUntil([&] {
    auto acks = OfType<Ack>(copying.peer->Received());
    return std::any_of(acks.begin(), acks.end(),
                       [](const Ack& a) { return a.sender_sequence == kSnapshot; });
  }));
  ASSERT_NO_FATAL_FAILURE(ExpectKeptOver(b, "node-a", copying));
}

TEST_F(LinkTest, CopyWaitsForOwnDialThatWouldReplaceTheConnection) {
  // node-a (empty: it copies) dials node-b; node-b's connection arrives while that dial is
  // under way. Once live, node-a's dial would replace it ("node-a" < "node-b"), so node-a
  // starts no copy on it until its dial ended: here the dial fails, and the copy starts on
  // node-b's connection, the one that stays.
  Node& a = AddNode("node-a");
  // node-b's address: the TCP connection is accepted by the kernel, the upgrade never answered.
  tcp::acceptor listener(*ioc_);
  ASSERT_NO_FATAL_FAILURE(StartDialThatHangs(a, "node-b", listener));
  Running in = Start(a, /*outbound=*/false, "node-b");
  in.peer->Send(HelloFrom("node-b"));
  ASSERT_TRUE(RunUntil([&] { return !OfType<Hello>(in.peer->Received()).empty(); }));
  RunFor(std::chrono::milliseconds(100));
  EXPECT_TRUE(OfType<Subscribe>(in.peer->Received()).empty()) << "copied while our dial ran";
  EXPECT_EQ(SocketState(a), "CatchingUp");
  // The dial fails (the listener goes, and with it the connection it never accepted).
  listener.close();
  ASSERT_TRUE(RunUntil([&] { return AsksForCopy(in.peer->Received()); }));
  EXPECT_FALSE(in.ended());
  EXPECT_TRUE(EndsWhenClosed(in));
}

// --- Duplicates and merge resyncs: a merge only runs on the connection that stays. ---

TEST_F(LinkTest, ConnectionCarryingAMergeIsKeptOverTheLowerNamesDuplicate) {
  // node-b's log no longer reaches node-a's position, so node-b merges with node-a over the
  // connection node-b dialled; node-a's own dial arrives meanwhile. "node-a" < "node-b" would
  // keep node-a's connection and cut the merge: the merging connection stays until its
  // MergeEnd is queued.
  Node& b = AddNode("node-b");
  WriteRows(b, 1, 10);
  TrimWholeLog(b);
  Running merging = Start(b, /*outbound=*/true, "node-a");
  merging.peer->Send(MergingHelloFrom("node-a"));
  merging.peer->Send(Subscribe{kDb, {}, StartFromVector{VersionVector(), 1}, std::nullopt});
  merging.peer->Send(Credit{kDb, 16});
  std::vector<MergeHashes> hashes = AwaitMergeHashes(*merging.peer);
  ASSERT_EQ(hashes.size(), 1u);
  ASSERT_NO_FATAL_FAILURE(ExpectRefusedAsDuplicate(b, "node-a"));
  Drain();
  ASSERT_FALSE(merging.ended());
  // The merge goes on: node-a asks for every bucket and gets every row, then MergeEnd.
  MergeRequest request{kDb, kTable, {}};
  for (uint32_t i = 0; i < hashes[0].bucket_count; ++i) request.buckets.push_back(i);
  merging.peer->Send(request);
  uint64_t rows = 0;
  std::optional<MergeEnd> end;
  ASSERT_TRUE(RunUntil([&] {
    for (const auto& m : merging.peer->Received()) {
      if (auto* r = std::get_if<MergeRows>(&m)) rows += r->records.size();
      if (auto* e = std::get_if<MergeEnd>(&m)) end = *e;
    }
    return end.has_value() || merging.ended();
  }));
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(rows, 10u);
  EXPECT_EQ(end->records_sent, 10u);
  // The merge is over once streaming goes on after it: a new row arrives as a transaction.
  WriteRows(b, 11, 1);
  ASSERT_TRUE(RunUntil(
      [&] { return !OfType<Transactions>(merging.peer->Received()).empty() || merging.ended(); }));
  // The connection no longer carries a merge, and the duplicate rule is the name rule again.
  ASSERT_NO_FATAL_FAILURE(ExpectKeptOver(b, "node-a", merging));
}

TEST_F(LinkTest, MergeWaitsForOwnDialThatWouldReplaceTheConnection) {
  // node-a's log no longer reaches node-b's position. node-b's connection arrives while
  // node-a's own dial to node-b is under way; once live, that dial would replace it
  // ("node-a" < "node-b"), so node-a starts no merge on it until its dial ended: here the
  // dial fails, and the merge starts on node-b's connection, the one that stays.
  Node& a = AddNode("node-a");
  WriteRows(a, 1, 10);
  TrimWholeLog(a);
  // node-b's address: the TCP connection is accepted by the kernel, the upgrade never answered.
  tcp::acceptor listener(*ioc_);
  ASSERT_NO_FATAL_FAILURE(StartDialThatHangs(a, "node-b", listener));
  Running in = Start(a, /*outbound=*/false, "node-b");
  in.peer->Send(MergingHelloFrom("node-b"));
  // (node-b's position 1 is long trimmed here.)
  in.peer->Send(Subscribe{kDb, {}, StartFromVector{VersionVector(), 1}, std::nullopt});
  in.peer->Send(Credit{kDb, 16});
  ASSERT_TRUE(RunUntil([&] { return !OfType<Hello>(in.peer->Received()).empty(); }));
  RunFor(std::chrono::milliseconds(100));
  EXPECT_TRUE(OfType<MergeBegin>(in.peer->Received()).empty()) << "merged while our dial ran";
  // The dial fails (the listener goes, and with it the connection it never accepted).
  listener.close();
  EXPECT_EQ(AwaitMergeHashes(*in.peer).size(), 1u);
  EXPECT_FALSE(in.ended());
  EXPECT_TRUE(EndsWhenClosed(in));
}

TEST_F(LinkTest, EachLinkShowsItsOwnMergeOnItsOwnSocketEntry) {
  // node-a dials node-b again while its first connection still merges; the newer connection
  // replaces it (same direction), and merges too, while the replaced one is still closing.
  // Both merges show, each on a socket entry of its own.
  Node& b = AddNode("node-b");
  WriteRows(b, 1, 10);
  TrimWholeLog(b);
  auto start_merge = [&](Running& r) {
    r.peer->Send(MergingHelloFrom("node-a"));
    r.peer->Send(Subscribe{kDb, {}, StartFromVector{VersionVector(), 1}, std::nullopt});
    r.peer->Send(Credit{kDb, 16});
    EXPECT_EQ(AwaitMergeHashes(*r.peer).size(), 1u);
  };
  auto sockets = [&] {
    std::vector<boost::json::object> out;
    for (const auto& conn : b.service->ConnectionsStatus()) {
      if (conn.as_object().at("name") != "node-a") continue;
      for (const auto& socket : conn.as_object().at("database_sockets").as_array()) {
        if (socket.as_object().at("database") == kDb) out.push_back(socket.as_object());
      }
    }
    return out;
  };
  Running replaced = Start(b, /*outbound=*/false, "node-a");
  start_merge(replaced);
  replaced.peer->HoldClose();  // it stays open, closing, until the test answers its close
  Running current = Start(b, /*outbound=*/false, "node-a");
  start_merge(current);
  // Replaced: its close frame was sent.
  ASSERT_TRUE(RunUntil([&] { return replaced.peer->closed(); }));
  ASSERT_FALSE(replaced.ended());
  std::vector<boost::json::object> shown = sockets();
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_FALSE(shown[0].contains("duplicate"));  // the registered link's entry
  EXPECT_TRUE(shown[0].at("merge_send_progress").is_object());
  EXPECT_TRUE(shown[0].at("merge_progress").is_null());
  EXPECT_EQ(shown[1].at("duplicate"), true);
  EXPECT_EQ(shown[1].at("connected"), true);
  EXPECT_TRUE(shown[1].at("merge_send_progress").is_object());
  EXPECT_EQ(shown[1].at("merge_send_progress").at("phase"), "comparing");
  // /metrics: the duplicate's merge is a series of its own; nothing else counts it twice.
  metrics::Exposition exposition;
  WriteReplicationMetrics(b.service->ConnectionsStatus(), b.service->ServiceStatus(), exposition);
  const std::string& text = exposition.text();
  EXPECT_NE(text.find("meshdb_replication_merge_progress_records{peer=\"node-a\",database=\"dev\","
                      "direction=\"send\",link=\"duplicate\"} "),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("meshdb_replication_link_connected{peer=\"node-a\",database=\"dev\"}"),
            text.rfind("meshdb_replication_link_connected{peer=\"node-a\",database=\"dev\"}"))
      << text;
  // The replaced connection closes: its entry goes with it.
  replaced.peer->AnswerClose();
  ASSERT_TRUE(RunUntil([&] { return replaced.ended(); }));
  shown = sockets();
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_TRUE(shown[0].at("merge_send_progress").is_object());
  EXPECT_TRUE(EndsWhenClosed(current));
}

// --- Merge resync, the subscriber's side. ---

TEST_F(LinkTest, MergeThatFollowsAtOnceStartsAfterThePreviousEndCommitted) {
  // A publisher whose log was trimmed again while it merged starts the next merge right after
  // MergeEnd, so its MergeBegin can arrive before the first merge's end has committed here.
  // The link must not fail ("MergeHashes/MergeRows outside a merge"): the second merge runs
  // after the first, in order, and both merges' rows and the second's cursor are committed.
  Node& a = AddNode("node-a");  // only the source of raw rows
  Node& b = AddNode("node-b");
  constexpr int kRows = 4000;  // enough for the first merge's commit to take a while
  WriteRows(a, 1, kRows, 200);
  std::vector<CopyRecord> rows = RawRows(a);
  ASSERT_EQ(rows.size(), static_cast<size_t>(kRows));
  const std::vector<CopyRecord> first(rows.begin(), rows.begin() + kRows / 2);
  const std::vector<CopyRecord> second(rows.begin() + kRows / 2, rows.end());
  auto def = a.store->GetTable(kDb, kTable);
  ASSERT_TRUE(def.ok());
  auto entries = a.store->ReadVersionVector(kDb);
  ASSERT_TRUE(entries.ok());
  const VersionVector vector = VersionVector::FromEntries(*entries);
  // One bucket whose sum differs from node-b's: node-b asks for it.
  const MergeHashes hashes{kDb, kTable, TableDefToJson(*def), 1, {1}};
  constexpr uint64_t kFirstEnd = 10;
  constexpr uint64_t kSecondEnd = 20;

  Running r = Start(b, /*outbound=*/true, "node-a");
  r.peer->Send(MergingHelloFrom("node-a"));
  ASSERT_TRUE(RunUntil([&] { return !OfType<Subscribe>(r.peer->Received()).empty(); }));
  r.peer->Send(MergeBegin{kDb, 5, 0, 1, false});
  r.peer->Send(hashes);
  ASSERT_TRUE(RunUntil([&] { return !OfType<MergeRequest>(r.peer->Received()).empty(); }));
  // The first merge's rows and end, and the next merge's begin and hashes, at once.
  r.peer->SendBytes(r.peer->FrameOf(MergeRows{kDb, kTable, first}) +
                    r.peer->FrameOf(MergeEnd{kDb, vector, kFirstEnd, first.size()}) +
                    r.peer->FrameOf(MergeBegin{kDb, 15, kFirstEnd, 1, false}) +
                    r.peer->FrameOf(hashes));
  std::vector<Message> received;
  ASSERT_TRUE(RunUntil([&] {
    for (auto& m : r.peer->Received()) received.push_back(std::move(m));
    return !OfType<MergeRequest>(received).empty() || r.ended();
  }));
  ASSERT_FALSE(r.ended()) << "the link failed at the second merge";
  // The second merge's hashes were compared with the first merge committed.
  EXPECT_EQ(Cursor(b, "node-a"), kFirstEnd);
  r.peer->SendBytes(r.peer->FrameOf(MergeRows{kDb, kTable, second}) +
                    r.peer->FrameOf(MergeEnd{kDb, vector, kSecondEnd, second.size()}));
  auto acked = [&](uint64_t seq) {
    auto acks = OfType<Ack>(received);
    return std::any_of(acks.begin(), acks.end(),
                       [&](const Ack& ack) { return ack.sender_sequence == seq; });
  };
  ASSERT_TRUE(RunUntil([&] {
    for (auto& m : r.peer->Received()) received.push_back(std::move(m));
    return acked(kSecondEnd) || r.ended();
  }));
  EXPECT_FALSE(r.ended());
  EXPECT_TRUE(OfType<Error>(received).empty());
  EXPECT_EQ(Cursor(b, "node-a"), kSecondEnd);
  for (int k = 1; k <= kRows; ++k) {
    if (!HasRow(b, k)) ADD_FAILURE() << "row " << k << " missing";
  }
  EXPECT_TRUE(EndsWhenClosed(r));
}

// --- A frame cut at every byte never applies part of it. ---

TEST_F(LinkTest, TransactionsFrameCutAtEveryByteAppliesNothing) {
  Node& a = AddNode("node-a");  // only the source of real log entries
  Node& b = AddNode("node-b");
  WriteRows(a, 1, 3);
  Transactions t{kDb, LogEntries(a)};
  ASSERT_EQ(t.entries.size(), 3u);
  const std::string frame = WsFrame(EncodeFrame(t));
  for (size_t cut = 0; cut <= frame.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut) + " of " + std::to_string(frame.size()));
    Running r = Start(b, /*outbound=*/true, "node-a");
    r.peer->Send(HelloFrom("node-a"));
    ASSERT_TRUE(RunUntil([&] { return !OfType<Subscribe>(r.peer->Received()).empty(); }));
    r.peer->SendBytes(std::string_view(frame).substr(0, cut));
    r.peer->Close();
    ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
    if (cut < frame.size()) {
      RunFor(std::chrono::milliseconds(2));  // let any (wrong) apply land
      for (int k = 1; k <= 3; ++k) EXPECT_FALSE(HasRow(b, k)) << "row " << k;
      EXPECT_EQ(Cursor(b, "node-a"), 0u);
    } else {
      // The whole frame: every transaction is applied and the cursor is at the last one.
      EXPECT_TRUE(RunUntil([&] { return Cursor(b, "node-a") == 3; }));
      for (int k = 1; k <= 3; ++k) EXPECT_TRUE(HasRow(b, k)) << "row " << k;
    }
  }
}

// --- A peer that stops reading stops the sender at its credit window. ---

TEST_F(LinkTest, StalledReaderStopsThePublisherAtItsCreditWindow) {
  Node& a = AddNode("node-a");
  WriteRows(a, 1, 60, 600);
  Running r = Start(a, /*outbound=*/false, "node-b");
  // Frames of at most 2 KiB: a few transactions each, many frames for the whole log.
  r.peer->Send(HelloFrom("node-b", 2048));
  r.peer->Send(Subscribe{kDb, {}, StartFromVector{VersionVector(), 0}, std::nullopt});
  constexpr uint32_t kWindow = 3;
  r.peer->Send(Credit{kDb, kWindow});
  std::vector<Transactions> got;
  auto collect = [&] {
    for (auto& t : OfType<Transactions>(r.peer->Received())) got.push_back(std::move(t));
  };
  ASSERT_TRUE(RunUntil([&] {
    collect();
    return got.size() >= kWindow;
  }));
  Drain();  // everything the link can do without an Ack: the peer reads nothing, acks nothing
  collect();
  EXPECT_EQ(got.size(), kWindow);
  ASSERT_FALSE(got.empty());
  auto last = a.store->LastSequence(kDb);
  ASSERT_TRUE(last.ok());
  EXPECT_LT(got.back().entries.back().sender_sequence, *last);  // the log was not all sent
  // One Ack frees one frame of the window: exactly one more frame follows.
  r.peer->Send(Ack{kDb, got.front().entries.back().sender_sequence});
  ASSERT_TRUE(RunUntil([&] {
    collect();
    return got.size() > kWindow;
  }));
  Drain();
  collect();
  EXPECT_EQ(got.size(), kWindow + 1);
  // The frames carry the log in order, whole transactions only.
  uint64_t expect = got.front().entries.front().sender_sequence;
  for (const auto& t : got) {
    for (const auto& e : t.entries) EXPECT_EQ(e.sender_sequence, expect++);
  }
  EXPECT_FALSE(r.ended());
  EXPECT_TRUE(EndsWhenClosed(r));
}

// --- A write failure in the middle of a copy: closed, retryable, no cursor past the copy. ---

TEST_F(LinkTest, WriteFailureMidCopyClosesTheLinkAndTheCopyIsRetried) {
  Node& a = AddNode("node-a");
  Node& b = AddNode("node-b");
  // Three tables: a copy of at least three chunks.
  for (const char* table : {"t2", "t3"}) {
    storage::TableDef def;
    def.database = kDb;
    def.name = table;
    def.primary_key = "id";
    ASSERT_TRUE(a.store->CreateTable(def).ok());
  }
  WriteRows(a, 1, 10, 200);
  for (const char* table : {"t2", "t3"}) {
    storage::WriteRequest req;
    req.database = kDb;
    for (int i = 1; i <= 10; ++i) {
      storage::WriteOp op;
      op.table = table;
      op.key = i;
      op.fields["id"] = i;
      req.ops.push_back(std::move(op));
    }
    ASSERT_TRUE(a.store->Write(std::move(req)).ok());
  }
  auto is_copy = [](const Message& m) {
    const MessageType t = TypeOf(m);
    return t == MessageType::kCopyBegin || t == MessageType::kCopyChunk ||
           t == MessageType::kCopyEnd;
  };
  // node-b's subscriber half replays what node-a's publisher half managed to send, then the
  // connection drops.
  auto replay_to_b = [&](const std::vector<Message>& frames) {
    Running r = Start(b, /*outbound=*/true, "node-a", nullptr, "", /*start_time_ms=*/std::nullopt);
    r.peer->Send(HelloFrom("node-a"));
    ASSERT_TRUE(RunUntil([&] { return !OfType<Subscribe>(r.peer->Received()).empty(); }));
    for (const auto& m : frames) r.peer->Send(m);
    const bool complete = !frames.empty() && TypeOf(frames.back()) == MessageType::kCopyEnd;
    if (complete) {
      ASSERT_TRUE(RunUntil([&] { return Cursor(b, "node-a") > 0; }));
    }
    RunFor(std::chrono::milliseconds(5));
    r.peer->Close();
    ASSERT_TRUE(RunUntil([&] { return r.ended(); }));
  };
  // node-a's link fails from its n-th stream operation on (test::fail_count), for every n
  // until a copy completes.
  int failed_mid_copy = 0;
  for (size_t n = 1;; ++n) {
    SCOPED_TRACE("fail count " + std::to_string(n));
    ASSERT_LT(n, 200u) << "the copy never completed";
    Running r = Start(a, /*outbound=*/false, "node-b", &FailCount(n));
    if (!r.upgraded) continue;  // failed in the WebSocket upgrade: no link ran
    r.peer->Send(HelloFrom("node-b"));
    r.peer->Send(Subscribe{kDb, {}, StartWithCopy{}, std::nullopt});
    r.peer->Send(Credit{kDb, 16});
    std::vector<Message> frames;
    auto collect = [&] {
      for (auto& m : r.peer->Received()) {
        if (TypeOf(m) == MessageType::kSchema || is_copy(m)) frames.push_back(std::move(m));
      }
    };
    ASSERT_TRUE(RunUntil([&] {
      collect();
      return r.ended() || (!frames.empty() && TypeOf(frames.back()) == MessageType::kCopyEnd);
    }));
    const bool began = std::any_of(frames.begin(), frames.end(), [](const Message& m) {
      return TypeOf(m) == MessageType::kCopyBegin;
    });
    const bool ended_copy = !frames.empty() && TypeOf(frames.back()) == MessageType::kCopyEnd;
    if (ended_copy) {
      // The run the failure did not reach: the retry copies everything and commits the cursor.
      ASSERT_GT(failed_mid_copy, 0) << "no failure landed inside the copy";
      ASSERT_TRUE(EndsWhenClosed(r));
      replay_to_b(frames);
      EXPECT_EQ(Cursor(b, "node-a"), std::get<CopyEnd>(frames.back()).snapshot_sequence);
      for (int k = 1; k <= 10; ++k) EXPECT_TRUE(HasRow(b, k)) << "row " << k;
      auto vector = b.store->ReadVersionVector(kDb);
      ASSERT_TRUE(vector.ok());
      EXPECT_FALSE(vector->empty());
      break;
    }
    // The failure closed node-a's link before the copy ended.
    EXPECT_TRUE(r.ended());
    if (began) ++failed_mid_copy;
    // node-b applied whatever arrived and saw the connection drop: no cursor and no vector
    // claim the copy happened, so its next Subscribe asks for a copy again.
    replay_to_b(frames);
    EXPECT_EQ(Cursor(b, "node-a"), 0u);
    auto vector = b.store->ReadVersionVector(kDb);
    ASSERT_TRUE(vector.ok());
    EXPECT_TRUE(vector->empty()) << "a copy that never ended installed its vector";
  }
}

}  // namespace
}  // namespace meshdb::replication
