#include <doctest/doctest.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/sha256.h"
#include "core/item_id.h"
#include "core/status.h"

using namespace hallmark::core;

namespace {

// The message of a rejected input, or "<accepted: ...>" so that a wrong acceptance shows in the
// failed CHECK.
std::string ErrorOf(std::string_view input) {
  auto r = ParseItemId(input);
  if (r.ok()) return "<accepted: " + r->Canonical() + ">";
  CHECK(r.status().code() == StatusCode::kInvalidInput);
  return r.status().message();
}

std::string CanonicalOf(std::string_view input) {
  auto r = ParseItemId(input);
  if (!r.ok()) return "<rejected: " + r.status().message() + ">";
  return r->Canonical();
}

ItemId Item(std::string gtin14, std::string serial) {
  return ItemId{std::move(gtin14), std::move(serial)};
}

constexpr std::string_view kGtin = "09506000134352";

}  // namespace

// ---- Check digits -------------------------------------------------------------------------------

TEST_CASE("check digit: every valid vector from the spec passes") {
  // GS1 syntax dictionary lint_csum.c tests plus computed GTINs, as listed in
  // identifiers-and-epcis.md.
  for (std::string_view v :
       {"02345673", "416000336108", "1234567890128", "12345678901231", "123456789012345675",
        "09506000134352", "70614141123451", "80614141123458", "10614141073464", "09521234543213"}) {
    INFO(v);
    CHECK(HasValidCheckDigit(v));
    CHECK(Gs1CheckDigit(v.substr(0, v.size() - 1)) == v.back() - '0');
  }
}

TEST_CASE("check digit: every invalid vector from the spec fails") {
  for (std::string_view v : {"12345673", "416000336109", "1234567890129", "12345678901232",
                             "123456789012345670", "09506000134353"}) {
    INFO(v);
    CHECK_FALSE(HasValidCheckDigit(v));
  }
}

TEST_CASE("check digit: lengths GS1 does not define and non-digits are never valid") {
  CHECK_FALSE(HasValidCheckDigit(""));
  CHECK_FALSE(HasValidCheckDigit("0"));
  CHECK_FALSE(HasValidCheckDigit("0950600013435"));     // 13 digits, but the check digit is wrong.
  CHECK_FALSE(HasValidCheckDigit("12345678901"));       // 11 digits.
  CHECK_FALSE(HasValidCheckDigit("0000000000000000"));  // 16 digits.
  CHECK_FALSE(HasValidCheckDigit("0950600013435a"));
  CHECK(Gs1CheckDigit("") == 0);
  CHECK(Gs1CheckDigit("0950600013435") == 2);
}

// ---- Forms of the same item ---------------------------------------------------------------------

TEST_CASE("item id: every form in the spec names the same canonical item") {
  const std::string want = "01/09506000134352/21/ABC123";
  for (std::string_view in : {
           "https://id.gs1.org/01/09506000134352/21/ABC123",
           "http://id.gs1.org/01/09506000134352/21/ABC123",
           "HTTPS://brand.example.com:8443/01/09506000134352/21/ABC123",
           "https://brand.example.com/01/09506000134352/21/ABC123?linkType=gs1:pip&17=261231",
           "https://brand.example.com/01/09506000134352/21/ABC123#top",
           "https://brand.example.com/dl/v1/01/09506000134352/21/ABC123",
           "/01/09506000134352/21/ABC123",
           "01/09506000134352/21/ABC123",
           "(01)09506000134352(21)ABC123",
           "(21)ABC123(01)09506000134352",
       }) {
    INFO(in);
    CHECK(CanonicalOf(in) == want);
  }
}

TEST_CASE("item id: lot and consumer product variant may sit between GTIN and serial") {
  const std::string want = "01/09506000134352/21/ABC123";
  for (std::string_view in : {
           "https://id.gs1.org/01/09506000134352/10/LOT-7/21/ABC123",
           "https://id.gs1.org/01/09506000134352/22/V2/10/LOT-7/21/ABC123",
           "https://id.gs1.org/01/09506000134352/22/V2/21/ABC123",
           "/01/09506000134352/10/LOT%2F7/21/ABC123",
           "01/09506000134352/10/LOT-7/21/ABC123",
           "(01)09506000134352(10)LOT-7(21)ABC123",
           "(01)09506000134352(22)V2(10)LOT-7(21)ABC123",
       }) {
    INFO(in);
    CHECK(CanonicalOf(in) == want);
  }
}

