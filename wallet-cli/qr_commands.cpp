#include "wallet-cli/qr_commands.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/codec.h"
#include "core/web_page.h"
#include "proto/web.pb.h"
#include "wallet-cli/commands.h"
#include "wallet-cli/format.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/qr_code.h"
#include "wallet-cli/verify_commands.h"

namespace hallmark::wallet {
namespace {

int Fail(std::ostream& err, std::string_view command, ExitCode code, std::string_view message) {
  err << command << ": " << ForTerminal(message) << "\n";
  return ToInt(code);
}

std::string LowerAscii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool HasRole(const pb::OrganizationView& org, pb::Role role) {
  for (int r : org.roles()) {
    if (r == role) return true;
  }
  return false;
}

// --base URL: http(s)://host[:port][/prefix], no query or fragment; a trailing '/' is dropped.
core::Result<std::string> CheckBaseUrl(const std::string& url) {
  std::string as_https = url;
  if (url.rfind("http://", 0) == 0) as_https = "https://" + url.substr(7);
  if (core::Status st = core::CheckWebsite(as_https); !st.ok() || as_https.empty()) {
    return core::Status::InvalidInput("--base " + url.substr(0, 80) +
                                      " must be an http:// or https:// URL with a host" +
                                      (st.ok() ? std::string() : " (" + st.message() + ")"));
  }
  if (url.find_first_of("?#") != std::string::npos) {
    return core::Status::InvalidInput("--base must not have a query string or fragment");
  }
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

std::string Fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// A node URL for a page: http:// or https:// given explicitly, parsed as the CLI parses --node,
// and only URI characters (the page puts it in fetch() calls).
core::Result<std::string> PageNodeUrl(const std::string& url) {
  const std::string lower = LowerAscii(url.substr(0, 8));
  if (lower.rfind("http://", 0) != 0 && lower.rfind("https://", 0) != 0) {
    return core::Status::InvalidInput("--node " + url.substr(0, 100) +
                                      ": the page asks nodes over http:// or https:// only; give "
                                      "the scheme");
  }
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`' || c == '{' || c == '}' || c == '|' || c == '^') {
      return core::Status::InvalidInput("--node " + url.substr(0, 100) +
                                        ": a URL holds no spaces, control or non-ASCII "
                                        "characters, quotes, backslashes or angle brackets");
    }
  }
  core::Result<NodeAddress> address = ParseNodeUrl(url);
  if (!address.ok()) return address.status();
  return address->url;
}

}  // namespace

core::Result<std::string> ResolverBase(const core::ItemId& item, const core::Network* network,
                                       const std::string& domain) {
  if (!domain.empty()) {
    if (core::Status st = core::CheckResolverDomain(domain); !st.ok()) {
      return st.WithContext("--domain");
    }
    return "https://" + domain;
  }
  if (network != nullptr) {
    const pb::Organization* brand = network->BrandForPrefixRegion(core::CompanyPrefixRegion(item));
    if (brand != nullptr && !brand->resolver_domain().empty()) {
      return "https://" + brand->resolver_domain();
    }
  }
  return "https://" + std::string(core::kDefaultResolverDomain);
}

core::Result<std::string> ResolverBaseFromMembers(const core::ItemId& item,
                                                  const pb::NetworkResponse& network) {
  const std::string_view region = core::CompanyPrefixRegion(item);
  for (const pb::OrganizationView& org : network.members()) {
    if (!HasRole(org, pb::BRAND)) continue;
    for (const std::string& prefix : org.gs1_company_prefixes()) {
      if (prefix.empty() || region.substr(0, prefix.size()) != prefix) continue;
      if (core::Status st = core::CheckResolverDomain(org.resolver_domain()); !st.ok()) {
        return st.WithContext("the node's answer for brand \"" + org.id().substr(0, 64) + "\"");
      }
      if (org.resolver_domain().empty()) break;
      return "https://" + org.resolver_domain();
    }
  }
  return "https://" + std::string(core::kDefaultResolverDomain);
}

int RunQr(const QrOptions& o, std::ostream& out, std::ostream& err) {
  constexpr std::string_view kCommand = "hallmark qr";
  auto fail = [&](ExitCode code, std::string_view message) {
    return Fail(err, kCommand, code, message);
  };
  if (o.item.empty()) return fail(ExitCode::kFileOrUsage, "give the item ID");
  if (!o.domain.empty() && !o.base_url.empty()) {
    return fail(ExitCode::kFileOrUsage, "give --domain or --base, not both");
  }
  if (o.size_mm && o.scale_px) {
    return fail(ExitCode::kFileOrUsage,
                "give --size MM or --scale PX, not both (a PNG's pixels per module follow from "
                "its size, or its size from the default)");
  }
  if (o.size_mm && !(*o.size_mm >= kQrSizeMmMin && *o.size_mm <= kQrSizeMmMax)) {
    return fail(ExitCode::kFileOrUsage, "--size must be from " + Fixed(kQrSizeMmMin, 0) + " to " +
                                            Fixed(kQrSizeMmMax, 0) + " mm");
  }
  if (o.scale_px && (*o.scale_px < 1 || *o.scale_px > kQrScalePxMax)) {
    return fail(ExitCode::kFileOrUsage,
                "--scale must be from 1 to " + std::to_string(kQrScalePxMax) + " pixels");
  }
  enum class Format { kTerminal, kSvg, kPng };
  Format format = Format::kTerminal;
  if (!o.out_path.empty()) {
    const std::string ext = LowerAscii(o.out_path.extension().string());
    if (ext == ".svg") {
      format = Format::kSvg;
    } else if (ext == ".png") {
      format = Format::kPng;
    } else {
      return fail(ExitCode::kFileOrUsage, "--out " + o.out_path.string() +
                                              ": the file name must end in .svg or .png (the "
                                              "format follows from it)");
    }
  } else if (o.size_mm || o.scale_px) {
    return fail(ExitCode::kFileOrUsage, "--size and --scale are for --out FILE.svg|FILE.png");
  }
  if (format == Format::kSvg && o.scale_px) {
    return fail(ExitCode::kFileOrUsage,
                "--scale is for PNG; an SVG is drawn in vectors and sized with --size MM");
  }
  core::Result<QrEcLevel> level = ParseQrEcLevel(o.ec);
  if (!level.ok()) return fail(ExitCode::kFileOrUsage, "--ec: " + level.status().message());
  core::Result<core::ItemId> item = core::ParseItemId(o.item);
  if (!item.ok()) {
    return fail(ExitCode::kInvalidInput, "invalid item id: " + item.status().message());
  }

  std::optional<core::Network> network;
  if (!o.genesis_path.empty()) {
    core::Result<core::Network> loaded = core::Network::FromFile(o.genesis_path);
    if (!loaded.ok()) {
      return fail(ExitCodeFor(loaded.status()),
                  "--genesis " + o.genesis_path.string() + ": " + loaded.status().message());
    }
    network = std::move(*loaded);
  }

  core::Result<std::string> base = std::string();
  if (!o.base_url.empty()) {
    base = CheckBaseUrl(o.base_url);
  } else if (!o.domain.empty() || o.node_url.empty()) {
    base = ResolverBase(*item, network ? &*network : nullptr, o.domain);
  } else {
    core::Result<NodeAddress> address = ParseNodeUrl(o.node_url);
    if (!address.ok()) return fail(ExitCode::kFileOrUsage, address.status().message());
    NodeClient node{HttpClient(*address)};
    NodeResult<pb::NetworkResponse> net = node.GetNetwork(o.timeout_ms);
    if (!net.ok()) {
      return fail(ExitCode::kFileOrUsage,
                  "cannot read the network from " + address->url + ": " + net.error().ToString());
    }
    if (network && net->genesis_hash() != network->hash().Hex()) {
      return fail(
          ExitCode::kInvalidInput,
          "the node at " + address->url + " serves network " + net->chain_id().substr(0, 64) +
              " (genesis " + net->genesis_hash().substr(0, 16) + "…), not the --genesis file's " +
              network->chain_id() + " (genesis " + network->hash().Hex().substr(0, 16) + "…)");
    }
    base = ResolverBaseFromMembers(*item, *net);
  }
  if (!base.ok()) return fail(ExitCode::kInvalidInput, base.status().message());
  const std::string url = item->DigitalLinkUrl(*base);

  core::Result<QrMatrix> qr = EncodeQr(url, *level);
  if (!qr.ok()) {
    return fail(ExitCodeFor(qr.status()), "cannot encode " + url + ": " + qr.status().message());
  }

  if (format == Format::kTerminal) {
    out << url << "\n" << QrTerminalText(*qr, o.ansi_colors);
    if (!out) return fail(ExitCode::kFileOrUsage, "cannot write to standard output");
    return ToInt(ExitCode::kOk);
  }

  const double size_mm = o.size_mm.value_or(DefaultQrSizeMm(*qr));
  const double x_mm = size_mm / qr->total();
  std::string bytes;
  int scale = 0;
  if (format == Format::kSvg) {
    bytes = QrSvg(*qr, size_mm);
  } else {
    scale = o.scale_px.value_or(std::max(
        kQrPngScalePxMin, static_cast<int>(std::ceil(x_mm / 25.4 * kQrPngDefaultDpi - 1e-9))));
    scale = std::min(scale, kQrScalePxMax);
    bytes = QrPng(*qr, scale, size_mm);
  }
  core::Status st = WriteOutputFile(o.out_path, bytes, "--out");
  if (!st.ok()) return fail(ExitCodeFor(st), st.message());
  out << url << "\n";
  err << "wrote " << o.out_path.string() << ": QR code version " << qr->version << ", error "
      << "correction " << QrEcLevelName(*level) << ", " << qr->size << "×" << qr->size
      << " modules plus a quiet zone of " << kQrQuietZoneModules << ", " << Fixed(size_mm, 1)
      << " mm wide (" << Fixed(x_mm, 3) << " mm per module"
      << (scale ? ", " + std::to_string(scale) + " px per module" : std::string()) << ")\n";
  if (x_mm < kGs1MinXDimensionMm - 1e-9 || x_mm > kGs1MaxXDimensionMm + 1e-9) {
    err << "note: GS1 asks for " << Fixed(kGs1MinXDimensionMm, 3) << " to "
        << Fixed(kGs1MaxXDimensionMm, 3)
        << " mm per module for QR codes scanned at retail point of sale; phones read other "
           "sizes too\n";
  }
  return ToInt(ExitCode::kOk);
}

int RunPage(const PageOptions& o, std::ostream& out, std::ostream& err) {
  constexpr std::string_view kCommand = "hallmark page";
  auto fail = [&](ExitCode code, std::string_view message) {
    return Fail(err, kCommand, code, message);
  };
  if (o.genesis_path.empty()) {
    return fail(ExitCode::kFileOrUsage,
                "--genesis FILE is required: the page verifies proofs against it");
  }
  if (o.node_urls.empty()) {
    return fail(ExitCode::kFileOrUsage,
                "--node URL is required (repeat it for several): a saved page asks these nodes "
                "for proofs");
  }
  pb::PageConfig config;
  for (const std::string& url : o.node_urls) {
    core::Result<std::string> node = PageNodeUrl(url);
    if (!node.ok()) return fail(ExitCode::kFileOrUsage, node.status().message());
    config.add_nodes(*node);
  }
  core::Result<core::Network> network = core::Network::FromFile(o.genesis_path);
  if (!network.ok()) {
    return fail(ExitCodeFor(network.status()),
                "--genesis " + o.genesis_path.string() + ": " + network.status().message());
  }
  // The bytes whose SHA-256 is the genesis hash (core::Network::FromProto).
  config.set_genesis(core::SerializeDeterministic(network->genesis()));
  std::string what = "the page for any item (it reads the item from its address)";
  if (!o.item.empty()) {
    core::Result<core::ItemId> item = core::ParseItemId(o.item);
    if (!item.ok()) {
      return fail(ExitCode::kInvalidInput, "invalid item id: " + item.status().message());
    }
    core::Result<std::string> base = ResolverBase(*item, &*network, o.domain);
    if (!base.ok()) return fail(ExitCode::kInvalidInput, base.status().message());
    config.set_item_id(item->Canonical());
    config.set_digital_link(item->DigitalLinkUrl(*base));
    what = "the page of " + item->Canonical();
  } else if (!o.domain.empty()) {
    return fail(ExitCode::kFileOrUsage, "--domain is for a page about one item: give its ID");
  }

  const core::RenderedPage page = core::RenderItemPage(config);
  if (o.out_path.empty() || o.out_path == "-") {
    out << page.html;
    if (!out) return fail(ExitCode::kFileOrUsage, "cannot write to standard output");
    return ToInt(ExitCode::kOk);
  }
  core::Status st = WriteOutputFile(o.out_path, page.html, "--out");
  if (!st.ok()) return fail(ExitCodeFor(st), st.message());
  err << "wrote " << what << " to " << o.out_path.string() << " (" << page.html.size()
      << " bytes; network " << network->chain_id() << ", " << config.nodes_size()
      << (config.nodes_size() == 1 ? " node" : " nodes") << ")\n";
  for (const std::string& node : config.nodes()) {
    if (node.rfind("http://", 0) == 0) {
      err << "note: " << node
          << " is plain http: a page served over https cannot ask it (browsers block mixed "
             "content); a saved file or an http page can\n";
      break;
    }
  }
  return ToInt(ExitCode::kOk);
}

struct QrCommandLine::State {
  CLI::App* qr = nullptr;
  CLI::App* page = nullptr;
  QrOptions qr_options;
  PageOptions page_options;
  std::string genesis_file;
  std::string out_file;
  double size_mm = 0;
  int scale_px = 0;
  double timeout_s = 0;
};

QrCommandLine::QrCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.qr = app.add_subcommand(
      "qr",
      "Make an item's QR code: its GS1 Digital Link https://DOMAIN/01/GTIN/21/SERIAL, where "
      "DOMAIN is --domain, else its brand's resolver_domain (from --node's current membership "
      "or --genesis), else id.gs1.org. --out FILE.svg or FILE.png to print; without --out the "
      "URL and the code are shown in the terminal");
  s.qr->add_option("ID", s.qr_options.item, "The item id, in any supported form")->required();
  s.qr->add_option("--genesis", s.genesis_file, "genesis.json: find the brand's resolver_domain");
  s.qr->add_option("--domain", s.qr_options.domain,
                   "The resolver's host name (overrides the brand's setting)");
  s.qr->add_option("--base", s.qr_options.base_url,
                   "A resolver at this URL instead, http(s)://host[:port][/prefix] (a local "
                   "node, for tests)");
  s.qr->add_option("--out", s.out_file, "FILE.svg or FILE.png (written whole, or not at all)");
  s.qr->add_option("--size", s.size_mm,
                   "Printed width in mm, quiet zone included (default 20, or more so that a "
                   "module is at least 0.396 mm as GS1 asks)");
  s.qr->add_option("--scale", s.scale_px,
                   "PNG: pixels per module (default: 300 dpi at the printed width, at least 8)");
  s.qr->add_option("--ec", s.qr_options.ec, "Error correction: L, M (default), Q or H");
  s.qr->add_option("--timeout", s.timeout_s, "Seconds to wait for the node")
      ->check(CLI::Range(0.001, 86400.0));

  s.page = app.add_subcommand(
      "page",
      "Write the consumer page (one self-contained HTML file) for a saved copy or a brand's own "
      "site: it asks the --node URLs (repeat --node) for the item's proof and verifies it in the "
      "browser against --genesis");
  s.page->add_option("ID", s.page_options.item,
                     "The item id (optional: without it, the page takes the item from its "
                     "address: a Digital Link path, ?id= or #id=)");
  s.page->add_option("--genesis", s.genesis_file, "The network's genesis.json")->required();
  s.page->add_option("--domain", s.page_options.domain,
                     "The resolver host for the Digital Link the page shows (default: the "
                     "brand's resolver_domain, else id.gs1.org)");
  s.page->add_option("--out", s.out_file,
                     "Write the page to FILE.html (written whole, or not at all); default: "
                     "standard output");
}

QrCommandLine::~QrCommandLine() = default;

bool QrCommandLine::parsed() const {
  return state_->qr->parsed() || state_->page->parsed();
}

bool QrCommandLine::page_parsed() const {
  return state_->page->parsed();
}

int QrCommandLine::Run(const std::vector<std::string>& node_urls, bool terminal, std::ostream& out,
                       std::ostream& err) {
  State& s = *state_;
  if (s.page->parsed()) {
    s.page_options.node_urls = node_urls;
    s.page_options.genesis_path = s.genesis_file;
    s.page_options.out_path = s.out_file;
    return RunPage(s.page_options, out, err);
  }
  QrOptions o = s.qr_options;
  o.node_url = node_urls.empty() ? std::string() : node_urls.back();
  o.genesis_path = s.genesis_file;
  o.out_path = s.out_file;
  if (s.qr->get_option("--size")->count() > 0) o.size_mm = s.size_mm;
  if (s.qr->get_option("--scale")->count() > 0) o.scale_px = s.scale_px;
  o.timeout_ms = static_cast<uint32_t>(std::llround(s.timeout_s * 1000));
  o.ansi_colors = terminal;
  return RunQr(o, out, err);
}

}  // namespace hallmark::wallet
