#include "cli/cli.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/http_client.h"
#include "cli/status_view.h"
#include "common/version.h"
#include "config/config.h"
#include "security/base64.h"

namespace meshdb::cli {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr int kTimeoutS = 60;

constexpr char kUsage[] =
    "usage: meshdb run [--root DIR] [--config FILE] [--KEY value ...]   start a node\n"
    "       meshdb <operation> [key=value ...] [options]                run an operation\n"
    "       meshdb status [options]                                     cluster summary\n"
    "       meshdb stop [--root DIR]                                    stop the local node\n"
    "       meshdb --version\n"
    "\n"
    "options: --target URL (http:// or https://; default: the local config's operations API),\n"
    "         --user U, --password P (or CLI_TARGET_USERNAME / CLI_TARGET_PASSWORD), --json,\n"
    "         --cacert FILE (CA to verify an https:// node; default: the local node's CA),\n"
    "         --root DIR (default $HDB_ROOT, else ./data)\n"
    "values that parse as JSON are sent as JSON: limit=10 records='[{\"id\":1}]'\n"
    "(docs/operations.md)\n";

struct Options {
  std::string operation;
  json::object body;
  std::string target;
  std::string user;
  std::string password;
  std::string root;
  std::string cacert;
  bool json_output = false;
};

// Where to send the request, and the CA that must have signed an https:// node's certificate.
struct Target {
  std::string url;
  std::string ca_file;    // "" = the system's CAs
  std::string ca_source;  // where ca_file came from, for errors ("--cacert", a config key, ...)
};

int Error(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

std::string EnvOr(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

// key=value: JSON when the value parses as JSON, else the text.
json::value CastArg(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec) return v;
  return json::value(json::string(text));
}

// Parses the arguments; nullopt after printing why (exit 2).
std::optional<Options> Parse(const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env) {
  Options o;
  o.root = EnvOr(env, "HDB_ROOT");
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "meshdb: '%s' needs a value\n", flag);
        return std::nullopt;
      }
      return args[++i];
    };
    if (arg == "--json") {
      o.json_output = true;
    } else if (arg == "--yaml") {
      o.json_output = false;
    } else if (arg == "--target" || arg == "--user" || arg == "--password" || arg == "--root" ||
               arg == "--cacert") {
      std::optional<std::string> v = value(arg.c_str());
      if (!v) return std::nullopt;
      (arg == "--target"     ? o.target
       : arg == "--user"     ? o.user
       : arg == "--password" ? o.password
       : arg == "--cacert"   ? o.cacert
                             : o.root) = *v;
    } else if (arg.starts_with("--")) {
      std::fprintf(stderr, "meshdb: unknown option '%s'\n", arg.c_str());
      return std::nullopt;
    } else if (size_t eq = arg.find('='); eq != std::string::npos && eq > 0) {
      std::string key = arg.substr(0, eq);
      std::string text = arg.substr(eq + 1);
      // HarperDB's transport fields, never sent in the body.
      if (key == "target") {
        o.target = text;
      } else if (key == "username") {
        o.user = text;
      } else if (key == "password") {
        o.password = text;
      } else if (key == "json") {
        o.json_output = text == "true";
      } else {
        o.body[key] = CastArg(text);
      }
    } else if (o.operation.empty()) {
      o.operation = arg;
    } else {
      std::fprintf(stderr, "meshdb: unexpected argument '%s' (key=value expected)\n", arg.c_str());
      return std::nullopt;
    }
  }
  if (o.user.empty()) o.user = EnvOr(env, "CLI_TARGET_USERNAME");
  if (o.password.empty()) o.password = EnvOr(env, "CLI_TARGET_PASSWORD");
  if (o.user.empty()) o.user = EnvOr(env, "HDB_ADMIN_USERNAME");
  if (o.password.empty()) o.password = EnvOr(env, "HDB_ADMIN_PASSWORD");
  if (o.target.empty()) o.target = EnvOr(env, "CLI_TARGET");
  if (o.root.empty()) o.root = "./data";
  return o;
}

// The local configuration under --root, when there is one (nullopt: no file).
Result<std::optional<config::Config>> LocalConfig(const Options& o,
                                                  const std::map<std::string, std::string>& env) {
  const fs::path file = fs::path(o.root) / "harperdb-config.yaml";
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::optional<config::Config>();
  config::LoadOptions load;
  load.root = o.root;
  load.env = env;
  ASSIGN_OR_RETURN(config::Config cfg, config::Config::Load(load));
  return std::optional<config::Config>(std::move(cfg));
}

// The CA for an https:// node: --cacert, else the local node's (the CA that issued the
// certificate its operations API serves: operationsApi.tls.certificateAuthority,
// tls.certificateAuthority, else the one it generated under <root>/keys), else the system's.
void ChooseCa(const Options& o, const config::Config* local, Target& t) {
  if (!o.cacert.empty()) {
    t.ca_file = o.cacert;
    t.ca_source = "--cacert";
    return;
  }
  if (local == nullptr) return;
  const config::Settings& s = local->settings();
  if (!s.ops_tls_certificate_authority.empty()) {
    t.ca_file = s.ops_tls_certificate_authority;
    t.ca_source = "operationsApi.tls.certificateAuthority";
  } else if (!s.tls_certificate_authority.empty()) {
    t.ca_file = s.tls_certificate_authority;
    t.ca_source = "tls.certificateAuthority";
  } else {
    const fs::path generated = fs::path(s.root_path) / "keys" / "certificateAuthority.pem";
    std::error_code ec;
    if (fs::exists(generated, ec)) {
      t.ca_file = generated.string();
      t.ca_source = "the local node's CA";
    }
  }
}

