// A blocking HTTP/1.1 client for one request to a node's operations API (http:// only).
// Thread-safety: none needed; each call uses its own connection.
#pragma once

#include <string>

#include "common/status.h"

namespace meshdb::cli {

struct HttpAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// POSTs `json_body` to `url` ("http://host:port[/]") with `authorization` ("" for none), or
// GETs it when `json_body` is empty. Unavailable "cannot connect to <url>: <reason>" when the
// node cannot be reached within `timeout_s`; InvalidArgument for a URL it cannot use.
Result<HttpAnswer> Call(const std::string& url, const std::string& authorization,
                        const std::string& json_body, int timeout_s);

}  // namespace meshdb::cli
