// `hallmark qr` and `hallmark page` (wallet-cli/qr_code.h, wallet-cli/qr_commands.h): the QR
// symbol's module matrix drawn exactly (SVG path, PNG pixels read back by an independent reader
// here, terminal text), the checksums against known vectors, the Digital Link's domain from
// --domain, genesis and the node, refusals, and the page's embedded configuration.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cli_runner.h"
#include "core/codec.h"
#include "core/crypto/sha256.h"
#include "core/genesis.h"
#include "core/json.h"
#include "fixtures.h"
#include "live_node.h"
#include "proto/web.pb.h"
#include "test_util.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/qr_code.h"
#include "wallet-cli/qr_commands.h"

using namespace hallmark;
using test::CliRun;
using test::RunCli;
using wallet::QrEcLevel;
using wallet::QrMatrix;

namespace {

bool Contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A genesis file of the test network with maison's resolver_domain and website set.
std::filesystem::path WriteGenesis(const std::filesystem::path& dir, const std::string& domain,
                                   const std::string& website = "") {
  pb::Genesis g = test::TestGenesis();
  for (auto& org : *g.mutable_organizations()) {
    if (org.id() == "maison") {
      org.set_resolver_domain(domain);
      org.set_website(website);
    }
  }
  auto json = core::ToJson(g);
  REQUIRE(json.ok());
  const std::filesystem::path path = dir / "genesis.json";
  std::ofstream(path) << *json;
  return path;
}

uint32_t U32(std::string_view s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(s[at + 3])};
}

// Reads a zlib stream of stored deflate blocks (RFC 1950, RFC 1951 §3.2.4), checking the header,
// each block's NLEN and the Adler-32. Another block type fails the test: the writer makes none.
std::string InflateStored(std::string_view z) {
  REQUIRE(z.size() >= 6);
  REQUIRE((static_cast<uint8_t>(z[0]) & 0x0F) == 8);  // Deflate.
  REQUIRE(((static_cast<uint8_t>(z[0]) << 8) | static_cast<uint8_t>(z[1])) % 31 == 0);
  REQUIRE((static_cast<uint8_t>(z[1]) & 0x20) == 0);  // No preset dictionary.
  std::string out;
  size_t pos = 2;
  for (bool last = false; !last;) {
    REQUIRE(pos + 5 <= z.size());
    const uint8_t header = static_cast<uint8_t>(z[pos]);
    last = header & 1;
    REQUIRE(((header >> 1) & 3) == 0);  // Stored.
    const uint16_t len = static_cast<uint16_t>(static_cast<uint8_t>(z[pos + 1]) |
                                               (static_cast<uint8_t>(z[pos + 2]) << 8));
    const uint16_t nlen = static_cast<uint16_t>(static_cast<uint8_t>(z[pos + 3]) |
                                                (static_cast<uint8_t>(z[pos + 4]) << 8));
    REQUIRE(static_cast<uint16_t>(~len) == nlen);
    pos += 5;
    REQUIRE(pos + len <= z.size());
    out.append(z.substr(pos, len));
    pos += len;
  }
  REQUIRE(pos + 4 == z.size());
  CHECK(U32(z, pos) == wallet::Adler32(out));
  return out;
}

struct Png {
  uint32_t width = 0, height = 0;
  uint32_t per_metre = 0;
  std::vector<std::vector<bool>> black;  // [y][x]
};

