#include "common/ip_allow_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace meshdb::common {
namespace {

// The parsed block as text, or the error's message.
std::string Parsed(const std::string& text) {
  Result<IpBlock> block = ParseIpBlock(text);
  return block.ok() ? block->ToString() : block.status().ToString();
}

TEST(IpAllowListTest, ParsesAddressesAndBlocks) {
  EXPECT_EQ("127.0.0.2", Parsed("127.0.0.2"));
  EXPECT_EQ("127.0.0.2", Parsed("127.0.0.2/32"));
  EXPECT_EQ("10.0.0.0/8", Parsed("10.0.0.0/8"));
  EXPECT_EQ("0.0.0.0/0", Parsed("0.0.0.0/0"));
  EXPECT_EQ("::1", Parsed("::1"));
  EXPECT_EQ("fd00::/8", Parsed("fd00::/8"));
  EXPECT_EQ("2001:db8::/32", Parsed("2001:db8::/32"));
  // An IPv4-mapped IPv6 address is the IPv4 address it maps.
  EXPECT_EQ("10.1.2.3", Parsed("::ffff:10.1.2.3"));
}

TEST(IpAllowListTest, RefusesBadEntries) {
  const std::string shape = " is not an IP address or a CIDR block (10.0.0.0/8, fd00::/8)";
  EXPECT_EQ("InvalidArgument: 'node2.example'" + shape, Parsed("node2.example"));
  EXPECT_EQ("InvalidArgument: ''" + shape, Parsed(""));
  EXPECT_EQ("InvalidArgument: '10.0.0.300'" + shape, Parsed("10.0.0.300"));
  EXPECT_EQ("InvalidArgument: '10.0.0'" + shape, Parsed("10.0.0"));
  EXPECT_EQ("InvalidArgument: ' 10.0.0.1'" + shape, Parsed(" 10.0.0.1"));
  EXPECT_EQ("InvalidArgument: 'fe80::1%eth0'" + shape, Parsed("fe80::1%eth0"));
  EXPECT_EQ("InvalidArgument: '/8'" + shape, Parsed("/8"));
  EXPECT_EQ("InvalidArgument: '10.0.0.0/33': the prefix length must be 0-32 for an IPv4 block",
            Parsed("10.0.0.0/33"));
  EXPECT_EQ("InvalidArgument: '10.0.0.0/': the prefix length must be 0-32 for an IPv4 block",
            Parsed("10.0.0.0/"));
  EXPECT_EQ("InvalidArgument: '10.0.0.0/-1': the prefix length must be 0-32 for an IPv4 block",
            Parsed("10.0.0.0/-1"));
  EXPECT_EQ("InvalidArgument: '10.0.0.0/8x': the prefix length must be 0-32 for an IPv4 block",
            Parsed("10.0.0.0/8x"));
  EXPECT_EQ("InvalidArgument: 'fd00::/129': the prefix length must be 0-128 for an IPv6 block",
            Parsed("fd00::/129"));
  EXPECT_EQ(
      "InvalidArgument: '10.0.0.1/8' has bits set past its /8 prefix (did you mean "
      "10.0.0.0/8?)",
      Parsed("10.0.0.1/8"));
  EXPECT_EQ("InvalidArgument: 'fd12::/8' has bits set past its /8 prefix (did you mean fd00::/8?)",
            Parsed("fd12::/8"));
}

TEST(IpAllowListTest, MatchesSingleAddresses) {
  Result<IpAllowList> list = IpAllowList::Parse({"127.0.0.2", "::1"});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE(list->Contains("127.0.0.2"));
  EXPECT_TRUE(list->Contains("::ffff:127.0.0.2"));
  EXPECT_FALSE(list->Contains("127.0.0.3"));
  EXPECT_FALSE(list->Contains("127.0.0.20"));
  EXPECT_TRUE(list->Contains("::1"));
  EXPECT_TRUE(list->Contains("0:0::1"));
  EXPECT_FALSE(list->Contains("::2"));
  EXPECT_FALSE(list->Contains("localhost"));
  EXPECT_FALSE(list->Contains(""));
  EXPECT_EQ("127.0.0.2, ::1", list->ToString());
}

TEST(IpAllowListTest, MatchesV4Blocks) {
  Result<IpAllowList> list = IpAllowList::Parse({"10.0.0.0/8", "192.168.4.0/22"});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE(list->Contains("10.0.0.0"));
  EXPECT_TRUE(list->Contains("10.255.255.255"));
  EXPECT_FALSE(list->Contains("11.0.0.1"));
  EXPECT_FALSE(list->Contains("9.255.255.255"));
  EXPECT_TRUE(list->Contains("192.168.4.1"));
  EXPECT_TRUE(list->Contains("192.168.7.255"));
  EXPECT_FALSE(list->Contains("192.168.8.0"));
  EXPECT_FALSE(list->Contains("192.168.3.255"));
  // IPv4 blocks hold no IPv6 address other than IPv4-mapped ones.
  EXPECT_TRUE(list->Contains("::ffff:10.9.8.7"));
  EXPECT_FALSE(list->Contains("a00::1"));
}

TEST(IpAllowListTest, MatchesV6Blocks) {
  Result<IpAllowList> list = IpAllowList::Parse({"fd00::/8", "2001:db8:1::/48"});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE(list->Contains("fd00::1"));
  EXPECT_TRUE(list->Contains("fdff:ffff::1"));
  EXPECT_FALSE(list->Contains("fe00::1"));
  EXPECT_FALSE(list->Contains("fc00::1"));
  EXPECT_TRUE(list->Contains("2001:db8:1:ffff::1"));
  EXPECT_FALSE(list->Contains("2001:db8:2::1"));
  EXPECT_FALSE(list->Contains("253.0.0.1"));  // fd.. as IPv4 is another family
}

TEST(IpAllowListTest, ZeroPrefixMatchesItsWholeFamily) {
  Result<IpAllowList> list = IpAllowList::Parse({"0.0.0.0/0"});
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->Contains("1.2.3.4"));
  EXPECT_FALSE(list->Contains("::1"));
}

TEST(IpAllowListTest, EmptyListMatchesNothing) {
  IpAllowList list;
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(list.Contains("127.0.0.1"));
  EXPECT_EQ("", list.ToString());
}

TEST(IpAllowListTest, ParseStopsAtTheFirstBadEntry) {
  Result<IpAllowList> list = IpAllowList::Parse({"10.0.0.0/8", "10.0.0.1/8", "nope"});
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(
      "InvalidArgument: '10.0.0.1/8' has bits set past its /8 prefix (did you mean 10.0.0.0/8?)",
      list.status().ToString());
}

TEST(IpAllowListTest, AddKeepsOneCopyOfABlock) {
  IpAllowList list;
  list.Add(*ParseIpBlock("127.0.0.2"));
  list.Add(*ParseIpBlock("127.0.0.2/32"));
  list.Add(*ParseIpBlock("::ffff:127.0.0.2"));
  EXPECT_EQ("127.0.0.2", list.ToString());
}

}  // namespace
}  // namespace meshdb::common
