// A chain built by hand from the core rules, with governance records in its blocks: headers,
// records roots, an in-memory state tree holding item states and the network-state leaf, and
// commit certificates signed by the validator set of each height. For testing the governance
// walk of proof bundles (docs/proofs.md) independently of the ledger. Side effects never sit
// inside REQUIRE, so benchmarks may include this with DOCTEST_CONFIG_DISABLE.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/certificate.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/sha256.h"
#include "core/governance.h"
#include "core/governance_proof.h"
#include "core/item_id.h"
#include "core/merkle.h"
#include "core/proof_bundle.h"
#include "core/smt.h"
#include "fixtures.h"
#include "governance_fixture.h"
#include "proto/chain.pb.h"

namespace hallmark::test {

class MemNodes : public core::SmtNodeReader {
 public:
  core::Result<std::optional<std::string>> GetNode(std::string_view node_key) const override {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node_key);
    if (it == nodes_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  void Write(const core::SmtUpdate& u) {
    std::lock_guard lock(mu_);
    u.ForEachWrite([&](std::string_view k, std::string_view v) { nodes_[std::string(k)] = v; });
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> nodes_;
};

// Governance record bodies.
inline pb::RecordPayload GovPayload(const pb::Governance& body) {
  pb::RecordPayload p;
  p.set_chain_id("hallmark-test");
  p.set_timestamp_ms(kTestTimeMs);
  *p.mutable_governance() = body;
  return p;
}
inline pb::Envelope Proposal(std::string_view signer, const pb::GovernanceChange& change,
                             uint64_t expires_height, std::string_view note = "") {
  pb::Governance g;
  *g.mutable_proposal()->mutable_change() = change;
  g.mutable_proposal()->set_expires_height(expires_height);
  g.mutable_proposal()->set_note(std::string(note));
  return Sign(signer, GovPayload(g));
}
inline pb::Envelope Approval(std::string_view signer, const pb::Envelope& proposal) {
  pb::Governance g;
  g.mutable_approval()->set_proposal(Id(proposal));
  return Sign(signer, GovPayload(g));
}
inline pb::GovernanceChange RemoveValidatorChange(const std::string& key_name) {
  pb::GovernanceChange c;
  c.mutable_remove_validator()->set_consensus_key(std::string(PubFor(key_name).view()));
  return c;
}

class GovChain {
 public:
  explicit GovChain(pb::Genesis genesis = TestGenesis())
      : network_(std::move(core::Network::FromProto(genesis).value())),
        state_(core::NetworkState::FromGenesis(network_)),
        tree_(&nodes_) {
    for (int i = 0; i < 8; ++i) {
      const std::string name = "validator-" + std::to_string(i);
      consensus_keys_.emplace(PubFor(name), name);
    }
  }

  // Commits `records` as the next block, each through the real rules (REQUIRE'd valid), and
  // certifies it with every validator of the height's set (or the named consensus keys).
  // `unchecked`: the records go in as they are (colluding validators), the state unchanged.
  void Commit(const std::vector<pb::Envelope>& records,
              std::optional<std::vector<std::string>> signers = std::nullopt,
              bool unchecked = false) {
    const uint64_t h = blocks_.size() + 1;
    time_ms_ += 1000;
    std::vector<std::pair<core::Hash256, core::Hash256>> updates;
    std::set<core::Hash256> touched;
    const size_t epochs_before = state_.validator_epochs().size();
    Block block;
    for (size_t pos = 0; pos < records.size(); ++pos) {
      const pb::Envelope& env = records[pos];
      block.ids.push_back(core::RecordIdOf(env));
      block.records.push_back(env);
      if (unchecked) continue;
      pb::RecordPayload payload;
      REQUIRE(payload.ParseFromString(env.payload()));
      if (payload.has_governance()) {
        core::GovernanceRecord rec;
        auto rej = core::DecodeGovernanceRecord(env, network_.chain_id(), &rec);
        REQUIRE_MESSAGE(!rej, rej->ToString());
        REQUIRE(!core::CheckRecordSignature(env));
        rec.envelope = &env;
        rej = core::ValidateGovernance(state_, rec, h);
        REQUIRE_MESSAGE(!rej, rej->ToString());
        core::AppliedGovernance applied = core::ApplyGovernance(state_, rec, h);
        state_ = std::move(applied.state);
        if (applied.completed) ++changes_;
        governance_.push_back({env, h, static_cast<uint32_t>(pos)});
        ever_governance_ = true;
      } else {
        core::Record rec;
        auto rej = core::DecodeRecord(env, network_.chain_id(), &rec);
        REQUIRE_MESSAGE(!rej, rej->ToString());
        REQUIRE(!core::CheckRecordSignature(env));
        rec.envelope = &env;
        const core::Network rules = state_.MembershipAt(network_, h);
        Item& item = items_[rec.item_key];
        const pb::ItemState* current = item.state ? &*item.state : nullptr;
        core::BlockContext ctx{h, time_ms_};
        rej = core::CheckSignerStanding(state_, rec.signer, h);
        if (!rej) rej = core::ValidateRecord(rules, rec, current, ctx);
        REQUIRE_MESSAGE(!rej, rej->ToString());
        item.state = core::ApplyRecord(rules, rec, current, ctx);
        item.history.push_back(env);
        item.heights.push_back(h);
        touched.insert(rec.item_key);
      }
    }
    for (const core::Hash256& key : touched) {
      updates.emplace_back(key, core::Sha256Of(core::SerializeDeterministic(*items_[key].state)));
    }
    if (ever_governance_) updates.emplace_back(core::NetworkStateLeafKey(), state_.GovernedHash());
    if (!updates.empty()) {
      auto update = tree_.PrepareUpdate(updates);
      REQUIRE(update.ok());
      nodes_.Write(*update);
      tree_.Commit(*update);
    }
    if (state_.validator_epochs().size() > epochs_before) {
      // What the ledger stores for a block that adds a validator epoch (version 4 bundles).
      auto ns = tree_.Prove(core::NetworkStateLeafKey());
      REQUIRE(ns.ok());
      block.network_state_proof = core::EncodeSmtProof(*ns);
    }

    pb::BlockHeader header;
    header.set_chain_id(network_.chain_id());
    header.set_height(h);
    header.set_time_ms(time_ms_);
    header.set_prev_hash(blocks_.empty() ? std::string(32, '\0')
                                         : std::string(blocks_.back().hash.view()));
    header.set_proposer(std::string(PubFor("validator-0").view()));
    std::vector<core::Hash256> leaves;
    for (const auto& id : block.ids) leaves.push_back(core::MerkleLeafHash(id.span()));
    header.set_records_root(std::string(core::MerkleRoot(leaves).view()));
    header.set_state_root(std::string(tree_.root().view()));
    header.set_record_count(static_cast<uint32_t>(records.size()));
    block.header = core::SerializeDeterministic(header);
    block.hash = core::Sha256Of(std::string_view(block.header));

    std::vector<std::string> names;
    if (signers) {
      names = *signers;
    } else {
      for (const core::ValidatorInfo& v : state_.ValidatorSetAt(h).validators) {
        auto it = consensus_keys_.find(v.key);
        REQUIRE(it != consensus_keys_.end());
        names.push_back(it->second);
      }
    }
    block.certificate = Certify(h, block.hash, names);
    blocks_.push_back(std::move(block));
  }

  // Precommits for (height, block_id) by the named consensus keys, in the order given.
  pb::CommitCertificate Certify(uint64_t height, const core::Hash256& block_id,
                                const std::vector<std::string>& names) const {
    core::CommitCertificate cert;
    cert.height = height;
    cert.block_id = block_id;
    core::Bytes msg =
        core::VoteSignBytes(network_.chain_id(), height, 0, core::VoteType::kPrecommit, block_id);
    for (const std::string& n : names) {
      core::SigningKey key = KeyFor(n);
      cert.signatures.push_back({key.public_key(), key.Sign(msg)});
    }
    return core::ToProto(cert);
  }

  // Commits a whole change: the proposal by `proposer`, then approvals, each in its own block
  // unless `one_block`. Stops at the completing approval. Returns the proposal.
  pb::Envelope Pass(const pb::GovernanceChange& change,
                    std::vector<std::string> approvers = {"atelier", "resale", "authlab",
                                                          "repairco"},
                    std::string proposer = "maison", bool one_block = false) {
    const uint64_t h = height() + 1;
    pb::Envelope proposal = Proposal(proposer, change, h + 1000);
    std::vector<pb::Envelope> pending{proposal};
    if (!one_block) {
      Commit(pending);
      pending.clear();
    }
    const uint64_t before = changes_;
    for (const std::string& a : approvers) {
      pending.push_back(Approval(a, proposal));
      if (!one_block) {
        Commit(pending);
        pending.clear();
      }
      if (changes_ > before) break;
    }
    if (one_block) Commit(pending);
    REQUIRE(changes_ == before + 1);
    return proposal;
  }

  // Empty blocks until the height is `h`.
  void AdvanceTo(uint64_t h) {
    while (height() < h) Commit({});
  }

  // A custody record signed by `signer` about `item`, committed in its own block.
  pb::Envelope CommitRecord(std::string_view signer, pb::RecordPayload payload) {
    pb::Envelope env = Sign(signer, payload);
    Commit({env});
    return env;
  }
  std::string Prev(std::string_view item) const {
    auto id = core::ParseItemId(item);
    auto it = items_.find(id->Key());
    if (it == items_.end() || it->second.history.empty()) return {};
    return Id(it->second.history.back());
  }

  // The walk block of `height` with the records at `positions` (audit paths only when they are
  // not all of the block's records, as docs/proofs.md encodes it).
  pb::GovernanceBlock WalkBlock(uint64_t height, const std::vector<uint32_t>& positions) const {
    const Block& b = blocks_.at(height - 1);
    pb::GovernanceBlock out;
    out.set_header(b.header);
    *out.mutable_certificate() = b.certificate;
    std::vector<core::Hash256> leaves;
    for (const auto& id : b.ids) leaves.push_back(core::MerkleLeafHash(id.span()));
    for (uint32_t pos : positions) {
      auto* rp = out.add_records();
      *rp->mutable_envelope() = b.records.at(pos);
      rp->set_index(pos);
      if (positions.size() == b.ids.size()) continue;
      for (const auto& node : core::MerkleInclusionProof(leaves, pos)) {
        rp->add_inclusion_proof(std::string(node.view()));
      }
    }
    return out;
  }

  // Walk headers as docs/proofs.md encodes them ("Walk headers"): without the chain id, and
  // without the parent's id when the walk block before is the parent. For walks built by hand
  // from WalkBlock (the assembler does this itself).
  static void EncodeWalkHeaders(pb::GovernanceWalk& walk) {
    uint64_t last = 0;
    for (pb::GovernanceBlock& b : *walk.mutable_blocks()) {
      pb::BlockHeader h;
      REQUIRE(h.ParseFromString(b.header()));
      h.clear_chain_id();
      if (last != 0 && h.height() == last + 1) h.clear_prev_hash();
      last = h.height();
      b.set_header(core::SerializeDeterministic(h));
    }
  }

  // The assembler's walk; `snapshots`: the version 4 fields (false: version 3's form).
  pb::GovernanceWalk Walk(uint64_t since = 0, bool snapshots = true) const {
    auto walk = core::AssembleGovernanceWalk(
        network_, governance_, since, height(),
        [&](uint64_t h) -> core::Result<core::WalkBlockSource> {
          const Block& b = blocks_.at(h - 1);
          return core::WalkBlockSource{b.header, b.certificate, b.ids, b.network_state_proof};
        },
        snapshots);
    REQUIRE(walk.ok());
    return *walk;
  }

  // The bundle of `item` at the head, with the walk since `since` (or the given walk).
  pb::ProofBundle Bundle(std::string_view item, uint64_t since = 0,
                         std::optional<pb::GovernanceWalk> walk = std::nullopt) const {
    auto id = core::ParseItemId(item);
    REQUIRE(id.ok());
    const Block& head = blocks_.back();
    pb::ProofBundle b;
    b.set_version(core::kProofBundleVersion);
    b.set_chain_id(network_.chain_id());
    b.set_genesis_hash(std::string(network_.hash().view()));
    b.set_item_id(id->Canonical());
    b.set_header(head.header);
    *b.mutable_certificate() = head.certificate;
    auto proof = tree_.Prove(id->Key());
    REQUIRE(proof.ok());
    b.set_state_proof(core::EncodeSmtProof(*proof));
    *b.mutable_governance() = walk ? *walk : Walk(since);
    auto ns = tree_.Prove(core::NetworkStateLeafKey());
    REQUIRE(ns.ok());
    b.mutable_governance()->set_network_state_proof(core::EncodeSmtProof(*ns));
    auto it = items_.find(id->Key());
    if (it != items_.end()) {
      b.set_state(core::SerializeDeterministic(*it->second.state));
      for (size_t i = 0; i < it->second.history.size(); ++i) {
        *b.add_history() = it->second.history[i];
        b.add_history_heights(it->second.heights[i]);
      }
    }
    return b;
  }
  std::string BundleBytes(std::string_view item, uint64_t since = 0) const {
    return core::SerializeDeterministic(Bundle(item, since));
  }

  const core::Network& network() const { return network_; }
  const core::NetworkState& state() const { return state_; }
  uint64_t height() const { return blocks_.size(); }
  uint64_t changes() const { return changes_; }
  uint64_t time_ms() const { return time_ms_; }
  const std::vector<core::CommittedGovernanceRecord>& governance() const { return governance_; }

 private:
  struct Block {
    std::string header;
    core::Hash256 hash;
    pb::CommitCertificate certificate;
    std::vector<pb::Envelope> records;
    std::vector<core::Hash256> ids;
    std::string network_state_proof;  // When the block adds a validator epoch.
  };
  struct Item {
    std::optional<pb::ItemState> state;
    std::vector<pb::Envelope> history;
    std::vector<uint64_t> heights;
  };

  core::Network network_;
  core::NetworkState state_;
  MemNodes nodes_;
  core::SparseMerkleTree tree_;
  std::map<core::Hash256, std::string> consensus_keys_;
  std::vector<Block> blocks_;
  std::map<core::Hash256, Item> items_;
  std::vector<core::CommittedGovernanceRecord> governance_;
  bool ever_governance_ = false;
  uint64_t changes_ = 0;
  uint64_t time_ms_ = kTestTimeMs;
};

}  // namespace hallmark::test
