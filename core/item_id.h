#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

// GS1 item identifiers: the serialised GTIN (SGTIN) that names one physical item, the forms people
// paste it in, and the canonical form hashed into the state tree. The rules come from the GS1
// General Specifications (check digit, AI 01/10/21/22, character set 82), GS1 Digital Link URI
// Syntax (path keys, short aliases, percent-encoding) and the GS1 EPC Tag Data Standard (SGTIN
// pure identity URI); /work/shared/reference/identifiers-and-epcis.md summarises them.
namespace hallmark::core {

// Parsing stops before looking at input longer than this. A valid id in any form is far shorter
// (a URL with a long host is the longest), so the cap only turns away hostile or mistaken input.
inline constexpr size_t kItemIdInputBytesMax = 512;
// AI 21 (serial), AI 10 (lot) and AI 22 (consumer product variant) are all "X..20".
inline constexpr size_t kGs1SerialCharsMax = 20;

// A serialised GTIN (SGTIN): the key of one physical item. Plain value type; thread-compatible.
// ParseItemId only returns values that pass ValidateItemId; a hand-built one may not.
struct ItemId {
  std::string gtin14;  // 14 digits, check digit valid.
  std::string serial;  // 1..20 chars of GS1 character set 82, decoded (no percent-encoding).

  // "01/<gtin14>/21/<serial>" with the serial as written, not percent-encoded. This is the form
  // records carry and the one whose hash is the state-tree key.
  std::string Canonical() const;
  // "<base>/01/<gtin14>/21/<serial>" with the serial percent-encoded as GS1 Digital Link asks.
  // A trailing '/' on `base` is dropped so the path never starts with "//".
  std::string DigitalLinkUrl(std::string_view base = "https://id.gs1.org") const;
  // "(01)<gtin14>(21)<serial>". A '(' inside the serial is written "\(" (the GS1 Syntax Engine's
  // convention for bracketed element strings), so that the output parses back to the same id.
  std::string ElementString() const;
  // SHA-256 of Canonical(): the state-tree key.
  Hash256 Key() const;

  bool operator==(const ItemId&) const = default;
};

// Parses every form a person is likely to paste, all naming the same item:
//   - GS1 Digital Link URL, any http or https host: https://id.gs1.org/01/09506000134352/21/ABC123
//     Path segments before /01/ (or /gtin/) are a resolver's own prefix and are skipped; the
//     fragment is ignored. As in GS1's syntax engine: the scheme is all lower or all upper case,
//     the URL holds only URI characters (a raw '<', '>', '"' or space is refused), the host holds
//     no _~?#@!$&'()*+,;=%, and a query parameter with a numeric name must be a GS1 AI other
//     than 01, 22, 10, 21 and 235, given once, with a non-empty set-82 value.
//   - Digital Link path, with or without a leading '/': /01/09506000134352/21/ABC123
//     /22/<cpv> and /10/<lot> may sit between the GTIN and the serial, in that order; the short
//     aliases gtin, cpv, lot and ser stand for 01, 22, 10 and 21. Values are percent-decoded as
//     GS1's engine does (a '%' that starts no %XX escape is a literal '%'). A path pasted alone
//     is no URL: a '#' in it is a character, which the serial rules refuse, never a cut.
//   - Element string: (01)09506000134352(21)ABC123, optionally with (22) and (10); other AIs (an
//     expiry date, say) are ignored. "\(" stands for a '(' inside a value. (01) is 14 digits.
//   - SGTIN EPC pure identity URI: urn:epc:id:sgtin:0614141.812345.12345 (company prefix, then the
//     indicator digit followed by the item reference, then the serial, which may be %-escaped).
//   - The canonical form 01/<gtin14>/21/<serial>.
// GTIN-8, -12 and -13 in a Digital Link are left-padded with zeros to 14 digits. Lot and CPV are
// checked and then dropped: the GTIN and serial alone name the item.
//
// The canonical form and a Digital Link path without a leading '/' look alike and read a serial
// differently when it holds '%', '?' or '/'. Text of exactly the canonical shape (01, 14 digits,
// 21) whose serial is valid as written is read as canonical, so ParseItemId(id.Canonical()) == id
// for every valid id; a Digital Link path with percent-escapes should keep its leading '/'.
//
// Returns Status::InvalidInput with a message saying exactly what is wrong otherwise.
Result<ItemId> ParseItemId(std::string_view input);

// Reads exactly the canonical form "01/<14 digits>/21/<serial>", nothing else: no padding, no
// decoding. For ids stored or signed by this system, where any other spelling is an error.
Result<ItemId> ParseCanonicalItemId(std::string_view canonical);

// Ok if `id` is what ParseItemId could return: a 14-digit GTIN with a valid check digit and a
// serial of 1..20 characters from GS1 character set 82. For ids built by hand or decoded from the
// wire.
Status ValidateItemId(const ItemId& id);

// GS1 mod-10 check digit of the data digits (every digit except the check digit): weights 3, 1,
// 3, 1... from the rightmost data digit leftwards. (GS1 General Specifications §7.9.1.)
// REQUIRES: data_digits holds only '0'..'9'.
int Gs1CheckDigit(std::string_view data_digits);

// true if `digits` is 8, 12, 13, 14 or 18 digits long (GTIN-8/12/13/14, SSCC) and ends in a valid
// check digit; false for any other input.
bool HasValidCheckDigit(std::string_view digits);

// The GTIN-14's digits 2..13: after the indicator digit, before the check digit. A brand's GS1
// company prefixes are matched against the start of this.
// REQUIRES: gtin14.size() == 14.
std::string_view CompanyPrefixRegion(std::string_view gtin14);
// The result points into `id`, so it must outlive the view.
// REQUIRES: id.gtin14.size() == 14.
std::string_view CompanyPrefixRegion(const ItemId& id);
std::string_view CompanyPrefixRegion(const ItemId&& id) = delete;  // Would dangle.

}  // namespace hallmark::core
