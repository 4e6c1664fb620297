#pragma once

#include <cstddef>
#include <cstdint>

// Every limit on something that grows or arrives from outside, in one place. Checked where the
// data enters (record decoding, genesis loading, block validation).
namespace hallmark::core::limits {

// Records.
inline constexpr size_t kMaxEnvelopeBytes = 20 * 1024;
inline constexpr size_t kMaxPayloadBytes = 16 * 1024;
inline constexpr size_t kMaxChainIdBytes = 64;
inline constexpr size_t kMaxAttributes = 32;
inline constexpr size_t kMaxAttributeKeyBytes = 64;
inline constexpr size_t kMaxAttributeValueBytes = 256;
inline constexpr size_t kMaxDocuments = 16;
inline constexpr size_t kMaxDocumentNameBytes = 128;
inline constexpr size_t kMaxNoteBytes = 512;
// A client timestamp may run ahead of the block's time by at most this much (clock skew).
inline constexpr uint64_t kMaxTimestampSkewMs = 10 * 60 * 1000;

// Genesis.
inline constexpr size_t kMaxGenesisBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxOrganizations = 1024;
inline constexpr size_t kMaxKeysPerOrganization = 64;
inline constexpr size_t kMaxPrefixesPerBrand = 256;
inline constexpr size_t kMaxValidators = 256;
inline constexpr size_t kMaxOrgIdBytes = 32;
inline constexpr size_t kMaxDisplayNameBytes = 128;
inline constexpr uint64_t kMaxTotalVotingPower = uint64_t{1} << 60;

// Blocks. The genesis may set lower limits; never higher.
inline constexpr uint32_t kMaxBlockRecords = 10'000;
inline constexpr uint64_t kMaxBlockBytes = 32ull * 1024 * 1024;
inline constexpr uint32_t kDefaultBlockRecords = 2'000;
inline constexpr uint64_t kDefaultBlockBytes = 8ull * 1024 * 1024;

// Time. An idle network makes an empty block every idle interval; validators refuse proposals
// dated further ahead of their clock than the skew allowance (docs/proofs.md, "Freshness").
inline constexpr uint32_t kDefaultIdleBlockIntervalMs = 10'000;
inline constexpr uint32_t kMinIdleBlockIntervalMs = 100;
inline constexpr uint32_t kMaxIdleBlockIntervalMs = 10 * 60 * 1000;
inline constexpr uint32_t kDefaultMaxClockSkewMs = 30'000;
inline constexpr uint32_t kMaxClockSkewMsLimit = 10 * 60 * 1000;
// A proof is fresh for this many idle intervals plus the skew allowance (3.5 min by default).
inline constexpr uint64_t kFreshnessIdleIntervals = 18;

}  // namespace hallmark::core::limits
