#include "ops/graphql_schema.h"

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "common/log.h"

namespace meshdb::ops {

namespace {

enum class TokenKind { kName, kString, kNumber, kPunct, kEnd };

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;  // name, string contents (unescaped), number, or the punctuator
  int line = 1;
  int column = 1;
};

std::string Describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kEnd:
      return "end of file";
    case TokenKind::kString:
      return "string \"" + t.text + "\"";
    default:
      return "'" + t.text + "'";
  }
}

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Splits the text into tokens; whitespace, commas and # comments separate them.
class Tokenizer {
 public:
  Tokenizer(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    for (;;) {
      SkipIgnored();
      Token t;
      t.line = line_;
      t.column = column_;
      if (pos_ >= text_.size()) {
        out.push_back(std::move(t));
        return out;
      }
      const char c = text_[pos_];
      if (IsNameStart(c)) {
        t.kind = TokenKind::kName;
        while (pos_ < text_.size() && IsNameChar(text_[pos_])) t.text += Advance();
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
        t.kind = TokenKind::kNumber;
        t.text += Advance();
        while (pos_ < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
                text_[pos_] == '+' || text_[pos_] == '-')) {
          t.text += Advance();
        }
      } else if (c == '"') {
        t.kind = TokenKind::kString;
        Advance();
        for (;;) {
          if (pos_ >= text_.size() || text_[pos_] == '\n') {
            return Error(t, "unterminated string");
          }
          char ch = Advance();
          if (ch == '"') break;
          if (ch == '\\') {
            if (pos_ >= text_.size()) return Error(t, "unterminated string");
            char esc = Advance();
            if (esc != '"' && esc != '\\' && esc != '/') {
              return Error(t, std::string("unsupported escape '\\") + esc + "' in string");
            }
            ch = esc;
          }
          t.text += ch;
        }
      } else if (std::string_view("{}()[]:!@=").find(c) != std::string_view::npos) {
        t.kind = TokenKind::kPunct;
        t.text += Advance();
      } else {
        return Error(t, std::string("unexpected character '") + c + "'");
      }
      out.push_back(std::move(t));
    }
  }

 private:
  char Advance() {
    char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    return c;
  }

  void SkipIgnored() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') Advance();
      } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',') {
        Advance();
      } else if (static_cast<unsigned char>(c) == 0xEF && text_.substr(pos_, 3) == "\xEF\xBB\xBF") {
        pos_ += 3;  // byte order mark
      } else {
        return;
      }
    }
  }

  Status Error(const Token& at, const std::string& what) const {
    return Status::InvalidArgument(file_ + ":" + std::to_string(at.line) + ":" +
                                   std::to_string(at.column) + ": " + what);
  }

  std::string_view text_;
  const std::string& file_;
  size_t pos_ = 0;
  int line_ = 1;
  int column_ = 1;
};

struct Directive {
  Token name;
  std::vector<std::pair<Token, Token>> args;  // argument name, value
};

// The type a field is declared with: its base name, whether it is `Name!` and a list.
struct FieldType {
  std::string name;
  bool non_null = false;
  bool list = false;
};

