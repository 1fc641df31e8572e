#include "net/http_status.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/json_text.h"

namespace meshdb::net {

namespace json = boost::json;

int HttpStatusFor(const Status& status) {
  using Code = Status::Code;
  switch (status.code()) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kConflict:
      return 409;
    case Code::kTooLarge:
      return 413;
    case Code::kUnavailable:
      return 503;
    case Code::kCorruption:
    case Code::kIOError:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

std::string ErrorBody(const Status& status, const json::value& extra) {
  const json::object* fields = extra.if_object();
  if (fields != nullptr && fields->contains("error")) return ToJsonText(*fields);
  json::object body;
  body.reserve(1 + (fields != nullptr ? fields->size() : 0));
  body["error"] = status.message();
  if (fields != nullptr) {
    for (const auto& field : *fields) body[field.key()] = field.value();
  }
  return ToJsonText(body);
}

std::string ErrorBody(const std::string& message) {
  json::object body;
  body["error"] = message;
  return ToJsonText(body);
}

}  // namespace meshdb::net
