// meshdb_load: an HTTP load generator for the operations API.
//
//   meshdb_load --url http://127.0.0.1:9925 --user admin --password password
//       --records N --batch B --connections C [--database bench --table load] [--read]
//       [--start-id S] [--fresh] [--threads T]
//
// Creates the database and table, inserts N records (~180 bytes each) with `insert`
// operations of B records over C keep-alive connections, and prints one line per phase:
//   insert batch=B conns=C records=N secs=... rec/s=... p50_ms=... p99_ms=... errors=...
// --read reads every record back with search_by_id (B ids per request) and prints `read`.
// Only loopback-style targets are meant: it sends a bounded number of requests and stops.
#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kRequestTimeout{60};

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "9925";
  std::string user = "admin";
  std::string password = "password";
  std::string database = "bench";
  std::string table = "load";
  long records = 10000;
  long batch = 1;
  int connections = 1;
  long start_id = 0;
  int threads = 1;
  bool read = false;
  bool fresh = false;
};

[[noreturn]] void Usage(const std::string& error) {
  std::cerr << "meshdb_load: " << error << "\n"
            << "usage: meshdb_load --url http://HOST:PORT --user U --password P --records N "
               "--batch B --connections C [--database D] [--table T] [--read] [--start-id S] "
               "[--fresh] [--threads T]\n";
  std::exit(2);
}

long ParseLong(const std::string& flag, const std::string& value, long min) {
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min) Usage("bad value for " + flag + ": " + value);
  return v;
}

Options ParseFlags(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--url") {
      std::string url = value();
      std::string_view rest(url);
      if (rest.substr(0, 7) != "http://") Usage("only http:// URLs are supported: " + url);
      rest.remove_prefix(7);
      rest = rest.substr(0, rest.find('/'));
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos) {
        o.host = std::string(rest);
        o.port = "80";
      } else {
        o.host = std::string(rest.substr(0, colon));
        o.port = std::string(rest.substr(colon + 1));
      }
    } else if (flag == "--user") {
      o.user = value();
    } else if (flag == "--password") {
      o.password = value();
    } else if (flag == "--database") {
      o.database = value();
    } else if (flag == "--table") {
      o.table = value();
    } else if (flag == "--records") {
      o.records = ParseLong(flag, value(), 1);
    } else if (flag == "--batch") {
      o.batch = ParseLong(flag, value(), 1);
    } else if (flag == "--connections") {
      o.connections = static_cast<int>(ParseLong(flag, value(), 1));
    } else if (flag == "--start-id") {
      o.start_id = ParseLong(flag, value(), 0);
    } else if (flag == "--threads") {
      o.threads = static_cast<int>(ParseLong(flag, value(), 1));
    } else if (flag == "--read") {
      o.read = true;
    } else if (flag == "--fresh") {
      o.fresh = true;
    } else {
      Usage("unknown flag " + flag);
    }
  }
  return o;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = uint8_t(in[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// One record of about 180 bytes: id, a ~10 char name, a number and 120 chars of text.
void AppendRecord(std::string& out, long id) {
  static const std::string kText = [] {
    std::string t;
    const char* words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do ";
    while (t.size() < 120) t += words;
    t.resize(120);
    return t;
  }();
  char name[32];
  std::snprintf(name, sizeof(name), "name%06ld", id % 1000000);
  out += R"({"id":)";
  out += std::to_string(id);
  out += R"(,"name":")";
  out += name;
  out += R"(","num":)";
  out += std::to_string((id * 7919) % 100000);
  out += R"(,"text":")";
  out += kText;
  out += "\"}";
}

std::string Quote(const std::string& s) { return boost::json::serialize(boost::json::value(s)); }

struct Phase {
  const char* name;
  // The body of request `index` (covering ids [first, first+count)).
  std::string (*make_body)(const Options&, long first, long count);
  // Checks a 200 response body; "" when good.
  std::string (*check)(const std::string& body, long count);
};

std::string InsertBody(const Options& o, long first, long count) {
  std::string body = R"({"operation":"insert","database":)" + Quote(o.database) + R"(,"table":)" +
                     Quote(o.table) + R"(,"records":[)";
  body.reserve(body.size() + static_cast<size_t>(count) * 190 + 4);
  for (long i = 0; i < count; ++i) {
    if (i > 0) body += ',';
    AppendRecord(body, first + i);
  }
  body += "]}";
  return body;
}

std::string ReadBody(const Options& o, long first, long count) {
  std::string body = R"({"operation":"search_by_id","database":)" + Quote(o.database) +
                     R"(,"table":)" + Quote(o.table) + R"(,"ids":[)";
  for (long i = 0; i < count; ++i) {
    if (i > 0) body += ',';
    body += std::to_string(first + i);
  }
  body += R"(],"get_attributes":["*"]})";
  return body;
}

std::string CheckNothing(const std::string&, long) { return ""; }

std::string CheckReadCount(const std::string& body, long count) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_array()) return "read reply is not a JSON array";
  if (static_cast<long>(v.get_array().size()) != count) {
    return "read returned " + std::to_string(v.get_array().size()) + " of " +
           std::to_string(count) + " records";
  }
  return "";
}

class Runner {
 public:
  explicit Runner(const Options& o) : o_(o), auth_("Basic " + Base64(o.user + ":" + o.password)) {}

