#include "node/p2p/hello.h"

namespace hallmark::node {
namespace {

std::string ShortHex(std::string_view bytes) {
  return core::ToHex(bytes.substr(0, 8));
}

}  // namespace

std::string HelloSignBytes(std::string_view chain_id, const core::Hash256& genesis_hash,
                           const core::Hash256& exporter, bool observer) {
  std::string out;
  out.reserve(kHelloDomain.size() + chain_id.size() + 2 * core::Hash256::kSize + 1);
  out.append(kHelloDomain);
  out.append(chain_id);
  out.append(genesis_hash.view());
  out.append(exporter.view());
  out.push_back(observer ? '\x01' : '\x00');
  return out;
}

pb::Hello MakeHello(std::string_view chain_id, const core::Hash256& genesis_hash,
                    const core::Hash256& exporter, const core::SigningKey& key, bool observer,
                    uint64_t height, std::string_view version) {
  pb::Hello hello;
  hello.set_chain_id(std::string(chain_id));
  hello.set_genesis_hash(std::string(genesis_hash.view()));
  hello.set_node_key(core::ToString(key.public_key().span()));
  core::Signature sig = key.Sign(HelloSignBytes(chain_id, genesis_hash, exporter, observer));
  hello.set_signature(core::ToString(sig.span()));
  hello.set_observer(observer);
  hello.set_height(height);
  hello.set_version(std::string(version));
  return hello;
}

std::optional<HelloRefusal> CheckHello(const pb::Hello& hello, const HelloPolicy& policy,
                                       const core::Hash256& exporter) {
  if (hello.chain_id() != policy.chain_id) {
    return HelloRefusal{DisconnectReason::kWrongChain,
                        "peer is on chain \"" + hello.chain_id().substr(0, 64) +
                            "\", we are on \"" + policy.chain_id + "\""};
  }
  if (hello.genesis_hash() != policy.genesis_hash.view()) {
    return HelloRefusal{DisconnectReason::kWrongGenesis,
                        "peer's genesis hash " + ShortHex(hello.genesis_hash()) +
                            "... differs from ours " + ShortHex(policy.genesis_hash.view()) +
                            "..."};
  }
  auto key = core::PublicKey::FromBytes(core::AsSpan(hello.node_key()));
  if (!key.ok()) {
    return HelloRefusal{
        DisconnectReason::kBadHello,
        "node key has " + std::to_string(hello.node_key().size()) + " bytes, expected 32"};
  }
  auto sig = core::Signature::FromBytes(core::AsSpan(hello.signature()));
  if (!sig.ok()) {
    return HelloRefusal{
        DisconnectReason::kBadHello,
        "signature has " + std::to_string(hello.signature().size()) + " bytes, expected 64"};
  }
  if (*key == policy.own_key) {
    return HelloRefusal{DisconnectReason::kSelf, "peer presented our own key"};
  }
  const auto& allowed = hello.observer() ? policy.observers : policy.validators;
  if (!allowed.contains(*key)) {
    return HelloRefusal{
        DisconnectReason::kUnknownPeer,
        "key " + key->Hex() + " is not " +
            (hello.observer() ? "an allowed observer" : "a validator (current or scheduled set)")};
  }
  std::string signed_bytes =
      HelloSignBytes(hello.chain_id(), policy.genesis_hash, exporter, hello.observer());
  core::SigVerdict verdict = core::VerifySignature(*key, core::AsSpan(signed_bytes), *sig);
  if (verdict != core::SigVerdict::kValid) {
    return HelloRefusal{DisconnectReason::kBadSignature,
                        "Hello signature of " + key->Hex() + " does not verify for this TLS " +
                            "session (" + std::string(core::SigVerdictName(verdict)) + ")"};
  }
  return std::nullopt;
}

}  // namespace hallmark::node
