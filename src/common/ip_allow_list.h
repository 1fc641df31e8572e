// IP address blocks and allow-lists: "127.0.0.2", "10.0.0.0/8", "fd00::/8". Pure functions
// and a value type; no I/O, no name resolution (replication/cluster/peer_addresses.h resolves
// host names into an IpAllowList).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::common {

// One block of IP addresses: an address and how many of its leading bits an address must
// share with it to belong (32 for one IPv4 address, 128 for one IPv6 address). IPv4 and IPv6
// blocks never contain each other's addresses, except that an IPv4-mapped IPv6 address
// (::ffff:10.0.0.1) is parsed as the IPv4 address it maps.
struct IpBlock {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // network byte order; IPv4 uses the first 4
  int prefix_bits = 0;

  // Whether `address` (a block of one address, or the first address of a block) lies in
  // this block.
  [[nodiscard]] bool Contains(const IpBlock& address) const;
  // "10.0.0.0/8", "fd00::/8"; a single address without its prefix: "127.0.0.2", "::1".
  [[nodiscard]] std::string ToString() const;
  bool operator==(const IpBlock&) const = default;
};

// Parses an IP address ("127.0.0.2", "::1") or a CIDR block ("10.0.0.0/8", "fd00::/8").
// InvalidArgument when `text` is neither (the message quotes it), when the prefix is out of
// range (0-32 for IPv4, 0-128 for IPv6), or when the address has bits set past the prefix
// ("10.0.0.1/8": the message suggests "10.0.0.0/8"). Zone ids ("fe80::1%eth0") are refused.
Result<IpBlock> ParseIpBlock(std::string_view text);

// A set of IP blocks, asked whether an address belongs to one of them.
//
// Thread-safety: a value type; const methods may run concurrently, as for std::vector.
class IpAllowList {
 public:
  IpAllowList() = default;
  // Every entry through ParseIpBlock. InvalidArgument for the first entry refused, its
  // message naming the entry.
  static Result<IpAllowList> Parse(const std::vector<std::string>& entries);

  // Adds a block (a duplicate is not added twice).
  void Add(const IpBlock& block);
  // Whether `address`, the text of one IP address as the network layer gives it
  // ("127.0.0.2", "::1", "::ffff:10.0.0.1"), lies in one of the blocks. False for text that
  // is not an IP address, and for any address when the list is empty.
  [[nodiscard]] bool Contains(std::string_view address) const;

  [[nodiscard]] bool empty() const { return blocks_.empty(); }
  [[nodiscard]] const std::vector<IpBlock>& blocks() const { return blocks_; }
  // The blocks, comma-separated in insertion order ("" when empty).
  [[nodiscard]] std::string ToString() const;

 private:
  std::vector<IpBlock> blocks_;
};

}  // namespace meshdb::common
