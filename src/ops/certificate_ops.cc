// add_certificate, list_certificates, remove_certificate (HARPERDB-OPS.md §3). super_user
// only (dispatcher.cc). Private keys go to <root>/keys/<sanitised name>.pem (mode 0600) and
// never into a row, a response or a log line.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "ops/certificate_rows.h"
#include "ops/fields.h"
#include "ops/handlers.h"
#include "security/private_file.h"
#include "security/x509.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr char kNoSuitableKey[] = "A suitable private key was not found for this certificate";

std::string KeysDir(const OpCall& call) { return call.env->config->settings().root_path + "/keys"; }

// HarperDB's file-safe form of a certificate name: every character outside [a-z0-9.]
// becomes '-' ("leaf cert" -> "leaf-cert").
std::string SanitisedName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
    if (!keep) c = '-';
  }
  return out;
}

// Whether `file` is a key file add_certificate wrote ("<sanitised>.pem"): only those are
// ever deleted by remove_certificate (the node's own keys have upper-case names).
bool IsAddedKeyFile(const std::string& file) {
  if (file.size() <= 4 || file.compare(file.size() - 4, 4, ".pem") != 0) return false;
  return SanitisedName(file) == file;
}

std::string StringField(const json::object& row, const char* name) {
  const json::value* v = row.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

const json::object* FindRow(const std::vector<json::object>& rows, const std::string& name) {
  for (const json::object& row : rows) {
    if (StringField(row, "name") == name) return &row;
  }
  return nullptr;
}

// The validated fields of add_certificate.
struct AddRequest {
  std::string name;
  std::string certificate;
  bool is_authority = false;
  std::optional<std::string> private_key;
  json::array uses;
  const json::value* hosts = nullptr;    // array or null
  const json::value* ciphers = nullptr;  // string or null
};

bool Absent(const json::object& body, const char* name) {
  const json::value* v = body.if_contains(name);
  return v == nullptr || v->is_null();
}

// `replicated: true` (HARPERDB-OPS.md §2.7): whether the request goes to every member too.
Result<bool> Replicated(const json::object& body) {
  if (Absent(body, "replicated")) return false;
  if (!body.at("replicated").is_bool()) {
    return Status::InvalidArgument("'replicated' must be a boolean");
  }
  return body.at("replicated").get_bool();
}

// Answers {"message": message}, with HarperDB's "replicated" array of every other member's
// answer when the request asked for the fan-out.
void ReplyAndFanOut(OpCall call, std::string message, bool replicated) {
  if (!replicated) return call.ReplyMessage(message);
  json::object request = call.body;
  request.erase("replicated");
  const OpEnv* env = call.env;
  auto shared = std::make_shared<OpCall>(std::move(call));
  env->fan_out(std::move(request), [shared, message = std::move(message)](json::array results) {
    shared->Reply(json::object{{"message", message}, {"replicated", std::move(results)}});
  });
}

// Checks `replicated` before anything is written: a fan-out needs cluster membership, and
// a private key never leaves the node.
Result<bool> CheckReplicated(const OpCall& call) {
  ASSIGN_OR_RETURN(bool replicated, Replicated(call.body));
  if (!replicated) return false;
  if (!call.env->fan_out) {
    return Status::InvalidArgument("'replicated' needs cluster membership, which is not running");
  }
  if (!Absent(call.body, "private_key")) {
    return Status::InvalidArgument(
        "'replicated' cannot be used with 'private_key': a private key is never sent to other "
        "nodes (add the certificate on each node, or fan out a CA without its key)");
  }
  return true;
}

// HarperDB's messages, joined in field order: "'name' is required. 'certificate' is required.
// 'is_authority' is required".
Result<AddRequest> ParseAddRequest(const json::object& body) {
  std::vector<std::string> errors;
  AddRequest req;
  auto string_field = [&](const char* name, std::string* out) {
    if (Absent(body, name)) {
      errors.push_back(std::string("'") + name + "' is required");
    } else if (!body.at(name).is_string()) {
      errors.push_back(std::string("'") + name + "' must be a string");
    } else if (body.at(name).get_string().empty()) {
      errors.push_back(std::string("'") + name + "' is not allowed to be empty");
    } else {
      *out = std::string(body.at(name).get_string());
    }
  };
  string_field("name", &req.name);
  string_field("certificate", &req.certificate);
  if (Absent(body, "is_authority")) {
    errors.emplace_back("'is_authority' is required");
  } else if (!body.at("is_authority").is_bool()) {
    errors.emplace_back("'is_authority' must be a boolean");
  } else {
    req.is_authority = body.at("is_authority").get_bool();
  }
  if (!Absent(body, "private_key")) {
    if (!body.at("private_key").is_string()) {
      errors.emplace_back("'private_key' must be a string");
    } else {
      req.private_key = std::string(body.at("private_key").get_string());
    }
  }
  for (const char* list : {"hosts", "uses"}) {
    if (!Absent(body, list) && !body.at(list).is_array()) {
      errors.push_back(std::string("'") + list + "' must be an array");
    }
  }
  if (!Absent(body, "ciphers") && !body.at("ciphers").is_string()) {
    errors.emplace_back("'ciphers' must be a string");
  }
  RETURN_IF_ERROR(JoinValidation(errors));
  if (!Absent(body, "uses")) req.uses = body.at("uses").get_array();
  if (!Absent(body, "hosts")) req.hosts = &body.at("hosts");
  if (!Absent(body, "ciphers")) req.ciphers = &body.at("ciphers");
  return req;
}

// The key file of a stored row whose key is `cert`'s, or nullopt.
std::optional<std::string> FindStoredKey(const std::vector<json::object>& rows,
                                         const std::string& keys_dir, X509* cert) {
  for (const json::object& row : rows) {
    const std::string file = StringField(row, "private_key_name");
    if (file.empty() || file.find('/') != std::string::npos) continue;
    Result<std::string> pem = security::ReadWholeFile(keys_dir + "/" + file);
    if (!pem.ok()) continue;
    Result<security::EvpPkey> key = security::ParsePrivateKeyPem(*pem);
    if (key.ok() && security::KeyMatchesCertificate(cert, key->get())) return file;
  }
  return std::nullopt;
}

// Decides which key file the row names; writes the given key when there is one. Nothing is
// written unless every check passed.
Result<std::string> SettleKey(const AddRequest& req, X509* cert,
                              const std::vector<json::object>& rows, const std::string& keys_dir) {
  if (!req.private_key) {
    std::optional<std::string> stored = FindStoredKey(rows, keys_dir, cert);
    if (stored) return *stored;
    if (req.is_authority) return std::string();  // a CA we only trust needs no key
    return Status::InvalidArgument(kNoSuitableKey);
  }
  Result<security::EvpPkey> key = security::ParsePrivateKeyPem(*req.private_key);
  // Invalid PEM is a 500 with OpenSSL's text, as HarperDB answers.
  if (!key.ok()) return Status::Internal(key.status().message());
  if (!security::KeyMatchesCertificate(cert, key->get())) {
    return Status::InvalidArgument(kNoSuitableKey);
  }
  const std::string file = SanitisedName(req.name) + ".pem";
  const std::string path = keys_dir + "/" + file;
  // Two names can sanitise alike ("a b", "a-b"): never replace another certificate's key
  // (writing the very same key again is harmless).
  Result<std::string> current = security::ReadWholeFile(path);
  const bool same_key = current.ok() && *current == *req.private_key;
  for (const json::object& row : rows) {
    if (same_key) break;
    if (StringField(row, "private_key_name") == file && StringField(row, "name") != req.name) {
      return Status::Conflict("the private key file '" + file + "' belongs to certificate '" +
                              StringField(row, "name") + "'; choose another name");
    }
  }
  RETURN_IF_ERROR(security::EnsurePrivateDirectory(keys_dir));
  RETURN_IF_ERROR(security::WritePrivateFile(path, *req.private_key));
  return file;
}

// Deletes the hdb_certificate row `name` and the key file add_certificate wrote for it when
// no other row uses that file. The TLS contexts are not told (TrustChanged).
Status RemoveCertificateHere(const OpCall& call, const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<json::object> rows, ReadCertificateRows(call.env->store));
  const json::object* row = FindRow(rows, name);
  if (row == nullptr) return Status::InvalidArgument(name + " not found");
  const std::string key_file = StringField(*row, "private_key_name");

  storage::WriteRequest request;
  request.database = "system";
  storage::WriteOp op;
  op.kind = storage::WriteKind::kDelete;
  op.table = kCertificateTable;
  op.key = json::value(name);
  request.ops.push_back(std::move(op));
  RETURN_IF_ERROR(call.env->store->Write(std::move(request)).status());

  bool still_used = false;
  for (const json::object& other : rows) {
    if (StringField(other, "name") != name && StringField(other, "private_key_name") == key_file) {
      still_used = true;
    }
  }
  if (!key_file.empty() && !still_used && IsAddedKeyFile(key_file)) {
    std::error_code ec;
    std::filesystem::remove(KeysDir(call) + "/" + key_file, ec);
  }
  return Status::Ok();
}

