#include "storage/write_text_check.h"

#include <optional>
#include <string>

#include "common/utf8.h"

namespace meshdb::storage {

namespace {

constexpr const char* kRule =
    " is not valid UTF-8 text: strings, keys and attribute names must be UTF-8 (no binary "
    "values)";

Status Refuse(size_t op, const std::string& what) {
  return Status::InvalidArgument("records[" + std::to_string(op) + "]" + what + kRule);
}

}  // namespace

Status CheckWriteText(const WriteRequest& request) {
  for (size_t i = 0; i < request.ops.size(); ++i) {
    const WriteOp& op = request.ops[i];
    if (FindInvalidUtf8(op.key)) return Refuse(i, "'s primary key");
    if (std::optional<std::string> path = FindInvalidUtf8(op.fields)) return Refuse(i, "." + *path);
  }
  return Status::Ok();
}

}  // namespace meshdb::storage
