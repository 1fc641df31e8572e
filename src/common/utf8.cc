#include "common/utf8.h"

#include <algorithm>
#include <boost/locale/utf.hpp>

namespace meshdb {

namespace json = boost::json;
namespace utf = boost::locale::utf;

namespace {

bool AllAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Appends `key` to `path` as FindInvalidUtf8 words it.
std::string Child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// Whether `value` holds invalid text anywhere. Builds no path: the write path asks this of
// every record, and only a record that fails pays for FindInvalid's path strings.
bool HasInvalid(const json::value& value) {
  switch (value.kind()) {
    case json::kind::string:
      return !IsValidUtf8(value.get_string());
    case json::kind::array:
      return std::any_of(value.get_array().begin(), value.get_array().end(), HasInvalid);
    case json::kind::object:
      return std::any_of(value.get_object().begin(), value.get_object().end(),
                         [](const json::key_value_pair& member) {
                           return !IsValidUtf8(member.key()) || HasInvalid(member.value());
                         });
    default:
      return false;
  }
}

bool FindInvalid(const json::value& value, std::string& path);

bool FindInvalidMember(const json::object& object, std::string& path) {
  for (const auto& [key, member] : object) {
    // An invalid key cannot be printed as it is: the path shows it made valid.
    if (!IsValidUtf8(key)) {
      path = Child(path, ToValidUtf8(key));
      return true;
    }
    if (!HasInvalid(member)) continue;
    std::string child = Child(path, key);
    if (FindInvalid(member, child)) {
      path = std::move(child);
      return true;
    }
  }
  return false;
}

bool FindInvalid(const json::value& value, std::string& path) {
  switch (value.kind()) {
    case json::kind::string:
      return !IsValidUtf8(value.get_string());
    case json::kind::array: {
      const json::array& array = value.get_array();
      for (size_t i = 0; i < array.size(); ++i) {
        if (!HasInvalid(array[i])) continue;
        std::string item = path + "[" + std::to_string(i) + "]";
        if (FindInvalid(array[i], item)) {
          path = std::move(item);
          return true;
        }
      }
      return false;
    }
    case json::kind::object:
      return FindInvalidMember(value.get_object(), path);
    default:
      return false;
  }
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  if (AllAscii(text)) return true;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p != end) {
    const utf::code_point c = utf::utf_traits<char>::decode(p, end);
    if (c == utf::illegal || c == utf::incomplete) return false;
  }
  return true;
}

std::string ToValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  const char* p = text.data();
  const char* end = p + text.size();
  while (p != end) {
    const char* start = p;
    const utf::code_point c = utf::utf_traits<char>::decode(p, end);
    if (c == utf::illegal || c == utf::incomplete) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      p = start + 1;          // resynchronise at the next byte
    } else {
      out.append(start, p);
    }
  }
  return out;
}

std::optional<std::string> FindInvalidUtf8(const json::value& value) {
  std::string path;
  if (FindInvalid(value, path)) return path;
  return std::nullopt;
}

std::optional<std::string> FindInvalidUtf8(const json::object& object) {
  std::string path;
  if (FindInvalidMember(object, path)) return path;
  return std::nullopt;
}

}  // namespace meshdb