// The TLS contexts trust exactly the is_authority rows from the next handshake on; a CA
// that left cuts the live links whose peer certificate no longer verifies. Called after the
// answer is on its way, so a member answering a fanned-out removal of the CA its caller's
// certificate chains to still sends its answer first.
void TrustChanged(const OpEnv* env) {
  if (env->on_certificates_changed) env->on_certificates_changed();
}

}  // namespace

void AddCertificate(OpCall call) {
  Result<AddRequest> req = ParseAddRequest(call.body);
  if (!req.ok()) return call.Fail(req.status());
  Result<bool> replicated = CheckReplicated(call);
  if (!replicated.ok()) return call.Fail(replicated.status());
  Result<security::X509Cert> cert = security::ParseCertificatePem(req->certificate);
  if (!cert.ok()) return call.Fail(Status::Internal(cert.status().message()));
  Result<std::vector<json::object>> rows = ReadCertificateRows(call.env->store);
  if (!rows.ok()) return call.Fail(rows.status());
  const std::string keys_dir = KeysDir(call);
  Result<std::string> key_file = SettleKey(*req, cert->get(), *rows, keys_dir);
  if (!key_file.ok()) return call.Fail(key_file.status());

  CertificateRowInfo info;
  info.name = req->name;
  info.private_key_name = *key_file;
  info.is_authority = req->is_authority;
  info.is_self_signed = security::IsSelfSigned(cert->get());
  info.uses = req->uses;
  Result<json::object> row = BuildCertificateRow(cert->get(), info);
  if (!row.ok()) return call.Fail(row.status());
  if (req->hosts != nullptr) (*row)["hosts"] = *req->hosts;
  if (req->ciphers != nullptr) (*row)["ciphers"] = *req->ciphers;
  if (Status s = ReplaceCertificateRow(call.env->store, std::move(*row)); !s.ok()) {
    return call.Fail(s);
  }
  if (call.env->on_certificates_changed) call.env->on_certificates_changed();
  ReplyAndFanOut(std::move(call), "Successfully added certificate: " + SanitisedName(req->name),
                 *replicated);
}

