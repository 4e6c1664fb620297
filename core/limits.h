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

// Items. Every item's history stays within what `hallmark verify` accepts, online (a 16 MiB
// answer, as JSON) and offline (kMaxBundleRecords, kMaxProofBundleBytes); the arithmetic is in
// docs/proofs.md, "How large a bundle can be". A history's bytes are the sum of its envelopes'
// encoded sizes (Protobuf, as they appear in a bundle).
inline constexpr uint64_t kMaxItemRecords = 10'000;
inline constexpr uint64_t kMaxItemHistoryBytes = 8ull * 1024 * 1024;
// Records signed by neither the brand nor the custodian stop this far below the caps, so
// outsiders can never use up an item's history: its owners keep room to transfer, flag,
// reassign and service it. The brand's and custodian's own records stop one record and
// kMaxEnvelopeBytes below the caps, kept for a Decommission.
inline constexpr uint64_t kItemRecordsKeptForOwners = 1'000;
inline constexpr uint64_t kItemHistoryBytesKeptForOwners = 1024 * 1024;
// A record signed by neither the brand nor the custodian is at most this large (its envelope,
// encoded), so outsiders reach the byte cap only after about as many records as the record cap.
// The largest well-formed attest, flag, clear or service is under 800 bytes.
inline constexpr size_t kMaxOutsiderEnvelopeBytes = 1024;
// In each custody period (from the registration, a transfer or a reassign to the next), an
// organisation that is neither the item's brand nor its custodian makes at most this many
// records of each kind about the item.
inline constexpr uint32_t kMaxAttestsPerPeriod = 1;
inline constexpr uint32_t kMaxCounterfeitFlagsPerPeriod = 1;
inline constexpr uint32_t kMaxServicesPerPeriod = 8;

// Genesis.
inline constexpr size_t kMaxGenesisBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxOrganizations = 1024;
inline constexpr size_t kMaxKeysPerOrganization = 64;
inline constexpr size_t kMaxPrefixesPerBrand = 256;
inline constexpr size_t kMaxValidators = 256;
inline constexpr size_t kMaxOrgIdBytes = 32;
inline constexpr size_t kMaxDisplayNameBytes = 128;
// An organisation's resolver_domain (a DNS host name: RFC 1035's 253 bytes, labels of 63) and
// website (an https URL).
inline constexpr size_t kMaxResolverDomainBytes = 253;
inline constexpr size_t kMaxDnsLabelBytes = 63;
inline constexpr size_t kMaxWebsiteBytes = 512;
inline constexpr uint64_t kMaxTotalVotingPower = uint64_t{1} << 60;

// Governance (docs/governance.md). Defaults of genesis' `governance` section and the bounds it
// must keep, and the limits on what governance records make the network state hold.
inline constexpr uint32_t kDefaultApprovalNumerator = 2;  // More than 2/3 of the members.
inline constexpr uint32_t kDefaultApprovalDenominator = 3;
inline constexpr uint32_t kMaxApprovalDenominator = 1000;
inline constexpr uint64_t kDefaultProposalLifetimeHeights = 100'000;
inline constexpr uint64_t kMaxProposalLifetimeHeights = 10'000'000;
inline constexpr uint64_t kDefaultValidatorChangeDelayHeights = 10;
inline constexpr uint64_t kMinValidatorChangeDelayHeights = 2;
inline constexpr uint64_t kMaxValidatorChangeDelayHeights = 1'000'000;
// Unexpired proposals waiting for approvals, in all and per proposing organisation.
inline constexpr size_t kMaxPendingProposals = 256;
inline constexpr size_t kMaxPendingProposalsPerOrganization = 8;
// Organisations ever admitted, removed ones included (their ids stay reserved).
inline constexpr size_t kMaxOrganizationRecords = 4 * 1024;
// Signing keys an organisation has ever had, revoked ones included (the history answers "was
// this key valid at that height" for old records).
inline constexpr size_t kMaxKeyHistoryPerOrganization = 256;
inline constexpr size_t kMaxValidatorNameBytes = 64;

// Blocks. The genesis may set lower limits; never higher.
inline constexpr uint32_t kMaxBlockRecords = 10'000;
inline constexpr uint64_t kMaxBlockBytes = 32ull * 1024 * 1024;
inline constexpr uint32_t kDefaultBlockRecords = 2'000;
inline constexpr uint64_t kDefaultBlockBytes = 8ull * 1024 * 1024;

