// The corpus on which `hallmark verify` and the browser's verifier (core/web/verifier.js) must
// give the same verdict (tests/web/agreement_test.py): proof bundles built from real LevelDB
// ledgers with real certificates (tests/unit/proof_fixture.h), clean and not clean, stale,
// and tampered with in every way the tamper tests know (tests/unit/proof_tamper.h).
//
//   make_corpus OUT_DIR [--now-ms MS] [--governance]
//
// Writes OUT_DIR/genesis.json (for the CLI), OUT_DIR/genesis.pb (its deterministic encoding, for
// the browser), OUT_DIR/NNNN.pb for each case and OUT_DIR/corpus.tsv, one line per case:
//   file  class  item  max_age_ms  what  expect
// item: the id to check the bundle against, as a person would give it, or '-' for any item;
// max_age_ms: the --max-age to apply, empty for none, or "genesis" for the genesis' freshness
// limit (OUT_DIR/freshness_ms; the browser's verifier is given null and derives it); expect: the
// verdict the case is built to get (clean, not_clean, stale, invalid), or empty when only agreement
// counts. Classes whose name starts with "tamper" or "lie" hold bundles that must never be clean.
//
// --governance adds the governance cases (bundles across governance changes and tampers of their
// walks) before bundle version 4, whose walk snapshots the browser's verifier needs; from version
// 4 on they are always written.
//
// Every random choice comes from fixed seeds; only the block times follow the clock (--now-ms,
// default now): fresh headers are dated a few seconds before it, stale ones hours before, future
// ones well beyond the clock-skew allowance, as `hallmark verify` reads the real clock.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/codec.h"
#include "core/proof_bundle.h"
#include "governance_fixture.h"
#include "proof_fixture.h"
#include "proof_tamper.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {

constexpr uint64_t kMinute = 60'000;
constexpr uint64_t kHour = 60 * kMinute;
// As a max age: the genesis' freshness limit, written "genesis" in the manifest (the CLI is given
// it as --max-age, the browser's verifier null, from which it derives the same limit).
constexpr uint64_t kGenesisLimit = UINT64_MAX;

std::string MaisonItem(const std::string& serial) {
  return "01/00614141000012/21/" + serial;
}

struct Case {
  std::string cls;
  std::string item;     // As given to the verifier; "-" for any item.
  std::string max_age;  // Milliseconds, or empty.
  std::string what;
  std::string expect;  // clean, not_clean, stale, invalid, or empty.
  std::string bytes;
};

class Corpus {
 public:
  void Add(std::string cls, std::string item, std::optional<uint64_t> max_age_ms, std::string what,
           std::string expect, std::string bytes) {
    for (const std::string* s : {&cls, &item, &what, &expect}) {
      REQUIRE(s->find_first_of("\t\n") == std::string::npos);
    }
    cases_.push_back({std::move(cls), item.empty() ? "-" : std::move(item),
                      !max_age_ms                    ? std::string()
                      : *max_age_ms == kGenesisLimit ? std::string("genesis")
                                                     : std::to_string(*max_age_ms),
                      std::move(what), std::move(expect), std::move(bytes)});
  }
  // A bundle that checks out, under the id given and for any item.
  void AddValid(const std::string& cls, const std::string& item, const std::string& what,
                const std::string& expect, const std::string& bytes,
                std::optional<uint64_t> max_age_ms = std::nullopt) {
    Add(cls, item, max_age_ms, what, expect, bytes);
    Add(cls, "-", max_age_ms, what + " (any item)", expect, bytes);
  }
  void AddTampers(const std::string& cls, const std::string& item,
                  const std::vector<Tamper>& tampers) {
    for (const Tamper& t : tampers) {
      // A change the verifier accepts (another quorum's certificate) is no lie.
      Add(t.check ? cls : "accepted-" + cls.substr(cls.find('-') + 1), item, std::nullopt, t.what,
          t.check ? "invalid" : "clean", t.bytes);
    }
  }
  size_t size() const { return cases_.size(); }

  void Write(const std::filesystem::path& dir) const {
    std::ofstream tsv(dir / "corpus.tsv", std::ios::binary);
    tsv << "file\tclass\titem\tmax_age_ms\twhat\texpect\n";
    for (size_t i = 0; i < cases_.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%04zu.pb", i);
      std::ofstream(dir / name, std::ios::binary) << cases_[i].bytes;
      const Case& c = cases_[i];
      tsv << name << '\t' << c.cls << '\t' << c.item << '\t' << c.max_age << '\t' << c.what << '\t'
          << c.expect << '\n';
    }
  }

 private:
  std::vector<Case> cases_;
};

// A ProvenChain whose first block is dated `first_ms`.
void StartAt(ProvenChain& chain, uint64_t first_ms) {
  REQUIRE(first_ms > chain.time_ms() + 1000);
  chain.SkipTime(first_ms - 1000 - chain.time_ms());
}
// Commits an empty block dated `at_ms` (after the chain's latest).
void EmptyBlockAt(ProvenChain& chain, uint64_t at_ms) {
  REQUIRE(at_ms > chain.time_ms() + 1000);
  chain.SkipTime(at_ms - 1000 - chain.time_ms());
  chain.Commit({});
}

