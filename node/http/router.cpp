#include "node/http/router.h"

#include <algorithm>
#include <array>
#include <exception>

#include "core/status.h"
#include "node/http/content.h"

namespace hallmark::node {
namespace {

namespace http = boost::beast::http;

// Paths and routes quoted in error messages are cut to this length.
constexpr size_t kQuotedPathBytesMax = 200;

// Splits "/a/b/c" into {"a", "b", "c"}; "/" gives {""}. Returns false when there are more than
// `max` segments.
bool SplitPath(std::string_view path, std::string_view* out, size_t max, size_t* count) {
  path.remove_prefix(1);  // The leading '/'.
  size_t n = 0;
  while (true) {
    if (n == max) return false;
    size_t slash = path.find('/');
    out[n++] = path.substr(0, slash);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  *count = n;
  return true;
}

bool SegmentEquals(std::string_view raw, std::string_view literal, std::string* scratch) {
  if (raw == literal) return true;
  if (raw.find('%') == std::string_view::npos) return false;
  return PercentDecode(raw, scratch) && *scratch == literal;
}

}  // namespace

Router& Router::Add(std::string_view route, Handler handler) {
  HM_ASSERT_MSG(handler != nullptr, "a route needs a handler");
  size_t space = route.find(' ');
  HM_ASSERT_MSG(space != std::string_view::npos, "a route is \"METHOD /pattern\"");
  Route r;
  r.name = std::string(route);
  r.verb = http::string_to_verb(route.substr(0, space));
  HM_ASSERT_MSG(r.verb != http::verb::unknown, r.name.c_str());
  std::string_view pattern = route.substr(space + 1);
  HM_ASSERT_MSG(pattern.starts_with('/'), r.name.c_str());

  std::array<std::string_view, http_limits::kPathSegmentsMax> parts;
  size_t count = 0;
  HM_ASSERT_MSG(SplitPath(pattern, parts.data(), parts.size(), &count), r.name.c_str());
  size_t params = 0;
  for (size_t i = 0; i < count; ++i) {
    std::string_view part = parts[i];
    Segment seg;
    if (part.starts_with('{')) {
      HM_ASSERT_MSG(part.ends_with('}') && part.size() > 2, r.name.c_str());
      std::string_view name = part.substr(1, part.size() - 2);
      if (name.ends_with("...")) {
        HM_ASSERT_MSG(r.rest == SIZE_MAX, "a route has at most one rest parameter");
        name.remove_suffix(3);
        seg.kind = Segment::Kind::kRest;
        r.rest = i;
      } else {
        seg.kind = Segment::Kind::kParam;
      }
      HM_ASSERT_MSG(!name.empty() && name.find_first_of("{}/.") == std::string_view::npos,
                    r.name.c_str());
      seg.text = std::string(name);
      ++params;
    } else {
      // Literals are whole segments; "{id}:check" style mixtures are not supported.
      HM_ASSERT_MSG(part.find_first_of("{}%") == std::string_view::npos, r.name.c_str());
      HM_ASSERT_MSG(!part.empty() || count == 1, r.name.c_str());
      seg.kind = Segment::Kind::kLiteral;
      seg.text = std::string(part);
    }
    r.segments.push_back(std::move(seg));
  }
  HM_ASSERT_MSG(params <= http_limits::kPathParamsMax, r.name.c_str());
  HM_ASSERT_MSG(!Has(route), r.name.c_str());
  r.added = routes_.size();
  r.handler = std::move(handler);

  routes_.push_back(std::move(r));
  std::stable_sort(routes_.begin(), routes_.end(), MoreSpecific);
  return *this;
}

bool Router::Has(std::string_view route) const {
  return std::any_of(routes_.begin(), routes_.end(),
                     [&](const Route& r) { return r.name == route; });
}

bool Router::MoreSpecific(const Route& a, const Route& b) {
  bool a_rest = a.rest != SIZE_MAX;
  bool b_rest = b.rest != SIZE_MAX;
  if (a_rest != b_rest) return !a_rest;
  if (a.segments.size() != b.segments.size()) return a.segments.size() > b.segments.size();
  for (size_t i = 0; i < a.segments.size(); ++i) {
    bool a_lit = a.segments[i].kind == Segment::Kind::kLiteral;
    bool b_lit = b.segments[i].kind == Segment::Kind::kLiteral;
    if (a_lit != b_lit) return a_lit;
  }
  return a.added < b.added;
}

bool Router::MatchPath(const Route& route, const std::string_view* segs, size_t count, Request& req,
                       bool* bad_encoding) {
  const size_t n = route.segments.size();
  const bool has_rest = route.rest != SIZE_MAX;
  if (has_rest ? count < n : count != n) return false;
  // Where pattern segment i sits in the path: before the rest parameter one to one, after it
  // counted from the end.
  auto path_index = [&](size_t i) { return has_rest && i > route.rest ? count - (n - i) : i; };

  // First the literals, which reject most routes cheaply; decode parameters only on a match.
  std::string scratch;
  for (size_t i = 0; i < n; ++i) {
    const Segment& seg = route.segments[i];
    if (seg.kind != Segment::Kind::kLiteral) continue;
    if (!SegmentEquals(segs[path_index(i)], seg.text, &scratch)) return false;
  }
  for (size_t i = 0; i < n; ++i) {
    const Segment& seg = route.segments[i];
    if (seg.kind == Segment::Kind::kLiteral) continue;
    std::string_view raw;
    if (seg.kind == Segment::Kind::kParam) {
      raw = segs[path_index(i)];
    } else {
      // The rest spans path segments i .. count-(n-i), joined by the '/' between them; the
      // segments are views into one path, so the span is one contiguous view.
      size_t last = count - (n - i);
      raw = std::string_view(
          segs[i].data(),
          static_cast<size_t>(segs[last].data() + segs[last].size() - segs[i].data()));
    }
    if (raw.empty()) return false;
    size_t k = req.param_count_;
    if (!PercentDecode(raw, &req.param_values_[k])) {
      *bad_encoding = true;
      return false;
    }
    req.param_names_[k] = seg.text;
    req.param_count_ = k + 1;
  }
  return true;
}

Router::Outcome Router::Match(Request& req, std::string* allow) const {
  std::string_view path = req.path();
  if (!path.starts_with('/')) return Outcome::kBadPath;
  std::array<std::string_view, http_limits::kPathSegmentsMax> segs;
  size_t count = 0;
  if (!SplitPath(path, segs.data(), segs.size(), &count)) return Outcome::kTooManySegments;

  bool path_matched = false;
  for (size_t r = 0; r < routes_.size(); ++r) {
    const Route& route = routes_[r];
    req.param_count_ = 0;
    bool bad_encoding = false;
    if (!MatchPath(route, segs.data(), count, req, &bad_encoding)) {
      if (bad_encoding) return Outcome::kBadPath;
      continue;
    }
    // HEAD is GET without the body (RFC 9110 §9.3.2): a GET route answers it, and the server
    // leaves the body out.
    if (route.verb == req.verb() ||
        (req.verb() == http::verb::head && route.verb == http::verb::get)) {
      req.route_index_ = r;
      req.route_ = route.name;
      return Outcome::kMatched;
    }
    path_matched = true;
    std::string_view method = http::to_string(route.verb);
    bool listed = false;
    for (size_t start = 0; start < allow->size();) {
      size_t end = allow->find(", ", start);
      if (end == std::string::npos) end = allow->size();
      if (std::string_view(*allow).substr(start, end - start) == method) listed = true;
      start = end + 2;
    }
    if (!listed) {
      if (!allow->empty()) *allow += ", ";
      *allow += method;
      if (route.verb == http::verb::get) *allow += ", HEAD";
    }
  }
  req.param_count_ = 0;
  return path_matched ? Outcome::kMethodNotAllowed : Outcome::kNotFound;
}

size_t Router::RouteIndex(const Request& req) const {
  return std::min(req.route_index_, routes_.size());
}

Response Router::Dispatch(
    Request& req,
    const std::function<void(std::string_view, std::string_view)>& on_exception) const {
  req.route_index_ = SIZE_MAX;
  req.route_ = {};
  std::string allow;
  auto quoted_path = [&] {
    std::string_view p = req.path().substr(0, kQuotedPathBytesMax);
    return std::string(req.method()) + " " + std::string(p);
  };
  switch (Match(req, &allow)) {
    case Outcome::kMatched:
      break;
    case Outcome::kNotFound:
      return ErrorReply(req, 404, "not_found", "no route matches " + quoted_path());
    case Outcome::kMethodNotAllowed: {
      Response res = ErrorReply(req, 405, "method_not_allowed",
                                quoted_path() + ": the path allows only " + allow);
      res.headers.emplace_back("Allow", std::move(allow));
      return res;
    }
    case Outcome::kBadPath:
      return ErrorReply(req, 400, "bad_request",
                        "the request target is not a path with valid percent-encoding");
    case Outcome::kTooManySegments:
      return ErrorReply(
          req, 414, "uri_too_long",
          "the path has more than " + std::to_string(http_limits::kPathSegmentsMax) + " segments");
  }
  const Route& route = routes_[req.route_index_];
  try {
    return route.handler(req);
  } catch (const std::exception& e) {
    if (on_exception) on_exception(route.name, e.what());
  } catch (...) {
    if (on_exception) on_exception(route.name, "an exception that is not a std::exception");
  }
  return ErrorReply(req, 500, "internal", "internal error");
}

}  // namespace hallmark::node
