#pragma once

// A committed chain with real commit certificates, for proof bundle tests and benchmarks:
// records are committed one block at a time through a real LevelDB ledger in a temporary
// folder, each block certified by precommits of validator-0..2 (3 of 4: a quorum).
// Side effects never sit inside REQUIRE, so benchmarks may include this with
// DOCTEST_CONFIG_DISABLE.

#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/certificate.h"
#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/item_id.h"
#include "fixtures.h"
#include "storage/ledger.h"
#include "storage/proof_bundle.h"
#include "test_util.h"

namespace hallmark::test {

// Precommits for (height, block_id) from the named validators, in the order given.
inline core::CommitCertificate CertifyBlock(std::string_view chain_id, uint64_t height,
                                            const core::Hash256& block_id,
                                            std::span<const int> validators, uint32_t round = 0) {
  core::CommitCertificate cert;
  cert.height = height;
  cert.round = round;
  cert.block_id = block_id;
  core::Bytes msg =
      core::VoteSignBytes(chain_id, height, round, core::VoteType::kPrecommit, block_id);
  for (int v : validators) {
    core::SigningKey key = KeyFor("validator-" + std::to_string(v));
    cert.signatures.push_back({key.public_key(), key.Sign(msg)});
  }
  return cert;
}
inline core::CommitCertificate CertifyBlock(std::string_view chain_id, uint64_t height,
                                            const core::Hash256& block_id,
                                            std::initializer_list<int> validators = {0, 1, 2},
                                            uint32_t round = 0) {
  return CertifyBlock(chain_id, height, block_id,
                      std::span<const int>(validators.begin(), validators.size()), round);
}

class ProvenChain {
 public:
  explicit ProvenChain(pb::Genesis genesis = TestGenesis())
      : network_(std::move(core::Network::FromProto(genesis).value())) {
    auto l = storage::Ledger::Open(dir_.path(), network_, storage::LedgerOptions{.sync = false});
    REQUIRE(l.ok());
    ledger_ = std::move(l).value();
  }

  // Commits `records` as the next block; every record must be valid.
  void Commit(std::vector<pb::Envelope> records) {
    time_ms_ += 1000;
    auto prepared = ledger_->BuildBlock(records, time_ms_, PubFor("validator-0"));
    REQUIRE(prepared.ok());
    REQUIRE(prepared->dropped.empty());
    core::CommitCertificate cert =
        CertifyBlock(network_.chain_id(), prepared->header.height(), prepared->hash, signers_);
    core::Status committed = ledger_->Commit(*prepared, core::EncodeCertificate(cert));
    REQUIRE(committed.ok());
  }

  // The validators (validator-N) whose precommits certify the next blocks; {0, 1, 2} at first.
  void SetSigners(std::vector<int> signers) { signers_ = std::move(signers); }

  // Commits `records` in as few blocks as the block limits allow; every record must be valid.
  void CommitAll(const std::vector<pb::Envelope>& records) {
    size_t next = 0;
    while (next < records.size()) {
      time_ms_ += 1000;
      auto prepared =
          ledger_->BuildBlock(std::span(records).subspan(next), time_ms_, PubFor("validator-0"));
      REQUIRE(prepared.ok());
      REQUIRE(prepared->dropped.empty());
      REQUIRE(!prepared->record_ids.empty());
      next += prepared->record_ids.size();
      core::CommitCertificate cert =
          CertifyBlock(network_.chain_id(), prepared->header.height(), prepared->hash, signers_);
      core::Status committed = ledger_->Commit(*prepared, core::EncodeCertificate(cert));
      REQUIRE(committed.ok());
    }
  }

  // The envelope signed by `signer` and committed in its own block; returns it.
  pb::Envelope CommitOne(std::string_view signer, const pb::RecordPayload& payload) {
    pb::Envelope env = Sign(signer, payload);
    Commit({env});
    return env;
  }

  std::string BundleBytes(std::string_view item, uint64_t since_height = 0) const {
    auto id = core::ParseItemId(item);
    REQUIRE(id.ok());
    auto bundle = storage::BuildProofBundle(*ledger_, *id, since_height);
    REQUIRE(bundle.ok());
    return core::SerializeDeterministic(*bundle);
  }

  // Closes the ledger, runs `between` on its folder (say, to give it an older store's layout),
  // and opens it again.
  void Reopen(const std::function<void(const std::filesystem::path&)>& between = {}) {
    ledger_.reset();
    if (between) between(dir_.path());
    auto l = storage::Ledger::Open(dir_.path(), network_, storage::LedgerOptions{.sync = false});
    REQUIRE_MESSAGE(l.ok(), l.status().message());
    ledger_ = std::move(l).value();
  }
  const std::filesystem::path& dir() const { return dir_.path(); }

  const core::Network& network() const { return network_; }
  storage::Ledger& ledger() { return *ledger_; }
  uint64_t time_ms() const { return time_ms_; }
  // The next block is dated `ms` later than it would be (a proposer whose clock runs ahead).
  void SkipTime(uint64_t ms) { time_ms_ += ms; }

 private:
  TempDir dir_;
  core::Network network_;
  std::unique_ptr<storage::Ledger> ledger_;
  uint64_t time_ms_ = kTestTimeMs;
  std::vector<int> signers_ = {0, 1, 2};
};

// An item's life on `chain`: registered by maison, shipped to resale, attested genuine, sold
// to holder key "alice", then handed back and forth between alice and resale until it has
// `records` records. Returns the envelopes in order.
inline std::vector<pb::Envelope> LiveItem(ProvenChain& chain, std::string_view item,
                                          size_t records) {
  std::vector<pb::Envelope> out;
  auto prev = [&] { return out.empty() ? std::string() : Id(out.back()); };
  pb::RecordPayload reg = Payload(item);
  auto* a = reg.mutable_register_()->add_attributes();
  a->set_key("model");
  a->set_value("Sac Aurele 30");
  out.push_back(chain.CommitOne("maison", reg));
  bool at_resale = false;
  while (out.size() < records) {
    if (out.size() == 1) {
      pb::RecordPayload p = Payload(item, prev());
      *p.mutable_transfer()->mutable_to() = OrgHolder("resale");
      out.push_back(chain.CommitOne("maison", p));
      at_resale = true;
    } else if (out.size() == 2) {
      pb::RecordPayload p = Payload(item, prev());
      p.mutable_attest()->set_verdict(pb::GENUINE);
      p.mutable_attest()->set_note("stitching and hardware checked");
      out.push_back(chain.CommitOne("resale", p));
    } else {
      pb::RecordPayload p = Payload(item, prev());
      *p.mutable_transfer()->mutable_to() = at_resale ? KeyHolder("alice") : OrgHolder("resale");
      out.push_back(chain.CommitOne(at_resale ? "resale" : "alice", p));
      at_resale = !at_resale;
    }
  }
  return out;
}

}  // namespace hallmark::test
