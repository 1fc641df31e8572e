#include "security/token_signer.h"

#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <filesystem>

#include "security/base64.h"
#include "security/private_file.h"

namespace meshdb::security {

namespace json = boost::json;

namespace {

constexpr char kPrivateFile[] = ".jwtPrivate.key";
constexpr char kPublicFile[] = ".jwtPublic.key";

Status InvalidToken() { return Status::Unauthenticated("invalid token"); }

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<EvpPkey> GenerateAndWrite(const std::string& private_path, const std::string& public_path) {
  EvpPkey key(EVP_RSA_gen(2048));
  if (!key) return Status::Internal("RSA key generation failed");
  Bio priv(BIO_new(BIO_s_mem()));
  Bio pub(BIO_new(BIO_s_mem()));
  if (!priv || !pub ||
      PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) {
    return Status::Internal("cannot encode the token key pair");
  }
  // The public key first: a present private key file means a complete pair.
  RETURN_IF_ERROR(WritePrivateFile(public_path, BioContents(pub.get())));
  RETURN_IF_ERROR(WritePrivateFile(private_path, BioContents(priv.get())));
  return key;
}

Result<EvpPkey> ReadPrivateKey(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(path));
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Status::Internal("BIO_new_mem_buf failed");
  EvpPkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::Corruption(path + ": not a PEM private key");
  return key;
}

}  // namespace

Result<std::unique_ptr<TokenSigner>> TokenSigner::LoadOrCreate(const std::string& keys_dir) {
  std::error_code ec;
  std::filesystem::create_directories(keys_dir, ec);
  if (ec) return Status::IOError(keys_dir + ": " + ec.message());
  std::string private_path = (std::filesystem::path(keys_dir) / kPrivateFile).string();
  std::string public_path = (std::filesystem::path(keys_dir) / kPublicFile).string();
  Result<EvpPkey> key = std::filesystem::exists(private_path, ec)
                            ? ReadPrivateKey(private_path)
                            : GenerateAndWrite(private_path, public_path);
  if (!key.ok()) return key.status();
  return std::unique_ptr<TokenSigner>(new TokenSigner(std::move(key).value()));
}

std::string TokenSigner::Sign(const json::object& payload) const {
  std::string signing_input = Base64UrlEncode(R"({"alg":"RS256","typ":"JWT"})") + "." +
                              Base64UrlEncode(json::serialize(payload));
  EvpMdCtx ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    std::abort();  // a loaded RSA key always signs
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    std::abort();
  }
  sig.resize(sig_len);
  return signing_input + "." + Base64UrlEncode(sig);
}

Result<json::object> TokenSigner::Verify(std::string_view token, uint64_t now_s) const {
  size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return InvalidToken();
  size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return InvalidToken();
  }
  std::string header_text, payload_text, sig;
  if (!Base64UrlDecode(token.substr(0, dot1), &header_text) ||
      !Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1), &payload_text) ||
      !Base64UrlDecode(token.substr(dot2 + 1), &sig)) {
    return InvalidToken();
  }
  boost::system::error_code ec;
  json::value header = json::parse(header_text, ec);
  if (ec || !header.is_object()) return InvalidToken();
  const json::value* alg = header.get_object().if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->get_string() != "RS256") return InvalidToken();

  std::string_view signing_input = token.substr(0, dot2);
  EvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size()) != 1) {
    return InvalidToken();
  }

  json::value payload = json::parse(payload_text, ec);
  if (ec || !payload.is_object()) return InvalidToken();
  if (const json::value* exp = payload.get_object().if_contains("exp")) {
    if (!exp->is_number()) return InvalidToken();
    double exp_s = exp->to_number<double>();
    if (!(exp_s > static_cast<double>(now_s))) return InvalidToken();
  }
  return std::move(payload.get_object());
}

}  // namespace meshdb::security
