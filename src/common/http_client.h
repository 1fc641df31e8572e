// A blocking HTTP/1.1 client, for the discovery stores' JSON APIs (etcd's v3 gateway,
// Consul's /v1) and csv_url_load: one request per connection, one deadline for the whole exchange
// (resolve, connect, handshake, write, read), plain or TLS. Replies sent chunked (etcd's keepalive)
// are read whole.
//
// TLS: the server's certificate is verified against `ca_file` (else the system's CAs) and
// its name against the URL's host; `cert_file`/`key_file` add a client certificate.
//
// Thread-safety: Send may be called from several threads at once (each call has its own
// io_context and connection).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace meshdb {

struct HttpTlsFiles {
  std::string ca_file;    // PEM CA bundle that signs the server ("" = the system's)
  std::string cert_file;  // client certificate chain (PEM), with key_file; "" = none
  std::string key_file;
};

struct HttpRequest {
  std::string method = "GET";  // GET, PUT, POST, DELETE
  std::string target;          // path and query: "/v3/kv/range", "/v1/kv/k?cas=0"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t max_response_bytes = uint64_t{8} << 20;  // a larger body is an error
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  // Loads the TLS files (used for https:// URLs only). InvalidArgument naming the file that
  // cannot be read or does not parse.
  static Result<HttpClient> Create(const HttpTlsFiles& tls);

  // Sends `request` to `base_url` ("http://host:port" or "https://host:port"). Unavailable
  // saying why when the server cannot be reached, does not answer HTTP in time, or fails
  // the TLS check; InvalidArgument for a malformed base URL. Any HTTP status is a response.
  [[nodiscard]] Result<HttpResponse> Send(const std::string& base_url, const HttpRequest& request,
                                          std::chrono::milliseconds timeout) const;

 private:
  explicit HttpClient(std::shared_ptr<boost::asio::ssl::context> tls) : tls_(std::move(tls)) {}
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace meshdb
