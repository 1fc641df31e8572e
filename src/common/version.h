// meshdb's version, as `meshdb --version` and meshdb_build_info show it. Keep in step with
// project(meshdb VERSION ...) in CMakeLists.txt.
#pragma once

namespace meshdb {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace meshdb
