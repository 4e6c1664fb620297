#include "core/item_id.h"

#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "core/crypto/sha256.h"

namespace hallmark::core {

namespace {

constexpr std::string_view kUnrecognised =
    "unrecognised item id: expected a GS1 Digital Link URL or path, an element string like "
    "(01)…(21)…, or an urn:epc:id:sgtin: URI";
constexpr std::string_view kEpcPrefix = "urn:epc:id:sgtin:";

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool AllDigits(std::string_view s) {
  for (char c : s)
    if (!IsDigit(c)) return false;
  return true;
}

char ToLowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (ToLowerAscii(s[i]) != ToLowerAscii(prefix[i])) return false;
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string ByteHex(unsigned char b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 0xf];
}

// GS1 character set 82 (GS1 General Specifications, Figure 7.11-1): the printable ASCII
// characters except space # $ @ [ \ ] ^ ` { | } ~.
bool IsCs82(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '#':
    case '$':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '^':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return false;
    default:
      return true;
  }
}

// Describes a character for an error message so that an unprintable one still reads clearly.
std::string DescribeChar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (c >= 0x80) return "non-ASCII byte " + ByteHex(c);
  if (c < 0x20 || c == 0x7f) return "control character " + ByteHex(c);
  return std::string("'") + ch + "'";
}

// Checks a value of AI 21, 10 or 22: each is 1..20 characters of set 82. Characters are checked
// before length so that a UTF-8 serial is reported as non-ASCII, not as too many "characters".
Status CheckGs1Text(std::string_view field, std::string_view value) {
  if (value.empty()) {
    return Status::InvalidInput(std::string(field) + " is empty; GS1 allows 1 to 20 characters");
  }
  for (char c : value) {
    if (!IsCs82(c)) {
      return Status::InvalidInput(std::string(field) + " contains " + DescribeChar(c) +
                                  ", which GS1 does not allow");
    }
  }
  if (value.size() > kGs1SerialCharsMax) {
    return Status::InvalidInput(std::string(field) + " is " + std::to_string(value.size()) +
                                " characters; GS1 allows at most " +
                                std::to_string(kGs1SerialCharsMax));
  }
  return Status::Ok();
}

// Checks a GTIN of any length GS1 defines and returns it left-padded to 14 digits.
Result<std::string> NormaliseGtin(std::string_view gtin) {
  for (char c : gtin) {
    if (!IsDigit(c)) {
      return Status::InvalidInput("GTIN must contain only digits, found " + DescribeChar(c));
    }
  }
  const size_t n = gtin.size();
  if (n != 8 && n != 12 && n != 13 && n != 14) {
    return Status::InvalidInput("GTIN must be 8, 12, 13 or 14 digits, found " + std::to_string(n));
  }
  const int want = Gs1CheckDigit(gtin.substr(0, n - 1));
  const int found = gtin.back() - '0';
  if (want != found) {
    return Status::InvalidInput("GTIN check digit should be " + std::to_string(want) + ", found " +
                                std::to_string(found));
  }
  return std::string(14 - n, '0') + std::string(gtin);
}

Result<ItemId> MakeItemId(std::string_view gtin, std::string serial) {
  auto gtin14 = NormaliseGtin(gtin);
  if (!gtin14.ok()) return gtin14.status();
  HM_RETURN_IF_ERROR(CheckGs1Text("serial", serial));
  return ItemId{std::move(gtin14).value(), std::move(serial)};
}

// Decodes %XX escapes (RFC 3986 §2.1). Everything else is kept as written: a raw '!' in a path
// segment can only mean '!', so refusing it would help nobody.
Result<std::string> PercentDecode(std::string_view field, std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 1 < s.size() ? HexValue(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return Status::InvalidInput("bad percent-encoding in " + std::string(field) +
                                  ": '%' must be followed by two hex digits, found '" +
                                  std::string(s.substr(i, 3)) + "'");
    }
    out += static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return out;
}