// An independent reader for what QrPng writes: signature, chunks with their CRCs, 1-bit grey.
Png ReadPng(std::string_view png) {
  REQUIRE(png.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8));
  Png out;
  std::string idat;
  std::vector<std::string> order;
  size_t pos = 8;
  while (pos < png.size()) {
    REQUIRE(pos + 12 <= png.size());
    const uint32_t len = U32(png, pos);
    REQUIRE(pos + 12 + len <= png.size());
    const std::string type(png.substr(pos + 4, 4));
    const std::string_view data = png.substr(pos + 8, len);
    CHECK_MESSAGE(U32(png, pos + 8 + len) == wallet::Crc32(png.substr(pos + 4, 4 + len)), type);
    order.push_back(type);
    if (type == "IHDR") {
      REQUIRE(len == 13);
      out.width = U32(data, 0);
      out.height = U32(data, 4);
      CHECK(data[8] == 1);   // Bit depth.
      CHECK(data[9] == 0);   // Greyscale.
      CHECK(data[10] == 0);  // Deflate.
      CHECK(data[11] == 0);
      CHECK(data[12] == 0);  // Not interlaced.
    } else if (type == "pHYs") {
      REQUIRE(len == 9);
      out.per_metre = U32(data, 0);
      CHECK(U32(data, 4) == out.per_metre);
      CHECK(data[8] == 1);
    } else if (type == "IDAT") {
      idat += data;
    }
    pos += 12 + len;
  }
  CHECK(order == std::vector<std::string>{"IHDR", "pHYs", "IDAT", "IEND"});
  const std::string raw = InflateStored(idat);
  const size_t row_bytes = (out.width + 7) / 8;
  REQUIRE(raw.size() == (row_bytes + 1) * out.height);
  for (uint32_t y = 0; y < out.height; ++y) {
    const size_t row = y * (row_bytes + 1);
    CHECK(raw[row] == 0);  // Filter: None.
    std::vector<bool> line;
    for (uint32_t x = 0; x < out.width; ++x) {
      const uint8_t byte = static_cast<uint8_t>(raw[row + 1 + x / 8]);
      line.push_back(((byte >> (7 - x % 8)) & 1) == 0);
    }
    out.black.push_back(std::move(line));
  }
  return out;
}

// The modules the SVG's path covers, from its "M x y h n v1 h-n z" rectangles; every rectangle
// must be one module high and inside the symbol, and none may overlap another.
std::set<std::pair<int, int>> SvgDarkModules(const std::string& svg, int total) {
  std::smatch path;
  REQUIRE(std::regex_search(svg, path, std::regex("<path fill=\"#000\" d=\"([^\"]*)\"/>")));
  const std::string d = path[1];
  std::set<std::pair<int, int>> cells;
  std::regex rect("M(\\d+) (\\d+)h(\\d+)v1h-(\\d+)z");
  size_t covered = 0;
  for (auto it = std::sregex_iterator(d.begin(), d.end(), rect); it != std::sregex_iterator();
       ++it) {
    const int x = std::stoi((*it)[1]), y = std::stoi((*it)[2]), n = std::stoi((*it)[3]);
    CHECK(std::stoi((*it)[4]) == n);
    covered += it->length();
    for (int i = 0; i < n; ++i) {
      CHECK(x + i < total);
      CHECK(y < total);
      CHECK(cells.insert({x + i, y}).second);
    }
  }
  CHECK(covered == d.size());  // Nothing in the path but those rectangles.
  return cells;
}

std::set<std::pair<int, int>> MatrixDarkModules(const QrMatrix& qr) {
  std::set<std::pair<int, int>> cells;
  for (int y = 0; y < qr.size; ++y) {
    for (int x = 0; x < qr.size; ++x) {
      if (qr.Dark(x, y)) {
        cells.insert({x + wallet::kQrQuietZoneModules, y + wallet::kQrQuietZoneModules});
      }
    }
  }
  return cells;
}

// The light/dark grid (quiet zone included) that terminal text draws: █ ▀ ▄ and spaces.
std::vector<std::vector<bool>> TerminalLight(const std::string& text, int total) {
  std::vector<std::vector<bool>> light(total + 1, std::vector<bool>(total, false));
  std::istringstream in(text);
  std::string line;
  int y = 0;
  while (std::getline(in, line)) {
    int x = 0;
    for (size_t i = 0; i < line.size(); ++x) {
      REQUIRE(x < total);
      if (line[i] == ' ') {
        ++i;
        continue;
      }
      const std::string glyph = line.substr(i, 3);
      i += 3;
      light[y][x] = glyph == "\u2588" || glyph == "\u2580";
      light[y + 1][x] = glyph == "\u2588" || glyph == "\u2584";
      REQUIRE((glyph == "\u2588" || glyph == "\u2580" || glyph == "\u2584"));
    }
    CHECK(x == total);
    y += 2;
  }
  CHECK(y == total + (total % 2));
  return light;
}

