#pragma once

// `hallmark qr` and `hallmark page` (docs/page.md, "Making the QR code and a saved page"):
//   - qr: an item's GS1 Digital Link on its brand's resolver domain, as a QR code to print (SVG
//     or PNG) or to show in the terminal;
//   - page: the self-contained consumer page (core::RenderItemPage) for a saved copy or a brand's
//     own site, told which nodes to ask and which genesis to verify against.
// Like the other commands, library functions that return the exit code (commands.h) and write
// only to the streams they are given; files are written whole or not at all (temporary name,
// then rename).

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/genesis.h"
#include "core/item_id.h"
#include "core/status.h"
#include "proto/api.pb.h"

namespace CLI {
class App;
}

namespace hallmark::wallet {

struct QrOptions {
  std::string item;                    // Any form ParseItemId reads.
  std::filesystem::path genesis_path;  // Optional: find the brand's resolver_domain in genesis.
  // Optional: find it in the node's current membership (GET /v1/network) instead, which knows
  // governance's updates. With genesis_path too, the node must serve that genesis.
  std::string node_url;
  std::string domain;    // --domain HOST: overrides the brand's resolver_domain.
  std::string base_url;  // --base URL: a resolver at http(s)://host[:port][/prefix] (local tests).
  std::filesystem::path out_path;  // .svg or .png; empty: the URL and the code as terminal text.
  std::optional<double> size_mm;   // Printed width with the quiet zone (SVG and PNG's pHYs).
  std::optional<int> scale_px;     // PNG: pixels per module.
  std::string ec = "M";            // L, M, Q or H.
  uint32_t timeout_ms = 0;
  bool ansi_colors = false;  // Terminal text sets its own colours (standard output is a tty).
};

// Exit codes: 0 written (the URL is printed on `out` in every case); 2 an invalid item id, domain
// or genesis, a URL too long for the level, or a node serving another network; 3 usage (an
// unknown extension, bad --size or --scale), file or network error.
int RunQr(const QrOptions& options, std::ostream& out, std::ostream& err);

struct PageOptions {
  std::string item;  // Optional: without it the page takes the item from its own address.
  std::filesystem::path genesis_path;  // Required.
  std::vector<std::string> node_urls;  // Required, http:// or https:// each.
  std::string domain;                  // For the Digital Link shown; as QrOptions::domain.
  std::filesystem::path out_path;      // Empty or "-": standard output.
};

// Exit codes: 0 written; 2 an invalid item id or genesis; 3 usage (no --node, a node URL that is
// not http(s)) or file error.
int RunPage(const PageOptions& options, std::ostream& out, std::ostream& err);

// The Digital Link resolver an item's QR code points to: `domain` when given, else its brand's
// resolver_domain in `network` (the brand owning the GTIN's company prefix), else
// core::kDefaultResolverDomain. Returns "https://HOST". InvalidInput for a bad `domain`.
core::Result<std::string> ResolverBase(const core::ItemId& item, const core::Network* network,
                                       const std::string& domain);
// The same from a node's GET /v1/network answer (members only). The answer is not trusted: a
// resolver_domain in it that is not a host name is an InvalidInput error.
core::Result<std::string> ResolverBaseFromMembers(const core::ItemId& item,
                                                  const pb::NetworkResponse& network);

// The `qr` and `page` commands on the command line. Construct on the CLI11 app before parsing;
// after parsing, parsed() says whether one of them was given and Run() runs it. `node_urls` are
// the global --node options. Not copyable; must outlive the parse.
class QrCommandLine {
 public:
  explicit QrCommandLine(CLI::App& app);
  ~QrCommandLine();
  QrCommandLine(const QrCommandLine&) = delete;
  QrCommandLine& operator=(const QrCommandLine&) = delete;

  bool parsed() const;
  // `page` takes several --node options.
  bool page_parsed() const;
  int Run(const std::vector<std::string>& node_urls, bool terminal, std::ostream& out,
          std::ostream& err);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hallmark::wallet
