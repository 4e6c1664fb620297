#pragma once

#include <boost/beast/http/verb.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "node/http/message.h"

namespace hallmark::node {

// A request handler. It runs on one of the io_context's threads; handlers for different
// connections run at the same time on different threads, so whatever a handler touches must be
// thread-safe. It should not block for long: it holds that thread. It may throw; the server
// answers 500 and logs.
using Handler = std::function<Response(const Request&)>;

// Maps "METHOD /path/pattern" to handlers. Patterns are split into segments once, when added;
// matching compares segments without regexes or allocation (except for decoded parameter
// values).
//
// A segment is a literal ("v1", "items:check" — a colon is just a character), a parameter
// "{name}" matching one non-empty segment, or a rest parameter "{name...}" matching one or more
// segments, slashes included. A rest parameter may be followed by literal segments, which must
// then match the end of the path: "GET /v1/items/{id...}/proof". Parameter values are
// percent-decoded after the path is split on '/', so "01%2F0950%2F21%2FX" and "01/0950/21/X"
// give the same id, and an encoded slash never ends a segment. A literal segment also matches
// its percent-encoded spelling.
//
// A HEAD request matches GET routes (the server then sends the head without the body).
//
// When several routes match, the most specific wins: a route without a rest parameter before one
// with; then the one with more fixed segments; then, at the first segment where they differ, a
// literal before a parameter; then the one added first. A route whose method differs does not
// stop the search; if only such routes match, the answer is 405 with Allow.
//
// Add() before the router is handed to the server; afterwards it is read-only and may be used
// from any number of threads at once.
class Router {
 public:
  Router() = default;

  // Adds a route: `route` is "<METHOD> <pattern>", e.g. "GET /v1/items/{id...}". The route string
  // is also the route's name in logs and metrics. REQUIRES: a known method, a pattern starting
  // with '/', at most one rest parameter, parameters that take whole segments, at most
  // http_limits::kPathParamsMax of them, and no route with the same method and pattern yet.
  Router& Add(std::string_view route, Handler handler);

  // True when a route with this exact method and pattern exists.
  bool Has(std::string_view route) const;

  // Matches `req` and calls its handler. Answers 400 (bad percent-encoding or a target that is
  // not a path), 404, 405 (with Allow) and 414 (too many segments) itself, as ErrorResponse
  // bodies. A handler that throws gives 500 with a generic message, and `on_exception` (if set)
  // receives the route and the exception's text.
  Response Dispatch(Request& req,
                    const std::function<void(std::string_view route, std::string_view what)>&
                        on_exception = nullptr) const;

  // Routes, in matching order; Request index values returned by RouteIndex refer to these.
  size_t size() const { return routes_.size(); }
  const std::string& name(size_t index) const { return routes_[index].name; }
  // The index of the route `req` was dispatched to, or size() when none matched.
  size_t RouteIndex(const Request& req) const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam, kRest };
    Kind kind = Kind::kLiteral;
    std::string text;  // The literal, or the parameter's name.
  };
  struct Route {
    std::string name;  // "GET /v1/items/{id...}"
    boost::beast::http::verb verb = boost::beast::http::verb::unknown;
    std::vector<Segment> segments;
    size_t rest = SIZE_MAX;  // Index of the rest segment, if any.
    size_t added = 0;        // Insertion order, the last tie-break.
    Handler handler;
  };
  enum class Outcome { kMatched, kNotFound, kMethodNotAllowed, kBadPath, kTooManySegments };

  static bool MoreSpecific(const Route& a, const Route& b);
  // Fills req's parameters when the path matches `route`; false (and req untouched except for
  // scratch) when it does not.
  static bool MatchPath(const Route& route, const std::string_view* segs, size_t count,
                        Request& req, bool* bad_encoding);
  Outcome Match(Request& req, std::string* allow) const;

  std::vector<Route> routes_;
};

}  // namespace hallmark::node
