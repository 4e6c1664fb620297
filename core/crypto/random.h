#pragma once

#include <cstdint>
#include <span>

namespace hallmark::core {

// Fills `out` with bytes from the operating system's CSPRNG (OpenSSL RAND_bytes).
// Aborts the process if the generator fails: without randomness we cannot make keys or nonces,
// and that is a broken environment, not an input error. Thread-safe.
void RandomBytes(std::span<uint8_t> out);

}  // namespace hallmark::core
