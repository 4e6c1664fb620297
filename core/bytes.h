#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hallmark::core {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

// A 32-byte digest (SHA-256) or key. Value type; thread-compatible.
struct Hash256 {
  std::array<uint8_t, 32> bytes{};

  static constexpr size_t kSize = 32;
  const uint8_t* data() const { return bytes.data(); }
  uint8_t* data() { return bytes.data(); }
  static constexpr size_t size() { return kSize; }
  ByteSpan span() const { return ByteSpan(bytes.data(), bytes.size()); }
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  bool IsZero() const;
  std::string Hex() const;
  // Parses exactly 64 hex digits; nullopt otherwise.
  static std::optional<Hash256> FromHex(std::string_view hex);
  // REQUIRES: data.size() == 32.
  static Hash256 FromSpan(ByteSpan data);
  // nullopt unless data.size() == 32.
  static std::optional<Hash256> FromBytes(std::string_view data);

  auto operator<=>(const Hash256&) const = default;
  bool operator==(const Hash256&) const = default;
};

std::string ToHex(ByteSpan data);
inline std::string ToHex(std::string_view data) {
  return ToHex(ByteSpan(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}
// Lower- or upper-case hex; nullopt on odd length or a non-hex character.
std::optional<Bytes> FromHex(std::string_view hex);

inline ByteSpan AsSpan(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsView(ByteSpan s) {
  return std::string_view(reinterpret_cast<const char*>(s.data()), s.size());
}
inline std::string ToString(ByteSpan s) {
  return std::string(AsView(s));
}

// Big-endian fixed-width encodings, for keys that must sort by number.
void PutBigEndian64(std::string* out, uint64_t v);
void PutBigEndian32(std::string* out, uint32_t v);
uint64_t GetBigEndian64(const uint8_t* p);
uint32_t GetBigEndian32(const uint8_t* p);

// Length of the UTF-8 sequence starting at s[i] (RFC 3629: shortest form, no surrogates, at most
// U+10FFFF), or 0 when it is not valid. REQUIRES: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

}  // namespace hallmark::core

template <>
struct std::hash<hallmark::core::Hash256> {
  size_t operator()(const hallmark::core::Hash256& h) const noexcept {
    size_t v;
    static_assert(sizeof(v) <= 32);
    __builtin_memcpy(&v, h.bytes.data(), sizeof(v));
    return v;
  }
};
