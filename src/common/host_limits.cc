#include "common/host_limits.h"

#include <boost/json/object.hpp>
#include <boost/url/authority_view.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <optional>

namespace meshdb {

namespace {

// The host of a URL ("scheme://...") or of "host[:port]"; nullopt when `text` is neither.
std::optional<std::string> HostOf(std::string_view text) {
  if (text.find("://") != std::string_view::npos) {
    boost::urls::result<boost::urls::url_view> url = boost::urls::parse_uri(text);
    if (!url || !url->has_authority()) return std::nullopt;
    return url->host_address();
  }
  if (boost::urls::parse_ipv6_address(text)) return std::string(text);
  boost::urls::result<boost::urls::authority_view> authority = boost::urls::parse_authority(text);
  if (!authority) return std::nullopt;
  return authority->host_address();
}

Status CheckTextLength(std::string_view text, std::string_view field) {
  if (text.size() > kMaxUrlLength) {
    return Status::InvalidArgument(TooLongMessage(field, kMaxUrlLength));
  }
  std::optional<std::string> host = HostOf(text);
  if (host && host->size() > kMaxHostNameLength) {
    return Status::InvalidArgument("'" + std::string(field) +
                                   "' host length must be less than or equal to " +
                                   std::to_string(kMaxHostNameLength) + " characters long");
  }
  return Status::Ok();
}

}  // namespace

std::string TooLongMessage(std::string_view field, size_t limit) {
  return "'" + std::string(field) + "' length must be less than or equal to " +
         std::to_string(limit) + " characters long";
}

Status CheckUrlLength(std::string_view url, std::string_view field) {
  return CheckTextLength(url, field);
}

Status CheckRouteLength(const boost::json::value& entry, std::string_view field) {
  if (entry.is_string()) return CheckTextLength(entry.get_string(), field);
  if (!entry.is_object()) return Status::Ok();
  for (const char* key : {"hostname", "host"}) {
    const boost::json::value* host = entry.get_object().if_contains(key);
    if (host != nullptr && host->is_string() && host->get_string().size() > kMaxHostNameLength) {
      return Status::InvalidArgument(
          TooLongMessage(std::string(field) + "." + key, kMaxHostNameLength));
    }
  }
  return Status::Ok();
}

}  // namespace meshdb
