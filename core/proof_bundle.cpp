#include "core/proof_bundle.h"

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
  if (Status st =
          CheckMessageCount(bundle_bytes, *pb::ProofBundle::descriptor(),
                            kMaxBundleRecords + limits::kMaxValidators + 16, "proof bundle");
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
  if (bundle.version() != kProofBundleVersion) {
    return Fail(ProofCheck::kFormat, "bundle version " + std::to_string(bundle.version()) +
                                         " is not supported (this verifier reads version " +
                                         std::to_string(kProofBundleVersion) + ")");
  }
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

  // 3. Certificate: the header is final.
  const Hash256 block_hash = Sha256Of(std::string_view(bundle.header()));
  auto cert = FromProto(bundle.certificate());
  if (!cert.ok()) return Fail(ProofCheck::kCertificate, cert.status().message());
  if (Status st = VerifyCommitCertificate(network, *cert, header.height(), block_hash); !st.ok()) {
    return Fail(ProofCheck::kCertificate,
                "header at height " + std::to_string(header.height()) + ": " + st.message());
  }

  // 4. Freshness: honest validators refuse a proposal dated more than the skew allowance ahead
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

  // 5. State proof: the item's leaf, or its absence, under the certified state root.
  auto root = Hash256::FromBytes(header.state_root());
  if (!root) return Fail(ProofCheck::kStateProof, "header state root is not 32 bytes");
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

  // 6. History shape: exactly the number of records the proven state counts.
  const uint64_t expected_records = state ? state->record_count() : 0;
  if (static_cast<uint64_t>(bundle.history_size()) != expected_records) {
    return Fail(ProofCheck::kHistory, "bundle has " + std::to_string(bundle.history_size()) +
                                          " records but the proven state counts " +
                                          std::to_string(expected_records));
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

  // 7. Signatures, the expensive part, now that the count is pinned by the proof.
  for (size_t i = 0; i < records.size(); ++i) {
    if (auto rej = CheckRecordSignature(bundle.history(static_cast<int>(i)))) {
      return Fail(ProofCheck::kSignature, RecordLabel(i) + ": " + rej->message);
    }
  }

  // 8. The prev chain: registration first, each record naming the one before, ending in the
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

  // 9. The custody rules, replayed from nothing; the result must be the proven state. Heights
  // come from that state (registration, latest); a record's timestamp is checked against the
  // certified header's time, which is no earlier than the block the record is in.
  std::optional<pb::ItemState> replayed;
  ProvenItem out;
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].envelope = &bundle.history(static_cast<int>(i));
    BlockContext ctx{i == 0 ? state->registered_height() : state->updated_height(),
                     header.time_ms()};
    const pb::ItemState* current = replayed ? &*replayed : nullptr;
    if (auto rej = ValidateRecord(network, records[i], current, ctx)) {
      return Fail(ProofCheck::kRules, RecordLabel(i) + " (" +
                                          std::string(RecordTypeName(records[i].type)) +
                                          "): " + rej->message);
    }
    replayed = ApplyRecord(network, records[i], current, ctx);
    records[i].envelope = nullptr;

    CustodyStep step;
    step.record_id = records[i].id;
    step.type = records[i].type;
    step.signer = records[i].signer;
    if (const pb::Organization* org = network.OrganizationOfKey(records[i].signer)) {
      step.author = org->id();
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
  out.state = std::move(state);
  ProofVerdict verdict;
  verdict.item = std::move(out);
  return verdict;
}

}  // namespace hallmark::core
