// Internal to config/: validation of a configuration tree against the known keys.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace meshdb::config::internal {

// Checks every known key present in `tree` (keys meshdb does not know are not checked).
// InvalidArgument naming the first bad key, e.g.
// "'logging.level' must be one of [notify, fatal, error, warn, info, debug, trace]".
Status ValidateTree(const boost::json::value& tree);

// Typed reads of an already validated value. Null and missing read as the fallback.
std::string ReadString(const boost::json::value& tree, const char* path,
                       const std::string& fallback);
int64_t ReadInt(const boost::json::value& tree, const char* path, int64_t fallback);
// A number (or numeric text) at `path`, else `fallback`.
double ReadNumber(const boost::json::value& tree, const char* path, double fallback);
bool ReadBool(const boost::json::value& tree, const char* path, bool fallback);
// The entries of a kIpList value: the array's strings, or a string split at commas (blanks
// around entries dropped); none for null. Entries are not checked here (ValidateTree does).
std::vector<std::string> ReadIpList(const boost::json::value& tree, const char* path);

}  // namespace meshdb::config::internal
