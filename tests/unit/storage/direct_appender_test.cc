#include "storage/direct_appender.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>

#include "common/unique_fd.h"
#include "temp_dir.h"

namespace meshdb::storage {
namespace {

using meshdb::testing::ReadWholeFile;
using meshdb::testing::TempDir;

// Parameter: whether writes go through io_uring (UseRing) or are synchronous.
class DirectAppenderTest : public ::testing::TestWithParam<bool> {
 protected:
  // An appender as the parameter says; skips the test when the kernel refuses io_uring.
  void SetUp() override {
    std::string why;
    if (GetParam() && !appender_.UseRing(&why)) GTEST_SKIP() << "no io_uring here: " << why;
  }
  DirectAppender appender_;
};

INSTANTIATE_TEST_SUITE_P(Writes, DirectAppenderTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Ring" : "Synchronous"; });

// Appends of every size, across and onto block boundaries, leave exactly their bytes in the
// file, followed by zeros to the end of the last block, over whatever the file held before.
TEST_P(DirectAppenderTest, AppendsLeaveTheirBytesThenZerosOverOlderContent) {
  TempDir dir("meshdb-direct");
  const std::string path = dir.path() + "/log";
  constexpr size_t kFileBytes = 64 << 10;
  {
    std::ofstream old(path, std::ios::binary);
    old << std::string(kFileBytes, '\xee');  // an older generation's bytes
  }
  common::UniqueFd fd(::open(path.c_str(), O_RDWR | O_DIRECT | O_DSYNC));
  if (!fd.valid() && errno == EINVAL) GTEST_SKIP() << "no O_DIRECT on this filesystem";
  ASSERT_TRUE(fd.valid());
  std::mt19937 rng(7);
  DirectAppender& appender = appender_;
  for (int round = 0; round < 2; ++round) {
    std::string expected;
    for (size_t size : {1, 4095, 1, 4096, 5000, 3, 8192, 7, 0, 2048, 2048}) {
      std::string bytes(size, '\0');
      for (char& c : bytes) c = static_cast<char>('a' + rng() % 26);
      // Started, then the caller's copy is gone before the write finishes.
      ASSERT_TRUE(appender.Start(fd.get(), expected.size(), bytes).ok());
      std::string copy = bytes;
      std::fill(bytes.begin(), bytes.end(), '!');
      ASSERT_TRUE(appender.Finish().ok());
      bytes = copy;
      expected += bytes;
      const std::string file = ReadWholeFile(path);
      ASSERT_EQ(file.substr(0, expected.size()), expected) << "after " << size << " bytes";
      const size_t block_end = (expected.size() + 4095) / 4096 * 4096;
      EXPECT_EQ(file.substr(expected.size(), block_end - expected.size()),
                std::string(block_end - expected.size(), '\0'));
    }
    // The next generation starts the file again from offset 0.
    appender.Restart();
  }
}

TEST_P(DirectAppenderTest, AnAppendThatDoesNotFollowThePreviousOneIsRefused) {
  TempDir dir("meshdb-direct");
  const std::string path = dir.path() + "/log";
  common::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT | O_DSYNC, 0644));
  if (!fd.valid() && errno == EINVAL) GTEST_SKIP() << "no O_DIRECT on this filesystem";
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), 16 << 10), 0);
  DirectAppender& appender = appender_;
  ASSERT_TRUE(appender.Append(fd.get(), 0, "abc").ok());
  EXPECT_EQ(appender.Append(fd.get(), 10, "def").code(), Status::Code::kInternal);
  // One write at a time: a second Start before Finish is refused, and the first completes.
  ASSERT_TRUE(appender.Start(fd.get(), 3, "def").ok());
  EXPECT_EQ(appender.Start(fd.get(), 6, "ghi").code(), Status::Code::kInternal);
  EXPECT_TRUE(appender.Finish().ok());
  EXPECT_EQ(appender.Finish().code(), Status::Code::kInternal);
  EXPECT_EQ(ReadWholeFile(path).substr(0, 6), "abcdef");
}

}  // namespace
}  // namespace meshdb::storage