  // One request on a fresh connection, for setup. Returns status (0 on I/O error) and body.
  std::pair<int, std::string> Once(const std::string& body) {
    asio::io_context ioc;
    std::pair<int, std::string> out{0, ""};
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          beast::tcp_stream stream(ioc);
          beast::flat_buffer buffer;
          if (!co_await Connect(stream)) co_return;
          auto [ec, status, reply] = co_await Request(stream, buffer, body);
          out = {ec ? 0 : status, std::move(reply)};
        },
        asio::detached);
    ioc.run();
    return out;
  }

  void RunPhase(const Phase& phase) {
    const long requests = (o_.records + o_.batch - 1) / o_.batch;
    next_.store(0);
    errors_.store(0);
    std::vector<std::vector<double>> latencies(o_.connections);
    asio::io_context ioc(o_.threads);
    for (int c = 0; c < o_.connections; ++c) {
      asio::co_spawn(ioc, Connection(ioc, phase, requests, latencies[c]), asio::detached);
    }
    auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 1; t < o_.threads; ++t) threads.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - started).count();

    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      if (all.empty()) return 0.0;
      size_t i = std::min(all.size() - 1, static_cast<size_t>(p * (all.size() - 1) + 0.5));
      return all[i];
    };
    long sent = std::min(next_.load(), requests);
    long records = std::min(o_.records, sent * o_.batch);
    std::printf(
        "%s batch=%ld conns=%d records=%ld secs=%.3f rec/s=%.0f p50_ms=%.3f "
        "p99_ms=%.3f errors=%ld\n",
        phase.name, o_.batch, o_.connections, records, secs, secs > 0 ? records / secs : 0.0,
        pct(0.50), pct(0.99), errors_.load());
    std::fflush(stdout);
  }

  long errors() const { return errors_.load(); }

 private:
  asio::awaitable<bool> Connect(beast::tcp_stream& stream) {
    tcp::resolver resolver(stream.get_executor());
    auto [rec, endpoints] = co_await resolver.async_resolve(o_.host, o_.port, kTuple);
    if (rec) {
      ReportError("resolve " + o_.host + ": " + rec.message());
      co_return false;
    }
    stream.expires_after(kRequestTimeout);
    auto [ec, ep] = co_await stream.async_connect(endpoints, kTuple);
    if (ec) {
      ReportError("connect " + o_.host + ":" + o_.port + ": " + ec.message());
      co_return false;
    }
    stream.socket().set_option(tcp::no_delay(true), ec);
    co_return true;
  }

  // Sends `body` as POST / and reads the reply: (error, status, body).
  asio::awaitable<std::tuple<beast::error_code, int, std::string>> Request(
      beast::tcp_stream& stream, beast::flat_buffer& buffer, std::string body) {
    http::request<http::string_body> req{http::verb::post, "/", 11};
    req.set(http::field::host, o_.host);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::authorization, auth_);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    stream.expires_after(kRequestTimeout);
    auto [wec, wn] = co_await http::async_write(stream, req, kTuple);
    if (wec) co_return std::make_tuple(wec, 0, std::string());
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (rec) co_return std::make_tuple(rec, 0, std::string());
    auto res = parser.release();
    co_return std::make_tuple(beast::error_code(), static_cast<int>(res.result_int()),
                              std::move(res.body()));
  }

  asio::awaitable<void> Connection(asio::io_context& ioc, const Phase& phase, long requests,
                                   std::vector<double>& latencies) {
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buffer;
    bool connected = false;
    for (;;) {
      long index = next_.fetch_add(1);
      if (index >= requests) break;
      long first = o_.start_id + index * o_.batch;
      long count = std::min(o_.batch, o_.records - index * o_.batch);
      std::string body = phase.make_body(o_, first, count);
      if (!connected) {
        stream.close();  // async_connect opens it again
        buffer.clear();
        connected = co_await Connect(stream);
        if (!connected) {
          // The request is lost; give up on this connection (the others go on).
          co_return;
        }
      }
      auto started = Clock::now();
      auto [ec, status, reply] = co_await Request(stream, buffer, std::move(body));
      latencies.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - started).count());
      if (ec) {
        ReportError(std::string(phase.name) + " request failed: " + ec.message());
        connected = false;
        continue;
      }
      if (status != 200) {
        ReportError(std::string(phase.name) + " got " + std::to_string(status) + ": " +
                    reply.substr(0, 300));
        continue;
      }
      std::string problem = phase.check(reply, count);
      if (!problem.empty()) ReportError(std::string(phase.name) + ": " + problem);
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  void ReportError(const std::string& what) {
    if (errors_.fetch_add(1) < 3) std::fprintf(stderr, "error: %s\n", what.c_str());
  }

  const Options& o_;
  const std::string auth_;
  std::atomic<long> next_{0};
  std::atomic<long> errors_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseFlags(argc, argv);
  Runner runner(o);
  const std::string db = Quote(o.database);
  const std::string table = Quote(o.table);
  if (o.fresh) {
    runner.Once(R"({"operation":"drop_table","database":)" + db + R"(,"table":)" + table + "}");
  }
  auto [s1, b1] = runner.Once(R"({"operation":"create_database","database":)" + db + "}");
  if (s1 == 0) {
    std::fprintf(stderr, "cannot reach %s:%s\n", o.host.c_str(), o.port.c_str());
    return 1;
  }
  if (s1 != 200 && b1.find("already exists") == std::string::npos) {
    std::fprintf(stderr, "create_database: %d %s\n", s1, b1.c_str());
    return 1;
  }
  auto [s2, b2] = runner.Once(R"({"operation":"create_table","database":)" + db + R"(,"table":)" +
                              table + R"(,"primary_key":"id"})");
  if (s2 != 200 && b2.find("already exists") == std::string::npos) {
    std::fprintf(stderr, "create_table: %d %s\n", s2, b2.c_str());
    return 1;
  }
  long errors = 0;
  runner.RunPhase(Phase{"insert", InsertBody, CheckNothing});
  errors += runner.errors();
  if (o.read) {
    runner.RunPhase(Phase{"read", ReadBody, CheckReadCount});
    errors += runner.errors();
  }
  return errors == 0 ? 0 : 1;
}
