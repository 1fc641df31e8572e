// TLS on a real HttpServer over loopback: an HTTPS request, what a TLS upgrade hands over
// (the client's certificate, verified or not), trust added while running, and the policy
// (no TLS 1.1, a bad cipher list, a key that is not the certificate's). Then TlsStream
// (net/tls_stream.h) on its own against Asio's TLS stream: large and coalesced writes, key
// updates both ways, close_notify, truncation, timeouts.
#include "net/tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>

#include "net/fake_operations.h"
#include "net/http_server.h"
#include "net/tls_stream.h"
#include "net/upgrade_handler.h"
#include "security/x509.h"

namespace meshdb::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace sec = security;
using tcp = asio::ip::tcp;

// A CA and certificates it issued, as PEM.
struct Authority {
  std::string ca_pem;
  sec::EvpPkey key;
  sec::X509Cert cert;

  explicit Authority(const std::string& name) {
    key = std::move(sec::GeneratePrivateKey()).value();
    cert = std::move(sec::CreateCaCertificate(key.get(), name, sec::ValidForDays(1))).value();
    ca_pem = sec::CertificateToPem(cert.get()).value();
  }
  // An intermediate CA that `parent` issued.
  Authority(const std::string& name, const Authority& parent) {
    key = std::move(sec::GeneratePrivateKey()).value();
    cert = std::move(sec::IssueCaCertificate(key.get(), name, parent.cert.get(), parent.key.get(),
                                             sec::ValidForDays(1)))
               .value();
    ca_pem = sec::CertificateToPem(cert.get()).value();
  }
  // {certificate PEM, key PEM} for `names` (CN first).
  std::pair<std::string, std::string> Issue(const std::string& cn,
                                            const std::vector<std::string>& hosts,
                                            sec::Validity validity = sec::ValidForDays(1)) {
    sec::EvpPkey leaf_key = std::move(sec::GeneratePrivateKey()).value();
    sec::X509Cert leaf =
        std::move(sec::IssueCertificate(leaf_key.get(), sec::NamesForHosts(cn, hosts), cert.get(),
                                        key.get(), validity))
            .value();
    return {sec::CertificateToPem(leaf.get()).value(),
            sec::PrivateKeyToPem(leaf_key.get()).value()};
  }
};

// Records what OnTlsUpgrade was given, and answers 101-less: it only closes the stream.
class RecordingUpgrades : public UpgradeHandler {
 public:
  void OnUpgrade(tcp::socket, http::request<http::string_body>, std::string) override {
    FAIL() << "plain upgrade on a TLS listener";
  }
  void OnTlsUpgrade(std::unique_ptr<TlsStream> stream, http::request<http::string_body> request,
                    std::string remote_address, PeerCertificate peer) override {
    std::lock_guard<std::mutex> lock(mu_);
    target_ = std::string(request.target());
    remote_ = std::move(remote_address);
    peer_ = std::move(peer);
    beast::get_lowest_layer(*stream).close();
    cv_.notify_all();
  }
  std::optional<PeerCertificate> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return peer_.has_value(); });
    return peer_;
  }
  std::string target() {
    std::lock_guard<std::mutex> lock(mu_);
    return target_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string target_, remote_;
  std::optional<PeerCertificate> peer_;
};

