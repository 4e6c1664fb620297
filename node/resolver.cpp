#include "node/resolver.h"

#include <array>
#include <cctype>
#include <charconv>

namespace hallmark::node {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// How well media range `range` names `type` ("text/html"): 3 exactly, 2 as "text/*", 1 as
// "*/*", 0 not at all.
int Specificity(std::string_view range, std::string_view type) {
  if (EqualsIgnoreCase(range, type)) return 3;
  if (range == "*/*") return 1;
  const size_t slash = type.find('/');
  if (range.size() == slash + 2 && range.ends_with("/*") &&
      EqualsIgnoreCase(range.substr(0, slash), type.substr(0, slash))) {
    return 2;
  }
  return 0;
}

// "q=0.5" → 0.5, clamped to [0, 1]; 1 when it is not a number.
double Weight(std::string_view params) {
  while (!params.empty()) {
    const size_t semi = params.find(';');
    std::string_view p = Trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') continue;
    p.remove_prefix(2);
    double q = 1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), q);
    if (ec != std::errc() || end != p.data() + p.size() || !(q == q)) return 1;
    return q < 0 ? 0 : (q > 1 ? 1 : q);
  }
  return 1;
}

// The address quoted on the problem page is cut to this many bytes.
constexpr size_t kQuotedPathBytesMax = 200;

google::protobuf::Value StringValue(std::string_view s) {
  google::protobuf::Value v;
  v.set_string_value(std::string(s));
  return v;
}

}  // namespace

Representation NegotiateRepresentation(std::string_view accept) {
  struct Candidate {
    Representation rep;
    std::string_view type;
    int specificity = 0;
    double weight = 0;
  };
  // In the order that wins a tie.
  std::array<Candidate, 3> candidates = {{{Representation::kPage, "text/html"},
                                          {Representation::kLinkset, kLinksetContentType},
                                          {Representation::kItemJson, "application/json"}}};
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    std::string_view part = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    const size_t semi = part.find(';');
    const std::string_view range = Trim(part.substr(0, semi));
    const std::string_view params =
        semi == std::string_view::npos ? std::string_view() : part.substr(semi + 1);
    if (range.empty()) continue;
    for (Candidate& c : candidates) {
      int s = Specificity(range, c.type);
      // The linkset is for clients that know it: only its own name asks for it.
      if (c.rep == Representation::kLinkset && s < 3) s = 0;
      if (s > c.specificity) {
        c.specificity = s;
        c.weight = Weight(params);
      }
    }
  }
  const Candidate* best = &candidates[0];
  for (const Candidate& c : candidates) {
    if (c.weight > best->weight) best = &c;
  }
  return best->weight > 0 ? best->rep : Representation::kPage;
}

std::string LinkTypeRelation(std::string_view link_type) {
  if (link_type == "linkset" || link_type == "all") return "linkset";
  if (link_type == "hallmark:proof") return std::string(kRelProof);
  std::string_view name;
  for (std::string_view prefix :
       {"gs1:", "https://gs1.org/voc/", "https://ref.gs1.org/voc/", "https://www.gs1.org/voc/"}) {
    if (link_type.starts_with(prefix)) {
      name = link_type.substr(prefix.size());
      break;
    }
  }
  if (name.empty()) return std::string(link_type);
  return std::string(kGs1VocBase) + std::string(name);
}

ItemLinks LinksFor(const core::ItemId& id, std::string_view anchor_base,
                   std::string_view brand_website, std::string_view brand_name) {
  ItemLinks out;
  out.anchor = id.DigitalLinkUrl(anchor_base);
  // "/01/<gtin>/21/<serial, percent-encoded>": the path of the node's own resources.
  const std::string path = id.DigitalLinkUrl("");
  const std::string item = "/v1/items" + path;
  const std::string page_title = "Check this item (verified in your browser)";
  out.links.push_back({std::string(kRelDefaultLink), path, "text/html", page_title});
  out.links.push_back({std::string(kRelPip), path, "text/html", page_title});
  out.links.push_back(
      {std::string(kRelProof), item + "/proof", "application/x-protobuf", "Proof bundle"});
  out.links.push_back(
      {std::string(kRelProof), item + "/proof", "application/json", "Proof bundle (JSON)"});
  out.links.push_back({std::string(kRelEpcis), item + "/epcis", std::string(kEpcisContentType),
                       "Chain of custody (EPCIS 2.0)"});
  out.links.push_back(
      {std::string(kRelDescribedBy), item, "application/json", "Item state and history"});
  if (!brand_website.empty()) {
    out.links.push_back(
        {std::string(kRelHomepage), std::string(brand_website), "text/html",
         brand_name.empty() ? std::string("The brand's website") : std::string(brand_name)});
  }
  return out;
}

