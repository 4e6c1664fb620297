#pragma once

#include <string>
#include <string_view>

#include "proto/web.pb.h"

// The consumer page behind the QR code (docs/page.md): one self-contained HTML file, its script
// and styles inline, that verifies an item's proof bundle in the browser against genesis.
// The sources are core/web/page.html, core/web/page.css, core/web/page.js (the page) and
// core/web/verifier.js (the verifier, docs/proofs.md in JavaScript); the build embeds them.
namespace hallmark::core {

struct RenderedPage {
  std::string html;
  // The Content-Security-Policy the page runs under (also in the page's own <meta> tag, so a
  // saved copy keeps it): nothing loads from anywhere, only the page's one script runs (by hash),
  // and it may connect to any node.
  std::string content_security_policy;
};

// The page with `config` embedded (as JSON, escaped so that no byte of it can end the script
// element it sits in).
RenderedPage RenderItemPage(const pb::PageConfig& config);

// The embedded sources as they are in core/web/, for tests and tools.
std::string_view VerifierJs();
std::string_view PageJs();
std::string_view PageHtmlTemplate();
std::string_view PageCss();

}  // namespace hallmark::core
