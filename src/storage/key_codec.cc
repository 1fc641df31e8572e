#include "storage/key_codec.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace meshdb::storage {
namespace {

constexpr double kMaxExactInt = 9007199254740992.0;  // 2^53

void AppendNumber(double d, std::string* out) {
  if (d == 0) d = 0;  // -0 -> +0
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  if (bits & (1ull << 63)) {
    bits = ~bits;
  } else {
    bits |= (1ull << 63);
  }
  char buf[9];
  buf[0] = static_cast<char>(kTagNumber);
  for (int i = 0; i < 8; ++i) buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  out->append(buf, sizeof buf);
}

}  // namespace

bool IsScalar(const boost::json::value& v) { return !v.is_object() && !v.is_array(); }

Status AppendEncodedValue(const boost::json::value& v, std::string* out) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out->push_back(static_cast<char>(kTagNull));
      return Status::Ok();
    case boost::json::kind::bool_:
      out->push_back(static_cast<char>(v.get_bool() ? kTagTrue : kTagFalse));
      return Status::Ok();
    case boost::json::kind::int64:
      AppendNumber(static_cast<double>(v.get_int64()), out);
      return Status::Ok();
    case boost::json::kind::uint64:
      AppendNumber(static_cast<double>(v.get_uint64()), out);
      return Status::Ok();
    case boost::json::kind::double_:
      if (!std::isfinite(v.get_double())) return Status::InvalidArgument("number is not finite");
      AppendNumber(v.get_double(), out);
      return Status::Ok();
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      out->push_back(static_cast<char>(kTagString));
      out->append(s.data(), s.size());
      return Status::Ok();
    }
    default:
      return Status::InvalidArgument("an object or array cannot be a key");
  }
}

Result<std::string> EncodeKey(const boost::json::value& key) {
  std::string out;
  RETURN_IF_ERROR(AppendEncodedValue(key, &out));
  if (out.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("primary key is longer than " + std::to_string(kMaxKeyBytes) +
                                   " bytes");
  }
  return out;
}

Result<boost::json::value> DecodeKey(std::string_view bytes) {
  if (bytes.empty()) return Status::Corruption("empty key");
  auto tag = static_cast<unsigned char>(bytes[0]);
  switch (tag) {
    case kTagNull:
      return boost::json::value(nullptr);
    case kTagFalse:
      return boost::json::value(false);
    case kTagTrue:
      return boost::json::value(true);
    case kTagNumber: {
      if (bytes.size() != 9) return Status::Corruption("bad number key");
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(bytes[1 + i]);
      if (bits & (1ull << 63)) {
        bits &= ~(1ull << 63);
      } else {
        bits = ~bits;
      }
      double d;
      std::memcpy(&d, &bits, sizeof d);
      if (std::trunc(d) == d && std::fabs(d) <= kMaxExactInt) {
        return boost::json::value(static_cast<int64_t>(d));
      }
      return boost::json::value(d);
    }
    case kTagString:
      return boost::json::value(boost::json::string_view(bytes.data() + 1, bytes.size() - 1));
    default:
      return Status::Corruption("unknown key tag");
  }
}

void EncodeIndexKey(std::string_view attribute, const boost::json::value& value, std::string* out) {
  out->clear();
  out->append(attribute);
  out->push_back('\0');
  Status s = AppendEncodedValue(value, out);
  assert(s.ok() && "index values are scalars");
  (void)s;
  if (out->size() > kMaxKeyBytes) out->resize(kMaxKeyBytes);
}

}  // namespace meshdb::storage
