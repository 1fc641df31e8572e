#include "storage/store.h"

namespace meshdb::storage {

const AttributeDef* TableDef::FindAttribute(const std::string& attr) const {
  for (const auto& a : attributes) {
    if (a.name == attr) return &a;
  }
  return nullptr;
}

}  // namespace meshdb::storage
