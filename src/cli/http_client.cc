#include "cli/http_client.h"

#include <boost/url/parse.hpp>
#include <chrono>

#include "common/http_client.h"

namespace meshdb::cli {

Result<HttpAnswer> Call(const std::string& url, const std::string& authorization,
                        const std::string& json_body, const std::string& ca_file, int timeout_s) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->host().empty() ||
      (parsed->scheme() != "http" && parsed->scheme() != "https")) {
    return Status::InvalidArgument("'" + url + "' is not an http:// or https:// URL");
  }
  const bool tls = parsed->scheme() == "https";
  std::string base = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host());
  base += ":" + (parsed->has_port() ? std::string(parsed->port()) : tls ? "443" : "9925");
  HttpTlsFiles files;
  if (tls) files.ca_file = ca_file;
  ASSIGN_OR_RETURN(HttpClient client, HttpClient::Create(files));
  HttpRequest request;
  request.method = json_body.empty() ? "GET" : "POST";
  request.target = parsed->path().empty() ? "/" : std::string(parsed->encoded_path());
  request.body = json_body;
  request.headers.emplace_back("User-Agent", "meshdb-cli");
  if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
  request.max_response_bytes = uint64_t{1} << 30;
  ASSIGN_OR_RETURN(HttpResponse response,
                   client.Send(base, request, std::chrono::seconds(timeout_s)));
  return HttpAnswer{response.status, std::move(response.body)};
}

}  // namespace meshdb::cli