// One item's life on a chain, record by record, each in its own block.
class Life {
 public:
  Life(ProvenChain& chain, std::string id, std::string_view brand = "maison",
       const std::function<void(pb::Register&)>& fill = nullptr)
      : chain_(chain), id_(std::move(id)) {
    pb::RecordPayload reg = Payload(id_);
    pb::Register* r = reg.mutable_register_();
    if (fill) fill(*r);
    recs_.push_back(chain_.CommitOne(brand, reg));
  }
  Life& Do(std::string_view signer, const std::function<void(pb::RecordPayload&)>& fill) {
    pb::RecordPayload p = Payload(id_, Id(recs_.back()));
    fill(p);
    recs_.push_back(chain_.CommitOne(signer, p));
    return *this;
  }
  Life& Transfer(std::string_view signer, const pb::Holder& to) {
    return Do(signer, [&](pb::RecordPayload& p) { *p.mutable_transfer()->mutable_to() = to; });
  }
  Life& Attest(std::string_view signer, pb::Verdict verdict, const std::string& note) {
    return Do(signer, [&](pb::RecordPayload& p) {
      p.mutable_attest()->set_verdict(verdict);
      p.mutable_attest()->set_note(note);
    });
  }
  Life& Flag(std::string_view signer, pb::FlagKind kind, const std::string& note = "") {
    return Do(signer, [&](pb::RecordPayload& p) {
      p.mutable_flag()->set_kind(kind);
      p.mutable_flag()->set_note(note);
    });
  }
  Life& Clear(std::string_view signer, pb::FlagKind kind, const std::string& note = "") {
    return Do(signer, [&](pb::RecordPayload& p) {
      p.mutable_clear_flag()->set_kind(kind);
      p.mutable_clear_flag()->set_note(note);
    });
  }
  Life& Service(std::string_view signer, pb::ServiceKind kind, const std::string& note) {
    return Do(signer, [&](pb::RecordPayload& p) {
      p.mutable_service()->set_kind(kind);
      p.mutable_service()->set_note(note);
    });
  }
  Life& Decommission(std::string_view signer, pb::DecommissionKind kind,
                     const std::string& reason) {
    return Do(signer, [&](pb::RecordPayload& p) {
      p.mutable_decommission()->set_kind(kind);
      p.mutable_decommission()->set_reason(reason);
    });
  }
  Life& Reassign(std::string_view signer, std::string_view key_name, const std::string& reason) {
    return Do(signer, [&](pb::RecordPayload& p) {
      p.mutable_reassign()->set_new_holder_key(std::string(PubFor(key_name).view()));
      p.mutable_reassign()->set_reason(reason);
    });
  }
  const std::string& id() const { return id_; }
  const std::vector<pb::Envelope>& records() const { return recs_; }

 private:
  ProvenChain& chain_;
  std::string id_;
  std::vector<pb::Envelope> recs_;
};

void Attribute(pb::Register& r, const std::string& key, const std::string& value) {
  auto* a = r.add_attributes();
  a->set_key(key);
  a->set_value(value);
}

// A GTIN-14 with its check digit: `data` is the first 13 digits.
std::string Gtin(const std::string& data) {
  return data + std::to_string(core::Gs1CheckDigit(data));
}

// `bundle` with its header replaced by `header` and certified by validators 0..2: what a
// dishonest quorum could sign.
std::string Recertified(const pb::ProofBundle& bundle, const pb::BlockHeader& header) {
  pb::ProofBundle b = bundle;
  b.set_header(core::SerializeDeterministic(header));
  const core::Hash256 id = core::Sha256Of(std::string_view(b.header()));
  *b.mutable_certificate() = core::ToProto(CertifyBlock(b.chain_id(), header.height(), id));
  return EncodeBundle(b);
}

pb::BlockHeader HeaderOf(const pb::ProofBundle& b) {
  pb::BlockHeader h;
  const bool parsed = h.ParseFromString(b.header());
  REQUIRE(parsed);
  return h;
}

// The byte range of field `number` (a length-delimited field written once) in `b`'s canonical
// encoding: fields are written in number order, so it follows every lower-numbered field.
std::pair<size_t, size_t> FieldRange(const pb::ProofBundle& b, int number) {
  pb::ProofBundle before = b, only;
  const auto* d = pb::ProofBundle::descriptor();
  const auto* r = pb::ProofBundle::GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->number() >= number) r->ClearField(&before, f);
    if (f->number() == number) r->SwapFields(&only, &before, {f});
  }
  pb::ProofBundle copy = b;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->number() != number) r->ClearField(&copy, d->field(i));
  }
  return {EncodeBundle(before).size(), EncodeBundle(copy).size()};
}