void ListCertificates(OpCall call) {
  Result<std::vector<json::object>> rows = ReadCertificateRows(call.env->store);
  if (!rows.ok()) return call.Fail(rows.status());
  json::array out;
  for (json::object& row : *rows) {
    row.erase("__createdtime__");  // HarperDB lists __updatedtime__ only
    out.emplace_back(std::move(row));
  }
  call.Reply(std::move(out));
}

void RemoveCertificate(OpCall call) {
  Result<std::string> name = RequiredString(call.body, "name");
  if (!name.ok()) return call.Fail(name.status());
  Result<bool> replicated = CheckReplicated(call);
  if (!replicated.ok()) return call.Fail(replicated.status());
  Result<std::vector<json::object>> rows = ReadCertificateRows(call.env->store);
  if (!rows.ok()) return call.Fail(rows.status());
  if (FindRow(*rows, *name) == nullptr) {
    return call.Fail(Status::InvalidArgument(*name + " not found"));
  }
  if (!*replicated) {
    if (Status s = RemoveCertificateHere(call, *name); !s.ok()) return call.Fail(s);
    const OpEnv* env = call.env;
    call.ReplyMessage("Successfully removed " + *name);
    TrustChanged(env);
    return;
  }
  // The members first: removing a CA here cuts the links to the nodes it vouched for (and
  // to any member whose certificate chains to it), so done first it would keep the
  // operation from reaching them. Every member reachable now is asked; then this node.
  json::object request = call.body;
  request.erase("replicated");
  const OpEnv* env = call.env;
  auto shared = std::make_shared<OpCall>(std::move(call));
  env->fan_out(std::move(request), [shared, name = *name](json::array results) {
    if (Status s = RemoveCertificateHere(*shared, name); !s.ok()) return shared->Fail(s);
    shared->Reply(json::object{{"message", "Successfully removed " + name},
                               {"replicated", std::move(results)}});
    TrustChanged(shared->env);
  });
}

}  // namespace meshdb::ops
