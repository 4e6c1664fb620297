#pragma once

#include <string_view>

#include "core/bytes.h"

namespace hallmark::core {

// SHA-256 (OpenSSL). Incremental hasher; not thread-safe, cheap to create.
class Sha256 {
 public:
  Sha256();
  Sha256& Update(ByteSpan data);
  Sha256& Update(std::string_view data) { return Update(AsSpan(data)); }
  Sha256& Update(const Hash256& h) { return Update(h.span()); }
  Hash256 Finish();

 private:
  alignas(16) unsigned char state_[128];  // Holds OpenSSL's SHA256_CTX (112 bytes).
};

Hash256 Sha256Of(ByteSpan data);
inline Hash256 Sha256Of(std::string_view data) {
  return Sha256Of(AsSpan(data));
}

}  // namespace hallmark::core
