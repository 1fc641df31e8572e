#include "config/yaml_json.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <sstream>

#include "config/known_keys.h"

namespace meshdb::config::internal {

namespace json = boost::json;

namespace {

json::value ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      // "!" marks a quoted (non-plain) scalar: it stays a string.
      if (node.Tag() == "!") return json::string(text);
      if (text == "~" || text.empty()) return nullptr;
      if (text == "True" || text == "TRUE") return true;
      if (text == "False" || text == "FALSE") return false;
      if (text == "Null" || text == "NULL") return nullptr;
      json::value cast = CastValue(text);
      // A plain scalar starting with '[' or '{' is YAML flow syntax, already parsed by
      // yaml-cpp; anything else that CastValue left alone stays a string.
      return cast;
    }
    case YAML::NodeType::Sequence: {
      json::array arr;
      for (const auto& item : node) arr.push_back(ToJson(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      json::object obj;
      for (const auto& kv : node) obj[kv.first.as<std::string>()] = ToJson(kv.second);
      return obj;
    }
  }
  return nullptr;
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  json::value cast = CastValue(s);
  if (!cast.is_string()) return true;
  static const char* kSpecial[] = {"~",   "True", "TRUE", "False", "FALSE", "Null", "NULL", "yes",
                                   "no",  "Yes",  "No",   "YES",   "NO",    "on",   "off",  "On",
                                   "Off", "ON",   "OFF",  "y",     "n",     "Y",    "N"};
  for (const char* special : kSpecial) {
    if (s == special) return true;
  }
  return false;
}

void Emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out << YAML::Null;
      break;
    case json::kind::bool_:
      out << v.get_bool();
      break;
    case json::kind::int64:
      out << v.get_int64();
      break;
    case json::kind::uint64:
      out << v.get_uint64();
      break;
    case json::kind::double_:
      out << fmt::format("{}", v.get_double());
      break;
    case json::kind::string: {
      std::string s(v.get_string());
      if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case json::kind::array:
      out << YAML::BeginSeq;
      for (const auto& item : v.get_array()) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::kind::object:
      out << YAML::BeginMap;
      for (const auto& kv : v.get_object()) {
        out << YAML::Key << std::string(kv.key()) << YAML::Value;
        Emit(out, kv.value());
      }
      out << YAML::EndMap;
      break;
  }
}

}  // namespace

Result<json::value> ParseYaml(const std::string& text, const std::string& what) {
  try {
    YAML::Node root = YAML::Load(text);
    json::value tree = ToJson(root);
    if (tree.is_null()) return json::value(json::object());
    if (!tree.is_object()) {
      return Status::InvalidArgument(what + ": the top level must be a mapping");
    }
    return tree;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(what + ": " + e.what());
  }
}

std::string EmitYaml(const json::value& tree, const std::string& header) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(out, tree);
  std::ostringstream text;
  if (!header.empty()) {
    std::istringstream lines(header);
    std::string line;
    while (std::getline(lines, line)) text << (line.empty() ? "#" : "# " + line) << "\n";
  }
  text << out.c_str() << "\n";
  return text.str();
}

}  // namespace meshdb::config::internal
