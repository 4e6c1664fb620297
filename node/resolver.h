#pragma once

#include <google/protobuf/struct.pb.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/item_id.h"
#include "node/http/message.h"

// The GS1 Digital Link resolver's pieces that do not read the ledger (docs/api.md, GET /01/…):
// what a request asks for (Accept and ?linkType=), the RFC 9264 linkset, the small HTML page
// for a link that names no item, and the CORS headers of the public read routes. Pure functions;
// thread-safe. node/api.cpp ties them to the routes.
namespace hallmark::node {

// What a Digital Link request is answered with.
enum class Representation {
  kPage,      // The consumer page (core::RenderItemPage): text/html.
  kItemJson,  // The item as GET /v1/items/{id} gives it: application/json.
  kLinkset,   // The links for the item: application/linkset+json (RFC 9264).
};

// Reads an Accept header (RFC 9110 §12.5.1): each representation gets the weight of the most
// specific media range that names it (text/html, application/json; "type/*" and "*/*" count less
// than an exact match). The linkset is named only by application/linkset+json itself, never by
// a wildcard. The heaviest wins; on equal weight the page, then the linkset, then the item JSON.
// No Accept, or one naming none of them: the page. Malformed parts are skipped; a weight that is
// not a number counts as 1.
Representation NegotiateRepresentation(std::string_view accept);

// Link relations of the linkset, as its keys: GS1 Web Vocabulary link types in full
// ("https://gs1.org/voc/pip", as GS1-Conformant resolvers write them), an IANA relation
// ("describedby") and Hallmark's own ("urn:hallmark:vocab:proof").
inline constexpr std::string_view kGs1VocBase = "https://gs1.org/voc/";
inline constexpr std::string_view kRelDefaultLink = "https://gs1.org/voc/defaultLink";
inline constexpr std::string_view kRelPip = "https://gs1.org/voc/pip";
inline constexpr std::string_view kRelEpcis = "https://gs1.org/voc/epcis";
inline constexpr std::string_view kRelHomepage = "https://gs1.org/voc/homepage";
inline constexpr std::string_view kRelDescribedBy = "describedby";
inline constexpr std::string_view kRelProof = "urn:hallmark:vocab:proof";
inline constexpr std::string_view kLinksetContentType = "application/linkset+json";
inline constexpr std::string_view kEpcisContentType = "application/ld+json";

// A ?linkType= value as a relation key above: "gs1:pip", "https://gs1.org/voc/pip",
// "https://ref.gs1.org/voc/pip" and "https://www.gs1.org/voc/pip" all give kRelPip;
// "hallmark:proof" gives kRelProof; "describedby" stays. "linkset" and "all" (the whole linkset,
// as GS1-Conformant resolvers read them) give "linkset". Anything else is returned as given (a
// relation this resolver does not have, answered with the default link).
std::string LinkTypeRelation(std::string_view link_type);

// One link target of a linkset (RFC 9264 §4.2.4).
struct LinkTarget {
  std::string relation;  // A key above.
  std::string href;
  std::string type;   // Media type, or empty.
  std::string title;  // For people, or empty.
};

// What the linkset says about one item. Hrefs of the node's own resources are relative
// references (absolute paths), resolved against the linkset's own address: the node does not
// trust the Host header to name itself.
struct ItemLinks {
  std::string anchor;  // The item's Digital Link (on its brand's resolver host).
  std::vector<LinkTarget> links;
};

// The links a node offers for `id`: the page (defaultLink and pip), the proof bundle (binary and
// JSON), the EPCIS document, the item's JSON, and `brand_website` (homepage) when not empty.
// `anchor_base` is "https://<resolver host>".
ItemLinks LinksFor(const core::ItemId& id, std::string_view anchor_base,
                   std::string_view brand_website, std::string_view brand_name);

// {"linkset": [{"anchor": …, "<relation>": [{"href": …, "type": …, "title": …}], …}]}.
google::protobuf::Struct LinksetOf(const ItemLinks& links);

// The first target of `relation`, or nullopt.
std::optional<LinkTarget> FindLink(const ItemLinks& links, std::string_view relation);

// `text` safe inside HTML text and attribute values: & < > " ' as character references; control
// characters and bytes that are not valid UTF-8 become '?'.
std::string HtmlEscape(std::string_view text);

// A small self-contained HTML page (no script, styles inline) for a Digital Link that names no
// item: `status` (400), a heading, `message` in plain words and the address as received (cut
// short). Every string is escaped. Headers as the item page's, with a CSP that allows nothing but
// its inline style.
Response HtmlProblemPage(unsigned status, std::string_view heading, std::string_view message,
                         std::string_view path);

// Headers every answer of the resolver carries: nosniff, no-referrer, no-store (the verdict is
// live), Vary: Accept.
void AddResolverHeaders(Response* res);

// CORS for the public read routes (docs/api.md, "CORS"): any origin, a saved page's "null" one
// included, may read the answer; Access-Control-Expose-Headers lists the headers pages read.
void AddCorsHeaders(Response* res);
// The answer to an OPTIONS preflight: 204, GET/HEAD/OPTIONS, the Accept header, cached a day.
Response CorsPreflight();

// Headers pages read from answers, exposed to other origins.
inline constexpr std::string_view kGenesisHashHeader = "X-Hallmark-Genesis-Hash";

}  // namespace hallmark::node
