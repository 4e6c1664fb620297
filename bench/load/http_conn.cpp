#include "bench/load/http_conn.h"

#include <boost/asio/connect.hpp>

#include "wallet-cli/http_client.h"

namespace hallmark::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
// Answers are at most a block view (a few MiB); bound what one answer may make us hold.
constexpr uint64_t kResponseBytesMax = 64ull << 20;
}  // namespace

core::Result<Endpoint> ResolveNode(std::string_view url) {
  auto parsed = wallet::ParseNodeUrl(url);
  if (!parsed.ok()) return parsed.status();
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = resolver.resolve(parsed->host, parsed->port, ec);
  if (ec || results.empty()) {
    return core::Status::IoError("cannot resolve " + parsed->url + ": " + ec.message());
  }
  Endpoint e;
  e.address = results.begin()->endpoint();
  const bool ipv6 = parsed->host.find(':') != std::string::npos;
  e.host_header = (ipv6 ? "[" + parsed->host + "]" : parsed->host) + ":" + parsed->port;
  e.base_path = parsed->base_path;
  e.url = parsed->url;
  return e;
}

HttpConnection::HttpConnection(asio::io_context& io, const Endpoint& endpoint,
                               std::string media_type)
    : endpoint_(endpoint), media_type_(std::move(media_type)), socket_(io) {
  // The fields every request carries are set once; each request changes only what differs.
  request_.version(11);
  request_.set(http::field::host, endpoint_.host_header);
  request_.set(http::field::accept, media_type_);
}

void HttpConnection::Get(std::string_view target, HttpCallback done) {
  Begin(http::verb::get, target, nullptr, std::move(done));
}

void HttpConnection::Post(std::string_view target, std::string body, HttpCallback done) {
  Begin(http::verb::post, target, &body, std::move(done));
}

void HttpConnection::Begin(http::verb verb, std::string_view target, std::string* body,
                           HttpCallback done) {
  done_ = std::move(done);
  retried_ = false;
  if (request_.method() != verb) {
    request_.method(verb);
    if (verb == http::verb::post) {
      request_.set(http::field::content_type, media_type_);
    } else {
      request_.erase(http::field::content_type);
    }
  }
  if (endpoint_.base_path.empty()) {
    request_.target(target);
  } else {
    request_.target(endpoint_.base_path + std::string(target));
  }
  if (body) {
    request_.body() = std::move(*body);
  } else {
    request_.body().clear();
  }
  request_.prepare_payload();
  if (connected_) {
    reused_ = true;
    Write();
  } else {
    Connect();
  }
}

void HttpConnection::Connect() {
  reused_ = false;
  socket_.async_connect(endpoint_.address,
                        [self = shared_from_this()](const beast::error_code& ec) {
                          if (ec) return self->Fail(ec, true);
                          self->connected_ = true;
                          ++self->connects_;
                          beast::error_code ignored;
                          self->socket_.set_option(tcp::no_delay(true), ignored);
                          self->buffer_.clear();
                          self->Write();
                        });
}

void HttpConnection::Write() {
  http::async_write(socket_, request_,
                    [self = shared_from_this()](const beast::error_code& ec, size_t) {
                      if (ec) return self->Fail(ec, true);
                      self->Read();
                    });
}

void HttpConnection::Read() {
  parser_.emplace();
  parser_->body_limit(kResponseBytesMax);
  http::async_read(socket_, buffer_, *parser_,
                   [self = shared_from_this()](const beast::error_code& ec, size_t) {
                     if (ec) return self->Fail(ec, !self->parser_->got_some());
                     auto& res = self->parser_->get();
                     HttpResult r;
                     r.status = res.result_int();
                     r.body = std::move(res.body());
                     if (!res.keep_alive()) {
                       beast::error_code ignored;
                       self->socket_.close(ignored);
                       self->connected_ = false;
                     }
                     self->Finish(std::move(r));
                   });
}

void HttpConnection::Fail(beast::error_code ec, bool nothing_read) {
  const bool stale = connected_ && reused_ && nothing_read && !retried_;
  beast::error_code ignored;
  socket_.close(ignored);
  connected_ = false;
  if (stale) {
    // The server closed the idle connection before our request reached it: safe to resend.
    retried_ = true;
    Connect();
    return;
  }
  HttpResult r;
  r.error = ec;
  Finish(std::move(r));
}

void HttpConnection::Finish(HttpResult&& result) {
  HttpCallback done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace hallmark::bench
