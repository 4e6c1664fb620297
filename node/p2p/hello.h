#pragma once

// The Hello handshake that binds a TLS session to a node's Ed25519 consensus key.
//
// TLS certificates on peer links are throwaway and unverified: they only give us an encrypted
// channel. Authentication is the Hello each side sends first inside TLS. Its signature covers
//
//   "hallmark/p2p/hello/v1" || chain id || genesis hash (32) || exporter (32) || role (1)
//
// where the exporter is SSL_export_keying_material(label "EXPORTER-hallmark-p2p", 32 bytes, no
// context) of *this* TLS session, equal at both ends of it and unpredictable to anyone else. A
// relay that terminates TLS towards each side holds two sessions with two different exporters,
// so a Hello it forwards does not verify. The role byte is 0 for a validator, 1 for an observer.
// The chain id is the only variable-length part and everything after it has a fixed length, so
// the concatenation is unambiguous.

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/crypto/ed25519.h"
#include "node/p2p/disconnect_reason.h"
#include "proto/p2p.pb.h"

namespace hallmark::node {

inline constexpr std::string_view kHelloDomain = "hallmark/p2p/hello/v1";
inline constexpr std::string_view kHelloExporterLabel = "EXPORTER-hallmark-p2p";
inline constexpr size_t kHelloExporterBytes = 32;

// What a node checks a peer's Hello against: its network's identity and who may connect.
// Plain data; thread-compatible.
struct HelloPolicy {
  std::string chain_id;
  core::Hash256 genesis_hash;
  std::set<core::PublicKey> validators;  // Current and scheduled validators: may connect as such.
  std::set<core::PublicKey> observers;   // Configured observer keys: may connect as observers.
  core::PublicKey own_key;               // Our key: a peer presenting it is refused.
};

// The exact bytes a Hello signature covers (see the top of this file).
std::string HelloSignBytes(std::string_view chain_id, const core::Hash256& genesis_hash,
                           const core::Hash256& exporter, bool observer);

// A signed Hello for the session whose exporter value is `exporter`.
pb::Hello MakeHello(std::string_view chain_id, const core::Hash256& genesis_hash,
                    const core::Hash256& exporter, const core::SigningKey& key, bool observer,
                    uint64_t height, std::string_view version);

// Why a Hello was refused, for the log.
struct HelloRefusal {
  DisconnectReason reason;
  std::string detail;
};

// Checks a peer's Hello for the session with `exporter`: sizes, chain id, genesis hash, that the
// key is not ours and may connect in the role it claims, and last (being the costly part) the
// signature, through core::VerifySignature. nullopt means the sender holds the key it names and
// is talking to us over this very session.
std::optional<HelloRefusal> CheckHello(const pb::Hello& hello, const HelloPolicy& policy,
                                       const core::Hash256& exporter);

}  // namespace hallmark::node
