#pragma once

// A tiny stand-in for hallmarkd's HTTP API, for the CLI's tests: a Boost.Beast server on
// 127.0.0.1 (an ephemeral port) that answers with api.proto messages as JSON and records every
// request. It keeps item states by applying the real custody rules (core::ValidateRecord and
// ApplyRecord over the test network of fixtures.h), so a record the CLI signs wrongly is
// rejected here as the node would reject it. A record commits after a set number of polls.
//
// Thread-safety: the server runs on its own thread; every public method may be called from the
// test's thread while it runs (one mutex guards the state).

// GCC 12 with sanitizers reports a false -Wmaybe-uninitialized inside Beast's request parser
// (a boost::optional it returns empty); the code is Boost's, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/codec.h"
#include "core/item_id.h"
#include "core/records.h"
#include "fixtures.h"
#include "proto/api.pb.h"
#include "wallet-cli/records.h"

namespace hallmark::test {

class FakeNode {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::string content_type;
    std::string body;
  };
  struct Response {
    unsigned status = 200;
    std::string body;
    std::optional<uint32_t> retry_after_s;
    // Close the connection after this answer although it says keep-alive, as a node that
    // drops idle connections would.
    bool close_after = false;
  };
  // Returns a response to send instead of the simulation's, or nullopt to let it answer. Runs
  // on the server thread with the node's lock held: it must not call the node's methods.
  using Override = std::function<std::optional<Response>(const Request&)>;

