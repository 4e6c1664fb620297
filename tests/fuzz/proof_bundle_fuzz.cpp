// Fuzz target: proof bundle parsing and verification (docs/proofs.md), as a consumer's CLI
// runs it on bytes from an untrusted node. Properties checked on every input:
//   - no crash, leak or undefined behaviour (the sanitizers' part);
//   - the verdict is deterministic;
//   - a bundle that checks out is never accepted as a proof about another item.
// Built as a libFuzzer target with clang (make fuzz), and as a replay driver with mutations
// for CTest (replay_main.cpp) with any compiler.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "core/proof_bundle.h"
#include "fixtures.h"

namespace {

const hallmark::core::Network& FuzzNetwork() {
  // Protobuf logs every invalid UTF-8 string it parses; the fuzzer makes millions.
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)quiet;
  static const hallmark::core::Network network =
      std::move(hallmark::core::Network::FromProto(hallmark::test::TestGenesis()).value());
  return network;
}

[[noreturn]] void Violation(const char* what) {
  std::fprintf(stderr, "proof bundle fuzz: property violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hallmark;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const core::Network& net = FuzzNetwork();
  core::ProofVerdict first = core::VerifyProofBundle(net, bytes);
  core::ProofVerdict again = core::VerifyProofBundle(net, bytes);
  if (first.ok() != again.ok()) Violation("the verdict is not deterministic");
  if (!first.ok()) {
    if (first.failure->check != again.failure->check) Violation("the failed check changed");
    if (first.failure->message.empty()) Violation("a failure without a message");
    return 0;
  }
  // Accepted: it must be about exactly the item it names, and no other.
  const std::string& item = first.item.item_id;
  if (!core::VerifyProofBundle(net, bytes, item).ok()) Violation("refused for its own item");
  const std::string other = item == hallmark::test::kMaisonItem ? hallmark::test::kAtelierItem
                                                                : hallmark::test::kMaisonItem;
  if (core::VerifyProofBundle(net, bytes, other).ok()) Violation("accepted for another item");
  if (first.item.state && first.item.steps.size() != first.item.state->record_count()) {
    Violation("the proven history does not match the state's record count");
  }
  return 0;
}