TEST_CASE("item id: short aliases gtin, cpv, lot and ser are read like 01, 22, 10 and 21") {
  const std::string want = "01/09506000134352/21/ABC123";
  for (std::string_view in : {
           "https://id.gs1.org/gtin/09506000134352/ser/ABC123",
           "https://id.gs1.org/gtin/09506000134352/cpv/V2/lot/L1/ser/ABC123",
           "/gtin/09506000134352/21/ABC123",
           "gtin/09506000134352/ser/ABC123",
           "01/09506000134352/lot/L1/21/ABC123",
       }) {
    INFO(in);
    CHECK(CanonicalOf(in) == want);
  }
}

TEST_CASE("item id: the two EPC URI examples match their element strings") {
  CHECK(CanonicalOf("urn:epc:id:sgtin:0614141.812345.12345") == "01/80614141123458/21/12345");
  CHECK(CanonicalOf("(01)80614141123458(21)12345") == "01/80614141123458/21/12345");
  CHECK(*ParseItemId("urn:epc:id:sgtin:0614141.812345.12345") ==
        *ParseItemId("(01)80614141123458(21)12345"));
  CHECK(*ParseItemId("urn:epc:id:sgtin:0614141.107346.2017") == Item("10614141073464", "2017"));
}

TEST_CASE("item id: EPC URI accepts every company prefix length from 6 to 12") {
  // GTIN 80614141123458 split at each possible company prefix length.
  CHECK(CanonicalOf("urn:epc:id:sgtin:061414.8112345.S") == "01/80614141123458/21/S");
  CHECK(CanonicalOf("urn:epc:id:sgtin:061414112345.8.S") == "01/80614141123458/21/S");
  CHECK(CanonicalOf("URN:EPC:ID:SGTIN:0614141.812345.S") == "01/80614141123458/21/S");
}

TEST_CASE("item id: EPC URI serial is %-decoded and may contain dots") {
  CHECK(*ParseItemId("urn:epc:id:sgtin:0614141.812345.A%2FB%25") == Item("80614141123458", "A/B%"));
  CHECK(*ParseItemId("urn:epc:id:sgtin:0614141.812345.1.2.3") == Item("80614141123458", "1.2.3"));
}

TEST_CASE("item id: GTIN-8 is left-padded to 14 digits") {
  CHECK(ParseItemId("https://id.gs1.org/01/02345673/21/X")->gtin14 == "00000002345673");
}

TEST_CASE("item id: GTIN-12 is left-padded to 14 digits") {
  CHECK(ParseItemId("/01/416000336108/21/X")->gtin14 == "00416000336108");
}

TEST_CASE("item id: GTIN-13 is left-padded to 14 digits") {
  CHECK(ParseItemId("01/1234567890128/21/X")->gtin14 == "01234567890128");
  CHECK(CanonicalOf("https://id.gs1.org/01/9506000134352/21/ABC123") ==
        "01/09506000134352/21/ABC123");
}

// ---- Output forms -------------------------------------------------------------------------------

TEST_CASE("item id: canonical, Digital Link and element string forms print as specified") {
  const ItemId id = Item("09506000134352", "ABC123");
  CHECK(id.Canonical() == "01/09506000134352/21/ABC123");
  CHECK(id.DigitalLinkUrl() == "https://id.gs1.org/01/09506000134352/21/ABC123");
  CHECK(id.DigitalLinkUrl("https://brand.example/") ==
        "https://brand.example/01/09506000134352/21/ABC123");
  CHECK(id.DigitalLinkUrl("") == "/01/09506000134352/21/ABC123");
  CHECK(id.ElementString() == "(01)09506000134352(21)ABC123");
}

TEST_CASE("item id: key is the SHA-256 of the canonical form") {
  const ItemId id = Item("09506000134352", "ABC123");
  CHECK(id.Key() == Sha256Of(std::string_view("01/09506000134352/21/ABC123")));
  CHECK(id.Key() != Item("09506000134352", "ABC124").Key());
  CHECK(ParseItemId("urn:epc:id:sgtin:0614141.812345.12345")->Key() ==
        ParseItemId("https://x.example/01/80614141123458/21/12345")->Key());
}

TEST_CASE("item id: company prefix region is GTIN-14 digits 2 to 13") {
  const ItemId id = Item("09506000134352", "ABC123");
  CHECK(CompanyPrefixRegion(id) == "950600013435");
  CHECK(CompanyPrefixRegion(std::string_view("80614141123458")) == "061414112345");
}

