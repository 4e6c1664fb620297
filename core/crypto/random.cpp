#include "core/crypto/random.h"

#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace hallmark::core {

void RandomBytes(std::span<uint8_t> out) {
  // RAND_bytes takes an int length, so fill large buffers in pieces.
  constexpr size_t kChunkBytesMax = 1 << 20;
  while (!out.empty()) {
    const size_t n = std::min(out.size(), kChunkBytesMax);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
      std::fprintf(stderr, "fatal: the system random number generator failed (RAND_bytes)\n");
      std::abort();
    }
    out = out.subspan(n);
  }
}

}  // namespace hallmark::core
