#include <doctest/doctest.h>

#include "core/genesis.h"
#include "fixtures.h"

using namespace hallmark;
using namespace hallmark::test;

namespace {
std::string LoadError(const pb::Genesis& g) {
  auto net = core::Network::FromProto(g);
  REQUIRE_FALSE(net.ok());
  MESSAGE(net.status().message());
  return net.status().message();
}
bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("genesis: the demo network's genesis.json loads") {
  auto net = core::Network::FromFile(std::string(HALLMARK_SOURCE_DIR) + "/genesis.json");
  INFO(net.status().ToString());
  REQUIRE(net.ok());
  CHECK(net->validators().size() >= 4);
  CHECK(!net->chain_id().empty());
}

TEST_CASE("genesis: the test genesis loads, indexes keys and prefixes, and fills defaults") {
  auto net = core::Network::FromProto(TestGenesis());
  REQUIRE(net.ok());
  CHECK(net->FindOrganization("resale") != nullptr);
  CHECK(net->FindOrganization("nobody") == nullptr);
  CHECK(net->OrganizationOfKey(PubFor("maison"))->id() == "maison");
  CHECK(net->OrganizationOfKey(PubFor("alice")) == nullptr);
  CHECK(net->BrandForPrefixRegion("061414100001")->id() == "maison");
  CHECK(net->BrandForPrefixRegion("950600013435")->id() == "maison");
  CHECK(net->BrandForPrefixRegion("123456700001")->id() == "atelier");
  CHECK(net->BrandForPrefixRegion("952123454321") == nullptr);
  CHECK(net->total_voting_power() == 4);
  CHECK(net->max_block_records() > 0);
}

TEST_CASE("genesis: JSON round trip gives the same hash, any change gives another") {
  auto a = core::Network::FromProto(TestGenesis());
  REQUIRE(a.ok());
  auto json = core::ToJson(a->genesis());
  REQUIRE(json.ok());
  auto b = core::Network::FromJson(*json);
  REQUIRE(b.ok());
  CHECK(a->hash() == b->hash());
  auto g = TestGenesis();
  g.set_chain_id("hallmark-test-2");
  CHECK(core::Network::FromProto(g)->hash() != a->hash());
}

TEST_CASE("genesis: rejected JSON names the problem") {
  CHECK_FALSE(core::Network::FromJson("{").ok());
  auto unknown_field = core::Network::FromJson(R"({"chain_id": "x", "colour": "red"})");
  REQUIRE_FALSE(unknown_field.ok());
  CHECK(Contains(unknown_field.status().message(), "colour"));
  auto unknown_role = core::Network::FromJson(
      R"({"chain_id": "x", "organizations": [{"id": "a", "roles": ["PIRATE"]}]})");
  REQUIRE_FALSE(unknown_role.ok());
  CHECK(Contains(unknown_role.status().message(), "PIRATE"));
}

TEST_CASE("genesis: rejects duplicate organisations") {
  auto g = TestGenesis();
  *g.add_organizations() = g.organizations(2);
  CHECK(Contains(LoadError(g), "listed twice"));
}

TEST_CASE(
    "genesis: rejects an organisation without roles, with an unspecified role, or a role twice") {
  auto g = TestGenesis();
  g.mutable_organizations(2)->clear_roles();
  CHECK(Contains(LoadError(g), "no roles"));
  g = TestGenesis();
  g.mutable_organizations(2)->add_roles(pb::ROLE_UNSPECIFIED);
  CHECK(Contains(LoadError(g), "unknown role"));
  g = TestGenesis();
  g.mutable_organizations(2)->add_roles(pb::MARKETPLACE);
  CHECK(Contains(LoadError(g), "twice"));
  g = TestGenesis();
  g.mutable_organizations(2)->add_roles(static_cast<pb::Role>(42));
  CHECK(Contains(LoadError(g), "unknown role"));
}

TEST_CASE("genesis: rejects malformed keys") {
  auto g = TestGenesis();
  g.mutable_organizations(0)->set_signing_keys(0, "abcd");
  CHECK(Contains(LoadError(g), "64 hex digits"));
  g = TestGenesis();
  g.mutable_organizations(0)->set_signing_keys(0, std::string(64, 'z'));
  CHECK(Contains(LoadError(g), "64 hex digits"));
  g = TestGenesis();
  // The identity point (y = 1) has small order.
  g.mutable_organizations(0)->set_signing_keys(0, "01" + std::string(62, '0'));
  CHECK(Contains(LoadError(g), "small-order"));
  g = TestGenesis();
  // y = p (non-canonical encoding of 0).
  g.mutable_organizations(0)->set_signing_keys(
      0, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
  CHECK(Contains(LoadError(g), "canonical"));
  g = TestGenesis();
  g.mutable_validators(0)->set_consensus_key("nothex");
  CHECK(Contains(LoadError(g), "validator 0"));
}

TEST_CASE("genesis: rejects a signing key used by two organisations") {
  auto g = TestGenesis();
  g.mutable_organizations(1)->add_signing_keys(g.organizations(0).signing_keys(0));
  CHECK(Contains(LoadError(g), "already used"));
}

TEST_CASE("genesis: rejects overlapping, duplicate and malformed brand prefixes") {
  auto g = TestGenesis();
  g.mutable_organizations(1)->add_gs1_company_prefixes("06141410");  // Under maison's 0614141.
  std::string msg = LoadError(g);
  CHECK(Contains(msg, "overlap"));
  CHECK(Contains(msg, "maison"));
  CHECK(Contains(msg, "atelier"));
  g = TestGenesis();
  g.mutable_organizations(1)->add_gs1_company_prefixes("0614141");
  CHECK(Contains(LoadError(g), "listed twice"));
  g = TestGenesis();
  g.mutable_organizations(1)->add_gs1_company_prefixes("12345");
  CHECK(Contains(LoadError(g), "6 to 12 digits"));
  g = TestGenesis();
  g.mutable_organizations(1)->add_gs1_company_prefixes("12345a7");
  CHECK(Contains(LoadError(g), "6 to 12 digits"));
  g = TestGenesis();
  g.mutable_organizations(2)->add_gs1_company_prefixes("7777777");
  CHECK(Contains(LoadError(g), "not a BRAND"));
  g = TestGenesis();
  g.mutable_organizations(1)->clear_gs1_company_prefixes();
  CHECK(Contains(LoadError(g), "no gs1_company_prefixes"));
}

TEST_CASE("genesis: rejects bad validators") {
  auto g = TestGenesis();
  g.clear_validators();
  CHECK(Contains(LoadError(g), "no validators"));
  g = TestGenesis();
  g.mutable_validators(1)->set_consensus_key(g.validators(0).consensus_key());
  CHECK(Contains(LoadError(g), "another validator"));
  g = TestGenesis();
  g.mutable_validators(1)->set_voting_power(0);
  CHECK(Contains(LoadError(g), "voting_power"));
  g = TestGenesis();
  g.mutable_validators(1)->set_organization("ghost");
  CHECK(Contains(LoadError(g), "unknown organization"));
  g = TestGenesis();
  g.mutable_validators(0)->set_voting_power(uint64_t{1} << 59);
  g.mutable_validators(1)->set_voting_power(uint64_t{1} << 59);
  g.mutable_validators(2)->set_voting_power(uint64_t{1} << 59);
  CHECK(Contains(LoadError(g), "voting power"));
}

TEST_CASE("genesis: rejects bad chain and organisation ids and oversized limits") {
  auto g = TestGenesis();
  g.set_chain_id("");
  CHECK(Contains(LoadError(g), "chain_id"));
  g = TestGenesis();
  g.set_chain_id("Has Spaces");
  CHECK(Contains(LoadError(g), "chain_id"));
  g = TestGenesis();
  g.mutable_organizations(2)->set_id("UPPER");
  CHECK(Contains(LoadError(g), "a-z"));
  g = TestGenesis();
  g.mutable_consensus()->set_max_block_records(1'000'000);
  CHECK(Contains(LoadError(g), "max_block_records"));
}
