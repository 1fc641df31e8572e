#include "replication/engine/node_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <map>
#include <utility>

#include "security/hex.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {

constexpr const char* kSystemDb = "system";

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string NodeTokenMac(std::string_view key, std::string_view node_name) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(node_name.data()), node_name.size(), mac, &len);
  return security::HexEncode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string NodeAuthorization(std::string_view key, std::string_view node_name) {
  return std::string(kNodeTokenScheme) + " " + std::string(node_name) + ":" +
         NodeTokenMac(key, node_name);
}

std::optional<ParsedNodeToken> ParseNodeAuthorization(std::string_view authorization) {
  if (authorization.size() <= kNodeTokenScheme.size() + 1 ||
      authorization.substr(0, kNodeTokenScheme.size()) != kNodeTokenScheme ||
      authorization[kNodeTokenScheme.size()] != ' ') {
    return std::nullopt;
  }
  std::string_view rest = authorization.substr(kNodeTokenScheme.size() + 1);
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view mac = rest.substr(colon + 1);
  if (mac.size() != 64 || !IsLowerHex(mac)) return std::nullopt;
  return ParsedNodeToken{std::string(rest.substr(0, colon)), std::string(mac)};
}

Result<std::string> VerifyNodeAuthorization(std::string_view authorization,
                                            const std::vector<std::string>& keys) {
  auto parsed = ParseNodeAuthorization(authorization);
  if (!parsed) return Status::Unauthenticated("malformed node token");
  for (const std::string& key : keys) {
    std::string expected = NodeTokenMac(key, parsed->node_name);
    if (expected.size() == parsed->mac.size() &&
        CRYPTO_memcmp(expected.data(), parsed->mac.data(), expected.size()) == 0) {
      return parsed->node_name;
    }
  }
  return Status::Unauthenticated("node token of '" + parsed->node_name +
                                 "' matches no known cluster key");
}

Status EnsureClusterKeysTable(storage::Store* store) {
  if (store->GetTable(kSystemDb, kClusterKeysTable).ok()) return Status::Ok();
  storage::TableDef def;
  def.database = kSystemDb;
  def.name = kClusterKeysTable;
  def.primary_key = "id";
  def.replicate = true;
  def.attributes = {{"id", "", true}, {"key", "", false}};
  Status st = store->ApplyTableDef(def);
  return st;
}

std::vector<std::string> LoadClusterKeys(storage::Store* store) {
  std::vector<std::string> keys;
  auto snap = store->Read(kSystemDb);
  if (!snap.ok()) return keys;
  std::map<std::string, std::string> by_id;
  Status st = (*snap)->ScanTable(kClusterKeysTable, [&](const storage::Record& r) {
    auto id = r.doc.find("id");
    auto key = r.doc.find("key");
    if (id != r.doc.end() && key != r.doc.end() && key->value().is_string() &&
        !key->value().as_string().empty()) {
      by_id[boost::json::serialize(id->value())] = std::string(key->value().as_string());
    }
    return true;
  });
  (void)st;
  for (auto& [id, key] : by_id) keys.push_back(std::move(key));
  return keys;
}

Result<std::vector<std::string>> EnsureClusterKey(storage::Store* store) {
  RETURN_IF_ERROR(EnsureClusterKeysTable(store));
  std::vector<std::string> keys = LoadClusterKeys(store);
  if (!keys.empty()) return keys;
  storage::WriteRequest req;
  req.database = kSystemDb;
  storage::WriteOp op;
  op.kind = storage::WriteKind::kInsert;
  op.table = kClusterKeysTable;
  std::string id = security::RandomHex(16);
  op.key = boost::json::value(id);
  op.fields["id"] = id;
  op.fields["key"] = security::RandomHex(32);
  req.ops.push_back(std::move(op));
  auto written = store->Write(std::move(req));
  if (!written.ok()) return written.status();
  return LoadClusterKeys(store);
}

}  // namespace meshdb::replication
