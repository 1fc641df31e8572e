#include "ops/certificate_rows.h"

#include <utility>

#include "security/node_certificates.h"
#include "security/x509.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr char kSystemDatabase[] = "system";

storage::WriteOp Op(storage::WriteKind kind, const std::string& name, json::object fields) {
  storage::WriteOp op;
  op.kind = kind;
  op.table = kCertificateTable;
  op.key = json::value(name);
  op.fields = std::move(fields);
  return op;
}

// Upserts the row for the first certificate of `pem`, unless a row of that name already
// holds the same certificate and key name.
Status RecordRow(storage::Store* store, const std::vector<json::object>& existing,
                 const std::string& pem, CertificateRowInfo info) {
  ASSIGN_OR_RETURN(security::X509Cert cert, security::ParseCertificatePem(pem));
  ASSIGN_OR_RETURN(json::object row, BuildCertificateRow(cert.get(), info));
  for (const json::object& old : existing) {
    const json::value* name = old.if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string() != info.name) continue;
    const json::value* old_cert = old.if_contains("certificate");
    const json::value* old_key = old.if_contains("private_key_name");
    const json::value* new_key = row.if_contains("private_key_name");
    bool same_key = (old_key == nullptr && new_key == nullptr) ||
                    (old_key != nullptr && new_key != nullptr && *old_key == *new_key);
    if (old_cert != nullptr && *old_cert == row.at("certificate") && same_key) {
      return Status::Ok();
    }
  }
  return ReplaceCertificateRow(store, std::move(row));
}

}  // namespace

std::string PemWithCrlf(std::string_view pem) {
  std::string lf = PemWithLf(pem);
  std::string out;
  out.reserve(lf.size() + lf.size() / 60 + 1);
  for (char c : lf) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

std::string PemWithLf(std::string_view pem) {
  std::string out;
  out.reserve(pem.size());
  for (char c : pem) {
    if (c != '\r') out.push_back(c);
  }
  return out;
}

Result<json::object> BuildCertificateRow(X509* cert, const CertificateRowInfo& info) {
  ASSIGN_OR_RETURN(std::string pem, security::CertificateToPem(cert));
  security::CertificateDetails d = security::DetailsOf(cert);
  json::object details{{"issuer", d.issuer}, {"subject", d.subject}};
  if (!d.subject_alt_name.empty()) details["subject_alt_name"] = d.subject_alt_name;
  details["serial_number"] = d.serial_number;
  details["valid_from"] = d.valid_from;
  details["valid_to"] = d.valid_to;
  json::object row{{"name", info.name}, {"certificate", PemWithCrlf(pem)}};
  if (!info.private_key_name.empty()) row["private_key_name"] = info.private_key_name;
  row["is_authority"] = info.is_authority;
  row["details"] = std::move(details);
  row["is_self_signed"] = info.is_self_signed;
  row["uses"] = info.uses;
  return row;
}

Result<std::vector<json::object>> ReadCertificateRows(storage::Store* store) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot, store->Read(kSystemDatabase));
  std::vector<json::object> rows;
  RETURN_IF_ERROR(snapshot->ScanTable(kCertificateTable, [&rows](const storage::Record& r) {
    rows.push_back(r.doc);
    return true;
  }));
  return rows;
}

Status ReplaceCertificateRow(storage::Store* store, json::object row) {
  const std::string name(row.at("name").as_string());
  storage::WriteRequest request;
  request.database = kSystemDatabase;
  // A delete then an insert in one transaction: the new row keeps nothing of the old one.
  request.ops.push_back(Op(storage::WriteKind::kDelete, name, {}));
  request.ops.push_back(Op(storage::WriteKind::kInsert, name, std::move(row)));
  Result<storage::WriteResult> written = store->Write(std::move(request));
  return written.ok() ? Status::Ok() : written.status();
}

Status RecordNodeCertificates(storage::Store* store, const security::NodeTls& tls) {
  const security::TlsIdentity& node = tls.node;
  const bool generated = node.source == "generated";
  ASSIGN_OR_RETURN(std::vector<json::object> existing, ReadCertificateRows(store));
  if (!node.ca_certificate_pem.empty()) {
    ASSIGN_OR_RETURN(security::X509Cert ca, security::ParseCertificatePem(node.ca_certificate_pem));
    CertificateRowInfo info;
    info.name = node.ca_name;
    info.private_key_name = node.ca_key_file;
    info.is_authority = true;
    info.is_self_signed = generated || security::IsSelfSigned(ca.get());
    info.uses = json::array{};
    RETURN_IF_ERROR(RecordRow(store, existing, node.ca_certificate_pem, std::move(info)));
  }
  ASSIGN_OR_RETURN(security::X509Cert leaf, security::ParseCertificatePem(node.certificate_pem));
  CertificateRowInfo info;
  info.name = node.certificate_name;
  info.private_key_name = node.key_file;
  info.is_authority = false;
  info.is_self_signed = generated || security::IsSelfSigned(leaf.get());
  info.uses = json::array{"replication"};
  return RecordRow(store, existing, node.certificate_pem, std::move(info));
}

Result<std::vector<std::string>> TrustedCaPems(storage::Store* store) {
  ASSIGN_OR_RETURN(std::vector<json::object> rows, ReadCertificateRows(store));
  std::vector<std::string> pems;
  for (const json::object& row : rows) {
    const json::value* authority = row.if_contains("is_authority");
    const json::value* cert = row.if_contains("certificate");
    if (authority == nullptr || !authority->is_bool() || !authority->get_bool()) continue;
    if (cert == nullptr || !cert->is_string()) continue;
    std::string pem = PemWithLf(cert->get_string());
    if (!security::ParseCertificatePem(pem).ok()) continue;
    pems.push_back(std::move(pem));
  }
  return pems;
}

}  // namespace meshdb::ops