constexpr const char* kUrl = "https://id.gs1.org/01/09506000134352/21/ABC123";

}  // namespace

TEST_CASE("qr checksums: CRC-32 and Adler-32 match their published check values") {
  // CRC-32/ISO-HDLC check value (the "123456789" vector of the CRC catalogue); Adler-32 of
  // "Wikipedia" as in RFC 1950's worked examples elsewhere (0x11E60398).
  CHECK(wallet::Crc32("123456789") == 0xCBF43926u);
  CHECK(wallet::Crc32("") == 0u);
  CHECK(wallet::Crc32("56789", wallet::Crc32("1234")) == 0xCBF43926u);
  CHECK(wallet::Crc32("IEND") == 0xAE426082u);  // Every PNG ends with this CRC.
  CHECK(wallet::Adler32("Wikipedia") == 0x11E60398u);
  CHECK(wallet::Adler32("") == 1u);
  CHECK(wallet::Adler32("pedia", wallet::Adler32("Wiki")) == 0x11E60398u);
  // Adler-32's sums wrap at 65,521: a megabyte of 0xFF.
  const std::string ff(1 << 20, '\xff');
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < ff.size(); ++i) {
    a = (a + 255) % 65521;
    b = (b + a) % 65521;
  }
  CHECK(wallet::Adler32(ff) == ((b << 16) | a));
}

TEST_CASE("qr zlib: stored blocks of at most 65,535 bytes round-trip, the empty input too") {
  for (size_t n : {size_t{0}, size_t{1}, size_t{65535}, size_t{65536}, size_t{200000}}) {
    CAPTURE(n);
    std::string data(n, '\0');
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>(i * 7 + (i >> 8));
    const std::string z = wallet::ZlibStored(data);
    CHECK(z.size() == 2 + 5 * std::max<size_t>(1, (n + 65534) / 65535) + n + 4);
    CHECK(InflateStored(z) == data);
  }
}

TEST_CASE("qr encode: libqrencode's symbol has the finder and timing patterns and fits the text") {
  auto qr = wallet::EncodeQr(kUrl, QrEcLevel::kM);
  REQUIRE(qr.ok());
  CHECK(qr->size == 17 + 4 * qr->version);
  CHECK(qr->version == 4);  // 46 bytes at M: version 3 holds 42, version 4 holds 62.
  CHECK(qr->dark.size() == static_cast<size_t>(qr->size * qr->size));
  // Finder patterns in three corners: a dark 7×7 ring, a light ring, a dark 3×3 centre.
  auto finder_at = [&](int ox, int oy) {
    for (int y = 0; y < 7; ++y) {
      for (int x = 0; x < 7; ++x) {
        const bool ring = x == 0 || y == 0 || x == 6 || y == 6;
        const bool centre = x >= 2 && x <= 4 && y >= 2 && y <= 4;
        if (qr->Dark(ox + x, oy + y) != (ring || centre)) return false;
      }
    }
    return true;
  };
  CHECK(finder_at(0, 0));
  CHECK(finder_at(qr->size - 7, 0));
  CHECK(finder_at(0, qr->size - 7));
  CHECK_FALSE(finder_at(qr->size - 7, qr->size - 7));
  // Timing patterns: row 6 and column 6 alternate between the finders.
  for (int i = 8; i < qr->size - 8; ++i) {
    CHECK(qr->Dark(i, 6) == (i % 2 == 0));
    CHECK(qr->Dark(6, i) == (i % 2 == 0));
  }
  // Higher levels need more modules for the same text.
  auto h = wallet::EncodeQr(kUrl, QrEcLevel::kH);
  REQUIRE(h.ok());
  CHECK(h->version > qr->version);
  // Deterministic.
  CHECK(wallet::EncodeQr(kUrl, QrEcLevel::kM)->dark == qr->dark);
}

