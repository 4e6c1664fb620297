#include "core/web_page.h"

#include <cstddef>
#include <initializer_list>
#include <utility>

#include "core/codec.h"
#include "core/crypto/sha256.h"

namespace hallmark::core {
namespace {

#include "core/web_assets.inc"

std::string_view View(const unsigned char* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Fills the template's markers in one pass, so that nothing inserted is ever read as a marker.
std::string Fill(std::string_view text,
                 std::initializer_list<std::pair<std::string_view, std::string_view>> markers) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t at = text.find('@', i);
    if (at == std::string_view::npos) break;
    out.append(text.substr(i, at - i));
    bool replaced = false;
    for (const auto& [marker, with] : markers) {
      if (text.substr(at).starts_with(marker)) {
        out.append(with);
        i = at + marker.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) {
      out += '@';
      i = at + 1;
    }
  }
  if (i < text.size()) out.append(text.substr(i));
  return out;
}

// JSON inside <script type="application/json">: '<', '>' and '&' as \u escapes, so that no
// value can close the element ("</script>") or open a comment; U+2028 and U+2029 as well.
std::string EscapeForScript(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < json.size() && json[i + 1] == '\x80' &&
               (json[i + 2] == '\xa8' || json[i + 2] == '\xa9')) {
      out += json[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string Base64(ByteSpan data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace

std::string_view VerifierJs() {
  return View(kVerifierJs, kVerifierJsSize);
}
std::string_view PageJs() {
  return View(kPageJs, kPageJsSize);
}
std::string_view PageHtmlTemplate() {
  return View(kPageHtml, kPageHtmlSize);
}
std::string_view PageCss() {
  return View(kPageCss, kPageCssSize);
}

RenderedPage RenderItemPage(const pb::PageConfig& config) {
  // The one script that runs: the verifier, then the page. Its hash is the CSP's only source.
  std::string script;
  script.reserve(VerifierJs().size() + PageJs().size() + 1);
  script.append(VerifierJs());
  script += '\n';
  script.append(PageJs());
  Hash256 digest = Sha256Of(std::string_view(script));

  RenderedPage page;
  page.content_security_policy =
      "default-src 'none'; script-src 'sha256-" + Base64(digest.span()) +
      "'; style-src 'unsafe-inline'; img-src data:; connect-src *; base-uri 'none'; "
      "form-action 'none'";

  Result<std::string> json = ToApiJson(config);
  // A PageConfig holds strings and bytes only; printing it cannot fail.
  std::string config_json = json.ok() ? EscapeForScript(*json) : std::string("{}");

  page.html = Fill(PageHtmlTemplate(), {{"@HALLMARK_CSP@", page.content_security_policy},
                                        {"@HALLMARK_CSS@", PageCss()},
                                        {"@HALLMARK_CONFIG@", config_json},
                                        {"@HALLMARK_SCRIPT@", script}});
  return page;
}

}  // namespace hallmark::core
