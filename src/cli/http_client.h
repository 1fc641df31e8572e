// One request of the CLI to a node's operations API, over http:// or https://, through the
// shared blocking client (common/http_client.h).
// Thread-safety: none needed; each call uses its own connection.
#pragma once

#include <string>

#include "common/status.h"

namespace meshdb::cli {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// POSTs `json_body` to `url` ("http[s]://host[:port][/path]"; port 9925 when an http:// URL
// has none, 443 for https://) with `authorization` ("" for none), or GETs it when
// `json_body` is empty. For https:// the node's certificate must verify against `ca_file`
// (PEM; "" = the system's CAs) and name the URL's host. Unavailable "cannot reach <url>:
// <reason>" when the node cannot be reached, does not answer within `timeout_s`, or fails
// the TLS check; InvalidArgument for a URL it cannot use or a CA file it cannot load.
Result<HttpAnswer> Call(const std::string& url, const std::string& authorization,
                        const std::string& json_body, const std::string& ca_file, int timeout_s);

}  // namespace meshdb::cli
