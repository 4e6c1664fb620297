#include "core/proof_bundle.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/certificate.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/item_id.h"
#include "core/limits.h"
#include "core/smt.h"
#include "proto/chain.pb.h"

namespace hallmark::core {

std::string_view ProofCheckName(ProofCheck check) {
  switch (check) {
    case ProofCheck::kFormat:
      return "format";
    case ProofCheck::kNetwork:
      return "network";
    case ProofCheck::kGovernance:
      return "governance";
    case ProofCheck::kCertificate:
      return "certificate";
    case ProofCheck::kFreshness:
      return "freshness";
    case ProofCheck::kStateProof:
      return "state_proof";
    case ProofCheck::kHistory:
      return "history";
    case ProofCheck::kSignature:
      return "signature";
    case ProofCheck::kChain:
      return "chain";
    case ProofCheck::kRules:
      return "rules";
  }
  return "unknown";
}

std::vector<std::string> ProvenItem::NotCleanReasons() const {
  std::vector<std::string> out;
  if (!state) {
    out.push_back("never registered");
    return out;
  }
  if (state->status() == pb::DECOMMISSIONED) out.push_back("decommissioned");
  for (const pb::ActiveFlag& f : state->flags()) {
    out.push_back("flagged " + std::string(FlagKindName(f.kind())) + " by " +
                  DescribeHolder(f.set_by()));
  }
  return out;
}

namespace {

ProofVerdict Fail(ProofCheck check, std::string message) {
  ProofVerdict v;
  v.failure = ProofFailure{check, std::move(message)};
  return v;
}

std::string RecordLabel(size_t index) {
  return "record " + std::to_string(index + 1);
}

}  // namespace

ProofVerdict VerifyProofBundle(const Network& network, std::string_view bundle_bytes,
                               const VerifyOptions& options) {
  const std::optional<std::string>& expected_item = options.expected_item;
  // 1. Format: everything that costs no more than a parse.
  if (bundle_bytes.size() > kMaxProofBundleBytes) {
    return Fail(ProofCheck::kFormat, "bundle is " + std::to_string(bundle_bytes.size()) +
                                         " bytes; the limit is " +
                                         std::to_string(kMaxProofBundleBytes));
  }
  // The records and signatures are counted before parsing: 64 MiB of empty envelopes (two bytes
  // each) would otherwise become 33 million objects before the record count is looked at.
  if (Status st = CheckMessageCount(
          bundle_bytes, *pb::ProofBundle::descriptor(),
          kMaxBundleRecords + limits::kMaxValidators + 16 + kMaxWalkMessages, "proof bundle");
      !st.ok()) {
    return Fail(ProofCheck::kFormat, st.message());
  }
  pb::ProofBundle bundle;
  if (Status st = ParseCanonical(bundle_bytes, &bundle, "proof bundle"); !st.ok()) {
    return Fail(ProofCheck::kFormat, st.message());
  }
  if (bundle.version() == 1) {
    return Fail(ProofCheck::kFormat,
                "bundle format version 1 is no longer accepted: its record ids did not bind "
                "the records' authors. Ask a node for a new proof (hallmark verify ID --node URL)");
  }
  if (bundle.version() == 2) {
    return Fail(ProofCheck::kFormat,
                "bundle format version 2 is no longer accepted: it cannot show the changes of "
                "organisations, keys and validators since genesis. Ask a node for a new proof "
                "(hallmark verify ID --node URL)");
  }
  if (bundle.version() < kOldestProofBundleVersion || bundle.version() > kProofBundleVersion) {
    return Fail(ProofCheck::kFormat, "bundle version " + std::to_string(bundle.version()) +
                                         " is not supported (this verifier reads versions " +
                                         std::to_string(kOldestProofBundleVersion) + " to " +
                                         std::to_string(kProofBundleVersion) + ")");
  }
  const bool snapshots = bundle.version() >= 4;
  auto item = ParseItemId(bundle.item_id());
  if (!item.ok()) return Fail(ProofCheck::kFormat, "bundle item id: " + item.status().message());
  if (item->Canonical() != bundle.item_id()) {
    return Fail(ProofCheck::kFormat, "bundle item id '" + bundle.item_id() + "' is not canonical");
  }
  if (expected_item) {
    auto wanted = ParseItemId(*expected_item);
    if (!wanted.ok()) return Fail(ProofCheck::kFormat, "item id: " + wanted.status().message());
    if (wanted->Canonical() != item->Canonical()) {
      return Fail(ProofCheck::kFormat,
                  "bundle is about item " + item->Canonical() + ", not " + wanted->Canonical());
    }
  }
  pb::BlockHeader header;
  if (Status st = ParseStrict(bundle.header(), &header, "block header"); !st.ok()) {
    return Fail(ProofCheck::kFormat, st.message());
  }
  if (static_cast<size_t>(bundle.history_size()) > kMaxBundleRecords) {
    return Fail(ProofCheck::kFormat, "bundle has " + std::to_string(bundle.history_size()) +
                                         " records; the limit is " +
                                         std::to_string(kMaxBundleRecords));
  }

  // 2. Network.
  if (bundle.chain_id() != network.chain_id() || header.chain_id() != network.chain_id()) {
    return Fail(ProofCheck::kNetwork, "bundle is for chain '" + header.chain_id() +
                                          "', but the genesis is for '" + network.chain_id() + "'");
  }
  if (bundle.genesis_hash() != network.hash().view()) {
    return Fail(ProofCheck::kNetwork,
                "bundle was built on another genesis (hash " +
                    (bundle.genesis_hash().size() == 32
                         ? Hash256::FromSpan(AsSpan(bundle.genesis_hash())).Hex()
                         : std::string("malformed")) +
                    ", yours " + network.hash().Hex() + ")");
  }

  // 3. Governance: the certified changes from genesis (or the trusted state) to the header's
  // height give the set that certifies it and the membership each record is replayed under.
  auto walked = VerifyGovernanceWalk(network, bundle.governance(), header.height(), bundle.header(),
                                     options.trusted, snapshots);
  if (!walked.ok()) return Fail(ProofCheck::kGovernance, walked.status().message());
  const NetworkState& network_state = walked->state;

  // 4. Certificate: the header is final under the set of its height.
  const Hash256 block_hash = Sha256Of(std::string_view(bundle.header()));
  auto cert = FromProto(bundle.certificate());
  if (!cert.ok()) return Fail(ProofCheck::kCertificate, cert.status().message());
  auto set = ToValidatorSet(network_state.ValidatorSetAt(header.height()));
  if (!set.ok()) return Fail(ProofCheck::kCertificate, set.status().message());
  if (Status st =
          VerifyCommitCertificate(*set, network.chain_id(), *cert, header.height(), block_hash);
      !st.ok()) {
    return Fail(ProofCheck::kCertificate,
                "header at height " + std::to_string(header.height()) + ": " + st.message());
  }

  // 5. Freshness: honest validators refuse a proposal dated more than the skew allowance ahead
  // of their clocks, so a certified header further ahead of ours is a forgery or our clock is
  // wrong. How old a header may be is the caller's policy (ProofAgeMs).
  if (options.now_ms && header.time_ms() > *options.now_ms + network.max_clock_skew_ms()) {
    const uint64_t ahead_s = (header.time_ms() - *options.now_ms) / 1000;
    return Fail(ProofCheck::kFreshness,
                "the certified header is dated " + std::to_string(ahead_s) +
                    " s ahead of this computer's clock; the network allows " +
                    std::to_string(network.max_clock_skew_ms() / 1000) +
                    " s. Check this computer's date and time; if it is right, the proof is not "
                    "to be trusted");
  }

  // The rebuilt network state must be the certified one: this catches a change withheld from
  // the walk (reported as the governance check).
  auto root = Hash256::FromBytes(header.state_root());
  if (!root) return Fail(ProofCheck::kStateProof, "header state root is not 32 bytes");
  if (Status st = CheckNetworkStateLeaf(network, network_state, *root,
                                        bundle.governance().network_state_proof());
      !st.ok()) {
    return Fail(ProofCheck::kGovernance,
                "at the header's height " + std::to_string(header.height()) + ": " + st.message());
  }
  if (snapshots) {
    if (Status st = CheckWalkNetworkState(network_state, *root, bundle.governance()); !st.ok()) {
      return Fail(
          ProofCheck::kGovernance,
          "at the header's height " + std::to_string(header.height()) + ": " + st.message());
    }
  }

  // 6. State proof: the item's leaf, or its absence, under the certified state root.
  auto proof = DecodeSmtProof(bundle.state_proof());
  if (!proof.ok()) return Fail(ProofCheck::kStateProof, proof.status().message());
  const Hash256 key = item->Key();
  std::optional<pb::ItemState> state;
  if (bundle.state().empty()) {
    if (!VerifySmtProof(*root, key, std::nullopt, *proof)) {
      return Fail(ProofCheck::kStateProof, "the proof does not show item " + item->Canonical() +
                                               " absent under root " + root->Hex());
    }
  } else {
    if (!VerifySmtProof(*root, key, Sha256Of(std::string_view(bundle.state())), *proof)) {
      return Fail(ProofCheck::kStateProof, "the item state does not prove against root " +
                                               root->Hex() + " of height " +
                                               std::to_string(header.height()));
    }
    pb::ItemState parsed;
    if (Status st = ParseStrict(bundle.state(), &parsed, "item state"); !st.ok()) {
      return Fail(ProofCheck::kStateProof, st.message());
    }
    if (parsed.item_id() != item->Canonical()) {
      return Fail(ProofCheck::kStateProof,
                  "the proven state is of item '" + parsed.item_id() + "'");
    }
    state = std::move(parsed);
  }

  // 7. History shape: exactly the number of records the proven state counts, each with a block
  // height: never decreasing, none above the header, the first the registration's and the last
  // the latest update's as the certified state says.
  const uint64_t expected_records = state ? state->record_count() : 0;
  if (static_cast<uint64_t>(bundle.history_size()) != expected_records) {
    return Fail(ProofCheck::kHistory, "bundle has " + std::to_string(bundle.history_size()) +
                                          " records but the proven state counts " +
                                          std::to_string(expected_records));
  }
  if (bundle.history_heights_size() != bundle.history_size()) {
    return Fail(ProofCheck::kHistory,
                "bundle has " + std::to_string(bundle.history_size()) + " records but " +
                    std::to_string(bundle.history_heights_size()) + " record heights");
  }
  for (int i = 0; i < bundle.history_heights_size(); ++i) {
    const uint64_t h = bundle.history_heights(i);
    if (h == 0 || h > header.height() || (i > 0 && h < bundle.history_heights(i - 1))) {
      return Fail(ProofCheck::kHistory,
                  RecordLabel(static_cast<size_t>(i)) + " is said to be in block " +
                      std::to_string(h) +
                      ": heights must not decrease and must lie within 1 and the header's");
    }
  }
  if (state && bundle.history_heights_size() > 0 &&
      (bundle.history_heights(0) != state->registered_height() ||
       bundle.history_heights(bundle.history_heights_size() - 1) != state->updated_height())) {
    return Fail(ProofCheck::kHistory,
                "the record heights do not start at the proven registration height and end at "
                "the proven latest height");
  }
  std::vector<Record> records(static_cast<size_t>(bundle.history_size()));
  for (size_t i = 0; i < records.size(); ++i) {
    const pb::Envelope& env = bundle.history(static_cast<int>(i));
    if (auto rej = DecodeRecord(env, network.chain_id(), &records[i])) {
      return Fail(ProofCheck::kHistory, RecordLabel(i) + ": " + rej->message);
    }
    if (records[i].item_key != key) {
      return Fail(ProofCheck::kHistory, RecordLabel(i) + " is about item " +
                                            records[i].payload.item_id() + ", not " +
                                            item->Canonical());
    }
  }

  // 8. Signatures, the expensive part, now that the count is pinned by the proof.
  for (size_t i = 0; i < records.size(); ++i) {
    if (auto rej = CheckRecordSignature(bundle.history(static_cast<int>(i)))) {
      return Fail(ProofCheck::kSignature, RecordLabel(i) + ": " + rej->message);
    }
  }

  // 9. The prev chain: registration first, each record naming the one before, ending in the
  // record the proven state names.
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string& prev = records[i].payload.prev();
    if (i == 0) {
      if (!prev.empty()) {
        return Fail(ProofCheck::kChain,
                    "record 1 names a previous record; the history must "
                    "start at the registration");
      }
    } else if (prev != records[i - 1].id.view()) {
      return Fail(ProofCheck::kChain, RecordLabel(i) + " does not follow " + RecordLabel(i - 1) +
                                          " (its prev is not that record's id)");
    }
  }
  if (state && (records.empty() || state->last_record() != records.back().id.view())) {
    return Fail(ProofCheck::kChain,
                "the history does not end at the record the proven state names as latest");
  }

