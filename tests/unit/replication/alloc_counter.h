// Counts bytes requested through the global operator new in this test binary, to show that
// the decoder does not allocate for lengths and counts a frame cannot back.
#pragma once

#include <cstddef>

namespace meshdb::replication {
size_t AllocatedBytesForTesting();
}  // namespace meshdb::replication