// Items before, between and after governance changes (an organisation admitted, a key added and
// the old one revoked, a validator joining and another leaving), as
// tests/unit/storage/proof_bundle_governance_test.cpp builds them, and tampers of their walks.
void AddGovernanceCases(Corpus& corpus, uint64_t now) {
  constexpr const char* kNouveauItem = "01/07654321000015/21/N-1";
  constexpr const char* kMaisonItem2 = "01/00614141000029/21/BAG-0002";
  ProvenChain chain;
  StartAt(chain, now - 20 * kMinute);
  const std::string first = MaisonItem("GOV-1");
  Life a(chain, first);
  a.Transfer("maison", OrgHolder("resale")).Attest("resale", pb::GENUINE, "checked");
  const std::string before = chain.BundleBytes(first);
  const std::vector<std::string> five = {"atelier", "resale", "authlab", "repairco"};
  PassChange(chain, "maison", AddOrgChange("nouveau", pb::BRAND, {"7654321"}),
             {"atelier", "resale", "authlab"});
  Life n(chain, kNouveauItem, "nouveau");
  PassChange(chain, "maison", AddKeyChange("maison", "maison-2"), five);
  PassChange(chain, "maison", RevokeKeyChange("maison", "maison"), five);
  Life m2(chain, kMaisonItem2, "maison-2");
  const std::string between = chain.BundleBytes(kMaisonItem2);
  // A validator joins; once it is in force it certifies, and then another leaves.
  PassChange(chain, "maison-2", AddValidatorChange("v4", "nouveau", "validator-4", 1), five);
  const uint64_t delay = chain.network().governance().validator_change_delay_heights();
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 1, 2, 4});  // 4 of 5.
  chain.Commit({});
  const std::string five_validators = chain.BundleBytes(first);
  PassChange(chain, "maison-2", RemoveValidatorKeyChange("validator-3"), five);
  for (uint64_t i = 0; i < delay; ++i) chain.Commit({});
  chain.SetSigners({0, 2, 4});  // 3 of 4.
  a.Transfer("resale", OrgHolder("nouveau"));
  n.Flag("nouveau", pb::RECALLED, "batch recall");
  EmptyBlockAt(chain, now - 2000);

  corpus.AddValid("governance", first, "after 5 changes: an item registered before them", "clean",
                  chain.BundleBytes(first));
  corpus.AddValid("governance", kNouveauItem, "after 5 changes: an admitted brand's item, recalled",
                  "not_clean", chain.BundleBytes(kNouveauItem));
  corpus.AddValid("governance", kMaisonItem2, "after 5 changes: registered with a rotated key",
                  "clean", chain.BundleBytes(kMaisonItem2));
  corpus.AddValid("governance", MaisonItem("GOV-NEVER"), "after 5 changes: never registered",
                  "not_clean", chain.BundleBytes(MaisonItem("GOV-NEVER")));
  corpus.AddValid("governance", first, "before any change", "clean", before);
  corpus.AddValid("governance", kMaisonItem2, "after 3 changes", "clean", between);
  corpus.AddValid("governance", first, "with 5 validators", "clean", five_validators);

  const std::string good_bytes = chain.BundleBytes(first);
  const pb::ProofBundle good = ParseBundle(good_bytes);
  auto add = [&](const std::string& what, const pb::ProofBundle& b) {
    corpus.Add("tamper-governance", first, std::nullopt, what, "invalid", EncodeBundle(b));
  };
  const auto& walk = good.governance();
  for (int i = 0; i < walk.blocks_size(); ++i) {
    pb::ProofBundle b = good;
    b.mutable_governance()->mutable_blocks()->DeleteSubrange(i, 1);
    add("walk block " + std::to_string(i + 1) + " left out", b);
    if (walk.blocks(i).records_size() > 0) {
      pb::ProofBundle r = good;
      r.mutable_governance()->mutable_blocks(i)->mutable_records()->RemoveLast();
      add("walk block " + std::to_string(i + 1) + "'s last record left out", r);
    }
    if (walk.blocks(i).has_certificate()) {
      pb::ProofBundle c = good;
      c.mutable_governance()->mutable_blocks(i)->clear_certificate();
      add("walk block " + std::to_string(i + 1) + "'s certificate left out", c);
    }
    if (!walk.blocks(i).network_state().empty()) {
      pb::ProofBundle c = good;
      c.mutable_governance()->mutable_blocks(i)->clear_network_state();
      add("walk block " + std::to_string(i + 1) + "'s network state left out", c);
      c = good;
      c.mutable_governance()->mutable_blocks(i)->clear_network_state_proof();
      add("walk block " + std::to_string(i + 1) + "'s network-state proof left out", c);
      if (walk.blocks(i).network_state() != walk.network_state()) {
        c = good;
        c.mutable_governance()->mutable_blocks(i)->set_network_state(walk.network_state());
        add("walk block " + std::to_string(i + 1) + " given the final network state", c);
      }
      const std::string& ns = walk.blocks(i).network_state();
      for (size_t k = 0; k < ns.size(); k += 9) {
        pb::ProofBundle f = good;
        std::string bad = ns;
        bad[k] = static_cast<char>(static_cast<uint8_t>(bad[k]) ^ 0x01);
        f.mutable_governance()->mutable_blocks(i)->set_network_state(bad);
        add("walk block " + std::to_string(i + 1) + "'s network state, byte " + std::to_string(k) +
                " xor 1",
            f);
      }
    }
  }
  {
    pb::ProofBundle b = good;
    if (!walk.network_state().empty()) {  // Version 4.
      b.mutable_governance()->clear_network_state();
      add("the final network state left out", b);
      b = good;
    }
    b.mutable_governance()->clear_network_state_proof();
    add("the final network-state proof left out", b);
    b = good;
    b.clear_governance();
    add("the whole walk left out", b);
    const std::string& ns = walk.network_state();
    for (size_t k = 0; k < ns.size(); k += 5) {
      pb::ProofBundle f = good;
      std::string bad = ns;
      bad[k] = static_cast<char>(static_cast<uint8_t>(bad[k]) ^ 0xff);
      f.mutable_governance()->set_network_state(bad);
      add("the final network state, byte " + std::to_string(k) + " xor 0xff", f);
    }
  }
  if (core::kProofBundleVersion > 3) {
    pb::ProofBundle b = good;
    b.set_version(core::kProofBundleVersion - 1);
    corpus.Add("old-version", first, std::nullopt,
               "a walk with snapshots labelled version " + std::to_string(b.version()), "",
               EncodeBundle(b));
  }
  // Another walk: the one of a bundle made before the last two changes.
  {
    pb::ProofBundle b = good;
    *b.mutable_governance() = ParseBundle(five_validators).governance();
    add("the walk of an older bundle", b);
  }
  // Random byte changes inside the walk.
  const auto [from, length] = FieldRange(good, 10);
  REQUIRE(length > 100);
  std::mt19937_64 rng(12);
  for (int n = 0; n < 200; ++n) {
    std::string bad = good_bytes;
    const size_t i = from + rng() % length;
    const uint8_t mask = static_cast<uint8_t>(1 + rng() % 255);
    bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ mask);
    corpus.Add("tamper-governance", first, std::nullopt,
               "walk byte " + std::to_string(i - from) + " of " + std::to_string(length) + " xor " +
                   std::to_string(mask),
               "invalid", bad);
  }
  // The head certified by the outgoing set's validators 1 and 3 with 0: not a quorum of the new.
  {
    pb::ProofBundle b = good;
    const pb::BlockHeader h = HeaderOf(good);
    const core::Hash256 id = core::Sha256Of(std::string_view(good.header()));
    *b.mutable_certificate() =
        core::ToProto(CertifyBlock(good.chain_id(), h.height(), id, {0, 1, 3}));
    add("the head certified by validators 0, 1 and the removed 3", b);
  }
}