// --target, else the local configuration's operations API address: https:// on its securePort
// when the file sets no plain port (or 0), else http:// on its port; with the CA to verify an
// https:// node by.
Result<Target> ResolveTarget(const Options& o, const std::map<std::string, std::string>& env) {
  Result<std::optional<config::Config>> local = LocalConfig(o, env);
  Target t;
  if (!o.target.empty()) {
    t.url = o.target.find("://") == std::string::npos ? "http://" + o.target : o.target;
  } else {
    if (!local.ok()) return local.status();
    if (!local->has_value()) {
      return Status::NotFound("no meshdb configuration at " +
                              (fs::path(o.root) / "harperdb-config.yaml").string() +
                              " (give --root DIR or --target URL)");
    }
    const config::Settings& s = (*local)->settings();
    std::string host = s.operations_host == "0.0.0.0" ? "127.0.0.1" : s.operations_host;
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    // Only an HTTPS port: securePort, with port null (HarperDB's production file) or 0.
    const bool https_only = s.operations_secure_port != 0 && s.operations_port.value_or(0) == 0;
    if (https_only) {
      t.url = "https://" + host + ":" + std::to_string(s.operations_secure_port);
    } else if (s.operations_port.value_or(0) != 0) {
      t.url = "http://" + host + ":" + std::to_string(*s.operations_port);
    } else {
      return Status::InvalidArgument(
          "the local configuration's operations API port is 0 (any free port): give --target "
          "URL");
    }
  }
  // A local configuration that does not load only matters when it names the target.
  if (t.url.starts_with("https://")) {
    ChooseCa(o, local.ok() && local->has_value() ? &**local : nullptr, t);
  }
  return t;
}

std::string Authorization(const Options& o) {
  if (o.user.empty()) return "";
  return "Basic " + security::Base64Encode(o.user + ":" + o.password);
}

// Pretty JSON (2 spaces), for --json.
void PrettyJson(const json::value& v, std::string& out, int indent) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  const std::string inner(static_cast<size_t>(indent + 1) * 2, ' ');
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      out += inner + json::serialize(json::value(kv.key())) + ": ";
      PrettyJson(kv.value(), out, indent + 1);
    }
    out += "\n" + pad + "}";
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& e : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      out += inner;
      PrettyJson(e, out, indent + 1);
    }
    out += "\n" + pad + "]";
  } else {
    out += json::serialize(v);
  }
}

// Runs `body` on the node; the parsed answer, or the one-line error already printed (nullopt).
std::optional<json::value> Run(const Options& o, const std::map<std::string, std::string>& env,
                               const json::object& body) {
  Result<Target> target = ResolveTarget(o, env);
  if (!target.ok()) {
    Error(target.status().message());
    return std::nullopt;
  }
  Result<HttpAnswer> answer =
      Call(target->url, Authorization(o), json::serialize(body), target->ca_file, kTimeoutS);
  if (!answer.ok()) {
    std::string message = answer.status().message();
    if (message.find("certificate verify failed") != std::string::npos) {
      // Either the CA did not issue the certificate or it does not name the URL's host.
      message += " (the node's certificate must be issued by " +
                 (target->ca_file.empty()
                      ? std::string("one of the system's CAs")
                      : "the CA in " + target->ca_file + " (" + target->ca_source + ")") +
                 " and name the host of the URL; give --cacert FILE)";
    }
    Error(message);
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(answer->body, ec);
  if (answer->status < 200 || answer->status >= 300) {
    std::string message = answer->body;
    if (!ec && parsed.is_object()) {
      const json::value* e = parsed.get_object().if_contains("error");
      if (e == nullptr) e = parsed.get_object().if_contains("message");
      if (e != nullptr) message = e->is_string() ? std::string(e->get_string()) : serialize(*e);
    }
    while (!message.empty() && message.back() == '\n') message.pop_back();
    for (char& c : message) c = c == '\n' ? ' ' : c;
    Error(message + " (HTTP " + std::to_string(answer->status) + ")");
    return std::nullopt;
  }
  if (ec) {
    Error("the node answered something that is not JSON: " + answer->body.substr(0, 200));
    return std::nullopt;
  }
  return parsed;
}

// Whether `pid` has exited: gone, or a zombie its parent has not reaped yet.
bool Exited(long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

int Stop(const Options& o) {
  const fs::path pid_file = fs::path(o.root) / "hdb.pid";
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
    return Error("no running node: cannot read a pid from " + pid_file.string());
  }
  if (::kill(static_cast<pid_t>(pid), SIGTERM) != 0) {
    return Error("cannot signal pid " + std::to_string(pid) + " (from " + pid_file.string() +
                 "): " + std::strerror(errno));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Exited(pid)) {
      std::printf("stopped meshdb (pid %ld)\n", pid);
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error("pid " + std::to_string(pid) + " did not exit within 60 s of SIGTERM");
}

}  // namespace

int Main(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("meshdb %s\n", kVersion);
    return 0;
  }
  std::optional<Options> options = Parse(args, env);
  if (!options) return 2;
  if (options->operation == "stop") return Stop(*options);
  if (options->operation == "status") {
    std::optional<json::value> status =
        Run(*options, env, json::object{{"operation", "cluster_status"}});
    if (!status) return 1;
    std::fputs(FormatStatus(*status).c_str(), stdout);
    return 0;
  }
  if (options->operation.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  json::object body = options->body;
  body["operation"] = options->operation;
  std::optional<json::value> answer = Run(*options, env, body);
  if (!answer) return 1;
  std::string out;
  if (options->json_output) {
    PrettyJson(*answer, out, 0);
    out += "\n";
  } else {
    out = config::FormatYaml(*answer);
    if (out.empty() || out.back() != '\n') out += "\n";
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace meshdb::cli