// Decodes a value of a Digital Link path or query as GS1's syntax engine does (dl.c,
// URIunescape): %XX is decoded, a '%' not followed by two hex digits stays a literal '%' (which
// set 82 allows), and in the query a '+' means a space. The caller checks what comes out, so an
// escaped NUL or space is refused there.
std::string DlDecode(std::string_view s, bool query) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(s[i + 2]) : -1;
    if (lo >= 0) {
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else if (query && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// The characters GS1's syntax engine allows anywhere in a Digital Link URI (dl.c,
// uriCharacters: RFC 3986's unreserved and reserved characters and '%'). Others, such as '<',
// '>', '"' or a space, must be percent-encoded; the engine refuses a URI holding one raw.
bool IsUriChar(char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  return std::string_view("-._~:/?#[]@!$&'()*+,;=%").find(c) != std::string_view::npos;
}

Status CheckUriChars(std::string_view what, std::string_view s) {
  for (char c : s) {
    if (!IsUriChar(c)) {
      return Status::InvalidInput(
          std::string(what) + " contains " + DescribeChar(c) +
          ", which a URI may not hold as it is; write it percent-encoded as %" +
          ByteHex(static_cast<unsigned char>(c)).substr(2));
    }
  }
  return Status::Ok();
}

// True if `key` is a GS1 Application Identifier in GS1's syntax dictionary
// (gs1-syntax-dictionary.txt of the GS1 Barcode Syntax Engine).
bool IsKnownAi(std::string_view key) {
  struct Range {
    std::string_view first;
    std::string_view last;
  };
  static constexpr Range kRanges[] = {
      {"00", "02"},     {"10", "13"},     {"15", "17"},     {"20", "22"},     {"235", "235"},
      {"240", "243"},   {"250", "251"},   {"253", "255"},   {"30", "30"},     {"37", "37"},
      {"3900", "3943"}, {"3950", "3955"}, {"400", "403"},   {"410", "417"},   {"420", "427"},
      {"4300", "4326"}, {"4330", "4333"}, {"7001", "7011"}, {"7020", "7023"}, {"7030", "7040"},
      {"710", "715"},   {"7230", "7242"}, {"8001", "8013"}, {"8017", "8020"}, {"8026", "8026"},
      {"8030", "8030"}, {"8110", "8112"}, {"8200", "8200"}, {"90", "99"},
  };
  if (!AllDigits(key)) return false;
  for (const Range& r : kRanges) {
    if (key.size() == r.first.size() && key >= r.first && key <= r.last) return true;
  }
  // The measures 3nnd (net weight, lengths, areas, volumes...): blocks 310-316, 320-329,
  // 330-337, 340-349, 350-357 and 360-369, each with a decimal-point digit d of 0 to 5.
  if (key.size() != 4 || key[0] != '3' || key[3] > '5') return false;
  const int block = (key[1] - '0') * 10 + (key[2] - '0');
  return (block >= 10 && block <= 16) || (block >= 20 && block <= 37) ||
         (block >= 40 && block <= 57) || (block >= 60 && block <= 69);
}

// Checks a Digital Link query string as GS1's syntax engine does. Parameters whose name is not
// all digits (linkType, a singleton) are the resolver's and are skipped. A numeric name must be a
// GS1 AI holding a non-empty value of set-82 characters, given once, and not the GTIN or one of
// its key qualifiers (22, 10, 21, 235), whose place is the path.
Status CheckDlQuery(std::string_view query) {
  std::vector<std::string_view> seen;
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view param = query.substr(start, amp - start);
    start = amp + 1;
    const size_t eq = param.find('=');
    if (param.empty() || eq == std::string_view::npos) continue;
    const std::string_view key = param.substr(0, eq);
    if (key.empty() || !AllDigits(key)) continue;
    const std::string where = "Digital Link query parameter " + std::string(key);
    if (!IsKnownAi(key)) {
      return Status::InvalidInput(where + " is not a GS1 Application Identifier");
    }
    if (key == "01" || key == "22" || key == "10" || key == "21" || key == "235") {
      return Status::InvalidInput(where +
                                  " names the GTIN or one of its key qualifiers, which belong "
                                  "in the path (/01/…/22/…/10/…/21/…)");
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return Status::InvalidInput(where + " is given twice");
    }
    seen.push_back(key);
    const std::string value = DlDecode(param.substr(eq + 1), /*query=*/true);
    if (value.empty()) return Status::InvalidInput(where + " has no value");
    for (char c : value) {
      if (!IsCs82(c)) {
        return Status::InvalidInput(where + " contains " + DescribeChar(c) +
                                    " (a '+' in a query means a space), which GS1 does not allow");
      }
    }
  }
  return Status::Ok();
}

// The key qualifiers of a GTIN in a Digital Link path, in the order the path must give them
// (GS1 Digital Link URI Syntax 1.2, §4 "01 > 22 > 10 > 21").
enum class DlKey { kGtin, kCpv, kLot, kSerial };

struct DlKeyInfo {
  DlKey key;
  std::string_view ai;
  std::string_view field;  // Name used in error messages.
};

std::optional<DlKeyInfo> LookUpDlKey(std::string_view segment) {
  if (segment == "01" || segment == "gtin") return DlKeyInfo{DlKey::kGtin, "01", "GTIN"};
  if (segment == "22" || segment == "cpv") {
    return DlKeyInfo{DlKey::kCpv, "22", "consumer product variant"};
  }
  if (segment == "10" || segment == "lot") return DlKeyInfo{DlKey::kLot, "10", "lot"};
  if (segment == "21" || segment == "ser") return DlKeyInfo{DlKey::kSerial, "21", "serial"};
  return std::nullopt;
}

bool IsGtinKey(std::string_view segment) {
  return segment == "01" || segment == "gtin";
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// Reads segs[first..] = 01 <gtin> [22 <cpv>] [10 <lot>] 21 <serial>.
// REQUIRES: first < segs.size() && IsGtinKey(segs[first]).
Result<ItemId> ParseDlSegments(const std::vector<std::string_view>& segs, size_t first) {
  HM_ASSERT(first < segs.size() && IsGtinKey(segs[first]));
  std::string_view gtin;
  std::optional<std::string> serial;
  int last_rank = -1;
  std::string_view last_segment;
  for (size_t i = first; i < segs.size(); i += 2) {
    const std::string_view seg = segs[i];
    if (serial.has_value()) {
      if (seg.empty() && i + 1 == segs.size()) {
        return Status::InvalidInput(
            "Digital Link path ends with '/' after the serial; remove it (a '/' inside a serial "
            "must be written %2F)");
      }
      return Status::InvalidInput("Digital Link path continues after the serial with '/" +
                                  std::string(seg) +
                                  "'; a '/' inside a serial must be written %2F");
    }
    if (seg.empty()) {
      if (i + 1 == segs.size()) {
        return Status::InvalidInput("Digital Link path ends with '/' where a key was expected");
      }
      return Status::InvalidInput("Digital Link path has an empty segment ('//')");
    }
    const auto info = LookUpDlKey(seg);
    if (!info) {
      return Status::InvalidInput("Digital Link path has '/" + std::string(seg) +
                                  "/' where /22/, /10/ or /21/ (or /cpv/, /lot/, /ser/) was "
                                  "expected");
    }
    const int rank = static_cast<int>(info->key);
    if (rank == last_rank) {
      return Status::InvalidInput("Digital Link path gives the " + std::string(info->field) + " (" +
                                  std::string(info->ai) + ") twice");
    }
    if (rank < last_rank) {
      return Status::InvalidInput("Digital Link path has /" + std::string(seg) + "/ after /" +
                                  std::string(last_segment) +
                                  "/; the order is /01/, /22/, /10/, /21/");
    }
    last_rank = rank;
    last_segment = seg;
    if (i + 1 >= segs.size() || segs[i + 1].empty()) {
      return Status::InvalidInput("Digital Link path has /" + std::string(seg) +
                                  "/ with no value after it");
    }
    const std::string_view value = segs[i + 1];
    switch (info->key) {
      case DlKey::kGtin:
        gtin = value;
        break;
      case DlKey::kCpv:
      case DlKey::kLot: {
        HM_RETURN_IF_ERROR(CheckGs1Text(info->field, DlDecode(value, /*query=*/false)));
        break;
      }
      case DlKey::kSerial: {
        serial = DlDecode(value, /*query=*/false);
        break;
      }
    }
  }
  // The GTIN is checked first so that a mistyped GTIN is reported even when the serial is also
  // missing.
  auto gtin14 = NormaliseGtin(gtin);
  if (!gtin14.ok()) return gtin14.status();
  if (!serial.has_value()) {
    return Status::InvalidInput("a GTIN alone names a product, not an item: add /21/<serial>");
  }
  return MakeItemId(*gtin14, std::move(*serial));
}

// A Digital Link path, from a URL (`in_url`: segments before /01/ are the resolver's own prefix)
// or pasted alone (it must start with /01/ or /gtin/).
Result<ItemId> ParseDlPath(std::string_view path, bool in_url) {
  HM_RETURN_IF_ERROR(CheckUriChars(in_url ? "Digital Link URL" : "Digital Link path", path));
  // In a URL the fragment is the client's. A path pasted alone is no URL, so a '#' in it is
  // just a character, which the serial check below refuses: never cut a serial short at it.
  if (in_url) path = path.substr(0, path.find('#'));
  // The query string carries data attributes and link types, which do not name the item but
  // must still be well formed.
  std::string_view query;
  if (const size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) {
    if (!in_url) return Status::InvalidInput("Digital Link path is empty");
    return Status::InvalidInput(
        "Digital Link URL has no path; expected https://<host>/01/<GTIN>/21/<serial>");
  }
  const std::vector<std::string_view> segs = SplitPath(path);
  size_t first = 0;
  if (in_url) {
    while (first < segs.size() && !IsGtinKey(segs[first])) ++first;
    if (first == segs.size()) {
      return Status::InvalidInput(
          "Digital Link URL path has no /01/<GTIN> (or /gtin/<GTIN>); expected "
          "https://<host>/01/<GTIN>/21/<serial>");
    }
  } else if (!IsGtinKey(segs[0])) {
    return Status::InvalidInput(
        "Digital Link path must start with /01/<GTIN> (or /gtin/<GTIN>), "
        "found '/" +
        std::string(segs[0]) + "/'");
  }
  auto id = ParseDlSegments(segs, first);
  if (!id.ok()) return id;
  HM_RETURN_IF_ERROR(CheckDlQuery(query));
  return id;
}

Result<ItemId> ParseDlUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  HM_ASSERT(scheme_end != std::string_view::npos);
  const std::string_view rest = url.substr(scheme_end + 3);
  const size_t host_end = rest.find_first_of("/?#");
  if (host_end == 0 || rest.empty()) return Status::InvalidInput("Digital Link URL has no host");
  if (host_end == std::string_view::npos || rest[host_end] != '/') {
    return Status::InvalidInput(
        "Digital Link URL has no path; expected https://<host>/01/<GTIN>/21/<serial>");
  }
  // Characters GS1's syntax engine refuses in a domain name (dl.c, badDomainCharacters); this
  // also turns away user names ('@') and IPv6 zone identifiers ('%25').
  HM_RETURN_IF_ERROR(CheckUriChars("Digital Link URL host", rest.substr(0, host_end)));
  for (char c : rest.substr(0, host_end)) {
    if (std::string_view("_~?#@!$&'()*+,;=%").find(c) != std::string_view::npos) {
      return Status::InvalidInput("Digital Link URL host contains '" + std::string(1, c) +
                                  "', which a domain name may not hold");
    }
  }
  return ParseDlPath(rest.substr(host_end), /*in_url=*/true);
}

// The element string's AIs that name or qualify a serialised item.
enum class EsAi { kGtin, kCpv, kLot, kSerial, kOther };

EsAi ClassifyAi(std::string_view ai) {
  if (ai == "01") return EsAi::kGtin;
  if (ai == "22") return EsAi::kCpv;
  if (ai == "10") return EsAi::kLot;
  if (ai == "21") return EsAi::kSerial;
  return EsAi::kOther;
}

// "(01)<gtin>(21)<serial>", in any AI order as GS1 allows, with "\(" for a '(' inside a value
// (the GS1 Syntax Engine's escape for bracketed input). AIs other than 01, 22, 10, 21 are skipped:
// a label may also carry an expiry or production date, which does not change the item.
Result<ItemId> ParseElementString(std::string_view s) {
  HM_ASSERT(!s.empty() && s.front() == '(');
  std::optional<std::string> values[4];  // Indexed by EsAi, except kOther.
  size_t pos = 0;
  while (pos < s.size()) {
    HM_ASSERT(s[pos] == '(');
    const size_t close = s.find(')', pos + 1);
    const std::string_view ai =
        close == std::string_view::npos ? std::string_view() : s.substr(pos + 1, close - pos - 1);
    if (ai.size() < 2 || ai.size() > 4 || !AllDigits(ai)) {
      return Status::InvalidInput(
          "element string has a '(' that does not start an AI such as (21); write a '(' inside a "
          "value as \\(");
    }
    std::string value;
    pos = close + 1;
    while (pos < s.size() && s[pos] != '(') {
      if (s[pos] == '\\' && pos + 1 < s.size() && s[pos + 1] == '(') {
        value += '(';
        pos += 2;
      } else {
        value += s[pos];
        pos += 1;
      }
    }
    const EsAi kind = ClassifyAi(ai);
    if (kind == EsAi::kOther) continue;
    auto& slot = values[static_cast<int>(kind)];
    if (slot.has_value()) {
      return Status::InvalidInput("element string has (" + std::string(ai) + ") twice");
    }
    slot = std::move(value);
  }
  const auto& gtin = values[static_cast<int>(EsAi::kGtin)];
  const auto& cpv = values[static_cast<int>(EsAi::kCpv)];
  const auto& lot = values[static_cast<int>(EsAi::kLot)];
  auto& serial = values[static_cast<int>(EsAi::kSerial)];
  if (!gtin.has_value()) {
    return Status::InvalidInput("element string has no (01) GTIN; expected (01)<GTIN>(21)<serial>");
  }
  // AI (01) is N14: an element string has no zero-suppressed GTIN-8, -12 or -13 (unlike a
  // Digital Link path, where GS1 allows them as a legacy form).
  if ((gtin->size() == 8 || gtin->size() == 12 || gtin->size() == 13) && AllDigits(*gtin)) {
    return Status::InvalidInput("element string (01) must be 14 digits, found " +
                                std::to_string(gtin->size()) +
                                "; write a GTIN-8, -12 or -13 with leading zeros");
  }
  auto gtin14 = NormaliseGtin(*gtin);
  if (!gtin14.ok()) return gtin14.status();
  if (!serial.has_value()) {
    return Status::InvalidInput("a GTIN alone names a product, not an item: add (21)<serial>");
  }
  if (cpv.has_value()) HM_RETURN_IF_ERROR(CheckGs1Text("consumer product variant", *cpv));
  if (lot.has_value()) HM_RETURN_IF_ERROR(CheckGs1Text("lot", *lot));
  return MakeItemId(*gtin14, std::move(*serial));
}

// urn:epc:id:sgtin:<company prefix>.<indicator digit><item reference>.<serial>
// (GS1 EPC Tag Data Standard 2.x, §6.3.1). The company prefix and the indicator-plus-item-reference
// together hold 13 digits: the GTIN-14 without its check digit, with the indicator moved first.
Result<ItemId> ParseEpcUri(std::string_view uri) {
  HM_ASSERT(StartsWithNoCase(uri, kEpcPrefix));
  const std::string_view body = uri.substr(kEpcPrefix.size());
  const size_t dot1 = body.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : body.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) {
    return Status::InvalidInput(
        "urn:epc:id:sgtin: URI must be <company prefix>.<indicator digit and item "
        "reference>.<serial>");
  }
  const std::string_view prefix = body.substr(0, dot1);
  const std::string_view item_ref = body.substr(dot1 + 1, dot2 - dot1 - 1);
  // The serial may itself hold '.', which the TDS allows unescaped, so it is everything after
  // the second dot.
  const std::string_view raw_serial = body.substr(dot2 + 1);
  for (char c : prefix) {
    if (!IsDigit(c)) {
      return Status::InvalidInput("EPC URI company prefix must contain only digits, found " +
                                  DescribeChar(c));
    }
  }
  for (char c : item_ref) {
    if (!IsDigit(c)) {
      return Status::InvalidInput(
          "EPC URI indicator digit and item reference must contain only digits, found " +
          DescribeChar(c));
    }
  }
  if (prefix.size() < 6 || prefix.size() > 12) {
    return Status::InvalidInput("EPC URI company prefix must be 6 to 12 digits, found " +
                                std::to_string(prefix.size()));
  }
  if (prefix.size() + item_ref.size() != 13) {
    return Status::InvalidInput(
        "EPC URI company prefix and indicator digit plus item reference must together be 13 "
        "digits, found " +
        std::to_string(prefix.size()) + " + " + std::to_string(item_ref.size()) + " = " +
        std::to_string(prefix.size() + item_ref.size()));
  }
  // The TDS lets these set-82 characters into an EPC URI only as %-escapes, since they mean
  // something else in a URI.
  for (char c : raw_serial) {
    if (c == '"' || c == '&' || c == '/' || c == '<' || c == '>' || c == '?') {
      return Status::InvalidInput("EPC URI serial contains '" + std::string(1, c) +
                                  "', which must be written %" +
                                  ByteHex(static_cast<unsigned char>(c)).substr(2));
    }
  }
  auto serial = PercentDecode("serial", raw_serial);
  if (!serial.ok()) return serial.status();
  std::string data_digits;
  data_digits += item_ref[0];
  data_digits += prefix;
  data_digits += item_ref.substr(1);
  const std::string gtin = data_digits + static_cast<char>('0' + Gs1CheckDigit(data_digits));
  return MakeItemId(gtin, std::move(serial).value());
}