TEST_CASE("qr encode: a text too long for the level is refused, saying how much fits") {
  auto fits = wallet::EncodeQr(std::string(1273, 'a'), QrEcLevel::kH);
  REQUIRE(fits.ok());
  CHECK(fits->version == 40);
  auto over = wallet::EncodeQr(std::string(1274, 'a'), QrEcLevel::kH);
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == core::StatusCode::kInvalidInput);
  CHECK(Contains(over.status().message(), "at most 1273"));
  CHECK(wallet::EncodeQr(std::string(1274, 'a'), QrEcLevel::kL).ok());
  CHECK(Contains(wallet::EncodeQr(std::string(2954, 'a'), QrEcLevel::kL).status().message(),
                 "at most 2953"));
  CHECK_FALSE(wallet::EncodeQr("", QrEcLevel::kM).ok());
  // Bytes are bytes: a NUL does not end the text.
  auto nul = wallet::EncodeQr(std::string("a\0b", 3), QrEcLevel::kM);
  REQUIRE(nul.ok());
  CHECK(nul->dark != wallet::EncodeQr("a", QrEcLevel::kM)->dark);
  CHECK(wallet::ParseQrEcLevel("q").value() == QrEcLevel::kQ);
  CHECK(Contains(wallet::ParseQrEcLevel("X").status().message(), "L, M, Q or H"));
  CHECK_FALSE(wallet::ParseQrEcLevel("MM").ok());
  CHECK_FALSE(wallet::ParseQrEcLevel("").ok());
}

TEST_CASE("qr svg: the path covers exactly the dark modules, sized in millimetres") {
  for (QrEcLevel level : {QrEcLevel::kL, QrEcLevel::kM, QrEcLevel::kQ, QrEcLevel::kH}) {
    auto qr = wallet::EncodeQr(kUrl, level);
    REQUIRE(qr.ok());
    const std::string svg = wallet::QrSvg(*qr, 25.5);
    const std::string n = std::to_string(qr->total());
    CHECK(Contains(svg, "viewBox=\"0 0 " + n + " " + n + "\""));
    CHECK(Contains(svg, "width=\"25.5mm\" height=\"25.5mm\""));
    CHECK(SvgDarkModules(svg, qr->total()) == MatrixDarkModules(*qr));
  }
}

TEST_CASE("qr png: the pixels read back are the modules, scaled, with the quiet zone") {
  auto qr = wallet::EncodeQr(kUrl, QrEcLevel::kQ);
  REQUIRE(qr.ok());
  for (int scale : {1, 3, 8}) {
    CAPTURE(scale);
    const Png png = ReadPng(wallet::QrPng(*qr, scale, 20.0));
    const int total = qr->total();
    REQUIRE(png.width == static_cast<uint32_t>(total * scale));
    REQUIRE(png.height == png.width);
    CHECK(png.per_metre == static_cast<uint32_t>(std::lround(png.width / 0.020)));
    int mismatches = 0;
    for (uint32_t y = 0; y < png.height; ++y) {
      for (uint32_t x = 0; x < png.width; ++x) {
        const int mx = static_cast<int>(x) / scale - wallet::kQrQuietZoneModules;
        const int my = static_cast<int>(y) / scale - wallet::kQrQuietZoneModules;
        const bool dark = mx >= 0 && my >= 0 && mx < qr->size && my < qr->size && qr->Dark(mx, my);
        mismatches += png.black[y][x] != dark;
      }
    }
    CHECK(mismatches == 0);
  }
  // A large symbol needs more than one stored block.
  auto big = wallet::EncodeQr(std::string(1000, 'x'), QrEcLevel::kL);
  REQUIRE(big.ok());
  const Png png = ReadPng(wallet::QrPng(*big, 16, 100.0));
  CHECK(png.width == static_cast<uint32_t>(big->total() * 16));
}

TEST_CASE("qr terminal: half blocks draw the light modules, two rows a line") {
  auto qr = wallet::EncodeQr(kUrl, QrEcLevel::kM);
  REQUIRE(qr.ok());
  const int total = qr->total();
  auto light = TerminalLight(wallet::QrTerminalText(*qr, false), total);
  for (int y = 0; y < total; ++y) {
    for (int x = 0; x < total; ++x) {
      const int mx = x - wallet::kQrQuietZoneModules, my = y - wallet::kQrQuietZoneModules;
      const bool dark = mx >= 0 && my >= 0 && mx < qr->size && my < qr->size && qr->Dark(mx, my);
      CHECK(light[y][x] == !dark);
    }
  }
  const std::string colored = wallet::QrTerminalText(*qr, true);
  CHECK(colored.rfind("\x1b[97;40m", 0) == 0);
  CHECK(Contains(colored, "\x1b[0m\n"));
}