// What one upgrade of TlsTest::UpgradeResuming saw: whether the client resumed, and what
// the server proved about the client (nullopt when no upgrade arrived).
struct Resumption {
  bool client_resumed = false;
  std::optional<PeerCertificate> server_saw;
};

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() : ca_("test-ca"), foreign_("foreign-ca") {}

  std::unique_ptr<HttpServer> StartServer(UpgradeHandler* upgrades = nullptr) {
    auto [cert, key] = ca_.Issue("node-a", {"localhost", "127.0.0.1"});
    TlsMaterial material{cert, key, {ca_.ca_pem}, false, ""};
    auto context = TlsContext::Create(TlsContext::Role::kServer, material);
    EXPECT_TRUE(context.ok()) << context.status().ToString();
    server_context_ = *context;
    auto server = StartOnContext(upgrades);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return std::move(server).value();
  }

  // A server on the existing server_context_ (made by StartServer), on a port of its own.
  Result<std::unique_ptr<HttpServer>> StartOnContext(UpgradeHandler* upgrades) {
    HttpServerOptions options;
    options.port = 0;
    options.threads = 1;
    options.tls = server_context_;
    options.upgrade_handler = upgrades;
    return HttpServer::Start(options, &ops_);
  }

  // One WebSocket upgrade to `target` from `client` over a new connection to `port`: what
  // `upgrades` (the server's handler) was handed about the client, nullopt when no upgrade
  // arrived. `server_seen`, if given, receives what the client saw of the server. Adds a
  // failure if the TLS connection fails.
  std::optional<PeerCertificate> Upgrade(const std::shared_ptr<TlsContext>& client, int port,
                                         RecordingUpgrades& upgrades,
                                         const std::string& target = "/replication",
                                         PeerCertificate* server_seen = nullptr) {
    beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc_, client->native());
    beast::error_code ec = Connect(ws.next_layer(), port);
    EXPECT_FALSE(ec) << ec.message();
    if (ec) return std::nullopt;
    if (server_seen) *server_seen = InspectPeer(ws.next_layer().native_handle());
    ws.handshake("localhost", target, ec);
    return upgrades.Wait();
  }

  // A client context trusting `trusted` and presenting `identity` ({} for none).
  static std::shared_ptr<TlsContext> Client(const std::string& trusted,
                                            std::pair<std::string, std::string> identity = {}) {
    TlsMaterial material{identity.first, identity.second, {trusted}, false, ""};
    auto context = TlsContext::Create(TlsContext::Role::kClient, material);
    EXPECT_TRUE(context.ok()) << context.status().ToString();
    return *context;
  }

  // Connects and completes the client handshake; the error, if any.
  beast::error_code Connect(beast::ssl_stream<beast::tcp_stream>& stream, int port) {
    beast::error_code ec;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(stream).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
    if (ec) return ec;
    stream.handshake(asio::ssl::stream_base::client, ec);
    return ec;
  }

  // One replication upgrade from `client` over a new connection to a server on
  // server_context_, offering and then keeping the session kept for "peer".
  Resumption UpgradeResuming(const std::shared_ptr<TlsContext>& client) {
    Resumption out;
    RecordingUpgrades upgrades;
    auto server = StartOnContext(&upgrades);
    if (!server.ok()) return out;
    beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc_, client->native());
    SSL* ssl = ws.next_layer().native_handle();
    const uint64_t epoch = client->OfferSession(ssl, "peer");
    if (Connect(ws.next_layer(), (*server)->port())) return out;
    out.client_resumed = SSL_session_reused(ssl) == 1;
    beast::error_code ec;
    ws.handshake("localhost", "/replication", ec);  // reads the TLS 1.3 tickets, then EOF
    out.server_saw = upgrades.Wait();
    client->KeepSession(ssl, "peer", epoch);
    (*server)->Stop();
    return out;
  }

  Authority ca_;
  Authority foreign_;
  FakeOperations ops_;
  std::shared_ptr<TlsContext> server_context_;
  asio::io_context ioc_;
};

TEST_F(TlsTest, HttpsRequestReachesOperationsAndTheClientVerifiesTheServer) {
  auto server = StartServer();
  auto client = Client(ca_.ca_pem);
  beast::ssl_stream<beast::tcp_stream> stream(ioc_, client->native());
  ASSERT_FALSE(Connect(stream, server->port()));
  PeerCertificate seen = InspectPeer(stream.native_handle());
  EXPECT_TRUE(seen.verified) << seen.verify_error;
  EXPECT_TRUE(seen.Names("node-a"));
  EXPECT_TRUE(seen.Names("127.0.0.1"));
  EXPECT_FALSE(seen.Names("node-b"));
  EXPECT_GE(SSL_version(stream.native_handle()), TLS1_2_VERSION);

  http::request<http::string_body> req{http::verb::post, "/", 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::authorization, "Basic YWRtaW46cGFzcw==");
  req.body() = R"({"operation":"describe_all"})";
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), R"({"message":"ok"})");
  ASSERT_EQ(ops_.requests.size(), 1u);
}

TEST_F(TlsTest, AClientTrustingAnotherCaDoesNotVerifyTheServer) {
  auto server = StartServer();
  auto client = Client(foreign_.ca_pem);
  beast::ssl_stream<beast::tcp_stream> stream(ioc_, client->native());
  ASSERT_FALSE(Connect(stream, server->port()));
  PeerCertificate seen = InspectPeer(stream.native_handle());
  EXPECT_TRUE(seen.presented);
  EXPECT_FALSE(seen.verified);
  EXPECT_FALSE(seen.verify_error.empty());
}

