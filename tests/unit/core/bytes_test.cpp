#include <doctest/doctest.h>

#include "core/bytes.h"
#include "core/crypto/sha256.h"
#include "core/status.h"

using namespace hallmark::core;

TEST_CASE("hex: round trip and rejection of odd or non-hex input") {
  Bytes b = {0x00, 0x01, 0xab, 0xff};
  CHECK(ToHex(b) == "0001abff");
  CHECK(*FromHex("0001ABff") == b);
  CHECK_FALSE(FromHex("abc").has_value());
  CHECK_FALSE(FromHex("zz").has_value());
  CHECK_FALSE(Hash256::FromHex("00").has_value());
}

TEST_CASE("sha256: empty string and incremental hashing match known digests") {
  CHECK(Sha256Of(std::string_view("")).Hex() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // FIPS 180-2 example "abc".
  CHECK(Sha256().Update("a").Update("bc").Finish().Hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("status: result carries either a value or an error with context") {
  Result<int> ok = 5;
  CHECK(ok.ok());
  CHECK(*ok == 5);
  Result<int> bad = Status::InvalidInput("serial is empty");
  CHECK_FALSE(bad.ok());
  CHECK(bad.status().WithContext("item id").ToString() ==
        "invalid input: item id: serial is empty");
}