TEST_CASE("qr size: the default is 20 mm or more, never under GS1's 0.396 mm a module") {
  for (size_t len : {size_t{20}, size_t{60}, size_t{120}, size_t{300}}) {
    auto qr = wallet::EncodeQr(std::string(len, 'a'), QrEcLevel::kM);
    REQUIRE(qr.ok());
    const double mm = wallet::DefaultQrSizeMm(*qr);
    CHECK(mm >= wallet::kQrDefaultSizeMm);
    CHECK(mm / qr->total() >= wallet::kGs1MinXDimensionMm);
    CHECK(mm - 0.1 < std::max(20.0, qr->total() * wallet::kGs1MinXDimensionMm));
  }
}

TEST_CASE("qr domain: --domain, else the brand's resolver_domain, else id.gs1.org") {
  pb::Genesis g = test::TestGenesis();
  g.mutable_organizations(0)->set_resolver_domain("id.maison.example");
  REQUIRE(g.organizations(0).id() == "maison");
  auto net = core::Network::FromProto(g);
  REQUIRE(net.ok());
  auto maison_item = core::ParseItemId(test::kMaisonItem).value();
  auto other_item = core::ParseItemId("01/09521234543213/21/X").value();
  CHECK(wallet::ResolverBase(maison_item, &*net, "").value() == "https://id.maison.example");
  CHECK(wallet::ResolverBase(other_item, &*net, "").value() == "https://id.gs1.org");
  CHECK(wallet::ResolverBase(maison_item, nullptr, "").value() == "https://id.gs1.org");
  CHECK(wallet::ResolverBase(maison_item, &*net, "qr.example.org").value() ==
        "https://qr.example.org");
  CHECK(Contains(wallet::ResolverBase(maison_item, &*net, "https://x.org").status().message(),
                 "--domain: resolver_domain"));

  // A node's answer is checked before use.
  pb::NetworkResponse members;
  pb::OrganizationView* brand = members.add_members();
  brand->set_id("maison");
  brand->add_roles(pb::BRAND);
  brand->add_gs1_company_prefixes("0614141");
  brand->set_resolver_domain("id.maison.example");
  CHECK(wallet::ResolverBaseFromMembers(maison_item, members).value() ==
        "https://id.maison.example");
  CHECK(wallet::ResolverBaseFromMembers(other_item, members).value() == "https://id.gs1.org");
  brand->set_resolver_domain("evil.example/phish?");
  auto bad = wallet::ResolverBaseFromMembers(maison_item, members);
  REQUIRE_FALSE(bad.ok());
  CHECK(Contains(bad.status().message(), "the node's answer for brand \"maison\""));
  brand->set_resolver_domain("");
  CHECK(wallet::ResolverBaseFromMembers(maison_item, members).value() == "https://id.gs1.org");
  // Only brands own prefixes.
  brand->set_resolver_domain("id.maison.example");
  brand->set_roles(0, pb::MARKETPLACE);
  CHECK(wallet::ResolverBaseFromMembers(maison_item, members).value() == "https://id.gs1.org");
}

