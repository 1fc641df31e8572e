#include "ops/fields.h"

namespace meshdb::ops {

namespace json = boost::json;

Result<std::string> DatabaseField(const json::object& body) {
  const json::value* v = FirstOf(body, {"database", "schema"});
  if (v == nullptr || v->is_null()) return std::string("data");
  if (!v->is_string()) return Status::InvalidArgument("'database' must be a string");
  if (v->get_string().empty())
    return Status::InvalidArgument("'database' is not allowed to be empty");
  return std::string(v->get_string());
}

Result<std::string> RequiredString(const json::object& body, std::string_view name) {
  auto it = body.find(name);
  if (it == body.end() || it->value().is_null()) {
    return Status::InvalidArgument("'" + std::string(name) + "' is required");
  }
  if (!it->value().is_string()) {
    return Status::InvalidArgument("'" + std::string(name) + "' must be a string");
  }
  if (it->value().get_string().empty()) {
    return Status::InvalidArgument("'" + std::string(name) + "' is not allowed to be empty");
  }
  return std::string(it->value().get_string());
}

Result<std::string> OptionalString(const json::object& body, std::string_view name) {
  auto it = body.find(name);
  if (it == body.end() || it->value().is_null()) return std::string();
  if (!it->value().is_string()) {
    return Status::InvalidArgument("'" + std::string(name) + "' must be a string");
  }
  return std::string(it->value().get_string());
}

const json::value* FirstOf(const json::object& body,
                           std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    auto it = body.find(name);
    if (it != body.end()) return &it->value();
  }
  return nullptr;
}

Status ValidateName(std::string_view field, const std::string& name) {
  bool ok = !name.empty() && name.size() <= 250;
  for (unsigned char c : name) {
    if (c < 0x20 || c > 0x7E || c == '/' || c == '`') ok = false;
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("'" + std::string(field) +
                                 "' names cannot include backticks or forward slashes");
}

Status JoinValidation(const std::vector<std::string>& messages) {
  if (messages.empty()) return Status::Ok();
  std::string joined;
  for (const std::string& m : messages) {
    if (!joined.empty()) joined += ". ";
    joined += m;
  }
  return Status::InvalidArgument(joined);
}

}  // namespace meshdb::ops
