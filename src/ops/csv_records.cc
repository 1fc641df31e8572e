#include "ops/csv_records.h"

#include <csv.h>

#include <algorithm>
#include <set>

#include "common/json_parse.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

bool LooksNumeric(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i >= text.size() || text[i] < '0' || text[i] > '9') return false;
  // No leading zeros ("007" stays text, as a zip code should).
  if (text[i] == '0' && i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '9') {
    return false;
  }
  return text.find_first_not_of("0123456789+-.eE") == std::string_view::npos;
}

}  // namespace

json::value CsvCellValue(std::string_view text, bool present) {
  if (!present) return nullptr;
  if (text == "true") return true;
  if (text == "false") return false;
  if (LooksNumeric(text) || (!text.empty() && (text.front() == '{' || text.front() == '['))) {
    boost::system::error_code ec;
    json::value parsed = ParseJson(text, ec);
    if (!ec && (parsed.is_number() || parsed.is_object() || parsed.is_array())) return parsed;
  }
  return json::string(text);
}

struct CsvRecordReader::State {
  csv_parser parser{};
  std::vector<std::string> header;
  std::vector<json::value> cells;  // the row being read
  std::vector<std::string> names;  // the header row's cells as text, while it is read
  size_t records = 0;
  size_t line = 1;      // the line the parser is on
  size_t row_line = 1;  // the line the current row started on
  Status error;         // the first problem a callback found
  json::array* out = nullptr;

  static void OnCell(void* data, size_t size, void* self) {
    auto* state = static_cast<State*>(self);
    std::string_view text(static_cast<const char*>(data), data == nullptr ? 0 : size);
    if (state->header.empty()) state->names.emplace_back(text);
    state->cells.push_back(CsvCellValue(text, data != nullptr));
  }

  static void OnRowEnd(int /*terminator*/, void* self) { static_cast<State*>(self)->EndRow(); }

  void EndRow() {
    std::vector<json::value> row = std::move(cells);
    std::vector<std::string> row_names = std::move(names);
    cells.clear();
    names.clear();
    bool blank = row.size() == 1 && row[0].is_null();  // an empty line
    size_t started = row_line;
    row_line = line + 1;  // called at the newline that ends the row
    if (!error.ok() || blank) return;
    if (header.empty()) {
      std::set<std::string> seen;
      for (const std::string& name : row_names) {
        if (name.empty()) {
          error = Status::InvalidArgument("CSV header (line " + std::to_string(started) +
                                          ") has an empty attribute name");
          return;
        }
        if (!seen.insert(name).second) {
          error = Status::InvalidArgument("CSV header (line " + std::to_string(started) +
                                          ") names '" + name + "' twice");
          return;
        }
      }
      header = std::move(row_names);
      return;
    }
    if (row.size() != header.size()) {
      error = Status::InvalidArgument("CSV line " + std::to_string(started) + " has " +
                                      std::to_string(row.size()) + " fields, the header has " +
                                      std::to_string(header.size()));
      return;
    }
    json::object record;
    for (size_t i = 0; i < row.size(); ++i) record[header[i]] = std::move(row[i]);
    out->push_back(std::move(record));
    ++records;
  }
};

CsvRecordReader::CsvRecordReader() : state_(std::make_unique<State>()) {
  csv_init(&state_->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL);
}

CsvRecordReader::~CsvRecordReader() { csv_free(&state_->parser); }

Status CsvRecordReader::Feed(std::string_view text, json::array& out) {
  State& s = *state_;
  RETURN_IF_ERROR(s.error);
  s.out = &out;
  // Feed line by line, so a row's line number and an error's are known.
  while (!text.empty()) {
    size_t end = text.find('\n');
    size_t take = end == std::string_view::npos ? text.size() : end + 1;
    size_t parsed = csv_parse(&s.parser, text.data(), take, State::OnCell, State::OnRowEnd, &s);
    if (parsed != take) {
      s.error = Status::InvalidArgument("CSV line " + std::to_string(s.line) + ": " +
                                        csv_strerror(csv_error(&s.parser)));
    }
    RETURN_IF_ERROR(s.error);
    if (end != std::string_view::npos) ++s.line;
    text.remove_prefix(take);
  }
  return Status::Ok();
}

Status CsvRecordReader::Finish(json::array& out) {
  State& s = *state_;
  RETURN_IF_ERROR(s.error);
  s.out = &out;
  if (csv_fini(&s.parser, State::OnCell, State::OnRowEnd, &s) != 0) {
    s.error = Status::InvalidArgument("CSV line " + std::to_string(s.row_line) + ": " +
                                      csv_strerror(csv_error(&s.parser)));
  }
  return s.error;
}

const std::vector<std::string>& CsvRecordReader::header() const { return state_->header; }
size_t CsvRecordReader::records() const { return state_->records; }

}  // namespace meshdb::ops