TEST_CASE("cli qr: prints the Digital Link and the code, or writes SVG and PNG files whole") {
  ::unsetenv(wallet::kNodeEnvVar);
  test::TempDir dir;
  const auto genesis = WriteGenesis(dir.path(), "id.maison.example");
  const std::string url = "https://id.maison.example/01/00614141000012/21/BAG-0001";

  CliRun text = RunCli({"qr", test::kMaisonItem, "--genesis", genesis.string()});
  INFO(text.err);
  REQUIRE(text.code == 0);
  REQUIRE(text.out.rfind(url + "\n", 0) == 0);
  auto qr = wallet::EncodeQr(url, QrEcLevel::kM);
  REQUIRE(qr.ok());
  CHECK(text.out.substr(url.size() + 1) == wallet::QrTerminalText(*qr, false));

  // Without genesis: GS1's resolver. --domain and --base override.
  CliRun plain = RunCli({"qr", "(01)00614141000012(21)BAG-0001"});
  CHECK(plain.code == 0);
  CHECK(plain.out.rfind("https://id.gs1.org/01/00614141000012/21/BAG-0001\n", 0) == 0);
  CliRun domain = RunCli(
      {"qr", test::kMaisonItem, "--genesis", genesis.string(), "--domain", "qr.example.org"});
  CHECK(domain.out.rfind("https://qr.example.org/01/", 0) == 0);
  CliRun base = RunCli({"qr", test::kMaisonItem, "--base", "http://127.0.0.1:7800/"});
  CHECK(base.out.rfind("http://127.0.0.1:7800/01/00614141000012/21/BAG-0001\n", 0) == 0);

  const auto svg_path = dir.path() / "bag.SVG";
  CliRun svg = RunCli({"qr", test::kMaisonItem, "--genesis", genesis.string(), "--out",
                       svg_path.string(), "--size", "30"});
  INFO(svg.err);
  REQUIRE(svg.code == 0);
  CHECK(svg.out == url + "\n");
  CHECK(Contains(svg.err, "30.0 mm wide"));
  const std::string svg_text = ReadAll(svg_path);
  CHECK(Contains(svg_text, "width=\"30mm\""));
  CHECK(SvgDarkModules(svg_text, qr->total()) == MatrixDarkModules(*qr));

  const auto png_path = dir.path() / "bag.png";
  CliRun png = RunCli({"qr", test::kMaisonItem, "--genesis", genesis.string(), "--out",
                       png_path.string(), "--ec", "H"});
  INFO(png.err);
  REQUIRE(png.code == 0);
  auto qr_h = wallet::EncodeQr(url, QrEcLevel::kH);
  REQUIRE(qr_h.ok());
  const Png image = ReadPng(ReadAll(png_path));
  const uint32_t scale = image.width / qr_h->total();
  CHECK(image.width == scale * qr_h->total());
  CHECK(scale >= 8);
  CHECK(image.black[(wallet::kQrQuietZoneModules)*scale][(wallet::kQrQuietZoneModules)*scale]);
  CHECK(!image.black[0][0]);
  // Printed at the default width: 20 mm or more.
  CHECK(image.width / (image.per_metre / 1000.0) >= 19.99);
  CliRun scaled = RunCli({"qr", test::kMaisonItem, "--out", png_path.string(), "--scale", "2"});
  REQUIRE(scaled.code == 0);
  CHECK(ReadPng(ReadAll(png_path)).width ==
        static_cast<uint32_t>(2 * wallet::EncodeQr("https://id.gs1.org/01/00614141000012/21/"
                                                   "BAG-0001",
                                                   QrEcLevel::kM)
                                      ->total()));
  CHECK(Contains(RunCli({"qr", test::kMaisonItem, "--out", svg_path.string(), "--size", "8"}).err,
                 "0.396"));
}

