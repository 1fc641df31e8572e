#include "cli/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <chrono>

namespace meshdb::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Result<HttpAnswer> Call(const std::string& url, const std::string& authorization,
                        const std::string& json_body, int timeout_s) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status::InvalidArgument("'" + url + "' is not a URL");
  if (parsed->scheme() != "http") {
    return Status::InvalidArgument("'" + url +
                                   "': the CLI speaks http:// only (use the node's plain "
                                   "operationsApi.network.port)");
  }
  const std::string host(parsed->host_address());
  const std::string port = parsed->has_port() ? std::string(parsed->port()) : "9925";
  const std::string target = parsed->path().empty() ? "/" : std::string(parsed->path());
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(timeout_s));
    boost::system::error_code ec;
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return Status::Unavailable("cannot resolve " + host + ": " + ec.message());
    stream.connect(endpoints, ec);
    if (ec) return Status::Unavailable("cannot connect to " + url + ": " + ec.message());
    http::request<http::string_body> req{json_body.empty() ? http::verb::get : http::verb::post,
                                         target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "meshdb-cli");
    if (!authorization.empty()) req.set(http::field::authorization, authorization);
    if (!json_body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = json_body;
    }
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) return Status::Unavailable("cannot send to " + url + ": " + ec.message());
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    http::read(stream, buffer, parser, ec);
    if (ec) return Status::Unavailable("no answer from " + url + ": " + ec.message());
    HttpAnswer answer;
    answer.status = static_cast<int>(parser.get().result_int());
    answer.content_type = std::string(parser.get()[http::field::content_type]);
    answer.body = std::move(parser.get().body());
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return answer;
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot reach " + url + ": " + e.what());
  }
}

}  // namespace meshdb::cli
