#pragma once

// Test certificates made at test time with OpenSSL (no private key is ever committed): a CA and
// server certificates it signs, written as PEM files into a folder.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace hallmark::test {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

inline PkeyPtr NewTestKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("EVP_EC_gen failed");
  return key;
}

inline void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error(std::string("bad extension ") + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// `issuer`/`issuer_key` null: self-signed CA. `san`: e.g. "DNS:localhost,IP:127.0.0.1".
inline X509Ptr NewTestCert(EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, const std::string& cn,
                           const std::string& san) {
  static long serial = 1;
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  const bool ca = issuer == nullptr;
  X509* signer = ca ? cert.get() : issuer;
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  AddExt(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (ca) {
    AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    AddExt(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    AddExt(cert.get(), signer, NID_subject_alt_name, san.c_str());
  }
  if (X509_sign(cert.get(), ca ? key : issuer_key, EVP_sha256()) == 0) {
    throw std::runtime_error("X509_sign failed");
  }
  return cert;
}

inline void WritePem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
  BIO* bio = BIO_new_file(path.c_str(), "w");
  if (bio == nullptr) throw std::runtime_error("cannot write " + path.string());
  const int ok = cert != nullptr
                     ? PEM_write_bio_X509(bio, cert)
                     : PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO_free(bio);
  if (ok != 1) throw std::runtime_error("cannot write " + path.string());
}

// A CA and one server certificate for `san`, as <name>-ca.pem, <name>-cert.pem, <name>-key.pem
// in `dir`.
struct TestPki {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

inline TestPki MakeTestPki(const std::filesystem::path& dir, const std::string& name,
                           const std::string& san = "DNS:localhost,IP:127.0.0.1") {
  PkeyPtr ca_key = NewTestKey();
  X509Ptr ca = NewTestCert(ca_key.get(), nullptr, nullptr, "Hallmark test CA " + name, "");
  PkeyPtr key = NewTestKey();
  X509Ptr cert = NewTestCert(key.get(), ca.get(), ca_key.get(), "hallmark node " + name, san);
  TestPki pki;
  pki.ca_file = (dir / (name + "-ca.pem")).string();
  pki.cert_file = (dir / (name + "-cert.pem")).string();
  pki.key_file = (dir / (name + "-key.pem")).string();
  WritePem(pki.ca_file, ca.get(), nullptr);
  WritePem(pki.cert_file, cert.get(), nullptr);
  WritePem(pki.key_file, nullptr, key.get());
  return pki;
}

}  // namespace hallmark::test
