// Files that hold secrets (private keys): written with mode 0600, read whole.
//
// Thread-safety: free functions with no shared state; concurrent writers of one path race
// as ordinary file writes do.
#pragma once

#include <string>

#include "common/status.h"

namespace meshdb::security {

// Writes `contents` to `path` with mode 0600 (replacing any existing file, whose mode is
// reset to 0600 too) and fsyncs it. IOError naming the path on failure.
Status WritePrivateFile(const std::string& path, const std::string& contents);

// The whole file. NotFound when it does not exist, IOError naming the path when it cannot
// be read.
Result<std::string> ReadWholeFile(const std::string& path);

// Creates `dir` (and its parents) when missing and sets its mode to 0700. IOError naming
// the directory on failure.
Status EnsurePrivateDirectory(const std::string& dir);

}  // namespace meshdb::security