// ---- Percent-encoding ---------------------------------------------------------------------------

TEST_CASE("item id: Digital Link URL percent-encodes the characters GS1 lists") {
  CHECK(Item(std::string(kGtin), "A/B%C!").DigitalLinkUrl() ==
        "https://id.gs1.org/01/09506000134352/21/A%2FB%25C%21");
  CHECK(Item(std::string(kGtin), "!%&+,/*()';:<=>?\"").DigitalLinkUrl("") ==
        "/01/09506000134352/21/%21%25%26%2B%2C%2F%2A%28%29%27%3B%3A%3C%3D%3E%3F%22");
  // Set 82's other characters are RFC 3986 unreserved and stay as they are.
  CHECK(Item(std::string(kGtin), "aZ09-._").DigitalLinkUrl("") == "/01/09506000134352/21/aZ09-._");
}

TEST_CASE("item id: every printed form reads back to the same id, whatever the serial holds") {
  for (std::string_view serial :
       {"A/B", "100%", "!x", "a(b)c", "(", "&+,*'();:<=>?", "\"quoted\"", "%2F", "A%41", "x?y=1",
        "....................", "-_.", "01", "21/X"}) {
    INFO(serial);
    const ItemId id = Item(std::string(kGtin), std::string(serial));
    REQUIRE(ValidateItemId(id).ok());
    for (const std::string& form :
         {id.Canonical(), id.DigitalLinkUrl(), id.DigitalLinkUrl("http://localhost:8080/resolver"),
          id.DigitalLinkUrl(""), id.ElementString()}) {
      INFO(form);
      auto back = ParseItemId(form);
      REQUIRE_MESSAGE(back.ok(), back.status().message());
      CHECK(*back == id);
    }
    auto canonical = ParseCanonicalItemId(id.Canonical());
    REQUIRE(canonical.ok());
    CHECK(*canonical == id);
  }
}

TEST_CASE("item id: URL serial is percent-decoded before it is checked") {
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/A%2fB")->serial == "A/B");
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/%41%42")->serial == "AB");
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/A%23") ==
        "serial contains '#', which GS1 does not allow");
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/A%20B") ==
        "serial contains ' ', which GS1 does not allow");
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/%C3%A9") ==
        "serial contains non-ASCII byte 0xC3, which GS1 does not allow");
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/A%00") ==
        "serial contains control character 0x00, which GS1 does not allow");
}

TEST_CASE("item id: set-82 characters written raw in a URL are read as themselves") {
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/a!b(c)*'")->serial == "a!b(c)*'");
}

TEST_CASE(
    "item id: a '%' that starts no escape is itself in a Digital Link, an error in an EPC URI") {
  // GS1's syntax engine (dl.c, URIunescape) keeps such a '%' as written; '%' is in set 82.
  CHECK(ParseItemId("/01/09506000134352/21/A%2G")->serial == "A%2G");
  CHECK(ParseItemId("/01/09506000134352/21/A%")->serial == "A%");
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/A%4gB")->serial == "A%4gB");
  CHECK(ParseItemId("/01/09506000134352/10/L%Z/21/A")->serial == "A");
  // The EPC Tag Data Standard writes every '%' of a serial as %25.
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345.A%4") ==
        "bad percent-encoding in serial: '%' must be followed by two hex digits, found '%4'");
}

TEST_CASE("item id: text of canonical shape is read as canonical, a leading '/' as Digital Link") {
  // Without a leading '/', "A%2F" is the serial as written: the canonical reading wins so that
  // every canonical id reads back unchanged.
  CHECK(ParseItemId("01/09506000134352/21/A%2F")->serial == "A%2F");
  CHECK(ParseItemId("/01/09506000134352/21/A%2F")->serial == "A/");
  CHECK(ParseItemId("01/09506000134352/21/A/B")->serial == "A/B");
  // When the canonical reading is invalid the Digital Link reading is tried.
  CHECK(ErrorOf("01/09506000134352/21/A#frag") == "serial contains '#', which GS1 does not allow");
  CHECK(ParseItemId("01/09506000134352/21/A%23")->serial == "A%23");
}

// ---- Serial rules -------------------------------------------------------------------------------

