#pragma once

// How much memory a piece of code makes the process hold at its peak, for tests that bound what
// hostile input can cost (a huge answer, amplifying JSON).

#include <malloc.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

namespace hallmark::test {

// A "VmRSS:"-style line of /proc/self/status, in KiB; -1 when absent.
inline long ProcStatusKiB(std::string_view key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key)) return std::stol(line.substr(key.size()));
  }
  return -1;
}

// Runs `fn` and returns how far the process's peak resident memory rose above its resident
// memory just before, in bytes. Freed heap is returned to the kernel first (malloc_trim) so that
// `fn` cannot hide in it, and the kernel's peak is reset through /proc/self/clear_refs (Linux
// 4.0+); nullopt when that is not allowed. Every thread counts, a stub server's included.
template <typename F>
std::optional<uint64_t> PeakMemoryGrowthBytes(F&& fn) {
  malloc_trim(0);
  bool reset = false;
  {
    std::ofstream clear("/proc/self/clear_refs");
    reset = static_cast<bool>(clear << "5" << std::flush);
  }
  const long before_kib = ProcStatusKiB("VmRSS:");
  fn();
  const long peak_kib = ProcStatusKiB("VmHWM:");
  if (!reset || before_kib < 0 || peak_kib < 0) return std::nullopt;
  return peak_kib > before_kib ? static_cast<uint64_t>(peak_kib - before_kib) * 1024 : 0;
}

inline std::string Megabytes(uint64_t bytes) {
  return std::to_string(bytes / 1'000'000) + " MB";
}

}  // namespace hallmark::test