  // 10. The custody rules, replayed from nothing, each record under the membership of its block
  // (the walk's state at the record's height); the result must be the proven state. A record's
  // timestamp is checked against the certified header's time, no earlier than its block's.
  // The membership only changes at the heights where some organisation, version or key period
  // starts or ends, so one Network serves every record between two such heights.
  std::vector<uint64_t> change_points;
  for (const auto& [id, org] : network_state.organizations()) {
    change_points.push_back(org.member_from);
    if (org.removed_at) change_points.push_back(org.removed_at);
    for (const auto& v : org.versions) change_points.push_back(v.from_height);
    for (const auto& k : org.keys) {
      change_points.push_back(k.valid_from);
      if (k.revoked_at) change_points.push_back(k.revoked_at);
    }
  }
  std::sort(change_points.begin(), change_points.end());
  change_points.erase(std::unique(change_points.begin(), change_points.end()), change_points.end());
  const bool genesis_membership =
      change_points.empty() || change_points == std::vector<uint64_t>{0};
  std::optional<Network> membership;
  size_t membership_epoch = SIZE_MAX;
  auto membership_at = [&](uint64_t height) -> const Network& {
    if (genesis_membership) return network;
    const size_t epoch =
        static_cast<size_t>(std::upper_bound(change_points.begin(), change_points.end(), height) -
                            change_points.begin());
    if (!membership || epoch != membership_epoch) {
      membership = network_state.MembershipAt(network, height);
      membership_epoch = epoch;
    }
    return *membership;
  };
  std::optional<pb::ItemState> replayed;
  ProvenItem out;
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].envelope = &bundle.history(static_cast<int>(i));
    BlockContext ctx{bundle.history_heights(static_cast<int>(i)), header.time_ms()};
    const Network& rules = membership_at(ctx.height);
    const pb::ItemState* current = replayed ? &*replayed : nullptr;
    // As the ledger does: a key some organisation held speaks for it only while valid, never
    // as a consumer's key once revoked.
    std::optional<Rejection> rej =
        CheckSignerStanding(network_state, records[i].signer, ctx.height);
    if (!rej) rej = ValidateRecord(rules, records[i], current, ctx);
    if (rej) {
      return Fail(ProofCheck::kRules, RecordLabel(i) + " (" +
                                          std::string(RecordTypeName(records[i].type)) +
                                          "): " + rej->message);
    }
    replayed = ApplyRecord(rules, records[i], current, ctx);
    records[i].envelope = nullptr;

    CustodyStep step;
    step.record_id = records[i].id;
    step.type = records[i].type;
    step.signer = records[i].signer;
    if (const OrganizationRecord* org =
            network_state.OrganizationOfKeyAt(records[i].signer, ctx.height)) {
      step.author = org->id;
    }
    step.timestamp_ms = records[i].payload.timestamp_ms();
    step.payload = std::move(records[i].payload);
    out.steps.push_back(std::move(step));
  }
  if (state && SerializeDeterministic(*replayed) != bundle.state()) {
    return Fail(ProofCheck::kRules, "replaying the history does not produce the proven state");
  }

  out.item_id = item->Canonical();
  out.height = header.height();
  out.header_time_ms = header.time_ms();
  out.block_hash = block_hash;
  out.state_root = *root;
  out.signers = cert->signatures.size();
  out.validators = set->size();
  out.state = std::move(state);
  out.walk_from_height = bundle.governance().from_height();
  out.walk_changes = walked->changes;
  out.network_state = std::move(walked->state);
  ProofVerdict verdict;
  verdict.item = std::move(out);
  return verdict;
}

}  // namespace hallmark::core