TEST_CASE("item id: each character GS1 set 82 leaves out is rejected in a serial") {
  for (char c : std::string_view(" #$@[\\]^`{|}~")) {
    const std::string ch(1, c);
    const std::string want = "serial contains '" + ch + "', which GS1 does not allow";
    INFO(ch);
    // Raw in an element string (space is checked in the middle: a trailing one is refused first).
    CHECK(ErrorOf("(01)09506000134352(21)A" + ch + "B") == want);
    // Percent-encoded in a URL.
    const ItemId id = Item(std::string(kGtin), "A" + ch);
    CHECK(ErrorOf(id.DigitalLinkUrl()) == want);
    // In an EPC URI, escaped.
    CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345.A" + id.DigitalLinkUrl("").substr(23)) == want);
    CHECK_FALSE(ValidateItemId(id).ok());
  }
}

TEST_CASE("item id: every character of GS1 set 82 is accepted in a serial") {
  const std::string set82 =
      "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  CHECK(set82.size() == 82);
  for (size_t i = 0; i < set82.size(); i += 20) {
    const ItemId id = Item(std::string(kGtin), set82.substr(i, 20));
    INFO(id.serial);
    CHECK(ValidateItemId(id).ok());
    auto back = ParseItemId(id.DigitalLinkUrl());
    REQUIRE(back.ok());
    CHECK(*back == id);
  }
}

TEST_CASE("item id: a 20-character serial is accepted and a 21-character one is rejected") {
  const std::string s20(20, 'S');
  CHECK(ParseItemId("(01)09506000134352(21)" + s20)->serial == s20);
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/" + s20)->serial == s20);
  CHECK(ErrorOf("(01)09506000134352(21)" + s20 + "S") ==
        "serial is 21 characters; GS1 allows at most 20");
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/" + s20 + "S") ==
        "serial is 21 characters; GS1 allows at most 20");
  // The limit counts decoded characters: twenty '/' are sixty characters as written.
  std::string encoded;
  for (int i = 0; i < 20; ++i) encoded += "%2F";
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/" + encoded)->serial ==
        std::string(20, '/'));
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/" + encoded + "%2F") ==
        "serial is 21 characters; GS1 allows at most 20");
}

TEST_CASE("item id: an empty serial is rejected") {
  CHECK(ErrorOf("(01)09506000134352(21)") == "serial is empty; GS1 allows 1 to 20 characters");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345.") ==
        "serial is empty; GS1 allows 1 to 20 characters");
  CHECK(ErrorOf("/01/09506000134352/21/") == "Digital Link path has /21/ with no value after it");
  CHECK(ErrorOf("/01/09506000134352/21") == "Digital Link path has /21/ with no value after it");
  CHECK(ErrorOf("01/09506000134352/21/") == "Digital Link path has /21/ with no value after it");
  CHECK(ValidateItemId(Item(std::string(kGtin), "")).message() ==
        "serial is empty; GS1 allows 1 to 20 characters");
}

TEST_CASE("item id: lot and variant values follow the same rules as a serial") {
  CHECK(ErrorOf("/01/09506000134352/10/" + std::string(21, 'L') + "/21/S") ==
        "lot is 21 characters; GS1 allows at most 20");
  CHECK(ErrorOf("/01/09506000134352/22/V%7E/21/S") ==
        "consumer product variant contains '~', which GS1 does not allow");
  CHECK(ErrorOf("(01)09506000134352(10)L#1(21)S") == "lot contains '#', which GS1 does not allow");
  CHECK(ErrorOf("(01)09506000134352(10)(21)S") == "lot is empty; GS1 allows 1 to 20 characters");
}

// ---- GTIN errors --------------------------------------------------------------------------------

TEST_CASE("item id: a wrong GTIN check digit says which digit it should be") {
  const std::string want = "GTIN check digit should be 2, found 3";
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134353/21/ABC123") == want);
  CHECK(ErrorOf("01/09506000134353/21/ABC123") == want);
  CHECK(ErrorOf("(01)09506000134353(21)ABC123") == want);
  CHECK(ErrorOf("https://id.gs1.org/01/9506000134353/21/ABC123") == want);
  CHECK(ValidateItemId(Item("09506000134353", "ABC123")).message() == want);
}

TEST_CASE("item id: a GTIN of a length GS1 does not define is rejected with its length") {
  CHECK(ErrorOf("(01)12345678901(21)X") == "GTIN must be 8, 12, 13 or 14 digits, found 11");
  CHECK(ErrorOf("/01/123456789012345/21/X") == "GTIN must be 8, 12, 13 or 14 digits, found 15");
  CHECK(ErrorOf("(01)(21)X") == "GTIN must be 8, 12, 13 or 14 digits, found 0");
  CHECK(ErrorOf("/01/0950600013435X/21/X") == "GTIN must contain only digits, found 'X'");
}

