#include "common/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace meshdb::common {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// The replication service adopts an upgraded socket's fd (ServiceImpl::OnUpgrade): between
// release and a successful assign the fd belongs to a UniqueFd, so a failed assign cannot leak it.
TEST(UniqueFdTest, ClosesOnScopeExitUnlessReleased) {
  int fds[2];
  ASSERT_EQ(0, ::pipe(fds));
  {
    UniqueFd owner(fds[0]);
    EXPECT_TRUE(owner.valid());
    EXPECT_TRUE(IsOpen(fds[0]));
  }
  EXPECT_FALSE(IsOpen(fds[0]));
  {
    UniqueFd owner(fds[1]);
    EXPECT_EQ(fds[1], owner.Release());
    EXPECT_FALSE(owner.valid());
  }
  EXPECT_TRUE(IsOpen(fds[1]));
  ::close(fds[1]);
}

TEST(UniqueFdTest, MoveTransfersOwnership) {
  int fds[2];
  ASSERT_EQ(0, ::pipe(fds));
  ::close(fds[1]);
  UniqueFd a(fds[0]);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(fds[0], b.get());
  b.Reset();
  EXPECT_FALSE(IsOpen(fds[0]));
}

}  // namespace
}  // namespace meshdb::common
