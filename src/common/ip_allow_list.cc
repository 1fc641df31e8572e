#include "common/ip_allow_list.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

namespace meshdb::common {

namespace {

// The address part of a block (no prefix); nullopt when `text` is not an IP address.
std::optional<IpBlock> ParseAddress(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpBlock out;
  if (inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
    out.prefix_bits = 32;
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.bytes.data()) != 1) return std::nullopt;
  static constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(out.bytes.data(), kV4Mapped, sizeof(kV4Mapped)) == 0) {
    std::memmove(out.bytes.data(), out.bytes.data() + 12, 4);
    std::fill(out.bytes.begin() + 4, out.bytes.end(), 0);
    out.prefix_bits = 32;
    return out;
  }
  out.v6 = true;
  out.prefix_bits = 128;
  return out;
}

// Whether the first `bits` bits of a and b are equal.
bool SamePrefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  const auto whole = static_cast<size_t>(bits / 8);
  if (std::memcmp(a.data(), b.data(), whole) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

// `block` with every bit past its prefix cleared.
IpBlock Masked(IpBlock block) {
  const int total = block.v6 ? 128 : 32;
  for (int bit = block.prefix_bits; bit < total; ++bit) {
    block.bytes[static_cast<size_t>(bit / 8)] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  return block;
}

}  // namespace

bool IpBlock::Contains(const IpBlock& address) const {
  return v6 == address.v6 && SamePrefix(bytes, address.bytes, prefix_bits);
}

std::string IpBlock::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text)) == nullptr) return "?";
  const int total = v6 ? 128 : 32;
  if (prefix_bits == total) return text;
  return std::string(text) + "/" + std::to_string(prefix_bits);
}

Result<IpBlock> ParseIpBlock(std::string_view text) {
  const size_t slash = text.find('/');
  std::optional<IpBlock> block = ParseAddress(text.substr(0, slash));
  if (!block) {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not an IP address or a CIDR block (10.0.0.0/8, fd00::/8)");
  }
  if (slash == std::string_view::npos) return *block;
  const std::string_view prefix = text.substr(slash + 1);
  const int total = block->v6 ? 128 : 32;
  int bits = -1;
  auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), bits);
  if (prefix.empty() || ec != std::errc() || end != prefix.data() + prefix.size() || bits < 0 ||
      bits > total) {
    return Status::InvalidArgument("'" + std::string(text) + "': the prefix length must be 0-" +
                                   std::to_string(total) + " for an " +
                                   (block->v6 ? "IPv6" : "IPv4") + " block");
  }
  block->prefix_bits = bits;
  IpBlock network = Masked(*block);
  if (network != *block) {
    return Status::InvalidArgument("'" + std::string(text) + "' has bits set past its /" +
                                   std::to_string(bits) + " prefix (did you mean " +
                                   network.ToString() + "?)");
  }
  return network;
}

Result<IpAllowList> IpAllowList::Parse(const std::vector<std::string>& entries) {
  IpAllowList out;
  for (const std::string& entry : entries) {
    Result<IpBlock> block = ParseIpBlock(entry);
    if (!block.ok()) return block.status();
    out.Add(*block);
  }
  return out;
}

void IpAllowList::Add(const IpBlock& block) {
  if (std::find(blocks_.begin(), blocks_.end(), block) == blocks_.end()) blocks_.push_back(block);
}

bool IpAllowList::Contains(std::string_view address) const {
  std::optional<IpBlock> parsed = ParseAddress(address);
  if (!parsed) return false;
  return std::any_of(blocks_.begin(), blocks_.end(),
                     [&](const IpBlock& block) { return block.Contains(*parsed); });
}

std::string IpAllowList::ToString() const {
  std::string out;
  for (const IpBlock& block : blocks_) out += (out.empty() ? "" : ", ") + block.ToString();
  return out;
}

}  // namespace meshdb::common