TEST_F(TlsTest, SetIdentitySwapsTheServersCertificateForTheNextHandshake) {
  auto server = StartServer();
  auto client = Client(foreign_.ca_pem);
  {
    beast::ssl_stream<beast::tcp_stream> stream(ioc_, client->native());
    ASSERT_FALSE(Connect(stream, server->port()));
    EXPECT_FALSE(InspectPeer(stream.native_handle()).verified);
  }
  auto [cert, key] = foreign_.Issue("node-a2", {"127.0.0.1"});
  // A key that is not the certificate's changes nothing.
  auto [other_cert, other_key] = foreign_.Issue("node-z", {});
  EXPECT_EQ(server_context_->SetIdentity(cert, other_key).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(server_context_->SetIdentity("not pem", key).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(server_context_->SetIdentity(cert, key).ok());
  beast::ssl_stream<beast::tcp_stream> stream(ioc_, client->native());
  ASSERT_FALSE(Connect(stream, server->port()));
  PeerCertificate seen = InspectPeer(stream.native_handle());
  EXPECT_TRUE(seen.verified) << seen.verify_error;
  EXPECT_TRUE(seen.Names("node-a2"));
  EXPECT_FALSE(seen.Names("node-a"));
}

TEST_F(TlsTest, AClientIdentitySetLaterIsPresentedOnTheNextUpgrade) {
  RecordingUpgrades upgrades;
  auto server = StartServer(&upgrades);
  auto client = Client(ca_.ca_pem);  // no certificate yet
  auto [cert, key] = ca_.Issue("node-c", {"127.0.0.3"});
  ASSERT_TRUE(client->SetIdentity(cert, key).ok());
  std::optional<PeerCertificate> peer = Upgrade(client, server->port(), upgrades);
  ASSERT_TRUE(peer.has_value());
  EXPECT_TRUE(peer->verified) << peer->verify_error;
  EXPECT_TRUE(peer->Names("node-c"));
}

TEST_F(TlsTest, UpgradeHandsOverTheClientsVerifiedCertificate) {
  RecordingUpgrades upgrades;
  auto server = StartServer(&upgrades);
  auto client = Client(ca_.ca_pem, ca_.Issue("node-b", {"127.0.0.2"}));
  // (the handler just closes)
  std::optional<PeerCertificate> peer =
      Upgrade(client, server->port(), upgrades, "/replication?database=dev");
  ASSERT_TRUE(peer.has_value());
  EXPECT_TRUE(peer->presented);
  EXPECT_TRUE(peer->verified) << peer->verify_error;
  EXPECT_TRUE(peer->Names("node-b"));
  EXPECT_TRUE(peer->Names("127.0.0.2"));
  EXPECT_FALSE(peer->serial_hex.empty());
  EXPECT_EQ(upgrades.target(), "/replication?database=dev");
}

TEST_F(TlsTest, AForeignClientCertificateIsHandedOverUnverifiedUntilItsCaIsTrusted) {
  RecordingUpgrades first;
  auto server = StartServer(&first);
  auto client = Client(ca_.ca_pem, foreign_.Issue("node-x", {}));
  {
    std::optional<PeerCertificate> peer = Upgrade(client, server->port(), first);
    ASSERT_TRUE(peer.has_value());
    EXPECT_TRUE(peer->presented);
    EXPECT_FALSE(peer->verified);
  }
  // Trust grows while the server runs: the next handshake verifies.
  ASSERT_TRUE(server_context_->Trust(foreign_.ca_pem).ok());
  ASSERT_TRUE(server_context_->Trust(foreign_.ca_pem).ok());  // twice is harmless
  server->Stop();
  RecordingUpgrades second;
  auto again = StartOnContext(&second);
  ASSERT_TRUE(again.ok());
  std::optional<PeerCertificate> peer = Upgrade(client, (*again)->port(), second);
  ASSERT_TRUE(peer.has_value());
  EXPECT_TRUE(peer->verified) << peer->verify_error;
}

TEST_F(TlsTest, ACaStaysTrustedWhileASourceHoldsItAndNotAfter) {
  StartServer()->Stop();  // makes server_context_, which the servers below share
  auto client = Client(ca_.ca_pem, foreign_.Issue("node-x", {}));
  // One upgrade over a new connection: what the server proved about the client.
  auto handshake = [&]() -> std::optional<PeerCertificate> {
    RecordingUpgrades upgrades;
    auto server = StartOnContext(&upgrades);
    if (!server.ok()) return std::nullopt;
    std::optional<PeerCertificate> peer = Upgrade(client, (*server)->port(), upgrades);
    (*server)->Stop();
    return peer;
  };
  ASSERT_TRUE(server_context_->Trust(foreign_.ca_pem, "added").ok());
  ASSERT_TRUE(server_context_->SetTrusted("members", {foreign_.ca_pem}).ok());
  server_context_->Distrust(foreign_.ca_pem, "added");  // "members" still holds it
  std::optional<PeerCertificate> peer = handshake();
  ASSERT_TRUE(peer.has_value());
  EXPECT_TRUE(peer->verified) << peer->verify_error;
  ASSERT_TRUE(server_context_->SetTrusted("members", {}).ok());  // no source holds it now
  peer = handshake();
  ASSERT_TRUE(peer.has_value());
  EXPECT_TRUE(peer->presented);
  EXPECT_FALSE(peer->verified);
  EXPECT_EQ(peer->verify_error, "unable to get local issuer certificate");
}

TEST_F(TlsTest, AClientResumesTheSessionItKeptUntilTrustShrinksOrItsIdentityChanges) {
  StartServer()->Stop();  // makes server_context_, which the servers below share (tickets)
  auto client = Client(ca_.ca_pem, ca_.Issue("node-x", {}));
  auto upgrade = [&] { return UpgradeResuming(client); };
  int shrank = 0;
  client->SetTrustShrankHandler([&] { ++shrank; });

  Resumption first = upgrade();
  ASSERT_TRUE(first.server_saw.has_value());
  EXPECT_FALSE(first.client_resumed);
  EXPECT_FALSE(first.server_saw->resumed);
  Resumption second = upgrade();
  ASSERT_TRUE(second.server_saw.has_value());
  EXPECT_TRUE(second.client_resumed);
  EXPECT_TRUE(second.server_saw->resumed);
  EXPECT_TRUE(second.server_saw->verified) << second.server_saw->verify_error;
  EXPECT_TRUE(second.server_saw->Names("node-x"));

  // Trust that grows keeps the session; trust that shrinks drops it (and says so).
  ASSERT_TRUE(client->Trust(foreign_.ca_pem, "extra").ok());
  EXPECT_TRUE(upgrade().client_resumed);
  EXPECT_EQ(shrank, 0);
  client->Distrust(foreign_.ca_pem, "extra");
  EXPECT_EQ(shrank, 1);
  EXPECT_FALSE(upgrade().client_resumed);
  EXPECT_TRUE(upgrade().client_resumed);  // the full handshake's session was kept

  // A new identity: the server must see the new certificate, so no resumption.
  auto [cert, key] = ca_.Issue("node-x", {});
  ASSERT_TRUE(client->SetIdentity(cert, key).ok());
  EXPECT_FALSE(upgrade().client_resumed);
  EXPECT_TRUE(upgrade().client_resumed);

  // The server's trust shrank: it refuses the ticket (a full handshake), though it is offered.
  ASSERT_TRUE(server_context_->Trust(foreign_.ca_pem, "extra").ok());
  server_context_->Distrust(foreign_.ca_pem, "extra");
  Resumption refused = upgrade();
  EXPECT_FALSE(refused.client_resumed);
  ASSERT_TRUE(refused.server_saw.has_value());
  EXPECT_FALSE(refused.server_saw->resumed);

  // Forgotten: a full handshake.
  client->ForgetSession("peer");
  EXPECT_FALSE(upgrade().client_resumed);
  client->SetTrustShrankHandler({});
  client->Distrust(ca_.ca_pem, kInitialTrust);
  EXPECT_EQ(shrank, 1);  // the handler was removed
}

TEST_F(TlsTest, AResumedSessionKeepsTheIntermediatesTheClientSent) {
  StartServer()->Stop();  // makes server_context_ (trusting only the root, ca_)
  Authority intermediate("test-intermediate", ca_);
  auto [leaf, key] = intermediate.Issue("node-x", {});
  auto client = Client(ca_.ca_pem, {leaf + intermediate.ca_pem, key});

  Resumption first = UpgradeResuming(client);
  ASSERT_TRUE(first.server_saw.has_value());
  ASSERT_FALSE(first.server_saw->resumed);
  ASSERT_TRUE(first.server_saw->verified) << first.server_saw->verify_error;
  EXPECT_TRUE(server_context_->Reverify(*first.server_saw, /*peer_is_client=*/true).ok());

  // The server's session comes from its ticket, which keeps the client's intermediate: the
  // chain verifies again, and a ticket renewed on the resumed handshake keeps it too.
  for (int round = 0; round < 2; ++round) {
    Resumption resumed = UpgradeResuming(client);
    ASSERT_TRUE(resumed.server_saw.has_value());
    EXPECT_TRUE(resumed.client_resumed);
    EXPECT_TRUE(resumed.server_saw->resumed);
    EXPECT_TRUE(resumed.server_saw->verified) << resumed.server_saw->verify_error;
    Status again = server_context_->Reverify(*resumed.server_saw, /*peer_is_client=*/true);
    EXPECT_TRUE(again.ok()) << "round " << round << ": " << again.ToString();
  }
}

TEST_F(TlsTest, ReverifyChecksAPeerAgainstTheTrustOfTheMoment) {
  RecordingUpgrades upgrades;
  auto server = StartServer(&upgrades);
  ASSERT_TRUE(server_context_->Trust(foreign_.ca_pem, "added").ok());
  auto client = Client(ca_.ca_pem, foreign_.Issue("node-x", {}));
  PeerCertificate the_server;
  std::optional<PeerCertificate> the_client =
      Upgrade(client, server->port(), upgrades, "/replication", &the_server);
  ASSERT_TRUE(the_client.has_value());
  ASSERT_TRUE(the_client->verified) << the_client->verify_error;
  EXPECT_TRUE(server_context_->Reverify(*the_client, /*peer_is_client=*/true).ok());
  EXPECT_TRUE(client->Reverify(the_server, /*peer_is_client=*/false).ok());

  server_context_->Distrust(foreign_.ca_pem, "added");
  Status now = server_context_->Reverify(*the_client, /*peer_is_client=*/true);
  EXPECT_TRUE(now.IsPermissionDenied()) << now.ToString();
  EXPECT_EQ(now.message(), "unable to get local issuer certificate");
  EXPECT_EQ(server_context_->Reverify(PeerCertificate{}, true).message(), "it presented none");
}

TEST_F(TlsTest, AnExpiredClientCertificateIsNotVerified) {
  RecordingUpgrades upgrades;
  auto server = StartServer(&upgrades);
  auto client = Client(ca_.ca_pem, ca_.Issue("node-b", {}, sec::Validity{-7200, 3600}));
  std::optional<PeerCertificate> peer = Upgrade(client, server->port(), upgrades);
  ASSERT_TRUE(peer.has_value());
  EXPECT_FALSE(peer->verified);
  EXPECT_NE(peer->verify_error.find("expired"), std::string::npos) << peer->verify_error;
}

TEST_F(TlsTest, Tls11IsRefused) {
  auto server = StartServer();
  asio::ssl::context old(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(old.native_handle(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(old.native_handle(), 0);
  beast::ssl_stream<beast::tcp_stream> stream(ioc_, old);
  EXPECT_TRUE(Connect(stream, server->port()));
}

TEST_F(TlsTest, BadMaterialIsRefusedWithoutQuotingTheKey) {
  auto [cert, key] = ca_.Issue("node-a", {});
  auto [other_cert, other_key] = ca_.Issue("node-b", {});
  auto mismatched =
      TlsContext::Create(TlsContext::Role::kServer, TlsMaterial{cert, other_key, {}, false, ""});
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.status().message(), "the TLS private key does not match the certificate");
  auto not_pem =
      TlsContext::Create(TlsContext::Role::kServer, TlsMaterial{cert, "not a key", {}, false, ""});
  ASSERT_FALSE(not_pem.ok());
  EXPECT_EQ(not_pem.status().message(), "the TLS private key is not PEM");
  auto bad_ciphers = TlsContext::Create(TlsContext::Role::kServer,
                                        TlsMaterial{cert, key, {}, false, "NOT-A-CIPHER"});
  ASSERT_FALSE(bad_ciphers.ok());
  EXPECT_NE(bad_ciphers.status().message().find("tls.ciphers"), std::string::npos);
  auto bad_ca =
      TlsContext::Create(TlsContext::Role::kClient, TlsMaterial{"", "", {"garbage"}, false, ""});
  ASSERT_FALSE(bad_ca.ok());
}

// TlsStream (ours) at one end of a loopback connection, Asio's TLS stream at the other.
class TlsStreamTest : public TlsTest {
 protected:
  using AsioTls = beast::ssl_stream<beast::tcp_stream>;
  static constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

  TlsStreamTest() {
    auto [cert, key] = ca_.Issue("node-a", {"localhost", "127.0.0.1"});
    auto context = TlsContext::Create(TlsContext::Role::kServer,
                                      TlsMaterial{cert, key, {ca_.ca_pem}, false, ""});
    EXPECT_TRUE(context.ok()) << context.status().ToString();
    server_context_ = *context;
    client_context_ = Client(ca_.ca_pem);
  }

  // A connected pair over loopback: {accepted, dialled}.
  std::pair<tcp::socket, tcp::socket> SocketPair() {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket dialled(ioc_);
    dialled.connect(acceptor.local_endpoint());
    return {acceptor.accept(), std::move(dialled)};
  }

  // Runs both coroutines to their end; fails the test when they take more than 10 s.
  void RunBoth(asio::awaitable<void> a, asio::awaitable<void> b) {
    int done = 0;
    auto finish = [&done](const std::exception_ptr& e) {
      ++done;
      if (e) ADD_FAILURE() << "a coroutine threw";
    };
    asio::co_spawn(ioc_, std::move(a), finish);
    asio::co_spawn(ioc_, std::move(b), finish);
    ioc_.run_for(std::chrono::seconds(10));
    ioc_.restart();
    EXPECT_EQ(done, 2) << "timed out";
  }

  static std::string Pattern(size_t size, char seed) {
    std::string out(size, '\0');
    for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(seed + i % 61);
    return out;
  }

  std::shared_ptr<TlsContext> client_context_;
};

TEST_F(TlsStreamTest, LargeAndCoalescedWritesArriveWholeBothWaysAcrossKeyUpdates) {
  auto [accepted, dialled] = SocketPair();
  TlsStream ours(std::move(accepted), server_context_->native());
  AsioTls theirs(std::move(dialled), client_context_->native());
  const std::string request = Pattern(100000, 'a');
  const std::string header = "header:";
  const std::string body = Pattern(70000, 'k');
  auto server = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await ours.async_handshake(asio::ssl::stream_base::server, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    std::string got(request.size(), '\0');
    auto [rec, n] = co_await asio::async_read(ours, asio::buffer(got), kTuple);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_TRUE(got == request);
    // Our key update, answered by the peer while it reads; then two buffers, coalesced.
    EXPECT_EQ(SSL_key_update(ours.native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
    std::array<asio::const_buffer, 2> reply{asio::buffer(header), asio::buffer(body)};
    auto [wec, w] = co_await asio::async_write(ours, reply, kTuple);
    EXPECT_FALSE(wec) << wec.message();
    EXPECT_EQ(w, header.size() + body.size());
  };
  auto client = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await theirs.async_handshake(asio::ssl::stream_base::client, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    // Their key update: our read must answer it (a write from inside SSL_read).
    EXPECT_EQ(SSL_key_update(theirs.native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
    auto [wec, w] = co_await asio::async_write(theirs, asio::buffer(request), kTuple);
    EXPECT_FALSE(wec) << wec.message();
    std::string got(header.size() + body.size(), '\0');
    auto [rec, n] = co_await asio::async_read(theirs, asio::buffer(got), kTuple);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_TRUE(got == header + body);
  };
  RunBoth(server(), client());
  EXPECT_EQ(SSL_version(ours.native_handle()), TLS1_3_VERSION);
}

TEST_F(TlsStreamTest, AsAClientItVerifiesTheServerAndReadsPastTheTickets) {
  auto [accepted, dialled] = SocketPair();
  AsioTls theirs(std::move(accepted), server_context_->native());
  TlsStream ours(std::move(dialled), client_context_->native());
  auto server = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await theirs.async_handshake(asio::ssl::stream_base::server, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    std::array<char, 4> ping{};
    auto [rec, n] = co_await asio::async_read(theirs, asio::buffer(ping), kTuple);
    EXPECT_FALSE(rec) << rec.message();
    auto [wec, w] = co_await asio::async_write(theirs, asio::buffer(std::string("pong")), kTuple);
    EXPECT_FALSE(wec) << wec.message();
  };
  auto client = [&]() -> asio::awaitable<void> {
    auto [hec] = co_await ours.async_handshake(asio::ssl::stream_base::client, kTuple);
    EXPECT_FALSE(hec) << hec.message();
    PeerCertificate seen = InspectPeer(ours.native_handle());
    EXPECT_TRUE(seen.verified) << seen.verify_error;
    EXPECT_TRUE(seen.Names("node-a"));
    auto [wec, w] = co_await asio::async_write(ours, asio::buffer(std::string("ping")), kTuple);
    EXPECT_FALSE(wec) << wec.message();
    std::string pong(4, '\0');
    auto [rec, n] = co_await asio::async_read(ours, asio::buffer(pong), kTuple);
    EXPECT_FALSE(rec) << rec.message();
    EXPECT_EQ(pong, "pong");
  };
  RunBoth(server(), client());
}

TEST_F(TlsStreamTest, CloseNotifyReadsAsEofAndBothShutdownsComplete) {
  auto [accepted, dialled] = SocketPair();
  TlsStream ours(std::move(accepted), server_context_->native());
  AsioTls theirs(std::move(dialled), client_context_->native());
  auto server = [&]() -> asio::awaitable<void> {
    co_await ours.async_handshake(asio::ssl::stream_base::server, kTuple);
    std::array<char, 16> buffer{};
    auto [rec, n] = co_await ours.async_read_some(asio::buffer(buffer), kTuple);
    EXPECT_EQ(rec, asio::error::eof) << rec.message();
    auto [sec] = co_await ours.async_shutdown(kTuple);
    EXPECT_FALSE(sec) << sec.message();
  };
  auto client = [&]() -> asio::awaitable<void> {
    co_await theirs.async_handshake(asio::ssl::stream_base::client, kTuple);
    auto [sec] = co_await theirs.async_shutdown(kTuple);  // waits for ours
    EXPECT_FALSE(sec) << sec.message();
  };
  RunBoth(server(), client());
}

TEST_F(TlsStreamTest, AConnectionEndedWithoutCloseNotifyIsATruncation) {
  auto [accepted, dialled] = SocketPair();
  TlsStream ours(std::move(accepted), server_context_->native());
  AsioTls theirs(std::move(dialled), client_context_->native());
  auto server = [&]() -> asio::awaitable<void> {
    co_await ours.async_handshake(asio::ssl::stream_base::server, kTuple);
    co_await asio::async_write(ours, asio::buffer(std::string("hi")), kTuple);  // and tickets
    std::array<char, 16> buffer{};
    auto [rec, n] = co_await ours.async_read_some(asio::buffer(buffer), kTuple);
    EXPECT_EQ(rec, asio::ssl::error::stream_truncated) << rec.message();
  };
  auto client = [&]() -> asio::awaitable<void> {
    co_await theirs.async_handshake(asio::ssl::stream_base::client, kTuple);
    std::array<char, 2> hi{};
    co_await asio::async_read(theirs, asio::buffer(hi), kTuple);
    beast::get_lowest_layer(theirs).close();
  };
  RunBoth(server(), client());
}

TEST_F(TlsStreamTest, AnExpiredDeadlineClosesTheStreamWithTimeout) {
  auto [accepted, dialled] = SocketPair();
  TlsStream ours(std::move(accepted), server_context_->native());
  AsioTls theirs(std::move(dialled), client_context_->native());
  auto server = [&]() -> asio::awaitable<void> {
    co_await ours.async_handshake(asio::ssl::stream_base::server, kTuple);
    beast::get_lowest_layer(ours).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(ours).expires_after(std::chrono::milliseconds(200));  // sooner
    const auto started = std::chrono::steady_clock::now();
    std::array<char, 16> buffer{};
    auto [rec, n] = co_await ours.async_read_some(asio::buffer(buffer), kTuple);
    EXPECT_EQ(rec, beast::error::timeout) << rec.message();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_FALSE(ours.socket().is_open());
  };
  auto client = [&]() -> asio::awaitable<void> {
    co_await theirs.async_handshake(asio::ssl::stream_base::client, kTuple);
    std::array<char, 16> buffer{};  // waits for the server to give up
    co_await theirs.async_read_some(asio::buffer(buffer), kTuple);
  };
  RunBoth(server(), client());
}

}  // namespace
}  // namespace meshdb::net