google::protobuf::Struct LinksetOf(const ItemLinks& links) {
  google::protobuf::Struct context;
  (*context.mutable_fields())["anchor"] = StringValue(links.anchor);
  for (const LinkTarget& l : links.links) {
    google::protobuf::Struct target;
    (*target.mutable_fields())["href"] = StringValue(l.href);
    if (!l.type.empty()) (*target.mutable_fields())["type"] = StringValue(l.type);
    if (!l.title.empty()) (*target.mutable_fields())["title"] = StringValue(l.title);
    google::protobuf::Value& list = (*context.mutable_fields())[l.relation];
    *list.mutable_list_value()->add_values()->mutable_struct_value() = std::move(target);
  }
  google::protobuf::Struct out;
  google::protobuf::Value& set = (*out.mutable_fields())["linkset"];
  *set.mutable_list_value()->add_values()->mutable_struct_value() = std::move(context);
  return out;
}

std::optional<LinkTarget> FindLink(const ItemLinks& links, std::string_view relation) {
  for (const LinkTarget& l : links.links) {
    if (l.relation == relation) return l;
  }
  return std::nullopt;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&#39;";
        ++i;
        continue;
      default:
        break;
    }
    if (u < 0x20 || u == 0x7f) {
      out += '?';
      ++i;
      continue;
    }
    const size_t n = core::Utf8SequenceLength(text, i);
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

void AddResolverHeaders(Response* res) {
  res->headers.emplace_back("X-Content-Type-Options", "nosniff");
  res->headers.emplace_back("Referrer-Policy", "no-referrer");
  res->headers.emplace_back("Cache-Control", "no-store");
  res->headers.emplace_back("Vary", "Accept");
}

Response HtmlProblemPage(unsigned status, std::string_view heading, std::string_view message,
                         std::string_view path) {
  std::string shown(path.substr(0, kQuotedPathBytesMax));
  if (path.size() > kQuotedPathBytesMax) shown += "…";
  Response res;
  res.status = status;
  res.content_type = "text/html; charset=utf-8";
  res.body =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>" +
      HtmlEscape(heading) +
      "</title>\n<style>body{font-family:system-ui,sans-serif;margin:0;padding:2rem 1rem;"
      "color:#1c1c1c;background:#fafafa}main{max-width:36rem;margin:auto}"
      "h1{font-size:1.4rem}code{word-break:break-all;background:#eee;padding:0 .2em}"
      "</style>\n</head>\n<body>\n<main>\n<h1>" +
      HtmlEscape(heading) + "</h1>\n<p>" + HtmlEscape(message) +
      "</p>\n<p>The address asked for was <code>" + HtmlEscape(shown) +
      "</code>. A Hallmark item link looks like <code>/01/&lt;GTIN&gt;/21/&lt;serial&gt;</code>; "
      "check the code you scanned or typed.</p>\n</main>\n</body>\n</html>\n";
  res.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'");
  AddResolverHeaders(&res);
  return res;
}

void AddCorsHeaders(Response* res) {
  res->headers.emplace_back("Access-Control-Allow-Origin", "*");
  res->headers.emplace_back("Access-Control-Expose-Headers",
                            std::string(kGenesisHashHeader) + ", Link, Retry-After");
}

Response CorsPreflight() {
  Response res;
  res.status = 204;
  res.headers.emplace_back("Access-Control-Allow-Origin", "*");
  res.headers.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
  res.headers.emplace_back("Access-Control-Allow-Headers", "Accept");
  res.headers.emplace_back("Access-Control-Max-Age", "86400");
  return res;
}

}  // namespace hallmark::node