// Evidence of equivocation (docs/consensus.md, "Evidence"). A block commits at most
// kMaxEvidencePerBlock pieces, each about an offence at most kMaxEvidenceAgeHeights below the
// block's height (and not above it). A node keeps at most kMaxPendingEvidence verified pieces
// waiting for a block, at most kMaxPendingEvidencePerValidator about one validator, and reads at
// most kMaxEvidencePerGossip pieces from one gossip message.
inline constexpr uint32_t kMaxEvidencePerBlock = 32;
inline constexpr uint64_t kMaxEvidenceAgeHeights = 100'000;
inline constexpr size_t kMaxPendingEvidence = 1'024;
inline constexpr size_t kMaxPendingEvidencePerValidator = 16;
inline constexpr size_t kMaxEvidencePerGossip = 32;

// Time. An idle network makes an empty block every idle interval; validators refuse proposals
// dated further ahead of their clock than the skew allowance (docs/proofs.md, "Freshness").
inline constexpr uint32_t kDefaultIdleBlockIntervalMs = 10'000;
inline constexpr uint32_t kMinIdleBlockIntervalMs = 100;
inline constexpr uint32_t kMaxIdleBlockIntervalMs = 10 * 60 * 1000;
inline constexpr uint32_t kDefaultMaxClockSkewMs = 30'000;
inline constexpr uint32_t kMaxClockSkewMsLimit = 10 * 60 * 1000;
// A proof is fresh for this many idle intervals plus the skew allowance (3.5 min by default).
inline constexpr uint64_t kFreshnessIdleIntervals = 18;

// JSON from outside, read by core::ParseJsonStrict (core/json.h). Protobuf's JSON parser spends
// about 60-100 bytes of memory per value (an object, an array, an element, a field's value) on
// top of about 3 bytes per input byte, so each input has a cap on its values as well as on its
// bytes. Measured peaks are in tests/unit/core/json_test.cpp.
inline constexpr uint32_t kMaxJsonDepth = 16;
// API request bodies (the HTTP server's body limit bounds their bytes): a check of 1,000 ids is
// about 1,000 values.
inline constexpr size_t kMaxApiRequestJsonBytes = 64 * 1024 * 1024;
inline constexpr size_t kMaxApiRequestJsonValues = 100'000;
// The CLI's answers from a node (the HTTP client's answer limit bounds their bytes): an item's
// history that fills 16 MiB is about 600,000 values.
inline constexpr size_t kMaxApiAnswerJsonBytes = 64 * 1024 * 1024;
inline constexpr size_t kMaxApiAnswerJsonValues = 1'000'000;
// A proof bundle in JSON (saved, or a node's answer): 100,000 records of 4 values each, and the
// certificate.
inline constexpr size_t kMaxProofBundleJsonBytes = 64 * 1024 * 1024;
inline constexpr size_t kMaxProofBundleJsonValues = 500'000;
// genesis.json: 1,024 organisations with 64 keys and 256 prefixes each are about 330,000.
inline constexpr size_t kMaxGenesisJsonValues = 500'000;
// A node's config.json.
inline constexpr size_t kMaxConfigJsonBytes = 1024 * 1024;
inline constexpr size_t kMaxConfigJsonValues = 10'000;
// Keystore and key share files (core/crypto checks their sizes first, with its own messages).
inline constexpr size_t kMaxKeyFileJsonBytes = 64 * 1024;
inline constexpr size_t kMaxKeyFileJsonValues = 1'000;
// A custody proof file (core/custody_proof.h): six fields, the challenge at most 256 bytes even
// if every character were written as a \uXXXX escape.
inline constexpr size_t kMaxCustodyProofJsonBytes = 8 * 1024;
inline constexpr size_t kMaxCustodyProofJsonValues = 16;

// Custody proofs (core/custody_proof.h, docs/signatures.md). The challenge is the marketplace's
// text the seller signs: short, so a proof stays a few hundred bytes.
inline constexpr size_t kMaxCustodyChallengeBytes = 256;
// A proof older than this (by the checker's clock) is stale: a seller who sold the item since
// cannot go on showing it. A marketplace may ask for less.
inline constexpr uint64_t kCustodyProofMaxAgeMsDefault = 10 * 60 * 1000;
// A proof dated this far ahead of the checker's clock is refused (the signer's clock may run a
// little ahead; more would let a proof stay fresh for longer than its age limit).
inline constexpr uint64_t kCustodyProofFutureSkewMsMax = 2 * 60 * 1000;

}  // namespace hallmark::core::limits