// Text shaped exactly like the canonical form: "01/", 14 digits, "/21/".
bool HasCanonicalShape(std::string_view s) {
  return s.size() >= 21 && s.substr(0, 3) == "01/" && AllDigits(s.substr(3, 14)) &&
         s.substr(17, 4) == "/21/";
}

// The scheme of "<scheme>://...", or empty when the text does not start with one.
std::string_view SchemeOf(std::string_view s) {
  const size_t end = s.find("://");
  if (end == std::string_view::npos || end == 0 || !IsAlpha(s[0])) return {};
  for (size_t i = 1; i < end; ++i) {
    const char c = s[i];
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return {};
  }
  return s.substr(0, end);
}

}  // namespace

std::string ItemId::Canonical() const {
  return "01/" + gtin14 + "/21/" + serial;
}

std::string ItemId::DigitalLinkUrl(std::string_view base) const {
  if (!base.empty() && base.back() == '/') base.remove_suffix(1);
  std::string out(base);
  out += "/01/";
  out += gtin14;
  out += "/21/";
  // GS1 Digital Link URI Syntax 1.2 §4.8 lists ! " % & ' ( ) * + , / : ; < = > ? as the set-82
  // characters to percent-encode in a value; the rest of set 82 is exactly RFC 3986's unreserved
  // ALPHA DIGIT - . _ . Encoding every other byte also keeps a hand-built, invalid serial from
  // breaking the URL's structure.
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : serial) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsAlpha(ch) || IsDigit(ch) || ch == '-' || ch == '.' || ch == '_') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string ItemId::ElementString() const {
  std::string out = "(01)" + gtin14 + "(21)";
  for (char c : serial) {
    if (c == '(') out += '\\';
    out += c;
  }
  return out;
}

