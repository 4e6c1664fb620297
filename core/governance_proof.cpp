#include "core/governance_proof.h"

#include <algorithm>
#include <map>
#include <utility>

#include "core/certificate.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/merkle.h"
#include "core/smt.h"

namespace hallmark::core {
namespace {

// The longest audit path of a block's records tree (at most limits::kMaxBlockRecords leaves).
constexpr int kMaxInclusionProofHashes = 64;

std::string BlockLabel(size_t index, uint64_t height) {
  return "walk block " + std::to_string(index + 1) + " (height " + std::to_string(height) + ")";
}

Status Refuse(std::string message) {
  return Status::InvalidInput(std::move(message));
}

}  // namespace

Result<WalkResult> VerifyGovernanceWalk(const Network& network, const pb::GovernanceWalk& walk,
                                        uint64_t header_height, std::string_view header_bytes,
                                        const TrustedState* trusted, bool snapshots) {
  WalkResult out{NetworkState::FromGenesis(network), 0, 0, 0};
  if (!snapshots && !walk.network_state().empty()) {
    return Refuse(
        "the walk carries the network state, which bundles of version 3 do not have (a version 4 "
        "field)");
  }
  const uint64_t start = walk.from_height();
  if (start != 0) {
    if (!trusted || trusted->height != start) {
      return Refuse("the walk starts from height " + std::to_string(start) +
                    ", a state this verifier has not checked (it trusts " +
                    (trusted ? "height " + std::to_string(trusted->height) : "genesis only") +
                    "); ask for a proof since " +
                    (trusted ? std::to_string(trusted->height) : std::string("genesis")));
    }
    out.state = trusted->state;
  }
  if (start > header_height) {
    return Refuse("the walk starts from height " + std::to_string(start) +
                  ", above the header's height " + std::to_string(header_height));
  }
  if (static_cast<size_t>(walk.blocks_size()) > kMaxWalkBlocks) {
    return Refuse("the walk has " + std::to_string(walk.blocks_size()) + " blocks; the limit is " +
                  std::to_string(kMaxWalkBlocks));
  }
  size_t total_records = 0;
  for (const pb::GovernanceBlock& b : walk.blocks()) total_records += b.records_size();
  if (total_records > kMaxWalkRecords) {
    return Refuse("the walk has " + std::to_string(total_records) + " records; the limit is " +
                  std::to_string(kMaxWalkRecords));
  }

  NetworkState& state = out.state;
  uint64_t last_height = 0;
  // A change completed at c moves the validator set from c + delay on, never sooner, so the set
  // of a height depends on no record of the delay - 1 blocks before it.
  const uint64_t delay = network.governance().validator_change_delay_heights();
  // Walk blocks without a certificate of their own, waiting for the one that certifies them: a
  // run of consecutive blocks of the chain from `first` to `last`, each naming the one before;
  // the next walk block (or the bundle's header) must be the next block of the chain, name
  // `last_id` and carry a certificate. Its set cannot depend on the run's records while the run
  // is shorter than the delay, so that certificate makes the whole run final.
  struct UncertifiedRun {
    uint64_t first = 0;
    uint64_t last = 0;
    Hash256 last_id;
  };
  std::optional<UncertifiedRun> unlinked;
  Hash256 previous_id;  // Of the walk block before.
  for (int bi = 0; bi < walk.blocks_size(); ++bi) {
    const pb::GovernanceBlock& block = walk.blocks(bi);
    pb::BlockHeader header;
    if (Status st = ParseStrict(block.header(), &header, "block header"); !st.ok()) {
      return Refuse("walk block " + std::to_string(bi + 1) + ": " + st.message());
    }
    const uint64_t h = header.height();
    const std::string where = BlockLabel(static_cast<size_t>(bi), h);
    const bool has_snapshot =
        !block.network_state().empty() || !block.network_state_proof().empty();
    if (!snapshots && has_snapshot) {
      return Refuse(where +
                    " carries a network-state snapshot, which bundles of version 3 do not have "
                    "(a version 4 field)");
    }
    // The header comes without the fields the verifier knows (docs/proofs.md, "Walk headers"):
    // the chain id, and the parent's id when the walk block before is the parent. The exact
    // header bytes are rebuilt from them, so the sent form must be the only one.
    if (SerializeDeterministic(header) != block.header()) {
      return Refuse(where + ": the header is not in canonical encoding");
    }
    if (!header.chain_id().empty()) {
      return Refuse(where + ": the header carries the chain id, which is left out");
    }
    if (h == 0 || h <= last_height) {
      return Refuse(where + " does not follow the block before (heights must increase)");
    }
    if (h > header_height) {
      return Refuse(where + " is above the bundle's header (height " +
                    std::to_string(header_height) + ")");
    }
    const bool parent_before = bi > 0 && h == last_height + 1;
    if (parent_before != header.prev_hash().empty()) {
      return Refuse(where +
                    (parent_before
                         ? ": the header names its parent, the walk block before, which is left out"
                         : " does not follow the walk block before it and names no parent (the "
                           "parent is left out only when it is the walk block before)"));
    }
    header.set_chain_id(network.chain_id());
    if (parent_before) header.set_prev_hash(std::string(previous_id.view()));
    const std::string header_full = SerializeDeterministic(header);
    if (h == header_height && header_full != header_bytes) {
      return Refuse(where + " is another block than the bundle's header at the same height");
    }
    last_height = h;
    if (block.records_size() == 0) return Refuse(where + " has no records");
    const Hash256 block_id = Sha256Of(std::string_view(header_full));
    previous_id = block_id;
    if (unlinked && (h != unlinked->last + 1 || header.prev_hash() != unlinked->last_id.view())) {
      return Refuse(where +
                    " does not follow the walk block before it, which has no "
                    "certificate of its own (it must be the next block and name it)");
    }

    // The header is final under the set the walk so far says certifies this height. A change
    // completed at c is in force from c + delay, so every change that shapes this set was
    // completed in an earlier, certified walk block, never in the run of uncertified blocks
    // this certificate makes final (shorter than the delay).
    if (block.has_certificate()) {
      auto cert = FromProto(block.certificate());
      if (!cert.ok()) return Refuse(where + ": certificate: " + cert.status().message());
      auto set = ToValidatorSet(state.ValidatorSetAt(h));
      if (!set.ok()) return Refuse(where + ": validator set: " + set.status().message());
      if (Status st = VerifyCommitCertificate(*set, network.chain_id(), *cert, h, block_id);
          !st.ok()) {
        return Refuse(where + ": certificate by the validator set of that height: " + st.message());
      }
      unlinked.reset();
    } else if (h == header_height) {
      // The bundle's own header is certified by the bundle's certificate.
      unlinked.reset();
    } else {
      const uint64_t first = unlinked ? unlinked->first : h;
      // The block that certifies this run is at h + 1 at the earliest.
      if (h + 1 - first >= delay) {
        return Refuse(where +
                      " has no certificate, nor have the walk blocks before it from height " +
                      std::to_string(first) + ": a certificate " + std::to_string(delay) +
                      " or more blocks after the first of them could be by a set their records "
                      "changed");
      }
      unlinked = UncertifiedRun{first, h, block_id};
    }
    auto records_root = Hash256::FromBytes(header.records_root());
    if (!records_root) return Refuse(where + ": records root is not 32 bytes");

    // First every record's place in the block. A walk block that carries every record of its
    // block needs no audit paths: the records root is rebuilt from the records themselves.
    const bool complete = static_cast<uint64_t>(block.records_size()) == header.record_count();
    std::vector<GovernanceRecord> recs(static_cast<size_t>(block.records_size()));
    std::vector<Hash256> leaves;
    int64_t last_index = -1;
    for (int ri = 0; ri < block.records_size(); ++ri) {
      const pb::GovernanceRecordProof& rp = block.records(ri);
      const std::string rwhere = where + ", record " + std::to_string(ri + 1);
      if (static_cast<int64_t>(rp.index()) <= last_index) {
        return Refuse(rwhere + ": records must be in block order");
      }
      last_index = rp.index();
      if (complete && rp.inclusion_proof_size() != 0) {
        return Refuse(rwhere +
                      ": carries an inclusion proof, but the walk block holds every record of "
                      "its block (the records root is rebuilt from them)");
      }
      if (rp.inclusion_proof_size() > kMaxInclusionProofHashes) {
        return Refuse(rwhere + ": inclusion proof is too long");
      }
      std::vector<Hash256> path;
      path.reserve(static_cast<size_t>(rp.inclusion_proof_size()));
      for (const std::string& node : rp.inclusion_proof()) {
        auto hash = Hash256::FromBytes(node);
        if (!hash) return Refuse(rwhere + ": an inclusion proof hash is not 32 bytes");
        path.push_back(*hash);
      }
      GovernanceRecord& rec = recs[static_cast<size_t>(ri)];
      if (auto rej = DecodeGovernanceRecord(rp.envelope(), network.chain_id(), &rec)) {
        return Refuse(rwhere + ": " + rej->ToString());
      }
      if (complete) {
        // Indices strictly increase below record_count: they are 0, 1, … in order.
        leaves.push_back(MerkleLeafHash(rec.id.span()));
      } else if (!VerifyMerkleInclusion(MerkleLeafHash(rec.id.span()), rp.index(),
                                        header.record_count(), path, *records_root)) {
        return Refuse(rwhere + " (" + rec.id.Hex().substr(0, 16) +
                      "…) is not in the block: its inclusion proof does not lead to the "
                      "header's records root");
      }
    }
    if (complete && MerkleRoot(leaves) != *records_root) {
      return Refuse(where +
                    ": its records do not rebuild the header's records root (a record is "
                    "altered, missing or out of order)");
    }

    // Then, in block order, each record's signature and the governance rules.
    const size_t epochs_before = state.validator_epochs().size();
    for (int ri = 0; ri < block.records_size(); ++ri) {
      const pb::GovernanceRecordProof& rp = block.records(ri);
      const std::string rwhere = where + ", record " + std::to_string(ri + 1);
      GovernanceRecord& rec = recs[static_cast<size_t>(ri)];
      if (auto rej = CheckRecordSignature(rp.envelope())) {
        return Refuse(rwhere + ": " + rej->ToString());
      }
      rec.envelope = &rp.envelope();
      if (h <= start && rec.body().has_proposal()) {
        // The proposal of a change that completed after the trusted height. The trusted state
        // already holds every later change, so the rules' proposal-time checks (made by the
        // validators that certified this block) cannot be re-run against it; the completing
        // approval re-checks the change. Its author must still be a member at h.
        if (!state.OrganizationOfKeyAt(rec.signer, h)) {
          return Refuse(rwhere + ": signer is not a valid key of a member at height " +
                        std::to_string(h));
        }
        if (state.FindProposal(rec.id)) return Refuse(rwhere + ": proposal given twice");
        const OrganizationRecord* org = state.OrganizationOfKeyAt(rec.signer, h);
        if (!CheckApprovalThreshold(state, {org->id}, h)) {
          return Refuse(rwhere + ": completes a change at or below the trusted height " +
                        std::to_string(start));
        }
      } else if (auto rej = ValidateGovernance(state, rec, h)) {
        return Refuse(rwhere + " (" +
                      std::string(rec.body().has_proposal() ? "proposal" : "approval") +
                      ") is refused by the governance rules: " + rej->ToString());
      } else if (h <= start) {
        // An approval at or below the trusted height that would complete its proposal: refused
        // before it is applied, since applying a change of a past height to a later state
        // breaks the state's invariants (a validator epoch before a scheduled one).
        const PendingProposal* p = state.FindProposal(
            Hash256::FromSpan(AsSpan(std::string_view(rec.body().approval().proposal()))));
        const OrganizationRecord* org = state.OrganizationOfKeyAt(rec.signer, h);
        std::vector<std::string> approvals = p->approvals;
        approvals.push_back(org->id);
        if (!CheckApprovalThreshold(state, approvals, h)) {
          return Refuse(rwhere + ": completes a change at or below the trusted height " +
                        std::to_string(start));
        }
      }
      AppliedGovernance applied = ApplyGovernance(state, rec, h);
      state = std::move(applied.state);
      if (applied.completed) {
        if (h <= start) {
          return Refuse(rwhere + ": completes a change at or below the trusted height " +
                        std::to_string(start));
        }
        ++out.changes;
      }
      ++out.records;
    }
    // Version 4: a block that completes a validator-set change (adds an epoch) carries the
    // governed state after it, proven under its own state root, and its own certificate; no other
    // block carries one. What a verifier that does not replay the rules follows
    // (LightWalkCheck).
    if (snapshots) {
      const bool changes_validators = state.validator_epochs().size() > epochs_before;
      if (!changes_validators && has_snapshot) {
        return Refuse(where +
                      " carries a network-state snapshot, but completes no validator-set change "
                      "(only such blocks carry one)");
      }
      if (changes_validators) {
        if (!has_snapshot) {
          return Refuse(where +
                        " completes a validator-set change but carries no network-state "
                        "snapshot");
        }
        if (!block.has_certificate()) {
          return Refuse(where +
                        " completes a validator-set change but has no certificate of its own "
                        "(a snapshot block is never certified by a later block)");
        }
        if (block.network_state() != state.GovernedBytes()) {
          return Refuse(where +
                        ": its network-state snapshot is not the governed state its records "
                        "leave");
        }
        auto proof = DecodeSmtProof(block.network_state_proof());
        if (!proof.ok()) {
          return Refuse(where + ": network-state snapshot proof: " + proof.status().message());
        }
        auto block_root = Hash256::FromBytes(header.state_root());
        if (!block_root ||
            !VerifySmtProof(*block_root, NetworkStateLeafKey(),
                            Sha256Of(std::string_view(block.network_state())), *proof)) {
          return Refuse(where +
                        ": its network-state snapshot does not prove under the block's state "
                        "root");
        }
      }
    }
    ++out.blocks;
  }
  if (unlinked) {
    pb::BlockHeader last;
    if (!ParseStrict(header_bytes, &last, "block header").ok() ||
        last.height() != unlinked->last + 1 || last.prev_hash() != unlinked->last_id.view()) {
      return Refuse("the last walk block (height " + std::to_string(unlinked->last) +
                    ") has no certificate and is not the parent of the bundle's header");
    }
  }
  return out;
}

Status CheckNetworkStateLeaf(const Network& network, const NetworkState& state,
                             const Hash256& state_root, std::string_view proof_bytes) {
  auto proof = DecodeSmtProof(proof_bytes);
  if (!proof.ok()) return Refuse("network-state proof: " + proof.status().message());
  const Hash256 key = NetworkStateLeafKey();
  const Hash256 governed = state.GovernedHash();
  if (VerifySmtProof(state_root, key, governed, *proof)) return Status::Ok();
  // Absent only while no governance record was ever committed: then nothing changed.
  if (governed == NetworkState::FromGenesis(network).GovernedHash() &&
      VerifySmtProof(state_root, key, std::nullopt, *proof)) {
    return Status::Ok();
  }
  return Refuse(
      "the certified network state does not match the one the walk rebuilds (state hash " +
      governed.Hex().substr(0, 16) +
      "…): a change is missing from the walk, or the walk is not this chain's");
}

Status CheckWalkNetworkState(const NetworkState& state, const Hash256& state_root,
                             const pb::GovernanceWalk& walk) {
  if (walk.network_state().empty()) {
    auto proof = DecodeSmtProof(walk.network_state_proof());
    if (proof.ok() && VerifySmtProof(state_root, NetworkStateLeafKey(), std::nullopt, *proof)) {
      return Status::Ok();
    }
    return Refuse(
        "the walk carries no network state, but the certified state root holds one (version 4 "
        "bundles carry it whenever the leaf is present)");
  }
  if (walk.network_state() != state.GovernedBytes()) {
    return Refuse(
        "the walk's network state is not the governed state the walk rebuilds (its SHA-256 must "
        "be the certified leaf)");
  }
  return Status::Ok();
}

Status LightWalkCheck(const Network& network, const pb::GovernanceWalk& walk,
                      std::string_view header_bytes, const pb::CommitCertificate& certificate,
                      NetworkState* final_state) {
  pb::BlockHeader header;
  if (Status st = ParseStrict(header_bytes, &header, "block header"); !st.ok()) return st;
  auto root = Hash256::FromBytes(header.state_root());
  if (!root) return Refuse("the header's state root is not 32 bytes");
  if (walk.from_height() != 0) return Refuse("the light walk starts at genesis only");
  if (static_cast<size_t>(walk.blocks_size()) > kMaxWalkBlocks) {
    return Refuse("the walk has " + std::to_string(walk.blocks_size()) + " blocks; the limit is " +
                  std::to_string(kMaxWalkBlocks));
  }

  // The final state: the walk's network state, authenticated by the header's leaf below.
  const NetworkState genesis_state = NetworkState::FromGenesis(network);
  NetworkState head_state = genesis_state;
  if (!walk.network_state().empty()) {
    pb::NetworkStateProto proto;
    if (Status st = ParseCanonical(walk.network_state(), &proto, "network state"); !st.ok()) {
      return Refuse(st.message());
    }
    auto parsed = NetworkState::FromProto(proto, network.governance());
    if (!parsed.ok()) return Refuse(parsed.status().message());
    head_state = std::move(parsed).value();
  }
  const auto& epochs = head_state.validator_epochs();
  const pb::NetworkStateProto final_proto = head_state.ToProto();
  const pb::NetworkStateProto genesis_proto = genesis_state.ToProto();
  if (epochs.empty() || final_proto.validator_epochs(0).SerializeAsString() !=
                            genesis_proto.validator_epochs(0).SerializeAsString()) {
    return Refuse("the first validator epoch of the network state is not genesis' set");
  }

  // Every walk block's full header and id, rebuilt as the replaying verifier does (the chain id
  // put back; the parent's id when the walk block before is the parent).
  struct Rebuilt {
    pb::BlockHeader header;
    Hash256 id;
    const pb::GovernanceBlock* block = nullptr;
  };
  std::map<uint64_t, Rebuilt> blocks;
  uint64_t last_height = 0;
  Hash256 last_id;
  for (const pb::GovernanceBlock& b : walk.blocks()) {
    Rebuilt r;
    if (Status st = ParseStrict(b.header(), &r.header, "walk block header"); !st.ok()) {
      return Refuse(st.message());
    }
    const uint64_t h = r.header.height();
    if (h <= last_height) return Refuse("walk block heights do not increase");
    r.header.set_chain_id(network.chain_id());
    if (r.header.prev_hash().empty()) {
      if (last_height == 0 || h != last_height + 1) {
        return Refuse("walk block (height " + std::to_string(h) + ") names no parent");
      }
      r.header.set_prev_hash(std::string(last_id.view()));
    }
    r.id = Sha256Of(std::string_view(SerializeDeterministic(r.header)));
    r.block = &b;
    last_height = h;
    last_id = r.id;
    blocks.emplace(h, std::move(r));
  }

  // Each later epoch: the certified snapshot of the block that completed it.
  const uint64_t delay = network.governance().validator_change_delay_heights();
  for (size_t i = 1; i < epochs.size(); ++i) {
    const uint64_t from = epochs[i].from_height;
    const std::string what =
        "validator epoch " + std::to_string(i) + " (from height " + std::to_string(from) + ")";
    if (from < delay) return Refuse(what + " starts sooner than the change delay allows");
    const uint64_t c = from - delay;
    auto it = blocks.find(c);
    if (it == blocks.end() || it->second.block->network_state().empty()) {
      return Refuse(what + ": the walk has no snapshot of the block " + std::to_string(c) +
                    " that completed it");
    }
    const pb::GovernanceBlock& b = *it->second.block;
    if (!b.has_certificate()) return Refuse(what + ": its snapshot block has no certificate");
    auto cert = FromProto(b.certificate());
    if (!cert.ok()) return Refuse(what + ": certificate: " + cert.status().message());
    auto set = ToValidatorSet(head_state.ValidatorSetAt(c));
    if (!set.ok()) return Refuse(what + ": validator set: " + set.status().message());
    if (Status st = VerifyCommitCertificate(*set, network.chain_id(), *cert, c, it->second.id);
        !st.ok()) {
      return Refuse(what + ": the certificate of block " + std::to_string(c) + ": " + st.message());
    }
    auto proof = DecodeSmtProof(b.network_state_proof());
    auto block_root = Hash256::FromBytes(it->second.header.state_root());
    if (!proof.ok() || !block_root ||
        !VerifySmtProof(*block_root, NetworkStateLeafKey(),
                        Sha256Of(std::string_view(b.network_state())), *proof)) {
      return Refuse(what + ": the snapshot of block " + std::to_string(c) +
                    " does not prove under its state root");
    }
    pb::NetworkStateProto snap;
    if (!ParseCanonical(b.network_state(), &snap, "network state").ok() ||
        static_cast<size_t>(snap.validator_epochs_size()) != i + 1) {
      return Refuse(what + ": the snapshot of block " + std::to_string(c) +
                    " does not hold exactly the epochs up to it");
    }
    for (size_t k = 0; k <= i; ++k) {
      if (snap.validator_epochs(static_cast<int>(k)).SerializeAsString() !=
          final_proto.validator_epochs(static_cast<int>(k)).SerializeAsString()) {
        return Refuse(what + ": the snapshot of block " + std::to_string(c) +
                      " disagrees with the network state on epoch " + std::to_string(k));
      }
    }
  }

  // The header: certified by the set of its height, and its leaf proves the final state.
  auto cert = FromProto(certificate);
  if (!cert.ok()) return Refuse("header certificate: " + cert.status().message());
  auto set = ToValidatorSet(head_state.ValidatorSetAt(header.height()));
  if (!set.ok()) return Refuse("validator set: " + set.status().message());
  if (Status st = VerifyCommitCertificate(*set, network.chain_id(), *cert, header.height(),
                                          Sha256Of(header_bytes));
      !st.ok()) {
    return Refuse("the header's certificate: " + st.message());
  }
  auto proof = DecodeSmtProof(walk.network_state_proof());
  if (!proof.ok()) return Refuse("network-state proof: " + proof.status().message());
  const std::optional<Hash256> leaf =
      walk.network_state().empty()
          ? std::nullopt
          : std::optional<Hash256>(Sha256Of(std::string_view(walk.network_state())));
  if (!VerifySmtProof(*root, NetworkStateLeafKey(), leaf, *proof)) {
    return Refuse("the network state does not prove under the header's state root");
  }
  if (leaf == std::nullopt && epochs.size() != 1) return Refuse("no network state, yet epochs");
  if (final_state) *final_state = std::move(head_state);
  return Status::Ok();
}

Result<pb::GovernanceWalk> AssembleGovernanceWalk(
    const Network& network, std::span<const CommittedGovernanceRecord> committed,
    uint64_t since_height, uint64_t head_height, const WalkBlockReader& read_block,
    bool snapshots) {
  if (since_height > head_height) since_height = 0;
  pb::GovernanceWalk walk;
  walk.set_from_height(since_height);

  // Replay everything from genesis to learn which records complete which change, and (version
  // 4) the governed state after each block that adds a validator epoch.
  NetworkState state = NetworkState::FromGenesis(network);
  std::map<Hash256, std::vector<size_t>> records_of;  // Proposal id -> its records.
  std::vector<Hash256> completed_after_since;
  std::map<uint64_t, std::string> snapshot_of;  // Height -> governed bytes after it.
  size_t epochs_before = state.validator_epochs().size();
  bool any_governance = false;
  auto end_block = [&](uint64_t height) {
    if (state.validator_epochs().size() > epochs_before && height > since_height) {
      snapshot_of[height] = state.GovernedBytes();
    }
    epochs_before = state.validator_epochs().size();
  };
  for (size_t i = 0; i < committed.size(); ++i) {
    const CommittedGovernanceRecord& c = committed[i];
    if (c.height > head_height) break;
    if (i > 0 && c.height != committed[i - 1].height) end_block(committed[i - 1].height);
    any_governance = true;
    if (i > 0 &&
        (c.height < committed[i - 1].height ||
         (c.height == committed[i - 1].height && c.position <= committed[i - 1].position))) {
      return Status::Corruption("governance records are not listed in block order at height " +
                                std::to_string(c.height));
    }
    GovernanceRecord rec;
    if (auto rej = DecodeGovernanceRecord(c.envelope, network.chain_id(), &rec)) {
      return Status::Corruption("committed governance record at height " +
                                std::to_string(c.height) + ": " + rej->ToString());
    }
    rec.envelope = &c.envelope;
    if (auto rej = ValidateGovernance(state, rec, c.height)) {
      return Status::Corruption("committed governance record at height " +
                                std::to_string(c.height) + " does not replay: " + rej->ToString());
    }
    const Hash256 proposal =
        rec.body().has_proposal()
            ? rec.id
            : Hash256::FromSpan(AsSpan(std::string_view(rec.body().approval().proposal())));
    records_of[proposal].push_back(i);
    AppliedGovernance applied = ApplyGovernance(state, rec, c.height);
    state = std::move(applied.state);
    if (applied.completed && c.height > since_height) {
      completed_after_since.push_back(*applied.completed);
    }
    if (i + 1 == committed.size() || committed[i + 1].height > head_height) end_block(c.height);
  }
  if (snapshots && any_governance) walk.set_network_state(state.GovernedBytes());

  std::vector<size_t> selected;
  for (const Hash256& id : completed_after_since) {
    const auto& recs = records_of[id];
    selected.insert(selected.end(), recs.begin(), recs.end());
  }
  std::sort(selected.begin(), selected.end());  // Indices are in block order.

  pb::GovernanceBlock* block = nullptr;
  uint64_t block_height = 0;
  std::vector<Hash256> leaves;
  for (size_t i : selected) {
    const CommittedGovernanceRecord& c = committed[i];
    if (!block || c.height != block_height) {
      auto src = read_block(c.height);
      if (!src.ok()) return src.status();
      block = walk.add_blocks();
      block_height = c.height;
      block->set_header(std::move(src->header));
      *block->mutable_certificate() = std::move(src->certificate);
      if (auto snap = snapshot_of.find(c.height); snapshots && snap != snapshot_of.end()) {
        if (src->network_state_proof.empty()) {
          return Status::Corruption("block " + std::to_string(c.height) +
                                    " completes a validator-set change but the store has no "
                                    "network-state proof for it");
        }
        block->set_network_state(snap->second);
        block->set_network_state_proof(std::move(src->network_state_proof));
      }
      leaves.clear();
      for (const Hash256& id : src->record_ids) leaves.push_back(MerkleLeafHash(id.span()));
    }
    const Hash256 id = RecordIdOf(c.envelope);
    if (c.position >= leaves.size() || leaves[c.position] != MerkleLeafHash(id.span())) {
      return Status::Corruption("block " + std::to_string(c.height) +
                                " does not hold governance record " + id.Hex() + " at position " +
                                std::to_string(c.position));
    }
    pb::GovernanceRecordProof* rp = block->add_records();
    *rp->mutable_envelope() = c.envelope;
    rp->set_index(c.position);
    for (const Hash256& node : MerkleInclusionProof(leaves, c.position)) {
      rp->add_inclusion_proof(std::string(node.view()));
    }
  }

  // A walk block holding every record of its block carries no audit paths (the verifier
  // rebuilds the records root). Headers go without the chain id, and without the parent's id
  // when the walk block before is the parent; the verifier puts them back.
  std::vector<uint64_t> heights;
  for (pb::GovernanceBlock& b : *walk.mutable_blocks()) {
    pb::BlockHeader h;
    if (!h.ParseFromString(b.header()) || SerializeDeterministic(h) != b.header() ||
        h.chain_id() != network.chain_id()) {
      return Status::Corruption(
          "the stored header of a governance block does not parse, is not "
          "in canonical encoding or is of another chain");
    }
    if (static_cast<uint64_t>(b.records_size()) == h.record_count()) {
      for (pb::GovernanceRecordProof& rp : *b.mutable_records()) rp.clear_inclusion_proof();
    }
    h.clear_chain_id();
    if (!heights.empty() && heights.back() + 1 == h.height()) h.clear_prev_hash();
    heights.push_back(h.height());
    b.set_header(SerializeDeterministic(h));
  }
  // Certificates: in each stretch of walk blocks at consecutive heights, a block's certificate
  // is left out when a later block of the stretch (or the bundle's header, when it is the next
  // block of the chain or the last walk block itself) certifies it through the `prev_hash`
  // links, at most delay - 1 blocks after the first uncertified one (docs/proofs.md).
  const uint64_t delay = network.governance().validator_change_delay_heights();
  const size_t run_max = delay > 1 ? static_cast<size_t>(delay - 1) : 0;  // Uncertified in a row.
  // A snapshot block (version 4) keeps its certificate whatever the runs say: a verifier that
  // does not replay the rules checks it on its own. The runs stay valid: a certified block in
  // the middle of one certifies the blocks before it and starts a new, shorter run.
  auto clear = [&](size_t from, size_t to) {  // [from, to)
    for (size_t k = from; k < to; ++k) {
      pb::GovernanceBlock* b = walk.mutable_blocks(static_cast<int>(k));
      if (b->network_state().empty()) b->clear_certificate();
    }
  };
  size_t i = 0;
  while (i < heights.size()) {
    size_t e = i;  // The stretch is [i, e].
    while (e + 1 < heights.size() && heights[e + 1] == heights[e] + 1) ++e;
    const bool header_follows =
        e + 1 == heights.size() && (heights[e] + 1 == head_height || heights[e] == head_height);
    size_t r = i;
    while (r <= e) {
      const size_t c = std::min(r + run_max, e);  // Certifies [r, c).
      if (c == e && header_follows && (e - r < run_max || heights[e] == head_height)) {
        clear(r, e + 1);  // The bundle's certificate certifies them all.
        break;
      }
      clear(r, c);
      r = c + 1;
    }
    i = e + 1;
  }
  return walk;
}

}  // namespace hallmark::core
