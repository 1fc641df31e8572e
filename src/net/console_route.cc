#include "net/console_route.h"

#include <string>

#include "console/assets.h"

namespace meshdb::net {

std::optional<HttpReply> ConsoleReply(std::string_view method, std::string_view path) {
  if (method != "GET") return std::nullopt;
  const console::Asset* asset = console::FindAsset(path);
  if (asset == nullptr) return std::nullopt;
  HttpReply reply;
  reply.content_type = std::string(asset->content_type);
  reply.body = std::string(asset->body);
  reply.headers = {
      {"Content-Security-Policy", kConsoleCsp},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      // The files change with the binary: a browser asks again rather than run a stale copy.
      {"Cache-Control", "no-store"},
  };
  return reply;
}

}  // namespace meshdb::net
