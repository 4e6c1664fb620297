#pragma once

// Shared helpers for the consensus tests: deterministic validator keys, a signer over
// core::SigningKey, and certificate building.

#include <memory>
#include <string>
#include <vector>

#include "consensus/types.h"
#include "core/certificate.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/sha256.h"

namespace hallmark::test {

inline constexpr const char* kChain = "hallmark-test";

// The key of validator `i`: the same seeds as fixtures.h's TestGenesis ("validator-<i>").
inline core::SigningKey ValidatorKey(size_t i) {
  core::Hash256 seed =
      core::Sha256Of(std::string("hallmark-test-key/validator-") + std::to_string(i));
  return std::move(core::SigningKey::FromSeed(seed.span()).value());
}

class KeySigner : public consensus::VoteSigner {
 public:
  explicit KeySigner(core::SigningKey key) : key_(std::move(key)) {}
  const core::PublicKey& public_key() const override { return key_.public_key(); }
  core::Signature Sign(core::ByteSpan bytes) const override { return key_.Sign(bytes); }
  const core::SigningKey& key() const { return key_; }

 private:
  core::SigningKey key_;
};

// n validators with the given powers (1 each when empty), and their signers.
struct TestValidators {
  explicit TestValidators(size_t n, std::vector<uint64_t> powers = {}) {
    std::vector<core::ValidatorEntry> entries;
    for (size_t i = 0; i < n; ++i) {
      signers.push_back(std::make_unique<KeySigner>(ValidatorKey(i)));
      entries.push_back({signers.back()->public_key(), powers.empty() ? 1 : powers[i]});
    }
    set = std::move(core::ValidatorSet::Create(std::move(entries)).value());
  }
  core::Vote SignedVote(size_t i, uint64_t height, uint32_t round, core::VoteType type,
                        const core::Hash256& block) const {
    core::Vote v{height, round, type, block, signers[i]->public_key(), {}};
    v.signature = signers[i]->Sign(core::VoteSignBytes(kChain, v));
    return v;
  }
  core::CommitCertificate Certificate(uint64_t height, uint32_t round, const core::Hash256& block,
                                      std::vector<size_t> signers_idx) const {
    core::CommitCertificate c{height, round, block, {}};
    for (size_t i : signers_idx) {
      core::Vote v = SignedVote(i, height, round, core::VoteType::kPrecommit, block);
      c.signatures.push_back({v.validator, v.signature});
    }
    return c;
  }
  std::vector<std::unique_ptr<KeySigner>> signers;
  core::ValidatorSet set;
};

inline core::Hash256 BlockId(std::string_view name) {
  return core::Sha256Of(name);
}

}  // namespace hallmark::test
