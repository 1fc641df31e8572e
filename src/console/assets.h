// The web console's static files (web/ in the source tree), compiled into the binary by
// src/console/embed_assets.cmake. Knows no HTTP: net/console_route.h serves them.
// Thread-safety: immutable data, safe from any thread.
#pragma once

#include <span>
#include <string_view>

namespace meshdb::console {

struct Asset {
  std::string_view path;          // "/index.html", "/js/main.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;          // the file's bytes, static storage
};

// Every embedded file (defined in the generated source).
std::span<const Asset> AllAssets();

// The file served at request path `path` (without the query): "/" is "/index.html".
// nullptr when there is none.
const Asset* FindAsset(std::string_view path);

}  // namespace meshdb::console
