#include "replication/cluster/peer_addresses.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

namespace meshdb::replication {

namespace {

// The text of the address in `info` ("" for another family).
std::string AddressText(const addrinfo& info) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* raw = nullptr;
  if (info.ai_family == AF_INET) {
    raw = &reinterpret_cast<const sockaddr_in*>(info.ai_addr)->sin_addr;
  } else if (info.ai_family == AF_INET6) {
    raw = &reinterpret_cast<const sockaddr_in6*>(info.ai_addr)->sin6_addr;
  } else {
    return "";
  }
  if (inet_ntop(info.ai_family, raw, text, sizeof(text)) == nullptr) return "";
  return text;
}

}  // namespace

std::vector<std::string> PeerHosts(const std::vector<Route>& routes,
                                   const std::vector<NodeRow>& rows, const std::string& self_name) {
  std::vector<std::string> hosts;
  hosts.reserve(routes.size() + rows.size());
  for (const Route& route : routes) hosts.push_back(route.host);
  for (const NodeRow& row : rows) {
    if (row.name == self_name) continue;
    if (row.url.empty()) {
      hosts.push_back(row.name);
      continue;
    }
    if (Result<Route> url = ParseUrl(row.url); url.ok()) hosts.push_back(url->host);
  }
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  std::erase(hosts, std::string());
  return hosts;
}

ResolvedHosts ResolveHosts(const std::vector<std::string>& hosts) {
  ResolvedHosts out;
  for (const std::string& host : hosts) {
    if (Result<common::IpBlock> literal = common::ParseIpBlock(host);
        literal.ok() && host.find('/') == std::string::npos) {
      out.addresses.Add(*literal);
      continue;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(found, &freeaddrinfo);
    if (rc != 0) {
      out.unresolved.push_back(host + ": " + gai_strerror(rc));
      continue;
    }
    bool any = false;
    for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
      Result<common::IpBlock> address = common::ParseIpBlock(AddressText(*info));
      if (!address.ok()) continue;
      out.addresses.Add(*address);
      any = true;
    }
    if (!any) out.unresolved.push_back(host + ": no IP address");
  }
  return out;
}

}  // namespace meshdb::replication
