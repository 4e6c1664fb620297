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

// --- Organisation settings: resolver_domain and website ---

TEST_CASE("genesis: resolver_domain accepts lower-case DNS host names with a dot") {
  for (std::string_view ok : {"", "id.gs1.org", "resolver.maison-aurele.example", "a.b",
                              "xn--bcher-kva.example", "0.example", "a-b.c-d.e"}) {
    INFO(ok);
    CHECK(core::CheckResolverDomain(ok).ok());
  }
  // 63-byte labels and a 253-byte name are the limits; one more is refused.
  const std::string label63(63, 'a');
  CHECK(core::CheckResolverDomain(label63 + ".example").ok());
  CHECK(Contains(core::CheckResolverDomain(label63 + "a.example").message(), "longer than 63"));
  std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(name253.size() == 253);
  CHECK(core::CheckResolverDomain(name253).ok());
  CHECK(Contains(core::CheckResolverDomain(name253 + "b").message(), "at most 253"));
}

TEST_CASE("genesis: resolver_domain refusals say what is wrong") {
  auto why = [](std::string_view d) {
    core::Status st = core::CheckResolverDomain(d);
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == core::StatusCode::kInvalidInput);
    return st.message();
  };
  CHECK(Contains(why("https://id.example.com"), "without a scheme"));
  CHECK(Contains(why("id.example.com:8443"), "without a port"));
  CHECK(Contains(why("id.example.com/01"), "without a path"));
  CHECK(Contains(why("id.example.com?x"), "without a path"));
  CHECK(Contains(why("localhost"), "at least one dot"));
  CHECK(Contains(why("Id.Example.com"), "lower case"));
  CHECK(Contains(why("id_x.example.com"), "a-z, 0-9"));
  CHECK(Contains(why("id.example.com."), "empty label"));
  CHECK(Contains(why(".example.com"), "empty label"));
  CHECK(Contains(why("id..example.com"), "empty label"));
  CHECK(Contains(why("-id.example.com"), "starts or ends with '-'"));
  CHECK(Contains(why("id-.example.com"), "starts or ends with '-'"));
  CHECK(Contains(why("id.example.com "), "a-z, 0-9"));
  CHECK(Contains(why(std::string("id.exa\0mple.com", 15)), "a-z, 0-9"));
  CHECK(Contains(why("bücher.example"), "xn--"));
  // A hostile value is quoted without its control bytes.
  CHECK_FALSE(Contains(why("a.b\x1b[31m"), "\x1b"));
}

TEST_CASE("genesis: website must be an https URL with a host, and nothing that could mislead") {
  for (std::string_view ok :
       {"", "https://maison-aurele.example", "https://maison-aurele.example/",
        "https://www.example.com:8443/fr/sac?ref=qr#top", "https://EXAMPLE.com/%E2%9C%93"}) {
    INFO(ok);
    CHECK(core::CheckWebsite(ok).ok());
  }
  auto why = [](std::string_view url) {
    core::Status st = core::CheckWebsite(url);
    REQUIRE_FALSE(st.ok());
    return st.message();
  };
  CHECK(Contains(why("http://example.com"), "https://"));
  CHECK(Contains(why("HTTPS://example.com"), "https://"));
  CHECK(Contains(why("javascript:alert(1)"), "https://"));
  CHECK(Contains(why("example.com"), "https://"));
  CHECK(Contains(why("https://"), "no host"));
  CHECK(Contains(why("https:///path"), "no host"));
  CHECK(Contains(why("https://example.com/a b"), "space"));
  CHECK(Contains(why("https://example.com/\"onmouseover=\"x"), "quote"));
  CHECK(Contains(why("https://example.com/'x"), "quote"));
  CHECK(Contains(why("https://example.com/<script>"), "angle bracket"));
  CHECK(Contains(why("https://example.com/\\x"), "backslash"));
  CHECK(Contains(why("https://example.com/\x01"), "control"));
  CHECK(Contains(why("https://exämple.com"), "non-ASCII"));
  CHECK(Contains(why("https://brand.example@evil.example/"), "user info"));
  CHECK(Contains(why("https://example.com:0/"), "port"));
  CHECK(Contains(why("https://example.com:65536/"), "port"));
  CHECK(Contains(why("https://example.com:/"), "port"));
  CHECK(Contains(why("https://exa_mple.com/"), "letters, digits"));
  CHECK(Contains(why("https://example..com/"), "empty label"));
  const std::string base = "https://example.com/";
  CHECK(core::CheckWebsite(base + std::string(512 - base.size(), 'a')).ok());
  CHECK(Contains(why(base + std::string(513 - base.size(), 'a')), "at most 512"));
}

TEST_CASE(
    "genesis: organisation settings are kept, change the hash, and bad ones name the "
    "organisation") {
  auto plain = core::Network::FromProto(TestGenesis());
  REQUIRE(plain.ok());
  pb::Genesis g = TestGenesis();
  pb::Organization* maison = g.mutable_organizations(0);
  maison->set_resolver_domain("id.maison.example");
  maison->set_website("https://maison.example/");
  auto net = core::Network::FromProto(g);
  REQUIRE(net.ok());
  const pb::Organization* brand = net->BrandForPrefixRegion("061414100001");
  REQUIRE(brand != nullptr);
  CHECK(brand->resolver_domain() == "id.maison.example");
  CHECK(brand->website() == "https://maison.example/");
  CHECK(net->hash() != plain->hash());
  // Through JSON and back.
  auto json = core::ToJson(net->genesis());
  REQUIRE(json.ok());
  CHECK(Contains(*json, "\"resolver_domain\""));
  auto again = core::Network::FromJson(*json);
  REQUIRE(again.ok());
  CHECK(again->hash() == net->hash());

  maison->set_resolver_domain("https://id.maison.example");
  std::string msg = LoadError(g);
  CHECK(Contains(msg, "organization \"" + maison->id() + "\": resolver_domain"));
  CHECK(Contains(msg, "without a scheme"));
  maison->set_resolver_domain("");
  maison->set_website("http://maison.example");
  msg = LoadError(g);
  CHECK(Contains(msg, "organization \"" + maison->id() + "\": website"));
  CHECK(Contains(msg, "https://"));
}