TEST_CASE("item id: a GTIN alone is refused as naming a product, not an item") {
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352") ==
        "a GTIN alone names a product, not an item: add /21/<serial>");
  CHECK(ErrorOf("/01/09506000134352/10/LOT1") ==
        "a GTIN alone names a product, not an item: add /21/<serial>");
  CHECK(ErrorOf("01/09506000134352") ==
        "a GTIN alone names a product, not an item: add /21/<serial>");
  CHECK(ErrorOf("(01)09506000134352") ==
        "a GTIN alone names a product, not an item: add (21)<serial>");
  CHECK(ErrorOf("(01)09506000134352(17)261231") ==
        "a GTIN alone names a product, not an item: add (21)<serial>");
  CHECK(ErrorOf("09506000134352") ==
        "a GTIN alone names a product, not an item: add a serial, as in 01/<GTIN>/21/<serial>");
}

// ---- Structure errors ---------------------------------------------------------------------------

TEST_CASE("item id: text in no known form is rejected with the forms that are accepted") {
  const std::string want =
      "unrecognised item id: expected a GS1 Digital Link URL or path, an element string like "
      "(01)…(21)…, or an urn:epc:id:sgtin: URI";
  for (std::string_view in : {"hello", "0109506000134352", "id.gs1.org/01/09506000134352/21/A",
                              "urn:isbn:9780306406157", "21/ABC/01/09506000134352", "-"}) {
    INFO(in);
    CHECK(ErrorOf(in) == want);
  }
}

TEST_CASE("item id: empty, oversized, non-ASCII and control-character input is refused early") {
  CHECK(ErrorOf("") == "item id is empty");
  CHECK(ErrorOf(std::string(513, '/')) == "item id is 513 bytes; at most 512 are accepted");
  CHECK(ErrorOf(std::string(100000, '(')) == "item id is 100000 bytes; at most 512 are accepted");
  CHECK(ErrorOf("(01)09506000134352(21)caf\xC3\xA9") ==
        "item id contains non-ASCII byte 0xC3 at offset 25; GS1 identifiers are ASCII only");
  CHECK(ErrorOf("(01)09506000134352(21)ABC123\n") ==
        "item id contains control character 0x0A at offset 28");
  CHECK(ErrorOf(std::string("(01)09506000134352(21)A\0B", 25)) ==
        "item id contains control character 0x00 at offset 23");
  CHECK(ErrorOf(" (01)09506000134352(21)ABC123") ==
        "item id has a leading or trailing space; remove it");
}

TEST_CASE("item id: a URL must be http or https and have a host and a path") {
  CHECK(ErrorOf("ftp://id.gs1.org/01/09506000134352/21/A") ==
        "Digital Link URL must use http or https, found 'ftp'");
  CHECK(ErrorOf("httpx://id.gs1.org/01/09506000134352/21/A") ==
        "Digital Link URL must use http or https, found 'httpx'");
  CHECK(ErrorOf("https:///01/09506000134352/21/A") == "Digital Link URL has no host");
  CHECK(ErrorOf("https://") == "Digital Link URL has no host");
  CHECK(ErrorOf("https://id.gs1.org") ==
        "Digital Link URL has no path; expected https://<host>/01/<GTIN>/21/<serial>");
  CHECK(ErrorOf("https://id.gs1.org/?01=09506000134352") ==
        "Digital Link URL has no path; expected https://<host>/01/<GTIN>/21/<serial>");
  CHECK(ErrorOf("https://id.gs1.org/00/106141412345678908") ==
        "Digital Link URL path has no /01/<GTIN> (or /gtin/<GTIN>); expected "
        "https://<host>/01/<GTIN>/21/<serial>");
}

