// The key table (src/config/key_table.cc) and docs/configuration.md stay in step: every key
// is documented, the keys meshdb acts on in "Keys" and the inert ones in "Keys accepted but
// not acted on" (issue 11: inert keys are documented as such).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "config/known_keys.h"

namespace meshdb::config::internal {
namespace {

std::string ReadDoc(const std::string& name) {
  std::ifstream in(std::string(MESHDB_DOCS_DIR) + "/" + name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text from the heading line `heading` to the next heading of the same or a higher level.
std::string Section(const std::string& doc, const std::string& heading) {
  const size_t start = doc.find("\n" + heading + "\n");
  if (start == std::string::npos) return "";
  const std::string level = heading.substr(0, heading.find(' ') + 1);  // "## " or "### "
  size_t end = doc.find("\n## ", start + 1);
  if (level == "### ") end = std::min(end, doc.find("\n### ", start + 1));
  return doc.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool ListsKey(const std::string& section, const char* path) {
  return section.find(std::string("| `") + path + "` |") != std::string::npos;
}

TEST(KeyDocsTest, EveryKeyIsDocumentedWhereItsUseSays) {
  const std::string doc = ReadDoc("configuration.md");
  ASSERT_FALSE(doc.empty()) << "cannot read " << MESHDB_DOCS_DIR << "/configuration.md";
  const std::string inert = Section(doc, "### Keys accepted but not acted on");
  ASSERT_FALSE(inert.empty());
  std::string acted = Section(doc, "## Keys");
  acted = acted.substr(0, acted.find("\n### Keys accepted but not acted on"));
  ASSERT_FALSE(acted.empty());
  for (const KeyInfo& info : KnownKeys()) {
    if (info.use == KeyUse::kInert) {
      EXPECT_TRUE(ListsKey(inert, info.path)) << info.path << " is not in the inert table";
      EXPECT_FALSE(ListsKey(acted, info.path)) << info.path << " is inert but in the Keys table";
    } else {
      EXPECT_TRUE(ListsKey(acted, info.path)) << info.path << " is not in the Keys table";
      EXPECT_FALSE(ListsKey(inert, info.path)) << info.path << " is acted on but listed inert";
    }
  }
}

}  // namespace
}  // namespace meshdb::config::internal
