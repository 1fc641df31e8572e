// CSV text to JSON records, as HarperDB's csv_*_load read it (libcsv does the parsing; RFC
// 4180 quoting, strict mode): the first row names the attributes and each later row is one
// record. Cells are typed as HarperDB's loader does: numbers and true/false become JSON
// numbers and booleans, a cell holding a JSON object or array becomes that value, an
// unquoted empty cell becomes null, anything else stays text. Empty lines are skipped.
//
// A malformed document — a broken quote, a row with more or fewer cells than the header, a
// header with an empty or repeated name — is InvalidArgument naming its line.
//
// Input may come in chunks (a file or a download read piece by piece). Not thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::ops {

class CsvRecordReader {
 public:
  CsvRecordReader();
  ~CsvRecordReader();
  CsvRecordReader(const CsvRecordReader&) = delete;
  CsvRecordReader& operator=(const CsvRecordReader&) = delete;

  // Parses `text`, the next piece of the document; appends every row it completes to `out`.
  Status Feed(std::string_view text, boost::json::array& out);
  // The end of the document: appends its last row when it had no final newline.
  Status Finish(boost::json::array& out);

  // The attribute names (empty until the header row is read).
  [[nodiscard]] const std::vector<std::string>& header() const;
  // Rows read after the header (records handed out).
  [[nodiscard]] size_t records() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A cell's JSON value, typed as described above (`present` false for an unquoted empty
// cell).
boost::json::value CsvCellValue(std::string_view text, bool present);

}  // namespace meshdb::ops
