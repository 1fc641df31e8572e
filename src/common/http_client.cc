#include "common/http_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <exception>
#include <optional>

namespace meshdb {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
};

Result<Endpoint> ParseBase(const std::string& base_url) {
  auto url = boost::urls::parse_uri(base_url);
  if (!url || url->host().empty()) {
    return Status::InvalidArgument("'" + base_url + "' is not an http:// or https:// URL");
  }
  Endpoint out;
  if (url->scheme() == "https") {
    out.tls = true;
  } else if (url->scheme() != "http") {
    return Status::InvalidArgument("'" + base_url + "' is not an http:// or https:// URL");
  }
  out.host = url->host_address();
  out.port = url->has_port() ? std::string(url->port()) : (out.tls ? "443" : "80");
  return out;
}

http::verb VerbOf(const std::string& method) {
  http::verb verb = http::string_to_verb(method);
  return verb == http::verb::unknown ? http::verb::get : verb;
}

// One exchange over a connected stream (plain or TLS).
template <typename Stream>
asio::awaitable<void> Exchange(Stream& stream, http::request<http::string_body>& request,
                               http::response_parser<http::string_body>& response) {
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  co_await http::async_read(stream, buffer, response, asio::use_awaitable);
}

asio::awaitable<void> Run(const Endpoint& endpoint, asio::ssl::context* tls,
                          http::request<http::string_body>& request,
                          http::response_parser<http::string_body>& response,
                          std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto addresses =
      co_await resolver.async_resolve(endpoint.host, endpoint.port, asio::use_awaitable);
  if (!endpoint.tls) {
    beast::tcp_stream stream(executor);
    stream.expires_after(timeout);
    co_await stream.async_connect(addresses, asio::use_awaitable);
    co_await Exchange(stream, request, response);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str())) {
    throw beast::system_error(
        beast::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
  }
  stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
  beast::get_lowest_layer(stream).expires_after(timeout);
  co_await beast::get_lowest_layer(stream).async_connect(addresses, asio::use_awaitable);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  co_await Exchange(stream, request, response);
}

}  // namespace

Result<HttpClient> HttpClient::Create(const HttpTlsFiles& files) {
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  tls->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                   asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  tls->set_verify_mode(asio::ssl::verify_peer);
  beast::error_code ec;
  if (files.ca_file.empty()) {
    tls->set_default_verify_paths(ec);
  } else if (tls->load_verify_file(files.ca_file, ec); ec) {
    return Status::InvalidArgument("cannot load CA file '" + files.ca_file + "': " + ec.message());
  }
  if (!files.cert_file.empty()) {
    if (tls->use_certificate_chain_file(files.cert_file, ec); ec) {
      return Status::InvalidArgument("cannot load certificate file '" + files.cert_file +
                                     "': " + ec.message());
    }
    if (tls->use_private_key_file(files.key_file, asio::ssl::context::pem, ec); ec) {
      return Status::InvalidArgument("cannot load key file '" + files.key_file +
                                     "': " + ec.message());
    }
  }
  return HttpClient(std::move(tls));
}

Result<HttpResponse> HttpClient::Send(const std::string& base_url, const HttpRequest& request,
                                      std::chrono::milliseconds timeout) const {
  ASSIGN_OR_RETURN(Endpoint endpoint, ParseBase(base_url));
  http::request<http::string_body> message{VerbOf(request.method), request.target, 11};
  message.set(http::field::host, endpoint.host + ":" + endpoint.port);
  message.set(http::field::user_agent, "meshdb-discovery");
  for (const auto& [name, value] : request.headers) message.set(name, value);
  if (!request.body.empty() || message.method() != http::verb::get) {
    message.set(http::field::content_type, "application/json");
    message.body() = request.body;
    message.prepare_payload();
  }
  http::response_parser<http::string_body> response;
  response.body_limit(request.max_response_bytes);

  asio::io_context io;
  std::optional<std::string> failure;
  bool done = false;
  asio::co_spawn(io, Run(endpoint, tls_.get(), message, response, timeout),
                 [&](const std::exception_ptr& error) {
                   done = true;
                   if (!error) return;
                   try {
                     std::rethrow_exception(error);
                   } catch (const beast::system_error& e) {
                     failure = e.code() == beast::error::timeout ? "timed out" : e.code().message();
                   } catch (const std::exception& e) {
                     failure = e.what();
                   }
                 });
  // The stream's own deadline covers connect and I/O; this one also covers the resolver.
  io.run_for(timeout + std::chrono::milliseconds(200));
  if (!done) failure = "timed out";
  if (failure) return Status::Unavailable("cannot reach " + base_url + ": " + *failure);
  HttpResponse out;
  out.status = static_cast<int>(response.get().result_int());
  out.body = std::move(response.get().body());
  return out;
}

}  // namespace meshdb