int Run(const std::filesystem::path& out, uint64_t now, bool governance) {
  Corpus corpus;
  const core::Network network = TestNetwork();

  // ---- The main chain: items of every kind, the head dated 2 s before `now`. ----
  ProvenChain chain;
  StartAt(chain, now - 30 * kMinute);
  const std::string small_id = MaisonItem("BAG-0001");
  Life small(chain, small_id, "maison", [](pb::Register& r) { Attribute(r, "model", "Sac 30"); });
  small.Transfer("maison", OrgHolder("resale")).Attest("resale", pb::GENUINE, "checked");
  small.Transfer("resale", KeyHolder("alice"));
  // An old bundle of the six-record item, kept for the header tampers.
  Life six(chain, MaisonItem("BAG-0006"));
  six.Transfer("maison", OrgHolder("resale")).Attest("resale", pb::GENUINE, "stitching checked");
  const std::string six_old = chain.BundleBytes(six.id());
  const uint64_t six_old_time = chain.time_ms();
  six.Transfer("resale", KeyHolder("alice")).Transfer("alice", OrgHolder("resale"));
  six.Transfer("resale", KeyHolder("bob"));
  Life other(chain, MaisonItem("BAG-0007"));
  other.Transfer("maison", OrgHolder("resale")).Attest("resale", pb::GENUINE, "ok");
  LiveItem(chain, MaisonItem("BAG-0020"), 20);
  Life just(chain, MaisonItem("BAG-0002"));
  Life serviced(chain, "01/09506000134352/21/ABC123", "maison", [](pb::Register& r) {
    Attribute(r, "model", "Montre Aurèle — 38 mm ✓");
    Attribute(r, "colour", "bleu nuit");
    auto* d = r.add_documents();
    d->set_name("certificate.pdf");
    d->set_sha256(std::string(core::Sha256Of(std::string_view("certificate")).view()));
  });
  serviced.Service("repairco", pb::REPAIR, "strap replaced — «cuir»")
      .Attest("authlab", pb::GENUINE, "movement verified")
      .Service("authlab", pb::AUTHENTICATION_SERVICE, "authenticated")
      .Service("maison", pb::REFURBISHMENT, "refurbished");
  Life atelier(chain, "01/01234567000015/21/W-42", "atelier");
  atelier.Transfer("atelier", KeyHolder("carol")).Transfer("carol", KeyHolder("dave"));
  Life reassigned(chain, MaisonItem("BAG-0003"), "maison",
                  [](pb::Register& r) { *r.mutable_custodian() = KeyHolder("alice"); });
  reassigned.Reassign("maison", "bob", "owner lost her key");
  Life cleared(chain, MaisonItem("BAG-0004"), "maison",
               [](pb::Register& r) { *r.mutable_custodian() = KeyHolder("alice"); });
  cleared.Flag("alice", pb::STOLEN, "taken from my car").Clear("alice", pb::STOLEN, "found it");
  Life cleared2(chain, MaisonItem("BAG-0005"));
  cleared2.Flag("authlab", pb::COUNTERFEIT_SUSPECTED, "logo looks off")
      .Clear("maison", pb::COUNTERFEIT_SUSPECTED, "genuine");
  Life attested_suspect(chain, MaisonItem("BAG-0008"));
  attested_suspect.Attest("authlab", pb::SUSPECT, "stitching irregular");
  Life long_serial(chain, MaisonItem("AZaz09!%'()*+,-._:;="));

  // Not clean.
  struct Flagged {
    std::string serial;
    std::string what;
    std::function<void(Life&)> make;
  };
  const std::vector<Flagged> flagged = {
      {"F-STOLEN-KEY", "flagged stolen by its holder's key",
       [](Life& l) {
         l.Transfer("maison", KeyHolder("alice")).Flag("alice", pb::STOLEN, "bag snatched");
       }},
      {"F-STOLEN-BRAND", "flagged stolen by the brand",
       [](Life& l) { l.Flag("maison", pb::STOLEN, "stolen from the boutique"); }},
      {"F-LOST", "flagged lost by the custodian organisation",
       [](Life& l) { l.Transfer("maison", OrgHolder("resale")).Flag("resale", pb::LOST); }},
      {"F-CF-AUTH", "flagged counterfeit-suspected by an authenticator",
       [](Life& l) { l.Flag("authlab", pb::COUNTERFEIT_SUSPECTED, "hardware off"); }},
      {"F-CF-MKT", "flagged counterfeit-suspected by a marketplace",
       [](Life& l) { l.Flag("resale", pb::COUNTERFEIT_SUSPECTED); }},
      {"F-CF-BRAND", "flagged counterfeit-suspected by the brand",
       [](Life& l) { l.Flag("maison", pb::COUNTERFEIT_SUSPECTED, "not ours"); }},
      {"F-RECALL", "recalled by the brand",
       [](Life& l) { l.Flag("maison", pb::RECALLED, "clasp defect — série 2026"); }},
      {"F-MANY", "flagged stolen, recalled and counterfeit-suspected",
       [](Life& l) {
         l.Flag("maison", pb::RECALLED)
             .Flag("authlab", pb::COUNTERFEIT_SUSPECTED)
             .Flag("maison", pb::STOLEN);
       }},
      {"F-CLEARED-ONE", "flagged twice, one flag cleared",
       [](Life& l) {
         l.Flag("resale", pb::COUNTERFEIT_SUSPECTED)
             .Flag("maison", pb::LOST)
             .Clear("resale", pb::COUNTERFEIT_SUSPECTED);
       }},
      {"F-STOLEN-DECOM", "flagged stolen, then decommissioned",
       [](Life& l) {
         l.Flag("maison", pb::STOLEN).Decommission("maison", pb::DESTROYED, "shredded");
       }},
      {"D-DESTROYED", "decommissioned (destroyed) by the brand",
       [](Life& l) { l.Decommission("maison", pb::DESTROYED, "water damage"); }},
      {"D-RECYCLED", "decommissioned (recycled) by the custodian organisation",
       [](Life& l) {
         l.Transfer("maison", OrgHolder("resale")).Decommission("resale", pb::RECYCLED, "parts");
       }},
      {"D-KEY", "decommissioned by its holder's key",
       [](Life& l) {
         l.Transfer("maison", KeyHolder("alice")).Decommission("alice", pb::DESTROYED, "fire");
       }},
  };
  std::vector<std::pair<std::string, std::string>> flagged_ids;  // id, what
  for (const Flagged& f : flagged) {
    Life l(chain, MaisonItem(f.serial));
    f.make(l);
    flagged_ids.emplace_back(l.id(), f.what);
  }
  const std::string stolen_id = flagged_ids[0].first;

  // The head: an empty block 2 s before now, so fresh bundles are clearly fresh.
  EmptyBlockAt(chain, now - 2000);
  REQUIRE(chain.time_ms() == now - 2000);

  auto valid = [&](const std::string& cls, const std::string& id, const std::string& what,
                   const std::string& expect) {
    corpus.AddValid(cls, id, what, expect, chain.BundleBytes(id));
  };
  // Clean.
  valid("clean", small_id, "registered, shipped, attested, sold to a key", "clean");
  valid("clean", six.id(), "six records", "clean");
  valid("clean", other.id(), "three records", "clean");
  valid("clean", MaisonItem("BAG-0020"), "twenty records", "clean");
  valid("clean", just.id(), "registered only", "clean");
  valid("clean", serviced.id(), "serviced and attested, non-ASCII attributes and notes", "clean");
  valid("clean", atelier.id(), "another brand's item, between holder keys", "clean");
  valid("clean", reassigned.id(), "custody reassigned by the brand", "clean");
  valid("clean", cleared.id(), "flagged stolen and cleared by its holder", "clean");
  valid("clean", cleared2.id(), "flagged counterfeit and cleared by the brand", "clean");
  valid("clean", attested_suspect.id(), "attested suspect (no flag)", "clean");
  valid("clean", long_serial.id(), "a serial of every punctuation GS1 allows", "clean");
  {
    const core::ItemId id = *core::ParseItemId(small_id);
    const std::string bytes = chain.BundleBytes(small_id);
    corpus.Add("clean", id.DigitalLinkUrl(), std::nullopt, "id as a Digital Link URL", "clean",
               bytes);
    corpus.Add("clean", "/01/00614141000012/21/BAG-0001?linkType=all", std::nullopt,
               "id as a Digital Link path with a query", "clean", bytes);
    corpus.Add("clean", id.ElementString(), std::nullopt, "id as an element string", "clean",
               bytes);
    corpus.Add("clean", "https://example.com/brand/01/614141000012/21/BAG-0001", std::nullopt,
               "id as a resolver URL with a GTIN-12", "clean", bytes);
    const core::ItemId l = *core::ParseItemId(long_serial.id());
    corpus.Add("clean", l.DigitalLinkUrl(), std::nullopt,
               "a punctuated serial as a percent-encoded Digital Link", "clean",
               chain.BundleBytes(long_serial.id()));
    corpus.Add("clean", small_id, 1 * kHour, "fresh, under a max age of an hour", "clean", bytes);
    corpus.Add("clean", "-", 10 * kMinute, "fresh, under a max age of ten minutes", "clean", bytes);
  }
  for (const auto& [id, what] : flagged_ids) {
    valid(what.starts_with("decommissioned") ? "decommissioned" : "flagged", id, what, "not_clean");
  }
  // Never registered: absence proofs.
  for (const std::string& id :
       {MaisonItem("NEVER-1"), std::string("01/01234567000015/21/W-43"),
        "01/" + Gtin("0950600013435") + "/21/NOPE", "01/" + Gtin("0400000000000") + "/21/X1",
        MaisonItem("bag-0001"), MaisonItem("BAG-00010")}) {
    valid("unregistered", id, "never registered", "not_clean");
  }
  corpus.Add("unregistered", MaisonItem("NEVER-1"), 1 * kHour,
             "never registered, fresh under a max age", "not_clean",
             chain.BundleBytes(MaisonItem("NEVER-1")));

  // Older headers with their own certificates: valid, as of their time.
  const pb::ProofBundle six_good = ParseBundle(chain.BundleBytes(six.id()));
  const pb::ProofBundle six_old_b = ParseBundle(six_old);
  const uint64_t six_old_age = now - six_old_time;
  REQUIRE(six_old_age > 20 * kMinute);
  corpus.AddValid("old-header", six.id(), "an older bundle, no max age", "clean", six_old);
  corpus.Add("stale", six.id(), 10 * kMinute, "an older bundle (~30 min) under 10 min", "stale",
             six_old);
  corpus.Add("old-header", six.id(), 2 * kHour, "an older bundle (~30 min) under 2 h", "clean",
             six_old);

  // Wrong item: a bundle of another item, an absence proof of another id.
  corpus.Add("lie-other-item", just.id(), std::nullopt, "a clean item's bundle for another id",
             "invalid", chain.BundleBytes(small_id));
  corpus.Add("lie-other-item", small_id, std::nullopt,
             "an absence proof of another id for a registered item", "invalid",
             chain.BundleBytes(MaisonItem("NEVER-1")));
  corpus.Add("lie-other-item", stolen_id, std::nullopt,
             "a clean item's bundle for a stolen item's id", "invalid",
             chain.BundleBytes(six.id()));

  // ---- Tampers of a small bundle: every byte XOR 0x01 and 0xFF. ----
  // A two-record item on a chain of its own with one other item (a short state proof), so
  // that the run stays short: each of these is one `hallmark verify` process.
  ProvenChain tiny_chain;
  StartAt(tiny_chain, now - 10 * kMinute);
  LiveItem(tiny_chain, small_id, 2);
  LiveItem(tiny_chain, MaisonItem("BAG-0002"), 1);
  EmptyBlockAt(tiny_chain, now - 3000);
  const std::string good = tiny_chain.BundleBytes(small_id);
  const core::ProofVerdict good_verdict = core::VerifyProofBundle(network, good);
  REQUIRE(good_verdict.ok());
  corpus.AddValid("clean", small_id, "the small bundle the byte changes start from", "clean", good);
  for (uint8_t mask : {uint8_t{0x01}, uint8_t{0xff}}) {
    char cls[32];
    std::snprintf(cls, sizeof cls, "tamper-xor-%02x", mask);
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ mask);
      const std::string what = "byte " + std::to_string(i) + " of " + std::to_string(good.size()) +
                               " xor " + std::to_string(mask);
      // A plausible change of a claimed record height proves the same (docs/proofs.md).
      if (InHeightClaims(good, i) && core::VerifyProofBundle(network, bad).ok()) {
        corpus.Add("height-claim", "-", std::nullopt, what, "clean", bad);
      } else {
        corpus.Add(cls, "-", std::nullopt, what, "invalid", bad);
      }
    }
  }
  // Random byte changes and truncations of the 20-record bundle.
  {
    const std::string big = chain.BundleBytes(MaisonItem("BAG-0020"));
    std::mt19937_64 rng(20261203);
    for (int n = 0; n < 300; ++n) {
      std::string bad = big;
      const int changes = 1 + static_cast<int>(rng() % 3);
      bool in_claims = true;
      std::string what;
      for (int c = 0; c < changes; ++c) {
        const size_t i = rng() % bad.size();
        const uint8_t mask = static_cast<uint8_t>(1 + rng() % 255);
        bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ mask);
        in_claims = in_claims && InHeightClaims(big, i);
        what += (what.empty() ? "" : ", ") + std::string("byte ") + std::to_string(i) + " xor " +
                std::to_string(mask);
      }
      if (bad == big) continue;
      if (in_claims && core::VerifyProofBundle(network, bad).ok()) {
        corpus.Add("height-claim", "-", std::nullopt, what, "clean", bad);
      } else {
        corpus.Add("tamper-random", "-", std::nullopt, what, "invalid", bad);
      }
    }
    for (size_t len = 0; len < big.size(); len += 1 + big.size() / 200) {
      corpus.Add("tamper-truncated", "-", std::nullopt,
                 "truncated to " + std::to_string(len) + " of " + std::to_string(big.size()),
                 "invalid", big.substr(0, len));
    }
    for (size_t cut = 1; cut <= 16; ++cut) {
      corpus.Add("tamper-truncated", "-", std::nullopt,
                 "last " + std::to_string(cut) + " bytes of a small bundle cut", "invalid",
                 good.substr(0, good.size() - cut));
    }
  }
  // Records, certificates, headers, encodings (tests/unit/proof_tamper.h).
  const pb::ProofBundle other_b = ParseBundle(chain.BundleBytes(other.id()));
  corpus.AddTampers("tamper-records", six.id(), RecordTampers(six_good, other_b));
  corpus.AddTampers("tamper-certificate", six.id(), CertificateTampers(six_good));
  corpus.AddTampers("tamper-header", six.id(), HeaderTampers(six_good, six_old_b));
  corpus.AddTampers("tamper-encoding", "-", UnknownFieldTampers(six_good));
  corpus.AddTampers("tamper-encoding", "-", NonCanonicalTampers(EncodeBundle(six_good)));
  // A record re-signed by another authorised key (record ids bind authors).
  for (const char* signer : {"authlab", "maison", "alice"}) {
    pb::ProofBundle b = six_good;
    pb::RecordPayload attest;
    REQUIRE(attest.ParseFromString(b.history(2).payload()));
    *b.mutable_history(2) = Sign(signer, attest);
    corpus.Add("tamper-records", six.id(), std::nullopt,
               std::string("record 3 (an attest) re-signed by ") + signer, "invalid",
               EncodeBundle(b));
  }
  // Record heights that are not plausible.
  {
    auto heights = [&](const std::string& what, const std::function<void(pb::ProofBundle&)>& f) {
      pb::ProofBundle b = six_good;
      f(b);
      corpus.Add("tamper-heights", six.id(), std::nullopt, what, "invalid", EncodeBundle(b));
    };
    heights("record heights left out", [](pb::ProofBundle& b) { b.clear_history_heights(); });
    heights("record heights reversed", [](pb::ProofBundle& b) {
      std::reverse(b.mutable_history_heights()->begin(), b.mutable_history_heights()->end());
    });
    heights("one record height too many", [](pb::ProofBundle& b) {
      b.add_history_heights(b.history_heights(b.history_heights_size() - 1));
    });
    heights("the last record height above the header", [](pb::ProofBundle& b) {
      b.set_history_heights(b.history_heights_size() - 1, HeaderOf(b).height() + 1);
    });
    heights("the first record height 0", [](pb::ProofBundle& b) { b.set_history_heights(0, 0); });
    heights("a middle record height after the last", [](pb::ProofBundle& b) {
      b.set_history_heights(2, b.history_heights(b.history_heights_size() - 1) + 1);
    });
  }
  // Versions.
  for (uint32_t version : {0u, 1u, 2u, core::kProofBundleVersion + 1, 99u}) {
    pb::ProofBundle b = six_good;
    b.set_version(version);
    corpus.Add("tamper-version", six.id(), std::nullopt, "version " + std::to_string(version),
               "invalid", EncodeBundle(b));
  }
  // Labelled with the previous version (still accepted, docs/proofs.md), when there is one
  // besides 1 and 2: the verdict is whatever the two agree on.
  if (core::kProofBundleVersion > 3) {
    pb::ProofBundle b = six_good;
    b.set_version(core::kProofBundleVersion - 1);
    corpus.Add("old-version", six.id(), std::nullopt,
               "labelled version " + std::to_string(b.version()), "", EncodeBundle(b));
  }
  // Headers a dishonest quorum certified: dated in the future, beyond the skew allowance.
  const pb::ProofBundle small_b = ParseBundle(chain.BundleBytes(small_id));
  for (auto [ahead, what] :
       std::vector<std::pair<uint64_t, std::string>>{{10 * kMinute, "10 minutes ahead"},
                                                     {2 * kHour, "2 hours ahead"},
                                                     {10 * 366 * 24 * kHour, "10 years ahead"}}) {
    pb::BlockHeader h = HeaderOf(small_b);
    h.set_time_ms(now + ahead);
    corpus.Add("lie-future", small_id, std::nullopt, "a header dated " + what, "invalid",
               Recertified(small_b, h));
  }
  {
    pb::BlockHeader h = HeaderOf(small_b);
    h.set_time_ms(UINT64_MAX);
    corpus.Add("lie-future", small_id, std::nullopt, "a header dated 2^64-1 ms", "invalid",
               Recertified(small_b, h));
    h.set_time_ms(uint64_t{1} << 53);
    corpus.Add("lie-future", small_id, std::nullopt, "a header dated 2^53 ms", "invalid",
               Recertified(small_b, h));
    h.set_time_ms((uint64_t{1} << 53) + 1);
    corpus.Add("lie-future", small_id, std::nullopt, "a header dated 2^53+1 ms", "invalid",
               Recertified(small_b, h));
    // Within the allowance: fine.
    h.set_time_ms(now + 10'000);
    corpus.Add("clean", small_id, std::nullopt, "a header dated 10 s ahead (within the skew)",
               "clean", Recertified(small_b, h));
    // Dated long ago, but after the records' own times: valid, and stale under any max age.
    h.set_time_ms(kTestTimeMs + kHour);
    corpus.Add("old-header", small_id, std::nullopt, "a header dated in 2023, no max age", "clean",
               Recertified(small_b, h));
    corpus.Add("stale", small_id, 10 * kMinute, "a header dated in 2023 under 10 min", "stale",
               Recertified(small_b, h));
    // Dated 1970: before its own records (the replay's future-timestamp rule sees them).
    h.set_time_ms(0);
    corpus.Add("lie-header-time", small_id, std::nullopt, "a header dated 0 ms", "invalid",
               Recertified(small_b, h));
    corpus.Add("lie-header-time", small_id, 10 * kMinute, "a header dated 0 ms under 10 min",
               "invalid", Recertified(small_b, h));
  }
  // Hostile sizes and bytes that are no bundle at all.
  {
    pb::ProofBundle b = six_good;
    for (int i = 0; i < 500; ++i) *b.add_history() = b.history(0);
    corpus.Add("tamper-size", six.id(), std::nullopt, "500 extra copies of record 1", "invalid",
               EncodeBundle(b));
    std::string over = chain.BundleBytes(small_id);
    for (size_t i = 0; i < core::kMaxBundleRecords + core::kMaxWalkMessages + 300; ++i) {
      over += std::string("\x4a\x00", 2);
    }
    corpus.Add("tamper-size", "-", std::nullopt, "more empty records than any bundle may hold",
               "invalid", over);
    corpus.Add("tamper-size", "-", std::nullopt, "empty file", "invalid", "");
    corpus.Add("tamper-size", small_id, std::nullopt, "empty file, an id given", "invalid", "");
    corpus.Add("tamper-size", "-", std::nullopt, "one zero byte", "invalid", std::string(1, '\0'));
    corpus.Add("tamper-size", "-", std::nullopt, "'{}'", "invalid", "{}");
    std::mt19937_64 rng(7);
    for (size_t n : {1u, 2u, 17u, 300u, 4096u}) {
      std::string junk;
      for (size_t i = 0; i < n; ++i) junk += static_cast<char>(rng() & 0xff);
      if (junk[0] == '{') junk[0] = '\x01';
      corpus.Add("tamper-size", "-", std::nullopt, std::to_string(n) + " random bytes", "invalid",
                 junk);
    }
  }

  // ---- Other networks. ----
  {
    pb::Genesis g = TestGenesis();
    g.set_genesis_time_ms(g.genesis_time_ms() + 1);  // Same chain id, another genesis.
    ProvenChain foreign(g);
    StartAt(foreign, now - 5 * kMinute);
    LiveItem(foreign, small_id, 2);
    const std::string f = foreign.BundleBytes(small_id);
    corpus.Add("lie-other-network", small_id, std::nullopt,
               "another genesis with the same chain id and validators", "invalid", f);
    corpus.Add("lie-other-network", "-", std::nullopt, "another genesis: an absence proof",
               "invalid", foreign.BundleBytes(MaisonItem("NEVER-1")));
  }
  {
    pb::Genesis g = TestGenesis();
    g.set_chain_id("hallmark-other");
    ProvenChain foreign(g);
    StartAt(foreign, now - 5 * kMinute);
    foreign.Commit({});
    corpus.Add("lie-other-network", MaisonItem("NEVER-1"), std::nullopt,
               "another chain id: an absence proof", "invalid",
               foreign.BundleBytes(MaisonItem("NEVER-1")));
    pb::ProofBundle b = ParseBundle(foreign.BundleBytes(small_id));
    b.set_chain_id(network.chain_id());
    b.set_genesis_hash(std::string(network.hash().view()));
    corpus.Add("lie-other-network", "-", std::nullopt,
               "another chain id, the bundle's chain id and genesis hash rewritten", "invalid",
               EncodeBundle(b));
  }
  {
    pb::Genesis g = TestGenesis();
    // Four other validators (validator-4..7), certifying their own chain.
    for (int i = 0; i < g.validators_size(); ++i) {
      g.mutable_validators(i)->set_consensus_key(
          PubFor("validator-" + std::to_string(i + 4)).Hex());
    }
    ProvenChain foreign(g);
    foreign.SetSigners({4, 5, 6});
    StartAt(foreign, now - 5 * kMinute);
    foreign.Commit({});
    pb::ProofBundle b = ParseBundle(foreign.BundleBytes(MaisonItem("NEVER-1")));
    b.set_genesis_hash(std::string(network.hash().view()));
    corpus.Add("lie-other-network", "-", std::nullopt,
               "other validators, the genesis hash rewritten", "invalid", EncodeBundle(b));
  }

  // ---- A chain dated 6 hours ago: stale under a max age of minutes. ----
  {
    ProvenChain old(TestGenesis());
    StartAt(old, now - 6 * kHour);
    Life a(old, MaisonItem("BAG-0001"));
    a.Transfer("maison", KeyHolder("alice"));
    Life s(old, MaisonItem("F-STOLEN-KEY"));
    s.Transfer("maison", KeyHolder("alice")).Flag("alice", pb::STOLEN);
    old.Commit({});
    REQUIRE(old.time_ms() < now - 5 * kHour);
    for (const auto& [id, verdict] : std::vector<std::pair<std::string, std::string>>{
             {a.id(), "clean"}, {s.id(), "not_clean"}, {MaisonItem("NEVER-1"), "not_clean"}}) {
      const std::string bytes = old.BundleBytes(id);
      corpus.Add("stale", id, 10 * kMinute, "6 hours old under 10 min (" + verdict + ")", "stale",
                 bytes);
      corpus.Add("stale", "-", 5 * kHour, "6 hours old under 5 h (" + verdict + ", any item)",
                 "stale", bytes);
      corpus.Add("old-header", id, std::nullopt, "6 hours old, no max age", verdict, bytes);
      corpus.Add("old-header", id, 24 * kHour, "6 hours old under a day", verdict, bytes);
      corpus.Add("stale", id, kGenesisLimit, "6 hours old under the genesis' freshness limit",
                 "stale", bytes);
    }
  }
  // ---- A chain dated 2 hours ahead: refused by the freshness check. ----
  {
    ProvenChain ahead(TestGenesis());
    StartAt(ahead, now + 2 * kHour);
    LiveItem(ahead, small_id, 2);
    corpus.Add("lie-future", small_id, std::nullopt, "a chain dated 2 hours ahead", "invalid",
               ahead.BundleBytes(small_id));
    corpus.Add("lie-future", "-", 10 * kMinute, "a chain dated 2 hours ahead, under a max age",
               "invalid", ahead.BundleBytes(MaisonItem("NEVER-1")));
  }

  // ---- Governance walks (bundle version 4, certified network-state snapshots). ----
  // The browser follows validator sets through the snapshots version 4 carries (docs/proofs.md);
  // a version 3 walk has none, so these cases are written from version 4 on (or when asked).
  if (governance) AddGovernanceCases(corpus, now);

  // ---- Write. ----
  std::filesystem::create_directories(out);
  corpus.Write(out);
  const std::string genesis_pb = core::SerializeDeterministic(network.genesis());
  REQUIRE(core::Sha256Of(std::string_view(genesis_pb)) == network.hash());
  std::ofstream(out / "genesis.pb", std::ios::binary) << genesis_pb;
  auto json = core::ToJson(network.genesis());
  REQUIRE(json.ok());
  auto reloaded = core::Network::FromJson(*json);
  REQUIRE(reloaded.ok());
  REQUIRE(reloaded->hash() == network.hash());
  std::ofstream(out / "genesis.json", std::ios::binary) << *json;
  std::ofstream(out / "freshness_ms") << network.freshness_ms() << "\n";
  std::cout << "make_corpus: " << corpus.size() << " cases in " << out.string() << " (now " << now
            << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context;
  context.setAsDefaultForAssertsOutOfTestCases();
  context.setAssertHandler([](const doctest::AssertData& ad) {
    std::cerr << "make_corpus: " << ad.m_file << ":" << ad.m_line << ": " << ad.m_expr << " failed"
              << (ad.m_exception.size() ? ": " : "") << ad.m_exception.c_str() << "\n";
    std::exit(1);
  });
  std::filesystem::path out;
  std::optional<uint64_t> now;
  bool governance = core::kProofBundleVersion >= 4;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--now-ms" && i + 1 < argc) {
      now = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--governance") {
      governance = true;
    } else if (out.empty() && !arg.starts_with("-")) {
      out = arg;
    } else {
      out.clear();
      break;
    }
  }
  if (out.empty()) {
    std::cerr << "usage: make_corpus OUT_DIR [--now-ms MS] [--governance]\n";
    return 2;
  }
  return Run(out, now.value_or(core::UnixTimeMs()), governance);
}
