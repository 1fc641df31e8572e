#include "replication/engine/ws_url.h"

#include <boost/url/authority_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

namespace meshdb::replication {

namespace urls = boost::urls;

Result<WsUrl> ParseWsUrl(std::string_view url) {
  urls::result<urls::url_view> parsed = urls::parse_uri(url);
  // Boost.URL 1.81 reads "ws://h:1x" as port 1 and path "x"; after an authority, RFC 3986
  // allows only an empty path or one starting with '/'.
  if (!parsed || !parsed->has_authority() ||
      (!parsed->encoded_path().empty() && parsed->encoded_path().front() != '/')) {
    return Status::InvalidArgument("not a URL: '" + std::string(url) + "'");
  }
  WsUrl out;
  if (parsed->scheme_id() == urls::scheme::ws) {
    out.scheme = "ws";
  } else if (parsed->scheme_id() == urls::scheme::wss) {
    out.scheme = "wss";
  } else {
    return Status::InvalidArgument("unsupported scheme '" + std::string(parsed->scheme()) +
                                   "' in '" + std::string(url) + "' (ws:// or wss://)");
  }
  urls::authority_view authority = parsed->authority();
  out.host = authority.host_address();
  if (out.host.empty()) return Status::InvalidArgument("empty host in '" + std::string(url) + "'");
  if (authority.has_port()) {
    std::string_view port = authority.port();
    int n = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || n <= 0 ||
        n > 65535) {
      return Status::InvalidArgument("invalid port '" + std::string(port) + "' in '" +
                                     std::string(url) + "'");
    }
    out.port = n;
  }
  return out;
}

}  // namespace meshdb::replication