TEST_CASE("item id: Digital Link path keys must come in the order 01, 22, 10, 21, once each") {
  CHECK(ErrorOf("/01/09506000134352/21/S/10/L") ==
        "Digital Link path continues after the serial with '/10'; a '/' inside a serial must be "
        "written %2F");
  CHECK(ErrorOf("/01/09506000134352/21/A/B") ==
        "Digital Link path continues after the serial with '/B'; a '/' inside a serial must be "
        "written %2F");
  CHECK(ErrorOf("https://id.gs1.org/01/09506000134352/21/S/") ==
        "Digital Link path ends with '/' after the serial; remove it (a '/' inside a serial must "
        "be written %2F)");
  CHECK(ErrorOf("/01/09506000134352/10/L/22/V/21/S") ==
        "Digital Link path has /22/ after /10/; the order is /01/, /22/, /10/, /21/");
  CHECK(ErrorOf("/01/09506000134352/10/A/lot/B/21/S") ==
        "Digital Link path gives the lot (10) twice");
  CHECK(ErrorOf("/01/09506000134352/17/261231/21/S") ==
        "Digital Link path has '/17/' where /22/, /10/ or /21/ (or /cpv/, /lot/, /ser/) was "
        "expected");
  CHECK(ErrorOf("/01/09506000134352//21/S") == "Digital Link path has an empty segment ('//')");
  CHECK(ErrorOf("/01/09506000134352/") ==
        "Digital Link path ends with '/' where a key was expected");
  CHECK(ErrorOf("/01") == "Digital Link path has /01/ with no value after it");
  CHECK(ErrorOf("/") == "Digital Link path is empty");
  CHECK(ErrorOf("/dl/01/09506000134352/21/S") ==
        "Digital Link path must start with /01/<GTIN> (or /gtin/<GTIN>), found '/dl/'");
}

TEST_CASE("item id: element strings skip other AIs and read \\( as a '(' inside a value") {
  CHECK(CanonicalOf("(01)09506000134352(17)261231(10)L1(21)ABC123") ==
        "01/09506000134352/21/ABC123");
  CHECK(ParseItemId("(01)09506000134352(21)A\\(B)")->serial == "A(B)");
  CHECK(ParseItemId("(01)09506000134352(21)A)B")->serial == "A)B");
  CHECK(ErrorOf("(01)09506000134352(21)A(B") ==
        "element string has a '(' that does not start an AI such as (21); write a '(' inside a "
        "value as \\(");
  CHECK(ErrorOf("(01)09506000134352(21)A(") ==
        "element string has a '(' that does not start an AI such as (21); write a '(' inside a "
        "value as \\(");
  CHECK(ErrorOf("(01)09506000134352(21)A(21)B") == "element string has (21) twice");
  CHECK(ErrorOf("(00)106141412345678908(21)A") ==
        "element string has no (01) GTIN; expected (01)<GTIN>(21)<serial>");
  CHECK(ErrorOf("(01)09506000134352(21)A\\B") == "serial contains '\\', which GS1 does not allow");
}

TEST_CASE("item id: EPC URI errors name the part that is wrong") {
  CHECK(ErrorOf("urn:epc:id:sgtin:06141.8123456.1") ==
        "EPC URI company prefix must be 6 to 12 digits, found 5");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141123456.8.1") ==
        "EPC URI company prefix must be 6 to 12 digits, found 13");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.81234.1") ==
        "EPC URI company prefix and indicator digit plus item reference must together be 13 "
        "digits, found 7 + 5 = 12");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141..1") ==
        "EPC URI company prefix and indicator digit plus item reference must together be 13 "
        "digits, found 7 + 0 = 7");
  CHECK(ErrorOf("urn:epc:id:sgtin:06141A1.812345.1") ==
        "EPC URI company prefix must contain only digits, found 'A'");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.8123X5.1") ==
        "EPC URI indicator digit and item reference must contain only digits, found 'X'");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345") ==
        "urn:epc:id:sgtin: URI must be <company prefix>.<indicator digit and item "
        "reference>.<serial>");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345.A/B") ==
        "EPC URI serial contains '/', which must be written %2F");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345.A?B") ==
        "EPC URI serial contains '?', which must be written %3F");
  CHECK(ErrorOf("urn:epc:id:sgtin:0614141.812345.A#B") ==
        "serial contains '#', which GS1 does not allow");
  CHECK(ErrorOf("urn:epc:id:sscc:0614141.1234567890") ==
        "EPC URI is not an SGTIN: expected urn:epc:id:sgtin:<company prefix>.<indicator digit and "
        "item reference>.<serial>");
  CHECK(ErrorOf("urn:epc:tag:sgtin-96:3.0614141.812345.6789") ==
        "EPC URI is not an SGTIN: expected urn:epc:id:sgtin:<company prefix>.<indicator digit and "
        "item reference>.<serial>");
}