std::string StorageType(const FieldType& t) {
  if (t.list) return "Any";
  for (const char* known : {"ID", "String", "Int", "Long", "Float", "Boolean"}) {
    if (t.name == known) return known;
  }
  return "Any";
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& file)
      : tokens_(std::move(tokens)), file_(file) {}

  Result<std::vector<storage::TableDef>> Run() {
    std::vector<storage::TableDef> tables;
    std::set<std::pair<std::string, std::string>> seen;
    while (Peek().kind != TokenKind::kEnd) {
      const Token type_kw = Peek();
      RETURN_IF_ERROR(ExpectName("type", "'type'"));
      ASSIGN_OR_RETURN(Token type_name, ExpectAnyName("a type name"));
      ASSIGN_OR_RETURN(std::vector<Directive> directives, ParseDirectives());
      storage::TableDef def;
      def.database = "data";
      def.name = type_name.text;
      def.schema_defined = true;
      bool is_table = false;
      for (const Directive& d : directives) {
        if (d.name.text == "table") {
          is_table = true;
          RETURN_IF_ERROR(ApplyTableArgs(d, &def));
        } else if (!IgnoredDirective(d.name.text)) {
          return Error(d.name, "expected a type directive (@table, @export, @sealed), got '@" +
                                   d.name.text + "'");
        }
      }
      ASSIGN_OR_RETURN(std::string primary_key, ParseFields(type_name, &def));
      def.primary_key = std::move(primary_key);
      if (!is_table) continue;  // a plain type (e.g. nested), not a table
      if (def.primary_key.empty()) {
        return Error(type_name, "type " + type_name.text +
                                    " has no primary key: expected a field marked @primaryKey "
                                    "or typed ID!");
      }
      if (!seen.insert({def.database, def.name}).second) {
        return Error(type_kw, "table '" + def.database + "." + def.name + "' is defined twice");
      }
      tables.push_back(std::move(def));
    }
    return tables;
  }

 private:
  static bool IgnoredDirective(const std::string& name) {
    return name == "export" || name == "sealed" || name == "createdTime" || name == "updatedTime";
  }

  const Token& Peek() const { return tokens_[pos_]; }
  Token Next() {
    Token t = tokens_[pos_];
    if (t.kind != TokenKind::kEnd) ++pos_;
    return t;
  }
  bool PeekPunct(char c) const { return Peek().kind == TokenKind::kPunct && Peek().text[0] == c; }

  Status Error(const Token& at, const std::string& what) const {
    return Status::InvalidArgument(file_ + ":" + std::to_string(at.line) + ":" +
                                   std::to_string(at.column) + ": " + what);
  }
  Status Expected(const std::string& what) const {
    return Error(Peek(), "expected " + what + ", got " + Describe(Peek()));
  }

  Status ExpectPunct(char c) {
    if (!PeekPunct(c)) return Expected(std::string("'") + c + "'");
    Next();
    return Status::Ok();
  }
  Status ExpectName(const std::string& name, const std::string& what) {
    if (Peek().kind != TokenKind::kName || Peek().text != name) return Expected(what);
    Next();
    return Status::Ok();
  }
  Result<Token> ExpectAnyName(const std::string& what) {
    if (Peek().kind != TokenKind::kName) return Expected(what);
    return Next();
  }

  // ('@' Name ('(' (Name ':' Value)+ ')')?)*
  Result<std::vector<Directive>> ParseDirectives() {
    std::vector<Directive> out;
    while (PeekPunct('@')) {
      Next();
      Directive d;
      ASSIGN_OR_RETURN(d.name, ExpectAnyName("a directive name after '@'"));
      if (PeekPunct('(')) {
        Next();
        do {
          ASSIGN_OR_RETURN(Token arg, ExpectAnyName("an argument name"));
          RETURN_IF_ERROR(ExpectPunct(':'));
          const Token& v = Peek();
          if (v.kind != TokenKind::kString && v.kind != TokenKind::kName &&
              v.kind != TokenKind::kNumber) {
            return Expected("an argument value (string, number, true or false)");
          }
          d.args.emplace_back(std::move(arg), Next());
        } while (!PeekPunct(')'));
        Next();
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  Status ApplyTableArgs(const Directive& d, storage::TableDef* def) {
    for (const auto& [name, value] : d.args) {
      if (name.text == "database" || name.text == "table") {
        if (value.kind != TokenKind::kString || value.text.empty()) {
          return Error(value, "expected a non-empty string for @table(" + name.text + "), got " +
                                  Describe(value));
        }
        (name.text == "database" ? def->database : def->name) = value.text;
      } else if (name.text == "replicate") {
        if (value.kind != TokenKind::kName || (value.text != "true" && value.text != "false")) {
          return Error(value,
                       "expected true or false for @table(replicate), got " + Describe(value));
        }
        def->replicate = value.text == "true";
      } else {
        return Error(name, "expected a @table argument (database, table, replicate), got '" +
                               name.text + "'");
      }
    }
    return Status::Ok();
  }

  // Name '!'? | '[' Type ']' '!'?
  Result<FieldType> ParseType() {
    FieldType t;
    if (PeekPunct('[')) {
      Next();
      ASSIGN_OR_RETURN(FieldType inner, ParseType());
      RETURN_IF_ERROR(ExpectPunct(']'));
      t = inner;
      t.list = true;
      t.non_null = false;
    } else {
      ASSIGN_OR_RETURN(Token name, ExpectAnyName("a field type"));
      t.name = name.text;
    }
    if (PeekPunct('!')) {
      Next();
      t.non_null = true;
    }
    return t;
  }

  // '{' (Name ':' Type Directives)* '}'; returns the primary key's name ("" when none).
  Result<std::string> ParseFields(const Token& type_name, storage::TableDef* def) {
    RETURN_IF_ERROR(ExpectPunct('{'));
    std::string marked_key;
    std::string first_id;
    std::set<std::string> names;
    while (!PeekPunct('}')) {
      ASSIGN_OR_RETURN(Token field, ExpectAnyName("a field name or '}'"));
      RETURN_IF_ERROR(ExpectPunct(':'));
      ASSIGN_OR_RETURN(FieldType type, ParseType());
      ASSIGN_OR_RETURN(std::vector<Directive> directives, ParseDirectives());
      if (!names.insert(field.text).second) {
        return Error(field,
                     "field '" + field.text + "' is defined twice in type " + type_name.text);
      }
      storage::AttributeDef attr;
      attr.name = field.text;
      attr.type = StorageType(type);
      attr.indexed = false;
      for (const Directive& d : directives) {
        if (d.name.text == "primaryKey") {
          if (!marked_key.empty()) {
            return Error(d.name, "type " + type_name.text + " has two @primaryKey fields");
          }
          marked_key = field.text;
        } else if (d.name.text == "indexed") {
          attr.indexed = true;
        } else if (!IgnoredDirective(d.name.text)) {
          return Error(d.name, "expected a field directive (@primaryKey, @indexed), got '@" +
                                   d.name.text + "'");
        }
        if (d.name.text != "indexed" && !d.args.empty()) {
          return Error(d.args.front().first, "expected no arguments for '@" + d.name.text + "'");
        }
      }
      if (first_id.empty() && type.name == "ID" && type.non_null && !type.list) {
        first_id = field.text;
      }
      def->attributes.push_back(std::move(attr));
    }
    Next();  // '}'
    std::string key = marked_key.empty() ? first_id : marked_key;
    if (key.empty()) return key;  // an error only for a @table type (the caller decides)
    // The primary key first, as storage lists it.
    for (size_t i = 0; i < def->attributes.size(); ++i) {
      if (def->attributes[i].name != key) continue;
      storage::AttributeDef pk = std::move(def->attributes[i]);
      def->attributes.erase(def->attributes.begin() + static_cast<std::ptrdiff_t>(i));
      def->attributes.insert(def->attributes.begin(), std::move(pk));
      break;
    }
    return key;
  }

  std::vector<Token> tokens_;
  const std::string& file_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<storage::TableDef>> ParseGraphqlSchema(std::string_view text,
                                                          const std::string& file_name) {
  Tokenizer tokenizer(text, file_name);
  ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenizer.Run());
  Parser parser(std::move(tokens), file_name);
  return parser.Run();
}

Status LoadSchemaFiles(const std::vector<std::string>& paths, storage::Store* store) {
  auto log = log::For("schema");
  std::vector<storage::TableDef> all;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IOError("cannot read schema file '" + path + "'");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Status::IOError("cannot read schema file '" + path + "'");
    ASSIGN_OR_RETURN(std::vector<storage::TableDef> defs, ParseGraphqlSchema(text.str(), path));
    for (auto& d : defs) all.push_back(std::move(d));
  }
  for (const storage::TableDef& def : all) {
    Result<storage::TableDef> current = store->GetTable(def.database, def.name);
    if (current.ok()) {
      if (current->replicate != def.replicate) {
        log->warn(
            "table {}.{} exists with replicate: {}; the schema file's replicate: {} is "
            "not applied (fixed at creation)",
            def.database, def.name, current->replicate, def.replicate);
      }
      if (current->primary_key != def.primary_key) {
        log->warn(
            "table {}.{} exists with primary key '{}'; the schema file's '{}' is not "
            "applied",
            def.database, def.name, current->primary_key, def.primary_key);
      }
    }
    storage::TableDef apply = def;
    if (current.ok()) apply.primary_key = current->primary_key;
    Status st = store->ApplyTableDef(apply);
    if (!st.ok()) {
      return st.WithPrefix("schema table " + def.database + "." + def.name);
    }
    log->info("schema table {}.{}: {}{}", def.database, def.name,
              current.ok() ? "present" : "created", def.replicate ? "" : " (replicate: false)");
  }
  return Status::Ok();
}

}  // namespace meshdb::ops
