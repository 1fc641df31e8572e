// meshdb_load: an HTTP(S) load generator for the operations API.
//
//   meshdb_load --url http[s]://127.0.0.1:9925 --user admin --password password
//       --records N --batch B --connections C [--database bench --table load] [--read]
//       [--start-id S] [--fresh] [--threads T] [--cacert FILE] [--new-connection]
//       [--data random|sequential] [--keys int|uuid]
//       [--sql] [--no-insert] [--server-pid PID]
//
// Creates the database and table, inserts N records (~180 bytes each) with `insert`
// operations of B records over C keep-alive connections, and prints one line per phase:
//   insert batch=B conns=C records=N secs=... rec/s=... p50_ms=... p99_ms=... max_ms=... errors=...
//       cli_cpu_us=... [srv_cpu_us=...]
// The keep-alive connections are opened (and for https handshaken) before a phase's clock
// starts, so secs, rec/s and the latencies are the requests' alone; --new-connection counts
// each connect and handshake. cli_cpu_us is this process's CPU time (user + system, all
// threads) per request during the phase; with --server-pid PID, srv_cpu_us is that process's
// (from /proc/PID/stat, 10 ms ticks): on a machine the client shares with the server, CPU per
// request is the fairer figure for comparing HTTP with HTTPS, since rates also pay the
// client's work.
// --read reads every record back with search_by_id (B ids per request) and prints `read`.
// --sql reads them back with the `sql` operation: `sql_by_id` (B=1: `WHERE id = X`, a
// primary-key lookup; else a primary-key range of B ids), `sql_by_name` (B=1: `WHERE name =
// <record X's name>`, a secondary-index lookup; else `name IN (...)`), then one `SELECT COUNT(*)`
// (`sql_count`, its latency). --no-insert skips the insert phase (data already loaded).
// https:// URLs speak TLS (1.2 or later) and verify the server's certificate and name against
// --cacert FILE (PEM), or against the system's authorities without it. --new-connection opens
// a connection (and for https does a full handshake) for every request, sending
// `Connection: close`; the latency then includes the connect and the handshake.
// Only loopback-style targets are meant: it sends a bounded number of requests and stops.
//
// Data (--data): `random` (the default) is what users' tables hold: keys in random order
// (integers below 2^53, or UUIDs with --keys uuid), `user-N` names with N random, random
// numbers, and 120 characters of random words. `sequential` is the old flattering data:
// keys 0, 1, 2, ..., names and numbers derived from the key and one repeated text, so index
// inserts land next to each other (a B-tree looks 2-3x faster than on real data). Record i is
// the same in every run (a hash of i), so two systems get the same data and --read finds it.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "record_data.h"

namespace {

namespace bench = meshdb::bench;
using bench::AppendRecord;
using bench::KeyJson;
using bench::NameOf;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
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
  bool tls = false;             // https:// URL
  std::string cacert;           // --cacert: authorities that verify the server ("" = system's)
  bool new_connection = false;  // --new-connection: a connection per request
  bench::DataShape shape;       // --data random|sequential, --keys int|uuid
  bool sql = false;             // --sql: the sql read phases
  bool insert = true;           // false: --no-insert
  long server_pid = 0;          // --server-pid: report that process's CPU per request
};

[[noreturn]] void Usage(const std::string& error) {
  std::cerr << "meshdb_load: " << error << "\n"
            << "usage: meshdb_load --url http[s]://HOST:PORT --user U --password P --records N "
               "--batch B --connections C [--database D] [--table T] [--read] [--start-id S] "
               "[--fresh] [--threads T] [--cacert FILE] [--new-connection] "
               "[--data random|sequential] [--keys int|uuid] [--sql] [--no-insert] "
               "[--server-pid PID]\n";
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
      if (rest.substr(0, 7) == "http://") {
        o.tls = false;
        rest.remove_prefix(7);
      } else if (rest.substr(0, 8) == "https://") {
        o.tls = true;
        rest.remove_prefix(8);
      } else {
        Usage("only http:// and https:// URLs are supported: " + url);
      }
      rest = rest.substr(0, rest.find('/'));
      size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos) {
        o.host = std::string(rest);
        o.port = o.tls ? "443" : "80";
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
    } else if (flag == "--cacert") {
      o.cacert = value();
    } else if (flag == "--new-connection") {
      o.new_connection = true;
    } else if (flag == "--data") {
      std::string data = value();
      if (data != "random" && data != "sequential") Usage("--data is random or sequential");
      o.shape.data = data == "random" ? bench::DataKind::kRandom : bench::DataKind::kSequential;
    } else if (flag == "--keys") {
      std::string keys = value();
      if (keys != "int" && keys != "uuid") Usage("--keys is int or uuid");
      o.shape.keys = keys == "uuid" ? bench::KeyKind::kUuid : bench::KeyKind::kInt;
    } else if (flag == "--sql") {
      o.sql = true;
    } else if (flag == "--no-insert") {
      o.insert = false;
    } else if (flag == "--server-pid") {
      o.server_pid = ParseLong(flag, value(), 1);
    } else {
      Usage("unknown flag " + flag);
    }
  }
  if (o.shape.keys == bench::KeyKind::kUuid && o.shape.data == bench::DataKind::kSequential)
    Usage("--keys uuid needs --data random");
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
    AppendRecord(o.shape, body, first + i);
  }
  body += "]}";
  return body;
}