Hash256 ItemId::Key() const {
  return Sha256Of(std::string_view(Canonical()));
}

Result<ItemId> ParseItemId(std::string_view input) {
  if (input.empty()) return Status::InvalidInput("item id is empty");
  if (input.size() > kItemIdInputBytesMax) {
    return Status::InvalidInput("item id is " + std::to_string(input.size()) + " bytes; at most " +
                                std::to_string(kItemIdInputBytesMax) + " are accepted");
  }
  for (size_t i = 0; i < input.size(); ++i) {
    const auto c = static_cast<unsigned char>(input[i]);
    if (c >= 0x80) {
      return Status::InvalidInput("item id contains non-ASCII byte " + ByteHex(c) + " at offset " +
                                  std::to_string(i) + "; GS1 identifiers are ASCII only");
    }
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidInput("item id contains control character " + ByteHex(c) +
                                  " at offset " + std::to_string(i));
    }
  }
  if (input.front() == ' ' || input.back() == ' ') {
    return Status::InvalidInput("item id has a leading or trailing space; remove it");
  }

  const std::string_view scheme = SchemeOf(input);
  if (!scheme.empty()) {
    // GS1's syntax engine takes the scheme in lower or upper case, never mixed.
    const bool http = scheme == "http" || scheme == "HTTP";
    const bool https = scheme == "https" || scheme == "HTTPS";
    if (!http && !https) {
      const bool http_word =
          StartsWithNoCase(scheme, "http") &&
          (scheme.size() == 4 || (scheme.size() == 5 && ToLowerAscii(scheme[4]) == 's'));
      if (http_word) {
        return Status::InvalidInput(
            "Digital Link URL scheme must be all lower or all upper case "
            "(http, https, HTTP or HTTPS), found '" +
            std::string(scheme) + "'");
      }
      return Status::InvalidInput("Digital Link URL must use http or https, found '" +
                                  std::string(scheme) + "'");
    }
    return ParseDlUrl(input);
  }
  if (StartsWithNoCase(input, kEpcPrefix)) return ParseEpcUri(input);
  if (StartsWithNoCase(input, "urn:epc:")) {
    return Status::InvalidInput(
        "EPC URI is not an SGTIN: expected urn:epc:id:sgtin:<company prefix>.<indicator digit and "
        "item reference>.<serial>");
  }
  if (input.front() == '(') return ParseElementString(input);
  if (HasCanonicalShape(input)) {
    // Our own output must read back unchanged, so the canonical reading wins whenever it is
    // valid; otherwise the text may still be a Digital Link path (with escapes or a query).
    auto canonical = ParseCanonicalItemId(input);
    if (canonical.ok()) return canonical;
    return ParseDlPath(input, /*in_url=*/false);
  }
  if (input.front() == '/' || input.starts_with("01/") || input.starts_with("gtin/")) {
    return ParseDlPath(input, /*in_url=*/false);
  }
  const size_t n = input.size();
  if (AllDigits(input) && (n == 8 || n == 12 || n == 13 || n == 14)) {
    return Status::InvalidInput(
        "a GTIN alone names a product, not an item: add a serial, as in 01/<GTIN>/21/<serial>");
  }
  return Status::InvalidInput(std::string(kUnrecognised));
}

