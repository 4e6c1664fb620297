// `hallmark verify` in-process, offline (--proof): the verdicts and exit codes a consumer sees.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "core/codec.h"
#include "proof_fixture.h"
#include "proto/cli.pb.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::test {
namespace {

constexpr const char* kItem2ForVerify = "01/00614141000012/21/BAG-0002";

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

class VerifyFixture {
 public:
  VerifyFixture() {
    genesis_ = files_.path() / "genesis.json";
    std::ofstream(genesis_) << core::ToJson(TestGenesis()).value();
  }
  std::filesystem::path Save(const std::string& name, const std::string& bytes) {
    auto p = files_.path() / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  Run Verify(const std::filesystem::path& proof, std::string item = "", bool json = false,
             std::optional<uint64_t> max_age_ms = std::nullopt) {
    wallet::VerifyOptions o;
    o.item = std::move(item);
    o.any_item = o.item.empty();
    o.genesis_path = genesis_;
    o.proof_path = proof;
    o.json = json;
    o.max_age_ms = max_age_ms;
    o.now_ms = chain.time_ms() + 60'000;  // The header is a minute old.
    std::ostringstream out, err;
    Run r;
    r.code = wallet::RunVerify(o, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  ProvenChain chain;
  std::filesystem::path genesis_;

 private:
  TempDir files_;
};

}  // namespace

TEST_CASE("verify: a clean item exits 0 and shows its custody") {
  VerifyFixture f;
  LiveItem(f.chain, kMaisonItem, 4);
  auto proof = f.Save("bag.proof", f.chain.BundleBytes(kMaisonItem));
  Run r = f.Verify(proof, kMaisonItem);
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(r.out.starts_with("GENUINE"));
  CHECK(r.out.find("brand         maison") != std::string::npos);
  CHECK(r.out.find("1 min old") != std::string::npos);
  CHECK(r.out.find("3 of 4 validators") != std::string::npos);
  CHECK(r.out.find("attest    resale") != std::string::npos);
  CHECK(r.err.empty());

  Run j = f.Verify(proof, "", true);
  CHECK(j.code == 0);
  pb::VerifyOutput v;
  REQUIRE(core::FromJson(j.out, &v, "output").ok());
  CHECK(v.verdict() == "clean");
  CHECK(v.steps_size() == 4);
  CHECK(v.steps(0).type() == "register");
  CHECK(v.steps(0).author() == "maison");
  CHECK(v.steps(3).details().find("→ key ") != std::string::npos);
  CHECK(v.age_ms() == 60'000);
  CHECK(!v.stale());
}

TEST_CASE("verify: a flagged item and an unknown item exit 1 and say why") {
  VerifyFixture f;
  auto recs = LiveItem(f.chain, kMaisonItem, 4);
  pb::RecordPayload flag = Payload(kMaisonItem, Id(recs.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  flag.mutable_flag()->set_note("taken from a car");
  f.chain.CommitOne("alice", flag);
  Run r = f.Verify(f.Save("stolen.proof", f.chain.BundleBytes(kMaisonItem)));
  CHECK(r.code == 1);
  CHECK(r.out.starts_with("NOT CLEAN"));
  CHECK(r.out.find("flagged stolen") != std::string::npos);
  CHECK(r.out.find("taken from a car") != std::string::npos);

  Run u =
      f.Verify(f.Save("none.proof", f.chain.BundleBytes("01/00614141000012/21/UNKNOWN")), "", true);
  CHECK(u.code == 1);
  pb::VerifyOutput v;
  REQUIRE(core::FromJson(u.out, &v, "output").ok());
  CHECK(v.verdict() == "not_clean");
  REQUIRE(v.not_clean_size() == 1);
  CHECK(v.not_clean(0) == "never registered");
}

TEST_CASE("verify: a tampered, truncated or foreign bundle exits 2 naming the check") {
  VerifyFixture f;
  LiveItem(f.chain, kMaisonItem, 3);
  const std::string good = f.chain.BundleBytes(kMaisonItem);
  std::string bad = good;
  bad[bad.size() - 10] = static_cast<char>(bad[bad.size() - 10] ^ 0x04);
  Run r = f.Verify(f.Save("bad.proof", bad));
  CHECK(r.code == 2);
  CHECK(r.out.starts_with("PROOF DOES NOT CHECK OUT"));
  CHECK(r.out.find("failed check") != std::string::npos);

  Run t = f.Verify(f.Save("short.proof", good.substr(0, good.size() / 2)), "", true);
  CHECK(t.code == 2);
  pb::VerifyOutput v;
  REQUIRE(core::FromJson(t.out, &v, "output").ok());
  CHECK(v.verdict() == "invalid");
  CHECK(v.failed_check() == "format");

  // A bundle for another item than the one asked about.
  Run w = f.Verify(f.Save("good.proof", good), "01/00614141000012/21/OTHER");
  CHECK(w.code == 2);
  CHECK(w.out.find("not 01/00614141000012/21/OTHER") != std::string::npos);

  // A JSON file that is not a bundle.
  CHECK(f.Verify(f.Save("x.json", "{\"nope\": 1}")).code == 2);
}

TEST_CASE("verify: a saved JSON bundle checks out like the binary one") {
  VerifyFixture f;
  LiveItem(f.chain, kMaisonItem, 2);
  pb::ProofBundle b;
  REQUIRE(b.ParseFromString(f.chain.BundleBytes(kMaisonItem)));
  Run r = f.Verify(f.Save("bag.json", core::ToJson(b).value()));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
}

TEST_CASE("verify: offline, --max-age is a hard limit: a stale proof exits 4, never 0") {
  // Finding 1: a bundle saved while the bag was clean, shown after it was flagged stolen.
  VerifyFixture f;
  auto recs = LiveItem(f.chain, kMaisonItem, 2);
  auto proof = f.Save("bag.proof", f.chain.BundleBytes(kMaisonItem));
  pb::RecordPayload flag = Payload(kMaisonItem, Id(recs.back()));
  flag.mutable_flag()->set_kind(pb::STOLEN);
  f.chain.CommitOne("resale", flag);

  Run r = f.Verify(proof, kMaisonItem, false, 30'000);
  INFO(r.out << r.err);
  CHECK(r.code == 4);
  CHECK(r.out.starts_with("TOO OLD TO TRUST as of "));
  CHECK(r.out.find("(1 min 1 s ago): item " + std::string(kMaisonItem)) != std::string::npos);
  CHECK(r.out.find("older than the limit of 30 s") != std::string::npos);
  CHECK(r.out.find("GENUINE") == std::string::npos);
  CHECK(r.out.find("STALE") != std::string::npos);

  Run j = f.Verify(proof, kMaisonItem, true, 30'000);
  CHECK(j.code == 4);
  pb::VerifyOutput v;
  REQUIRE(core::FromJson(j.out, &v, "output").ok());
  CHECK(v.verdict() == "stale");
  CHECK(v.stale());
  CHECK(v.max_age_ms() == 30'000);
  CHECK(v.age_ms() == 61'000);

  // Within the limit, or offline without one: the verdict as of its date.
  Run ok = f.Verify(proof, kMaisonItem, false, 120'000);
  CHECK(ok.code == 0);
  CHECK(ok.out.starts_with("GENUINE as of "));
  CHECK(f.Verify(proof, kMaisonItem).code == 0);
}

TEST_CASE("verify: offline, the id from the tag is required, --any-item names the item first") {
  // Finding 3: a seller hands over another clean item's bundle.
  VerifyFixture f;
  LiveItem(f.chain, kMaisonItem, 2);
  auto proof = f.Save("bag.proof", f.chain.BundleBytes(kMaisonItem));
  wallet::VerifyOptions o;
  o.genesis_path = f.genesis_;
  o.proof_path = proof;
  std::ostringstream out, err;
  CHECK(wallet::RunVerify(o, out, err) == 3);
  CHECK(err.str().find("give the id of the item in front of you") != std::string::npos);
  // The bundle's own id is not shown, so it cannot be copied into the command unthinkingly.
  CHECK(err.str().find("BAG-0001") == std::string::npos);
  CHECK(out.str().empty());

  // Another item on the tag: exit 2.
  CHECK(f.Verify(proof, "01/00614141000012/21/ANOTHER-BAG").code == 2);
  // --any-item: the first line names the item, and the reader is told to compare.
  Run any = f.Verify(proof);
  CHECK(any.code == 0);
  const std::string first_line = any.out.substr(0, any.out.find('\n'));
  CHECK(first_line.find(kMaisonItem) != std::string::npos);
  CHECK(any.out.find("Compare this item id with the tag") != std::string::npos);
  Run named = f.Verify(proof, kMaisonItem);
  CHECK(named.out.find("Compare this item id") == std::string::npos);
  // JSON says whether the item was checked against the user's id.
  pb::VerifyOutput v;
  REQUIRE(core::FromJson(f.Verify(proof, "", true).out, &v, "output").ok());
  CHECK_FALSE(v.item_checked());
  REQUIRE(core::FromJson(f.Verify(proof, kMaisonItem, true).out, &v, "output").ok());
  CHECK(v.item_checked());
}

TEST_CASE("verify: a header dated ahead of this clock beyond the allowance exits 2") {
  VerifyFixture f;
  LiveItem(f.chain, kMaisonItem, 1);
  f.chain.SkipTime(10 * 60'000);  // A proposer ten minutes ahead.
  LiveItem(f.chain, kItem2ForVerify, 1);
  wallet::VerifyOptions o;
  o.genesis_path = f.genesis_;
  o.proof_path = f.Save("future.proof", f.chain.BundleBytes(kMaisonItem));
  o.item = kMaisonItem;
  o.now_ms = f.chain.time_ms() - 9 * 60'000;
  std::ostringstream out, err;
  CHECK(wallet::RunVerify(o, out, err) == 2);
  CHECK(out.str().find("failed check  freshness") != std::string::npos);
  CHECK(out.str().find("ahead of this computer's clock") != std::string::npos);
}

TEST_CASE("verify: usage and file errors exit 3 and verify nothing") {
  VerifyFixture f;
  wallet::VerifyOptions o;
  std::ostringstream out, err;
  CHECK(wallet::RunVerify(o, out, err) == 3);  // No genesis.
  o.genesis_path = f.genesis_;
  CHECK(wallet::RunVerify(o, out, err) == 3);  // Neither an id nor --proof.
  o.proof_path = "/nonexistent/bag.proof";
  CHECK(wallet::RunVerify(o, out, err) == 3);
  o.proof_path.clear();
  o.item = "01/00614141000013/21/X";  // Bad check digit.
  CHECK(wallet::RunVerify(o, out, err) == 3);
  o.item = kMaisonItem;
  o.node_urls = {"http://127.0.0.1:1"};  // Nothing listens there.
  o.timeout_ms = 2000;
  CHECK(wallet::RunVerify(o, out, err) == 3);
  o.genesis_path = "/nonexistent/genesis.json";
  CHECK(wallet::RunVerify(o, out, err) == 3);
}

TEST_CASE("verify: durations") {
  CHECK(wallet::ParseDuration("90s").value() == 90'000);
  CHECK(wallet::ParseDuration("10m").value() == 600'000);
  CHECK(wallet::ParseDuration("1h30m").value() == 5'400'000);
  CHECK(wallet::ParseDuration("7d").value() == 604'800'000);
  CHECK(wallet::ParseDuration("250ms").value() == 250);
  // Sums that would wrap around to a small number (or 0, "no limit") are refused.
  CHECK_FALSE(wallet::ParseDuration("999999999d999999999d999999999d").ok());
  CHECK_FALSE(wallet::ParseDuration("4000d").ok());
  CHECK(wallet::ParseDuration("3650d").ok());
  for (const char* bad : {"", "10", "m", "10x", "-5s", "1.5h", "99999999999999h"}) {
    INFO(bad);
    CHECK(!wallet::ParseDuration(bad).ok());
  }
  CHECK(wallet::FormatAge(500) == "500 ms");
  CHECK(wallet::FormatAge(61'000) == "1 min 1 s");
  CHECK(wallet::FormatAge(3'600'000) == "1 h");
  CHECK(wallet::FormatAge(90'061'000) == "1 d 1 h");
}

}  // namespace hallmark::test
