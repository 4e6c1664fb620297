#include "core/custody_proof.h"

#include <algorithm>

#include "core/json.h"
#include "core/records.h"

namespace hallmark::core {

namespace {

void PutU16(Bytes* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}
void PutU64(Bytes* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutText(Bytes* out, std::string_view text) {
  out->insert(out->end(), text.begin(), text.end());
}

// The byte offset of the first ill-formed UTF-8 sequence, or npos. The table of well-formed
// sequences is RFC 3629 §4 (the Unicode Standard's Table 3-7).
size_t FirstBadUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;  // Bounds of the second byte.
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // No overlong forms.
      if (c == 0xED) hi = 0x9F;  // No surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // No overlong forms.
      if (c == 0xF4) hi = 0x8F;  // Nothing above U+10FFFF.
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

std::string ShortKeyHex(const Hash256& key) {
  return key.Hex().substr(0, 16) + "…";
}

std::string AgeText(uint64_t ms) {
  if (ms >= 120'000) return std::to_string(ms / 60'000) + " min";
  if (ms >= 1'000) return std::to_string(ms / 1'000) + " s";
  return std::to_string(ms) + " ms";
}

CustodyCheck Verdict(CustodyVerdict verdict, std::string message, CustodyCheck base = {}) {
  base.verdict = verdict;
  base.message = std::move(message);
  return base;
}

}  // namespace

std::string_view CustodyVerdictName(CustodyVerdict verdict) {
  switch (verdict) {
    case CustodyVerdict::kCustodian:
      return "custodian";
    case CustodyVerdict::kNotCustodian:
      return "not_custodian";
    case CustodyVerdict::kBadSignature:
      return "bad_signature";
    case CustodyVerdict::kWrongItem:
      return "wrong_item";
    case CustodyVerdict::kWrongChallenge:
      return "wrong_challenge";
    case CustodyVerdict::kStale:
      return "stale";
    case CustodyVerdict::kFromFuture:
      return "from_future";
    case CustodyVerdict::kWrongChain:
      return "wrong_chain";
    case CustodyVerdict::kMalformed:
      return "malformed";
  }
  return "unknown";
}

Status ValidateCustodyChallenge(std::string_view challenge) {
  if (challenge.empty()) {
    return Status::InvalidInput(
        "the challenge is empty; a proof answers a challenge the marketplace chose, so that it "
        "cannot be replayed for another listing");
  }
  if (challenge.size() > limits::kMaxCustodyChallengeBytes) {
    return Status::InvalidInput("the challenge is " + std::to_string(challenge.size()) +
                                " bytes; the limit is " +
                                std::to_string(limits::kMaxCustodyChallengeBytes));
  }
  if (size_t at = FirstBadUtf8(challenge); at != std::string_view::npos) {
    return Status::InvalidInput("the challenge is not valid UTF-8 (at byte " + std::to_string(at) +
                                ")");
  }
  return Status::Ok();
}

Bytes CustodyProofSignBytes(const pb::CustodyProof& proof) {
  HM_ASSERT(proof.chain_id().size() <= limits::kMaxChainIdBytes);
  HM_ASSERT(proof.item_id().size() <= 255);
  HM_ASSERT(proof.challenge().size() <= limits::kMaxCustodyChallengeBytes);
  HM_ASSERT(proof.signer().size() == kEd25519PublicKeySize);
  Bytes out;
  out.reserve(kCustodyProofDomain.size() + 1 + proof.chain_id().size() + 1 +
              proof.item_id().size() + 2 + proof.challenge().size() + 8 + kEd25519PublicKeySize);
  PutText(&out, kCustodyProofDomain);
  out.push_back(static_cast<uint8_t>(proof.chain_id().size()));
  PutText(&out, proof.chain_id());
  out.push_back(static_cast<uint8_t>(proof.item_id().size()));
  PutText(&out, proof.item_id());
  PutU16(&out, static_cast<uint16_t>(proof.challenge().size()));
  PutText(&out, proof.challenge());
  PutU64(&out, proof.time_ms());
  PutText(&out, proof.signer());
  return out;
}

Result<pb::CustodyProof> MakeCustodyProof(const SigningKey& key, std::string_view chain_id,
                                          const ItemId& item, std::string_view challenge,
                                          uint64_t time_ms) {
  if (chain_id.empty() || chain_id.size() > limits::kMaxChainIdBytes) {
    return Status::InvalidInput("the chain id must be 1 to " +
                                std::to_string(limits::kMaxChainIdBytes) + " bytes");
  }
  HM_RETURN_IF_ERROR(ValidateItemId(item));
  HM_RETURN_IF_ERROR(ValidateCustodyChallenge(challenge));
  if (time_ms == 0) return Status::InvalidInput("the time must be set");
  pb::CustodyProof proof;
  proof.set_chain_id(std::string(chain_id));
  proof.set_item_id(item.Canonical());
  proof.set_challenge(std::string(challenge));
  proof.set_time_ms(time_ms);
  proof.set_signer(ToString(key.public_key().span()));
  const Signature sig = key.Sign(CustodyProofSignBytes(proof));
  proof.set_signature(ToString(sig.span()));
  return proof;
}

Result<pb::CustodyProof> ParseCustodyProofJson(std::string_view json) {
  pb::CustodyProof proof;
  HM_RETURN_IF_ERROR(ParseJsonStrict(json, &proof, kCustodyProofJsonLimits));
  return proof;
}

CustodyCheck CheckCustodyProof(const pb::CustodyProof& proof, const CustodyExpectation& expect,
                               const CustodyLedgerView& ledger) {
  HM_ASSERT(ledger.membership != nullptr && ledger.network_state != nullptr);
  using V = CustodyVerdict;
  CustodyCheck base;

  // Shape: everything the sign-bytes need, within its limits.
  if (proof.signer().size() != kEd25519PublicKeySize) {
    return Verdict(V::kMalformed, "the signer must be a 32-byte Ed25519 public key, found " +
                                      std::to_string(proof.signer().size()) + " bytes");
  }
  const Hash256 signer = Hash256::FromSpan(AsSpan(proof.signer()));
  base.signer = signer.Hex();
  if (proof.signature().size() != kEd25519SignatureSize) {
    return Verdict(
        V::kMalformed,
        "the signature must be 64 bytes, found " + std::to_string(proof.signature().size()), base);
  }
  if (proof.chain_id().empty() || proof.chain_id().size() > limits::kMaxChainIdBytes) {
    return Verdict(V::kMalformed,
                   "the chain id must be 1 to " + std::to_string(limits::kMaxChainIdBytes) +
                       " bytes, found " + std::to_string(proof.chain_id().size()),
                   base);
  }
  if (proof.item_id().size() > kItemIdInputBytesMax) {
    return Verdict(V::kMalformed,
                   "the item id is " + std::to_string(proof.item_id().size()) + " bytes long",
                   base);
  }
  if (auto id = ParseCanonicalItemId(proof.item_id()); !id.ok()) {
    return Verdict(V::kMalformed,
                   "the item id is not a canonical item id: " + id.status().message(), base);
  }
  if (Status st = ValidateCustodyChallenge(proof.challenge()); !st.ok()) {
    return Verdict(V::kMalformed, "the proof's challenge: " + st.message(), base);
  }
  if (proof.time_ms() == 0) return Verdict(V::kMalformed, "the proof has no time", base);

  // The signature, under the one acceptance policy.
  const SigVerdict sig = VerifySignature(AsSpan(proof.signer()), CustodyProofSignBytes(proof),
                                         AsSpan(proof.signature()));
  if (sig != SigVerdict::kValid) {
    return Verdict(V::kBadSignature,
                   "the signature does not verify (" + std::string(SigVerdictName(sig)) +
                       "): " + std::string(SigVerdictMessage(sig)) +
                       "; the proof was altered or not signed by the key it names",
                   base);
  }

  // From here on the signer really signed what the proof says.
  if (proof.chain_id() != expect.chain_id) {
    return Verdict(V::kWrongChain,
                   "the proof is for network \"" + proof.chain_id() + "\", this one is \"" +
                       std::string(expect.chain_id) + "\"",
                   base);
  }
  if (proof.item_id() != expect.item_id) {
    return Verdict(
        V::kWrongItem,
        "the proof is for item " + proof.item_id() + ", not " + std::string(expect.item_id), base);
  }
  if (proof.challenge() != expect.challenge) {
    if (Status st = ValidateCustodyChallenge(expect.challenge); !st.ok()) {
      return Verdict(V::kWrongChallenge, "the challenge to check against: " + st.message(), base);
    }
    return Verdict(V::kWrongChallenge,
                   "the proof answers another challenge: it was made for another listing or "
                   "copied from one",
                   base);
  }
  if (proof.time_ms() > expect.now_ms && proof.time_ms() - expect.now_ms > expect.future_skew_ms) {
    return Verdict(V::kFromFuture,
                   "the proof is dated " + AgeText(proof.time_ms() - expect.now_ms) +
                       " ahead of this clock; at most " + AgeText(expect.future_skew_ms) +
                       " is allowed (check the signer's clock)",
                   base);
  }
  if (expect.now_ms > proof.time_ms() && expect.now_ms - proof.time_ms() > expect.max_age_ms) {
    return Verdict(V::kStale,
                   "the proof was signed " + AgeText(expect.now_ms - proof.time_ms()) +
                       " ago; at most " + AgeText(expect.max_age_ms) +
                       " is allowed: ask the seller for a new one",
                   base);
  }

  // Custody, as the custody rules would see a record this key signs now.
  if (const pb::Organization* org = ledger.membership->OrganizationOfKey(signer)) {
    base.signer_organization = org->id();
  }
  if (ledger.state == nullptr) {
    return Verdict(
        V::kNotCustodian,
        "the item " + std::string(expect.item_id) + " is not registered, so it has no custodian",
        base);
  }
  const std::string custodian = DescribeHolder(ledger.state->custodian());
  if (auto refused = CheckSignerStanding(*ledger.network_state, signer, ledger.height)) {
    return Verdict(
        V::kNotCustodian,
        "the signer is not the custodian: " + refused->message + ". The custodian is " + custodian,
        base);
  }
  if (!SignerIsHolder(*ledger.membership, signer, ledger.state->custodian())) {
    const std::string who = base.signer_organization.empty()
                                ? "key " + ShortKeyHex(signer)
                                : "a key of organization \"" + base.signer_organization + "\"";
    return Verdict(
        V::kNotCustodian,
        "the signer (" + who + ") is not the item's custodian; the custodian is " + custodian,
        base);
  }
  std::string message = "the signer is the item's current custodian (" + custodian + ")";
  if (ledger.state->status() == pb::DECOMMISSIONED) message += "; the item is decommissioned";
  return Verdict(V::kCustodian, std::move(message), base);
}

}  // namespace hallmark::core
