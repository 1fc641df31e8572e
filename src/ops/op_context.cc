#include "ops/op_context.h"

namespace meshdb::ops {

const boost::json::object& Caller::permission() const {
  static const boost::json::object kEmpty;
  auto it = role.find("permission");
  if (it == role.end() || !it->value().is_object()) return kEmpty;
  return it->value().get_object();
}

void OpCall::ReplyMessage(const std::string& message) const {
  Reply(boost::json::object{{"message", message}});
}

}  // namespace meshdb::ops