// ---- Strict readers -----------------------------------------------------------------------------

TEST_CASE("item id: the strict canonical reader accepts only the canonical form") {
  CHECK(*ParseCanonicalItemId("01/09506000134352/21/ABC123") == Item(std::string(kGtin), "ABC123"));
  CHECK(ParseCanonicalItemId("01/09506000134352/21/A%2F")->serial == "A%2F");
  for (std::string_view in :
       {"/01/09506000134352/21/ABC123", "01/9506000134352/21/ABC123",
        "(01)09506000134352(21)ABC123", "https://id.gs1.org/01/09506000134352/21/ABC123",
        "gtin/09506000134352/ser/ABC123", "01/09506000134352/10/L/21/ABC123", ""}) {
    INFO(in);
    auto r = ParseCanonicalItemId(in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() ==
          "item id is not in canonical form 01/<14-digit GTIN>/21/<serial>");
  }
  CHECK(ParseCanonicalItemId("01/09506000134353/21/ABC123").status().message() ==
        "GTIN check digit should be 2, found 3");
  CHECK(ParseCanonicalItemId("01/09506000134352/21/A B").status().message() ==
        "serial contains ' ', which GS1 does not allow");
}

TEST_CASE("item id: validation rejects hand-built ids that parsing could not produce") {
  CHECK(ValidateItemId(Item(std::string(kGtin), "ABC123")).ok());
  CHECK(ValidateItemId(Item("9506000134352", "ABC123")).message() ==
        "GTIN must be 14 digits here, found 13 characters");
  CHECK(ValidateItemId(Item(std::string(kGtin), std::string(21, 'x'))).message() ==
        "serial is 21 characters; GS1 allows at most 20");
}

// ---- Hostile input ------------------------------------------------------------------------------

TEST_CASE("item id: mutated input never crashes and anything accepted reads back unchanged") {
  const std::vector<std::string> seeds = {
      "https://id.gs1.org/01/09506000134352/22/V/10/L%2F1/21/A%2FB?x=1#f",
      "/gtin/09506000134352/lot/L/ser/ABC",
      "01/09506000134352/21/A%2F",
      "(01)09506000134352(17)261231(10)L\\(1(21)A\\(B)",
      "urn:epc:id:sgtin:0614141.812345.1.2%2F3",
  };
  const std::string alphabet = "0123456789/%()?#.:\\AZaz2F -!&'+*;<=>\"_~\x7f\x80";
  std::mt19937 rng(20240611);  // Fixed seed: a failure replays exactly.
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          s.insert(s.begin() + static_cast<long>(pos), c);
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        default:
          if (pos < s.size()) s[pos] = c;
          break;
      }
    }
    auto r = ParseItemId(s);
    if (!r.ok()) {
      CHECK(r.status().code() == StatusCode::kInvalidInput);
      CHECK_FALSE(r.status().message().empty());
      continue;
    }
    ++accepted;
    INFO("seed 20240611, iteration ", iter, ", input ", s);
    REQUIRE(ValidateItemId(*r).ok());
    CHECK(*ParseItemId(r->Canonical()) == *r);
    CHECK(*ParseItemId(r->DigitalLinkUrl()) == *r);
    CHECK(*ParseItemId(r->ElementString()) == *r);
    CHECK(*ParseCanonicalItemId(r->Canonical()) == *r);
  }
  // The mutations must leave enough valid ids for the round-trip checks to mean something.
  CHECK(accepted > 1000);
}

// ---- As strict as GS1's syntax engine (issue 9, finding 8) --------------------------------------

TEST_CASE("item id: a '#' in a pasted path is refused, never read as the end of the serial") {
  // Regression: "01/<GTIN>/21/ABC#1" was read as serial "ABC".
  CHECK(ErrorOf("01/09506000134352/21/ABC#1") == "serial contains '#', which GS1 does not allow");
  CHECK(ErrorOf("/01/09506000134352/21/ABC#1") == "serial contains '#', which GS1 does not allow");
  // In a URL, '#' starts the fragment, which is the client's (RFC 3986, and GS1's engine).
  CHECK(ParseItemId("https://id.gs1.org/01/09506000134352/21/ABC#1")->serial == "ABC");
}

