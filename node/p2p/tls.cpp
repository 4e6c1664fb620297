#include "node/p2p/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>

#include "core/crypto/random.h"
#include "node/p2p/hello.h"

namespace hallmark::node {
namespace {

// The first queued OpenSSL error as text, and the queue cleared, so errors do not leak into
// unrelated later calls on this thread.
std::string OpenSslError(std::string_view what) {
  unsigned long code = ERR_get_error();
  char buf[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return "TLS setup: " + std::string(what) + ": " + buf;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};

// Verification is the Hello's job (see tls.h): accept whatever certificate the peer presents.
int AcceptAnyCertificate(int /*preverify_ok*/, X509_STORE_CTX* /*ctx*/) {
  return 1;
}

}  // namespace

core::Result<std::unique_ptr<boost::asio::ssl::context>> MakePeerTlsContext() {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
  if (!key) return core::Status::Internal(OpenSslError("generating the P-256 key"));

  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!cert) return core::Status::Internal(OpenSslError("allocating the certificate"));
  uint64_t serial = 0;
  core::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&serial), sizeof(serial)));
  serial >>= 1;  // A positive serial number, as RFC 5280 asks.
  X509_NAME* name = X509_get_subject_name(cert.get());
  bool ok = X509_set_version(cert.get(), 2) == 1 &&
            ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600) != nullptr &&
            X509_set_pubkey(cert.get(), key.get()) == 1 &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("hallmark-p2p"), -1,
                                       -1, 0) == 1 &&
            X509_set_issuer_name(cert.get(), name) == 1 &&
            X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return core::Status::Internal(OpenSslError("building the certificate"));

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return core::Status::Internal(OpenSslError("creating the context"));
  ok = SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
       SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) == 1 &&
       SSL_CTX_use_certificate(ctx.get(), cert.get()) == 1 &&
       SSL_CTX_use_PrivateKey(ctx.get(), key.get()) == 1 &&
       SSL_CTX_check_private_key(ctx.get()) == 1 && SSL_CTX_set_num_tickets(ctx.get(), 0) == 1;
  if (!ok) return core::Status::Internal(OpenSslError("configuring the context"));
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     AcceptAnyCertificate);
  // asio::ssl::context takes ownership of the handle and frees it.
  return std::make_unique<boost::asio::ssl::context>(ctx.release());
}

core::Result<core::Hash256> ExportHelloKeyingMaterial(SSL* ssl) {
  if (ssl == nullptr || SSL_is_init_finished(ssl) != 1) {
    return core::Status::InvalidInput("the TLS handshake has not completed");
  }
  if (SSL_version(ssl) != TLS1_3_VERSION) {
    return core::Status::InvalidInput(std::string("the session is ") + SSL_get_version(ssl) +
                                      ", not TLS 1.3");
  }
  core::Hash256 out;
  int rc = SSL_export_keying_material(ssl, out.data(), out.size(), kHelloExporterLabel.data(),
                                      kHelloExporterLabel.size(), nullptr, 0, 0);
  if (rc != 1) return core::Status::Internal(OpenSslError("exporting keying material"));
  return out;
}

}  // namespace hallmark::node
