// SHA-256 through OpenSSL's one-shot context API. The low-level SHA256_* calls are deprecated in
// OpenSSL 3 but avoid EVP's per-call dispatch, which costs more than hashing a 64-byte node.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "core/crypto/sha256.h"

#include <openssl/sha.h>

#include <cstring>

namespace hallmark::core {

static_assert(sizeof(SHA256_CTX) <= 128);

Sha256::Sha256() {
  SHA256_Init(reinterpret_cast<SHA256_CTX*>(state_));
}

Sha256& Sha256::Update(ByteSpan data) {
  SHA256_Update(reinterpret_cast<SHA256_CTX*>(state_), data.data(), data.size());
  return *this;
}

Hash256 Sha256::Finish() {
  Hash256 out;
  SHA256_Final(out.data(), reinterpret_cast<SHA256_CTX*>(state_));
  return out;
}

// OpenSSL 3's one-shot SHA256() fetches the algorithm on every call, about 5x slower than the
// context calls for short inputs, which is what this is mostly used for.
Hash256 Sha256Of(ByteSpan data) {
  return Sha256().Update(data).Finish();
}

}  // namespace hallmark::core