Result<ItemId> ParseCanonicalItemId(std::string_view canonical) {
  if (canonical.size() > kItemIdInputBytesMax || !HasCanonicalShape(canonical)) {
    return Status::InvalidInput("item id is not in canonical form 01/<14-digit GTIN>/21/<serial>");
  }
  return MakeItemId(canonical.substr(3, 14), std::string(canonical.substr(21)));
}

Status ValidateItemId(const ItemId& id) {
  if (id.gtin14.size() != 14) {
    return Status::InvalidInput("GTIN must be 14 digits here, found " +
                                std::to_string(id.gtin14.size()) + " characters");
  }
  auto gtin = NormaliseGtin(id.gtin14);
  if (!gtin.ok()) return gtin.status();
  return CheckGs1Text("serial", id.serial);
}

int Gs1CheckDigit(std::string_view data_digits) {
  int sum = 0;
  int weight = 3;  // The data digit next to the check digit weighs 3.
  for (size_t i = data_digits.size(); i-- > 0;) {
    const char c = data_digits[i];
    HM_ASSERT(IsDigit(c));
    sum += weight * (c - '0');
    weight = 4 - weight;
  }
  return (10 - sum % 10) % 10;
}

bool HasValidCheckDigit(std::string_view digits) {
  const size_t n = digits.size();
  if (n != 8 && n != 12 && n != 13 && n != 14 && n != 18) return false;
  if (!AllDigits(digits)) return false;
  return Gs1CheckDigit(digits.substr(0, n - 1)) == digits.back() - '0';
}

std::string_view CompanyPrefixRegion(std::string_view gtin14) {
  HM_ASSERT(gtin14.size() == 14);
  return gtin14.substr(1, 12);
}

std::string_view CompanyPrefixRegion(const ItemId& id) {
  return CompanyPrefixRegion(std::string_view(id.gtin14));
}

}  // namespace hallmark::core