TEST_CASE("cli qr: bad input is refused with a clear message, and no file is touched") {
  ::unsetenv(wallet::kNodeEnvVar);
  test::TempDir dir;
  const auto out = dir.path() / "bag.svg";
  std::ofstream(out) << "before";
  const auto genesis = WriteGenesis(dir.path(), "");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"qr", "01/123/21/x", "--out", out.string()}, 2, "invalid item id"},
      {{"qr", test::kMaisonItem, "--out", (dir.path() / "bag.jpg").string()}, 3, ".svg or .png"},
      {{"qr", test::kMaisonItem, "--out", (dir.path() / "bag").string()}, 3, ".svg or .png"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--ec", "X"}, 3, "L, M, Q or H"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--scale", "4"}, 3, "--scale is for PNG"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--size", "20", "--scale", "4"},
       3,
       "not both"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--size", "2"}, 3, "--size must be"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--size", "nan"}, 3, ""},
      {{"qr", test::kMaisonItem, "--out", (dir.path() / "b.png").string(), "--scale", "0"},
       3,
       "--scale must be"},
      {{"qr", test::kMaisonItem, "--size", "20"}, 3, "for --out"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--domain", "Maison.Example"},
       2,
       "lower case"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--domain", "a.example", "--base",
        "https://b.example"},
       3,
       "not both"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--base", "ftp://b.example"}, 2, "--base"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--base", "https://b.example/?q"},
       2,
       "query"},
      {{"qr", test::kMaisonItem, "--out", out.string(), "--genesis",
        (dir.path() / "missing.json").string()},
       3,
       "--genesis"},
      {{"qr", test::kMaisonItem, "--out", (dir.path() / "no" / "such" / "dir.svg").string()},
       3,
       "cannot write"},
      // A domain of 253 bytes still fits at every level: the URL stays far below the limits.
      {{"qr", test::kMaisonItem, "--out", out.string(), "--ec", "H", "--domain",
        std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
            std::string(61, 'd')},
       0,
       ""},
  };
  for (const Case& c : cases) {
    CliRun r = RunCli(c.args);
    CAPTURE(c.args);
    INFO(r.err);
    CHECK(r.code == c.code);
    CHECK(Contains(r.err, c.words));
    if (c.code != 0) CHECK(ReadAll(out) == "before");
  }
  CHECK(!std::filesystem::exists(dir.path() / "bag.jpg"));
  // No temporary file is left behind.
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    names.insert(e.path().filename().string());
  }
  CHECK(names == std::set<std::string>{"bag.svg", "genesis.json"});
}

TEST_CASE("cli qr --node: the brand's resolver_domain as governance set it, and its checks") {
  ::unsetenv(wallet::kNodeEnvVar);
  test::LiveNode node;
  test::TempDir dir;
  // The node's membership: maison has no resolver_domain yet → GS1's.
  CliRun r = RunCli({"--node", node.url(), "qr", test::kMaisonItem});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("https://id.gs1.org/01/00614141000012/21/BAG-0001\n", 0) == 0);
  // --genesis of the same network is fine; of another network, refused.
  const auto same = dir.path() / "same.json";
  std::ofstream(same) << core::ToJson(node.network().genesis()).value();
  CHECK(RunCli({"--node", node.url(), "qr", test::kMaisonItem, "--genesis", same.string()}).code ==
        0);
  const auto other = WriteGenesis(dir.path(), "id.maison.example");
  CliRun mismatch =
      RunCli({"--node", node.url(), "qr", test::kMaisonItem, "--genesis", other.string()});
  CHECK(mismatch.code == 2);
  CHECK(Contains(mismatch.err, "not the --genesis file's"));
  // No node there.
  CliRun down = RunCli({"--node", "http://127.0.0.1:1", "qr", test::kMaisonItem, "--timeout", "2"});
  CHECK(down.code == 3);
  CHECK(Contains(down.err, "cannot read the network"));
}

// --- page ---