TEST_CASE("item id: a URL scheme in mixed case is refused, all lower or all upper is fine") {
  CHECK(ErrorOf("HtTp://a/01/09506000134352/21/S1") ==
        "Digital Link URL scheme must be all lower or all upper case (http, https, HTTP or "
        "HTTPS), found 'HtTp'");
  CHECK(ErrorOf("Https://a/01/09506000134352/21/S1").starts_with("Digital Link URL scheme"));
  CHECK(ParseItemId("HTTP://a/01/09506000134352/21/S1").ok());
  CHECK(ParseItemId("HTTPS://a/01/09506000134352/21/S1").ok());
  CHECK(ErrorOf("httpx://a/01/09506000134352/21/S1") ==
        "Digital Link URL must use http or https, found 'httpx'");
}

TEST_CASE("item id: a character a URI may not hold raw is refused in a Digital Link") {
  CHECK(ErrorOf("https://a/01/09506000134352/21/S1<bad") ==
        "Digital Link URL contains '<', which a URI may not hold as it is; write it "
        "percent-encoded as %3C");
  CHECK(ErrorOf("https://a/01/09506000134352/21/S1>bad").find("'>'") != std::string::npos);
  CHECK(ErrorOf("https://a/01/09506000134352/21/S\"1").find("'\"'") != std::string::npos);
  CHECK(ErrorOf("/01/09506000134352/21/S1<bad").starts_with("Digital Link path contains '<'"));
  // Percent-encoded they are serial characters like any other of set 82.
  CHECK(ParseItemId("https://a/01/09506000134352/21/S1%3Cbad%3E")->serial == "S1<bad>");
  // The canonical form is not a URI: its serial is read as written.
  CHECK(ParseItemId("01/09506000134352/21/S1<bad>")->serial == "S1<bad>");
}

TEST_CASE("item id: a host holding a character a domain name may not hold is refused") {
  CHECK(ErrorOf("https://$a/01/09506000134352/21/S1") ==
        "Digital Link URL host contains '$', which a domain name may not hold");
  CHECK(ErrorOf("https://[fe80::1%25lo]/01/09506000134352/21/S1") ==
        "Digital Link URL host contains '%', which a domain name may not hold");
  CHECK(ErrorOf("https://user@a/01/09506000134352/21/S1").find("'@'") != std::string::npos);
  CHECK(ParseItemId("https://[2001:db8::1]/01/09506000134352/21/S1").ok());
  CHECK(ParseItemId("https://a:65535/01/09506000134352/21/S1").ok());
}

TEST_CASE("item id: an element string's (01) is 14 digits, with no zero suppression") {
  CHECK(ErrorOf("(01)9506000134352(21)A1") ==
        "element string (01) must be 14 digits, found 13; write a GTIN-8, -12 or -13 with "
        "leading zeros");
  CHECK(ErrorOf("(01)02345673(21)X").starts_with("element string (01) must be 14 digits, found 8"));
  CHECK(ParseItemId("(01)09506000134352(21)A1").ok());
  // A Digital Link path keeps GS1's legacy zero-suppressed GTINs.
  CHECK(ParseItemId("https://a/01/9506000134352/21/A1")->gtin14 == "09506000134352");
}

TEST_CASE("item id: numeric Digital Link query parameters must be well-formed GS1 AIs") {
  const std::string base = "https://a/01/09506000134352/21/S1";
  CHECK(ParseItemId(base + "?99=ABC&98=XYZ&linkType=gs1:pip&singleton&&").ok());
  CHECK(ParseItemId(base + "?17=201225&3103=000195&3922=0299").ok());
  CHECK(ErrorOf(base + "?99=") == "Digital Link query parameter 99 has no value");
  CHECK(ErrorOf(base + "?999=faux") ==
        "Digital Link query parameter 999 is not a GS1 Application Identifier");
  CHECK(ErrorOf(base + "?89=ABC") ==
        "Digital Link query parameter 89 is not a GS1 Application Identifier");
  CHECK(ErrorOf(base + "?98=XYZ+987") ==
        "Digital Link query parameter 98 contains ' ' (a '+' in a query means a space), which "
        "GS1 does not allow");
  CHECK(ErrorOf(base + "?99=A%00B").find("control character 0x00") != std::string::npos);
  CHECK(ErrorOf(base + "?99=A&99=A") == "Digital Link query parameter 99 is given twice");
  CHECK(ErrorOf(base + "?10=ABC123")
            .starts_with(
                "Digital Link query parameter 10 names the GTIN or one of its key qualifiers"));
  CHECK(ErrorOf(base + "?01=09506000134352").starts_with("Digital Link query parameter 01"));
}
