#include "common/json_parse.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <cmath>
#include <string>

namespace meshdb {

namespace json = boost::json;

// A named namespace, not an anonymous one: JsonParser::Impl, declared in the header, derives
// from ParserCore, and a class with external linkage must not hold a type without it.
namespace json_parse_detail {

// Builds the value on a value_stack as Boost.JSON's own parser does; only doubles differ.
class ValueBuilder {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  json::value_stack stack;
  bool non_finite = false;

  // Ready for the next document, whose value uses `sp`.
  void Reset(json::storage_ptr sp) {
    stack.reset(std::move(sp));
    non_finite = false;
    number_text_.clear();
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(size_t n, json::error_code&) {
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_text_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    number_text_.clear();
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    number_text_.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double approximate, json::string_view s, json::error_code&) {
    number_text_.append(s.data(), s.size());
    double exact = 0;
    const char* first = number_text_.data();
    const char* last = first + number_text_.size();
    auto [end, err] = std::from_chars(first, last, exact);
    // Out of range (overflow, or an underflow from_chars will not round): keep Boost.JSON's
    // +-infinity or zero/subnormal.
    const double value = err == std::errc() && end == last ? exact : approximate;
    if (!std::isfinite(value)) non_finite = true;
    stack.push_double(value);
    number_text_.clear();
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::string number_text_;  // the number's text so far, when it arrives in parts
};

// A parser and its value stack, reset for each document.
class ParserCore {
 public:
  ParserCore() : parser_(Options()) {}
  json::value Parse(std::string_view text, boost::system::error_code& ec, ParseJsonInfo* info,
                    json::storage_ptr sp) {
    parser_.reset();
    parser_.handler().Reset(std::move(sp));
    size_t used = parser_.write_some(false, text.data(), text.size(), ec);
    if (!ec && used < text.size()) ec = json::error::extra_data;
    if (info != nullptr) {
      info->consumed = used;
      info->non_finite = parser_.handler().non_finite;
    }
    if (ec) return nullptr;
    return parser_.handler().stack.release();
  }

 private:
  static json::parse_options Options() {
    json::parse_options options;
    options.max_depth = kMaxJsonDepth;
    return options;
  }
  json::basic_parser<ValueBuilder> parser_;
};

}  // namespace json_parse_detail

class JsonParser::Impl : public json_parse_detail::ParserCore {};

JsonParser::JsonParser() : impl_(std::make_unique<Impl>()) {}
JsonParser::~JsonParser() = default;

json::value JsonParser::Parse(std::string_view text, boost::system::error_code& ec,
                              ParseJsonInfo* info, json::storage_ptr sp) {
  return impl_->Parse(text, ec, info, std::move(sp));
}

json::value ParseJson(std::string_view text, boost::system::error_code& ec, ParseJsonInfo* info) {
  return json_parse_detail::ParserCore().Parse(text, ec, info, {});
}

}  // namespace meshdb