namespace {

// The page's configuration, read back from its <script id="hallmark-config"> element.
pb::PageConfig EmbeddedConfig(const std::string& html) {
  const std::string open = "<script id=\"hallmark-config\" type=\"application/json\">";
  const size_t start = html.find(open);
  REQUIRE(start != std::string::npos);
  const size_t end = html.find("</script>", start);
  REQUIRE(end != std::string::npos);
  const std::string json = html.substr(start + open.size(), end - start - open.size());
  pb::PageConfig config;
  core::Status st = core::ParseJsonStrict(json, &config, core::JsonLimits{});
  REQUIRE_MESSAGE(st.ok(), st.message());
  return config;
}

size_t Count(const std::string& s, std::string_view part) {
  size_t n = 0;
  for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("cli page: the page embeds the nodes, genesis' hashed bytes and the item") {
  ::unsetenv(wallet::kNodeEnvVar);
  test::TempDir dir;
  const auto genesis = WriteGenesis(dir.path(), "id.maison.example");
  const auto out = dir.path() / "bag.html";
  CliRun r =
      RunCli({"--node", "https://node-a.example:8443/api/", "--node", "http://127.0.0.1:7800",
              "page", "https://id.gs1.org/01/00614141000012/21/BAG-0001", "--genesis",
              genesis.string(), "--out", out.string()});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(Contains(r.err, "wrote the page of 01/00614141000012/21/BAG-0001"));
  CHECK(Contains(r.err, "plain http"));
  const std::string html = ReadAll(out);
  const pb::PageConfig config = EmbeddedConfig(html);
  REQUIRE(config.nodes_size() == 2);
  CHECK(config.nodes(0) == "https://node-a.example:8443/api");
  CHECK(config.nodes(1) == "http://127.0.0.1:7800");
  auto net = core::Network::FromFile(genesis);
  REQUIRE(net.ok());
  CHECK(core::Sha256Of(std::string_view(config.genesis())) == net->hash());
  CHECK(config.item_id() == "01/00614141000012/21/BAG-0001");
  CHECK(config.digital_link() == "https://id.maison.example/01/00614141000012/21/BAG-0001");

  // Without ID: any item, from the page's address. To standard output without --out.
  CliRun any = RunCli({"--node", "http://127.0.0.1:7800", "page", "--genesis", genesis.string()});
  REQUIRE(any.code == 0);
  const pb::PageConfig any_config = EmbeddedConfig(any.out);
  CHECK(any_config.item_id().empty());
  CHECK(any_config.digital_link().empty());
  CHECK(any_config.genesis() == config.genesis());
}

TEST_CASE("cli page: a hostile serial cannot end the script element, bad nodes are refused") {
  ::unsetenv(wallet::kNodeEnvVar);
  test::TempDir dir;
  const auto genesis = WriteGenesis(dir.path(), "");
  // '<', '/' and '>' are GS1 set-82 characters, so "</script>" is a valid serial.
  CliRun plain = RunCli({"--node", "http://127.0.0.1:7800", "page", "01/00614141000012/21/X",
                         "--genesis", genesis.string()});
  REQUIRE(plain.code == 0);
  CliRun hostile = RunCli({"--node", "http://127.0.0.1:7800", "page",
                           "01/00614141000012/21/</script><zz>", "--genesis", genesis.string()});
  INFO(hostile.err);
  REQUIRE(hostile.code == 0);
  CHECK(Count(hostile.out, "</script>") == Count(plain.out, "</script>"));
  CHECK(!Contains(hostile.out, "<zz>"));
  CHECK(EmbeddedConfig(hostile.out).item_id() == "01/00614141000012/21/</script><zz>");

  struct Case {
    std::vector<std::string> args;
    int code;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"page", "--genesis", genesis.string()}, 3, "--node URL is required"},
      {{"--node", "127.0.0.1:7800", "page", "--genesis", genesis.string()},
       3,
       "http:// or https://"},
      {{"--node", "ftp://a.example", "page", "--genesis", genesis.string()},
       3,
       "http:// or https://"},
      {{"--node", "javascript:alert(1)", "page", "--genesis", genesis.string()},
       3,
       "http:// or https://"},
      {{"--node", "http://a.example/</script>", "page", "--genesis", genesis.string()},
       3,
       "angle brackets"},
      {{"--node", "http://a.example/\"x", "page", "--genesis", genesis.string()}, 3, "quotes"},
      {{"--node", "http://user@a.example", "page", "--genesis", genesis.string()}, 3, "user info"},
      {{"--node", "http://a.example?x=1", "page", "--genesis", genesis.string()}, 3, "query"},
      {{"--node", "http://a.example", "page", "01/1/21/x", "--genesis", genesis.string()},
       2,
       "invalid item id"},
      {{"--node", "http://a.example", "page", "--genesis", (dir.path() / "none.json").string()},
       3,
       "--genesis"},
      {{"--node", "http://a.example", "page", "--domain", "x.example", "--genesis",
        genesis.string()},
       3,
       "give its ID"},
      {{"--node", "http://a.example", "--node", "http://b.example", "qr", test::kMaisonItem},
       3,
       "more than once"},
  };
  for (const Case& c : cases) {
    CliRun r = RunCli(c.args);
    CAPTURE(c.args);
    INFO(r.err);
    CHECK(r.code == c.code);
    CHECK(Contains(r.err, c.words));
    CHECK(r.out.empty());
  }
}
