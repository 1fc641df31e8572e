// system.hdb_certificate: the rows HarperDB keeps for certificates, and the set of CAs this
// node trusts for peers.
//
// A row is {name, certificate, private_key_name?, is_authority, details{issuer, subject,
// subject_alt_name?, serial_number, valid_from, valid_to}, is_self_signed, uses[, hosts,
// ciphers]} (HARPERDB-OPS.md §3). `certificate` is PEM with CRLF line endings, as HarperDB
// stores it. A row never holds key material: `private_key_name` is the name of a file under
// <root>/keys (mode 0600). The table is replicate:false: rows never leave the node.
//
// Thread-safety: free functions over a Store, which serialises writes itself.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "security/openssl_owners.h"

namespace meshdb::storage {
class Store;
}
namespace meshdb::security {
struct NodeTls;
}

namespace meshdb::ops {

inline constexpr char kCertificateTable[] = "hdb_certificate";

// What a row says about a certificate besides the certificate itself.
struct CertificateRowInfo {
  std::string name;
  std::string private_key_name;  // file name under <root>/keys; "" omits the field
  bool is_authority = false;
  bool is_self_signed = false;
  boost::json::array uses;
};

// The row for `cert`. Internal when the certificate cannot be encoded.
Result<boost::json::object> BuildCertificateRow(X509* cert, const CertificateRowInfo& info);

// PEM with every line ending made CRLF (rows), and back to LF (OpenSSL, listeners).
std::string PemWithCrlf(std::string_view pem);
std::string PemWithLf(std::string_view pem);

// Every row, in name order, as stored (including __createdtime__/__updatedtime__).
Result<std::vector<boost::json::object>> ReadCertificateRows(storage::Store* store);

// Replaces the row named row["name"] with `row` (no field of an older row survives).
Status ReplaceCertificateRow(storage::Store* store, boost::json::object row);

// At start: the node's own certificates as rows. The CA (when there is one) is an authority
// row with uses []; the node certificate has uses ["replication"]. Generated certificates are
// is_self_signed true (HarperDB marks the certificates a node made itself so); configured
// ones say whether they really are. A row already holding the same certificate is left
// alone. Errors from storage as they are.
Status RecordNodeCertificates(storage::Store* store, const security::NodeTls& tls);

// The CA certificates (PEM, LF line endings) this node trusts for peers: every is_authority
// row, i.e. its own CA, a configured tls.certificateAuthority and those added with
// add_certificate. Rows whose certificate does not parse are skipped.
Result<std::vector<std::string>> TrustedCaPems(storage::Store* store);

}  // namespace meshdb::ops