std::string ReadBody(const Options& o, long first, long count) {
  std::string body = R"({"operation":"search_by_id","database":)" + Quote(o.database) +
                     R"(,"table":)" + Quote(o.table) + R"(,"ids":[)";
  for (long i = 0; i < count; ++i) {
    if (i > 0) body += ',';
    body += KeyJson(o.shape, first + i);
  }
  body += R"(],"get_attributes":["*"]})";
  return body;
}

std::string SqlBody(const std::string& statement) {
  return R"({"operation":"sql","sql":)" + Quote(statement) + "}";
}

std::string QualifiedTable(const Options& o) { return "`" + o.database + "`.`" + o.table + "`"; }

// Record `index`'s key as an SQL literal (UUIDs in single quotes).
std::string SqlKey(const Options& o, long index) {
  std::string key = KeyJson(o.shape, index);
  if (key.front() == '"') key = "'" + key.substr(1, key.size() - 2) + "'";
  return key;
}

std::string SqlByIdBody(const Options& o, long first, long count) {
  std::string where;
  if (count == 1) {
    where = "id = " + SqlKey(o, first);
  } else if (o.shape.data == bench::DataKind::kSequential) {
    where = "id >= " + std::to_string(first) + " AND id < " + std::to_string(first + count);
  } else {  // random keys: no range holds exactly these
    where = "id IN (";
    for (long i = 0; i < count; ++i) where += (i > 0 ? "," : "") + SqlKey(o, first + i);
    where += ")";
  }
  return SqlBody("SELECT * FROM " + QualifiedTable(o) + " WHERE " + where);
}

std::string SqlByNameBody(const Options& o, long first, long count) {
  auto name = [&o](long index) { return "'" + NameOf(o.shape, index) + "'"; };
  std::string where = count == 1 ? "name = " + name(first) : "name IN (";
  if (count > 1) {
    for (long i = 0; i < count; ++i) where += (i > 0 ? "," : "") + name(first + i);
    where += ")";
  }
  return SqlBody("SELECT id, name, num FROM " + QualifiedTable(o) + " WHERE " + where);
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

// As CheckReadCount, but names may be shared: at least `count` records.
std::string CheckAtLeastCount(const std::string& body, long count) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_array()) return "read reply is not a JSON array";
  if (static_cast<long>(v.get_array().size()) < count) {
    return "read returned " + std::to_string(v.get_array().size()) + " of at least " +
           std::to_string(count) + " records";
  }
  return "";
}

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// The client TLS context: TLS 1.2+, the server's certificate verified against --cacert (or the
// system's authorities); the name is checked per connection (see Runner::Connect).
ssl::context MakeTlsContext(const Options& o) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (o.cacert.empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.load_verify_file(o.cacert, ec);
  }
  if (ec) {
    std::fprintf(stderr, "meshdb_load: cannot load %s: %s\n",
                 o.cacert.empty() ? "the system's authorities" : o.cacert.c_str(),
                 ec.message().c_str());
    std::exit(2);
  }
  return ctx;
}

class Runner {
 public:
  Runner(const Options& o, ssl::context* tls)
      : o_(o), tls_(tls), auth_("Basic " + Base64(o.user + ":" + o.password)) {}

  // One request on a fresh connection, for setup. Returns status (0 on I/O error) and body.
  std::pair<int, std::string> Once(const std::string& body) {
    asio::io_context ioc;
    std::pair<int, std::string> out{0, ""};
    auto once = [&]<class Stream>(std::type_identity<Stream>) -> asio::awaitable<void> {
      std::optional<Stream> stream;
      beast::flat_buffer buffer;
      if (!co_await Connect(ioc, stream)) co_return;
      auto [ec, status, reply] = co_await Request(*stream, buffer, body, false);
      out = {ec ? 0 : status, std::move(reply)};
    };
    if (o_.tls) {
      asio::co_spawn(ioc, once(std::type_identity<TlsStream>{}), asio::detached);
    } else {
      asio::co_spawn(ioc, once(std::type_identity<beast::tcp_stream>{}), asio::detached);
    }
    ioc.run();
    return out;
  }