  FakeNode() : network_(TestNetwork()) {
    namespace asio = boost::asio;
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeNode() {
    ioc_.stop();
    thread_.join();
  }
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  // Requests whose method and target start as given, e.g. ("GET", "/v1/records/").
  std::vector<Request> RequestsTo(std::string_view method, std::string_view target_prefix) const {
    std::vector<Request> out;
    for (Request& r : requests()) {
      if (r.method == method && r.target.rfind(target_prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  void ClearRequests() {
    std::lock_guard lock(mu_);
    requests_.clear();
  }
  uint64_t connections() const {
    std::lock_guard lock(mu_);
    return connections_;
  }
  // The head time the check route reports.
  void SetHeadTimeMs(uint64_t ms) {
    std::lock_guard lock(mu_);
    head_time_ms_ = ms;
  }
  void SetOverride(Override o) {
    std::lock_guard lock(mu_);
    override_ = std::move(o);
  }
  // A submitted record stays pending for this many polls of GET /v1/records/{id}.
  void SetPollsBeforeCommit(int polls) {
    std::lock_guard lock(mu_);
    polls_before_commit_ = polls;
  }
  // Every envelope POSTed to /v1/records, in order (parsed from the JSON the CLI sent).
  std::vector<pb::Envelope> submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }
  uint64_t height() const {
    std::lock_guard lock(mu_);
    return height_;
  }

  static Response Json(unsigned status, const google::protobuf::Message& m) {
    return Response{status, core::ToJson(m, /*pretty=*/false).value(), std::nullopt, false};
  }
  static Response Error(unsigned status, std::string code, std::string message) {
    pb::ErrorResponse e;
    e.mutable_error()->set_code(std::move(code));
    e.mutable_error()->set_message(std::move(message));
    return Json(status, e);
  }

 private:
  struct Pending {
    pb::Envelope envelope;
    int polls_left = 0;
    pb::RecordStatusResponse status;  // pending, then committed or rejected.
  };

  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(boost::asio::ip::tcp::socket socket, FakeNode* node)
        : socket_(std::move(socket)), node_(node) {}
    void Read() {
      request_ = {};
      boost::beast::http::async_read(
          socket_, buffer_, request_,
          [self = shared_from_this()](const boost::beast::error_code& ec, size_t) {
            if (!ec) self->Reply();
          });
    }

   private:
    void Reply() {
      namespace http = boost::beast::http;
      Request r{std::string(request_.method_string()), std::string(request_.target()),
                std::string(request_[http::field::content_type]), request_.body()};
      Response answer = node_->Handle(r);
      response_ = {};
      response_.version(11);
      response_.result(answer.status);
      response_.set(http::field::content_type, "application/json");
      if (answer.retry_after_s) {
        response_.set(http::field::retry_after, std::to_string(*answer.retry_after_s));
      }
      response_.keep_alive(request_.keep_alive());
      response_.body() = std::move(answer.body);
      response_.prepare_payload();
      const bool close_after = answer.close_after;
      http::async_write(
          socket_, response_,
          [self = shared_from_this(), close_after](const boost::beast::error_code& ec, size_t) {
            // Not reading again drops the last reference to the session, closing the socket.
            if (!ec && self->response_.keep_alive() && !close_after) self->Read();
          });
    }

    boost::asio::ip::tcp::socket socket_;
    FakeNode* node_;
    boost::beast::flat_buffer buffer_;
    boost::beast::http::request<boost::beast::http::string_body> request_;
    boost::beast::http::response<boost::beast::http::string_body> response_;
  };

  void Accept() {
    acceptor_.async_accept(
        [this](const boost::beast::error_code& ec, boost::asio::ip::tcp::socket socket) {
          if (ec) return;
          {
            std::lock_guard lock(mu_);
            ++connections_;
          }
          std::make_shared<Session>(std::move(socket), this)->Read();
          Accept();
        });
  }

  static std::string PercentDecode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  }

  Response Handle(const Request& r) {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
    if (override_) {
      if (std::optional<Response> o = override_(r)) return *o;
    }
    const std::string chain_id = network_.chain_id();
    if (r.method == "GET" && r.target == "/v1/status") {
      pb::StatusResponse s;
      s.set_chain_id(chain_id);
      s.set_height(height_);
      return Json(200, s);
    }
    if (r.method == "GET" && r.target.rfind("/v1/items/", 0) == 0) {
      auto id = core::ParseItemId(PercentDecode(r.target.substr(10)));
      if (!id.ok()) return Error(400, "bad_item_id", id.status().message());
      pb::ItemResponse out;
      out.set_item_id(id->Canonical());
      out.set_digital_link(id->DigitalLinkUrl());
      out.set_height(height_);
      out.set_block_time_ms(block_time_ms_);
      if (auto it = items_.find(id->Canonical()); it != items_.end()) {
        out.set_registered(true);
        *out.mutable_state() = it->second;
        for (const auto& h : history_[id->Canonical()]) *out.add_history() = h;
      }
      return Json(200, out);
    }
    if (r.method == "POST" && r.target == "/v1/records") {
      pb::Envelope env;
      core::Status s = r.content_type == "application/x-protobuf"
                           ? core::ParseStrict(r.body, &env, "envelope")
                           : core::FromJson(r.body, &env, "envelope");
      if (!s.ok()) return Error(400, "malformed", s.message());
      core::Record rec;
      if (auto rej = core::DecodeRecord(env, chain_id, &rec)) {
        return Error(400, std::string(core::RejectReasonCode(rej->reason)), rej->message);
      }
      if (auto rej = core::CheckRecordSignature(env)) {
        return Error(400, std::string(core::RejectReasonCode(rej->reason)), rej->message);
      }
      submitted_.push_back(env);
      const std::string hex = rec.id.Hex();
      pb::SubmitResponse out;
      out.set_record_id(hex);
      if (records_.count(hex)) {
        out.set_status("known");
        return Json(200, out);
      }
      Pending& p = records_[hex];
      p.envelope = env;
      p.polls_left = polls_before_commit_;
      p.status.set_record_id(hex);
      p.status.set_status("pending");
      out.set_status("pending");
      return Json(202, out);
    }
    if (r.method == "GET" && r.target.rfind("/v1/records/", 0) == 0) {
      const std::string hex = r.target.substr(12);
      auto it = records_.find(hex);
      if (it == records_.end()) {
        pb::RecordStatusResponse unknown;
        unknown.set_record_id(hex);
        unknown.set_status("unknown");
        return Json(200, unknown);
      }
      Pending& p = it->second;
      if (p.status.status() == "pending") {
        if (p.polls_left > 0) {
          --p.polls_left;
        } else {
          Commit(&p);
        }
      }
      return Json(200, p.status);
    }
    if (r.method == "POST" && r.target == "/v1/items:check") {
      pb::CheckRequest req;
      core::Status s = r.content_type == "application/x-protobuf"
                           ? core::ParseStrict(r.body, &req, "check request")
                           : core::FromJson(r.body, &req, "check request");
      if (!s.ok()) return Error(400, "malformed", s.message());
      pb::CheckResponse out;
      out.set_height(height_);
      out.set_head_time_ms(head_time_ms_ ? *head_time_ms_ : wallet::NowMs());
      for (const std::string& input : req.ids()) {
        pb::CheckResult* res = out.add_results();
        res->set_input(input);
        auto id = core::ParseItemId(input);
        if (!id.ok()) {
          res->set_status("invalid");
          res->mutable_error()->set_code("bad_item_id");
          res->mutable_error()->set_message(id.status().message());
          continue;
        }
        res->set_item_id(id->Canonical());
        auto item = items_.find(id->Canonical());
        if (item == items_.end()) {
          res->set_status("unregistered");
          continue;
        }
        const pb::ItemState& st = item->second;
        res->set_registered(true);
        res->set_status(st.status() == pb::ACTIVE ? "active" : "decommissioned");
        for (const auto& f : st.flags()) res->add_flags(std::string(core::FlagKindName(f.kind())));
        *res->mutable_custodian() = st.custodian();
        res->set_brand(st.brand());
        res->set_latest_height(st.updated_height());
      }
      return Json(200, out);
    }
    return Error(404, "not_found", "no route for " + r.method + " " + r.target);
  }

  // Puts the record in a block of its own, judged by the real custody rules.
  void Commit(Pending* p) {
    core::Record rec;
    auto rej = core::DecodeRecord(p->envelope, network_.chain_id(), &rec);
    const std::string canonical = rec.payload.item_id();
    const pb::ItemState* cur = nullptr;
    if (auto it = items_.find(canonical); it != items_.end()) cur = &it->second;
    const core::BlockContext ctx{.height = height_ + 1, .time_ms = wallet::NowMs()};
    if (!rej) rej = core::ValidateRecord(network_, rec, cur, ctx);
    if (rej) {
      p->status.set_status("rejected");
      p->status.mutable_rejection()->set_code(std::string(core::RejectReasonCode(rej->reason)));
      p->status.mutable_rejection()->set_message(rej->message);
      return;
    }
    pb::ItemState next = core::ApplyRecord(network_, rec, cur, ctx);
    height_ = ctx.height;
    block_time_ms_ = ctx.time_ms;
    items_[canonical] = std::move(next);
    pb::HistoryEntry h;
    h.set_record_id(rec.id.Hex());
    h.set_type(std::string(core::RecordTypeName(rec.type)));
    h.set_height(height_);
    h.set_block_time_ms(block_time_ms_);
    h.set_signer(rec.signer.Hex());
    if (const auto* org = network_.OrganizationOfKey(rec.signer)) {
      h.set_signer_organization(org->id());
    }
    *h.mutable_payload() = rec.payload;
    *h.mutable_envelope() = p->envelope;
    history_[canonical].push_back(std::move(h));
    p->status.set_status("committed");
    p->status.set_height(height_);
    p->status.set_block_time_ms(block_time_ms_);
    p->status.set_item_id(canonical);
    p->status.set_type(std::string(core::RecordTypeName(rec.type)));
  }

  core::Network network_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  uint16_t port_ = 0;
  std::thread thread_;

  mutable std::mutex mu_;
  std::vector<Request> requests_;
  uint64_t connections_ = 0;
  Override override_;
  int polls_before_commit_ = 0;
  std::vector<pb::Envelope> submitted_;
  std::map<std::string, Pending> records_;
  std::map<std::string, pb::ItemState> items_;
  std::map<std::string, std::vector<pb::HistoryEntry>> history_;
  uint64_t height_ = 10;
  // The check route's head time; unset: now (a node that is keeping up). 0: not reported.
  std::optional<uint64_t> head_time_ms_;
  uint64_t block_time_ms_ = 0;
};

}  // namespace hallmark::test
