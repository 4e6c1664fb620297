// Fuzz target: every place JSON from outside becomes a message (core/json.h). The first byte
// picks the entry point, the rest is the JSON:
//   0 POST /v1/records body (node::ParseBodyInto, Envelope)
//   1 POST /v1/items:check body (node::ParseBodyInto, CheckRequest)
//   2 config.json (NodeConfig, then node::ValidateConfig)
//   3 genesis.json (core::Network::FromJson)
//   4 a saved JSON proof bundle (ProofBundle, then core::VerifyProofBundle)
//   5 the CLI's answers from a node (wallet::ParseApiBody: item, status, check, record)
//   6 a keystore file (core::ParseKeystore)
//   7 a key share file (core::ParseKeyShare)
// Properties checked on every input:
//   - no crash, leak or undefined behaviour (the sanitizers' part);
//   - the outcome is deterministic, and a refusal has a one-line message of bounded length;
//   - what the strict parser accepts, Protobuf's own parser reads to the same message (the shape
//     check never changes a meaning), and it survives printing and parsing again.
// Built as a libFuzzer target with clang (make fuzz), and as a replay driver with mutations
// for CTest (replay_main.cpp) with any compiler.

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/crypto/keystore.h"
#include "core/crypto/shamir.h"
#include "core/genesis.h"
#include "core/json.h"
#include "core/proof_bundle.h"
#include "fixtures.h"
#include "node/config.h"
#include "node/http/content.h"
#include "proto/api.pb.h"
#include "proto/node.pb.h"
#include "proto/proof.pb.h"
#include "wallet-cli/node_client.h"

namespace {

using namespace hallmark;

// Longest refusal message: a quoted key is cut to 64 bytes, a path has at most 16 of them.
constexpr size_t kMessageBytesMax = 2'000;

const core::Network& FuzzNetwork() {
  // Protobuf logs every invalid UTF-8 string it parses; the fuzzer makes millions.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)quiet;
  static const core::Network network =
      std::move(core::Network::FromProto(test::TestGenesis()).value());
  return network;
}

[[noreturn]] void Violation(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "json fuzz: property violated: %s %.*s\n", what,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void CheckRefusal(const core::Status& s) {
  if (s.ok()) return;
  if (s.message().empty()) Violation("a refusal without a message");
  if (s.message().find('\n') != std::string::npos) Violation("a message of several lines");
  if (s.message().size() > kMessageBytesMax) Violation("a message too long", s.message());
}

// Strict parse twice (deterministic), and on success the agreement properties above.
core::Status Strict(std::string_view json, google::protobuf::Message* out,
                    const core::JsonLimits& limits) {
  core::Status first = core::ParseJsonStrict(json, out, limits);
  std::unique_ptr<google::protobuf::Message> again(out->New());
  core::Status second = core::ParseJsonStrict(json, again.get(), limits);
  if (first.ok() != second.ok() || first.message() != second.message()) {
    Violation("the outcome is not deterministic");
  }
  CheckRefusal(first);
  if (!first.ok()) return first;
  if (out->SerializeAsString() != again->SerializeAsString()) Violation("two parses differ");

  std::unique_ptr<google::protobuf::Message> lenient(out->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = limits.unknown_fields_allowed;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(json.data(), json.size()), lenient.get(), options)
           .ok() ||
      lenient->SerializeAsString() != out->SerializeAsString()) {
    Violation("Protobuf alone reads it differently");
  }
  core::Result<std::string> printed = core::ToJson(*out, /*pretty=*/false);
  if (printed.ok()) {  // Invalid UTF-8 in a string field cannot be printed; that is fine.
    std::unique_ptr<google::protobuf::Message> back(out->New());
    if (!core::ParseJsonStrict(*printed, back.get(), limits).ok() ||
        back->SerializeAsString() != out->SerializeAsString()) {
      Violation("what we print does not parse back", *printed);
    }
  }
  return first;
}

void ApiBody(std::string_view target, std::string_view json, google::protobuf::Message* out) {
  namespace http = boost::beast::http;
  node::Request::Message msg{http::verb::post, target, 11};
  msg.set(http::field::content_type, "application/json");
  msg.body() = std::string(json);
  msg.prepare_payload();
  const node::Request req(std::move(msg));
  core::Status first = node::ParseBodyInto(req, out);
  CheckRefusal(first);
  core::Status again = Strict(json, out, core::kApiRequestJsonLimits);
  // The node refuses an empty body before the JSON parser with its own message.
  if (first.ok() != again.ok()) Violation("the node and ParseJsonStrict disagree");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const core::Network& net = FuzzNetwork();
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0: {
      pb::Envelope env;
      ApiBody("/v1/records", json, &env);
      break;
    }
    case 1: {
      pb::CheckRequest check;
      ApiBody("/v1/items:check", json, &check);
      break;
    }
    case 2: {
      pb::NodeConfig config;
      if (Strict(json, &config, core::kConfigJsonLimits).ok()) {
        CheckRefusal(node::ValidateConfig(&config));
      }
      break;
    }
    case 3: {
      pb::Genesis genesis;
      (void)Strict(json, &genesis, core::kGenesisJsonLimits);
      auto loaded = core::Network::FromJson(json);
      CheckRefusal(loaded.status());
      break;
    }
    case 4: {
      pb::ProofBundle bundle;
      if (Strict(json, &bundle, core::kProofBundleJsonLimits).ok()) {
        const std::string bytes = core::SerializeDeterministic(bundle);
        core::ProofVerdict v = core::VerifyProofBundle(net, bytes);
        if (!v.ok() && v.failure->message.empty()) Violation("a verdict without a message");
      }
      break;
    }
    case 5: {
      wallet::HttpResponse res;
      res.status = 200;
      res.content_type = "application/json";
      res.body = std::string(json);
      pb::ItemResponse item;
      pb::StatusResponse status;
      pb::CheckResponse check;
      pb::RecordStatusResponse record;
      for (google::protobuf::Message* m :
           std::initializer_list<google::protobuf::Message*>{&item, &status, &check, &record}) {
        core::Status s = wallet::ParseApiBody(res, m);
        CheckRefusal(s);
        if (s.ok() != Strict(json, m, core::kApiAnswerJsonLimits).ok()) {
          Violation("ParseApiBody and ParseJsonStrict disagree");
        }
      }
      break;
    }
    case 6: {
      pb::Keystore ks;
      (void)Strict(json, &ks, core::kKeyFileJsonLimits);
      CheckRefusal(core::ParseKeystore(json).status());
      break;
    }
    case 7: {
      pb::KeyShare share;
      (void)Strict(json, &share, core::kKeyFileJsonLimits);
      CheckRefusal(core::ParseKeyShare(json).status());
      break;
    }
  }
  return 0;
}