  void RunPhase(const Phase& phase) {
    if (o_.tls) {
      RunPhaseOver<TlsStream>(phase);
    } else {
      RunPhaseOver<beast::tcp_stream>(phase);
    }
  }

  [[nodiscard]] long errors() const { return errors_.load(); }

 private:
  template <class Stream>
  void RunPhaseOver(const Phase& phase) {
    const long requests = (o_.records + o_.batch - 1) / o_.batch;
    next_.store(0);
    errors_.store(0);
    std::vector<std::vector<double>> latencies(o_.connections);
    asio::io_context ioc(o_.threads);
    std::vector<std::optional<Stream>> streams(o_.connections);  // destroyed before ioc
    // Keep-alive connections are opened before the clock starts (in parallel), so the phase
    // times requests, not handshakes; one that fails to open is retried in Connection.
    if (!o_.new_connection) {
      for (int c = 0; c < o_.connections; ++c) {
        asio::co_spawn(
            ioc,
            [this, &ioc, &stream = streams[c]]() -> asio::awaitable<void> {
              if (!co_await Connect(ioc, stream)) stream.reset();
            },
            asio::detached);
      }
      RunThreads(ioc);
      ioc.restart();
    }
    for (int c = 0; c < o_.connections; ++c) {
      asio::co_spawn(ioc, Connection(ioc, phase, requests, streams[c], latencies[c]),
                     asio::detached);
    }
    const CpuTimes before = Cpu();
    auto started = Clock::now();
    RunThreads(ioc);
    double secs = std::chrono::duration<double>(Clock::now() - started).count();
    const CpuTimes after = Cpu();

    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      if (all.empty()) return 0.0;
      auto last = static_cast<double>(all.size() - 1);
      size_t i = std::min(all.size() - 1, static_cast<size_t>(std::lround(p * last)));
      return all[i];
    };
    long sent = std::min(next_.load(), requests);
    long records = std::min(o_.records, sent * o_.batch);
    auto per_request = [sent](double us) {
      return sent > 0 ? us / static_cast<double>(sent) : 0.0;
    };
    std::string server_cpu;
    if (before.server_us >= 0 && after.server_us >= 0) {
      char text[48];
      std::snprintf(text, sizeof text, " srv_cpu_us=%.1f",
                    per_request(after.server_us - before.server_us));
      server_cpu = text;
    }
    std::printf(
        "%s batch=%ld conns=%d records=%ld secs=%.3f rec/s=%.0f p50_ms=%.3f "
        "p99_ms=%.3f max_ms=%.3f errors=%ld cli_cpu_us=%.1f%s\n",
        phase.name, o_.batch, o_.connections, records, secs,
        secs > 0 ? static_cast<double>(records) / secs : 0.0, pct(0.50), pct(0.99), pct(1.0),
        errors_.load(), per_request(after.client_us - before.client_us), server_cpu.c_str());
    for (auto& stream : streams) Close(stream);
    std::fflush(stdout);
  }

  void RunThreads(asio::io_context& ioc) const {
    std::vector<std::thread> threads;
    for (int t = 1; t < o_.threads; ++t) threads.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
  }

  // CPU time (user + system, microseconds) used so far by this process and by --server-pid
  // (-1 without one or when it cannot be read).
  struct CpuTimes {
    double client_us = 0;
    double server_us = -1;
  };
  [[nodiscard]] CpuTimes Cpu() const {
    CpuTimes out;
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto us = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
    };
    out.client_us = us(usage.ru_utime) + us(usage.ru_stime);
    if (o_.server_pid > 0) {
      std::ifstream in("/proc/" + std::to_string(o_.server_pid) + "/stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // Fields after the command (which may hold spaces) start at the last ')': state is
      // field 3, utime and stime are fields 14 and 15 (clock ticks).
      size_t paren = stat.rfind(')');
      if (paren != std::string::npos) {
        std::istringstream fields(stat.substr(paren + 1));
        std::string field;
        double ticks = 0;
        int index = 2;
        while (fields >> field && ++index <= 15) {
          if (index >= 14) ticks += std::strtod(field.c_str(), nullptr);
        }
        if (index > 15) out.server_us = ticks * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
      }
    }
    return out;
  }

  // Makes a new stream in `stream` (a TLS session cannot be reused after a close), connects it
  // and, for TLS, does the handshake (SNI for host names, certificate and name verified).
  template <class Stream>
  asio::awaitable<bool> Connect(asio::io_context& ioc, std::optional<Stream>& stream) {
    if constexpr (kIsTls<Stream>) {
      stream.emplace(ioc, *tls_);
    } else {
      stream.emplace(ioc);
    }
    tcp::resolver resolver(ioc);
    auto [rec, endpoints] = co_await resolver.async_resolve(o_.host, o_.port, kTuple);
    if (rec) {
      ReportError("resolve " + o_.host + ": " + rec.message());
      co_return false;
    }
    beast::tcp_stream& tcp_layer = beast::get_lowest_layer(*stream);
    tcp_layer.expires_after(kRequestTimeout);
    auto [ec, ep] = co_await tcp_layer.async_connect(endpoints, kTuple);
    if (ec) {
      ReportError("connect " + o_.host + ":" + o_.port + ": " + ec.message());
      co_return false;
    }
    tcp_layer.socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kIsTls<Stream>) {
      boost::system::error_code not_ip;
      asio::ip::make_address(o_.host, not_ip);
      if (not_ip) SSL_set_tlsext_host_name(stream->native_handle(), o_.host.c_str());
      stream->set_verify_callback(ssl::host_name_verification(o_.host));
      auto [hec] = co_await stream->async_handshake(ssl::stream_base::client, kTuple);
      if (hec) {
        ReportError("TLS handshake with " + o_.host + ":" + o_.port + ": " + hec.message());
        co_return false;
      }
    }
    co_return true;
  }

  // Sends `body` as POST / and reads the reply: (error, status, body).
  template <class Stream>
  asio::awaitable<std::tuple<beast::error_code, int, std::string>> Request(
      Stream& stream, beast::flat_buffer& buffer, std::string body, bool keep_alive) {
    http::request<http::string_body> req{http::verb::post, "/", 11};
    req.set(http::field::host, o_.host);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::authorization, auth_);
    req.keep_alive(keep_alive);
    req.body() = std::move(body);
    req.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(kRequestTimeout);
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

  template <class Stream>
  void Close(std::optional<Stream>& stream) {
    if (!stream) return;
    beast::error_code ignored;
    beast::get_lowest_layer(*stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(*stream).close();
  }

  // Sends requests until the phase's are all taken, over `stream` (opened before the clock
  // started; opened here when empty, and for every request with --new-connection).
  template <class Stream>
  asio::awaitable<void> Connection(asio::io_context& ioc, const Phase& phase, long requests,
                                   std::optional<Stream>& stream, std::vector<double>& latencies) {
    beast::flat_buffer buffer;
    bool connected = stream.has_value();
    for (;;) {
      long index = next_.fetch_add(1);
      if (index >= requests) break;
      long first = o_.start_id + index * o_.batch;
      long count = std::min(o_.batch, o_.records - index * o_.batch);
      std::string body = phase.make_body(o_, first, count);
      // With --new-connection the connect (and handshake) is part of the request's latency.
      auto started = Clock::now();
      if (!connected) {
        Close(stream);
        buffer.clear();
        connected = co_await Connect(ioc, stream);
        if (!connected) {
          // The request is lost; give up on this connection (the others go on).
          co_return;
        }
      }
      if (!o_.new_connection) started = Clock::now();
      auto [ec, status, reply] =
          co_await Request(*stream, buffer, std::move(body), !o_.new_connection);
      latencies.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - started).count());
      if (ec || o_.new_connection) connected = false;
      if (ec) {
        ReportError(std::string(phase.name) + " request failed: " + ec.message());
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
  }

  void ReportError(const std::string& what) {
    if (errors_.fetch_add(1) < 3) std::fprintf(stderr, "error: %s\n", what.c_str());
  }

  const Options& o_;
  ssl::context* tls_;  // for https:// URLs
  const std::string auth_;
  std::atomic<long> next_{0};
  std::atomic<long> errors_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseFlags(argc, argv);
  std::optional<ssl::context> tls;
  if (o.tls) tls.emplace(MakeTlsContext(o));
  Runner runner(o, tls ? &*tls : nullptr);
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
  if (o.insert) {
    runner.RunPhase(Phase{"insert", InsertBody, CheckNothing});
    errors += runner.errors();
  }
  if (o.read) {
    runner.RunPhase(Phase{"read", ReadBody, CheckReadCount});
    errors += runner.errors();
  }
  if (o.sql) {
    runner.RunPhase(Phase{"sql_by_id", SqlByIdBody, CheckReadCount});
    errors += runner.errors();
    runner.RunPhase(Phase{"sql_by_name", SqlByNameBody, CheckAtLeastCount});
    errors += runner.errors();
    const auto start = Clock::now();
    auto [status, body] = runner.Once(SqlBody("SELECT COUNT(*) AS n FROM " + QualifiedTable(o)));
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::printf("sql_count status=%d ms=%.3f reply=%s\n", status, ms, body.substr(0, 80).c_str());
    if (status != 200) ++errors;
  }
  return errors == 0 ? 0 : 1;
}
