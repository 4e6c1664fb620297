// Pure parts of the p2p transport: frame checks, the Hello binding, reconnect backoff.

#include <doctest/doctest.h>

#include <set>

#include "fixtures.h"
#include "node/p2p/backoff.h"
#include "node/p2p/framing.h"
#include "node/p2p/hello.h"
#include "node/p2p/limits.h"
#include "node/p2p/tie_break.h"

namespace hallmark::node {
namespace {

using test::KeyFor;

constexpr uint32_t kMax = p2p_limits::kMaxFrameBytes;

core::Hash256 FakeExporter(uint8_t fill) {
  core::Hash256 h;
  h.bytes.fill(fill);
  return h;
}

HelloPolicy TestPolicy(const core::Network& network) {
  HelloPolicy p;
  p.chain_id = network.chain_id();
  p.genesis_hash = network.hash();
  for (const auto& v : network.validators()) {
    p.validators.insert(core::PublicKey::FromBytes(v.key.span()).value());
  }
  p.observers.insert(KeyFor("observer-0").public_key());
  p.own_key = KeyFor("validator-0").public_key();
  return p;
}

pb::Hello HelloFrom(std::string_view key_name, const core::Network& network,
                    const core::Hash256& exporter, bool observer = false) {
  return MakeHello(network.chain_id(), network.hash(), exporter, KeyFor(key_name), observer, 3,
                   "test");
}

TEST_CASE("p2p frame: length 0 is refused as an empty frame") {
  CHECK(CheckFrameLength(0, kMax) == DisconnectReason::kEmptyFrame);
}

TEST_CASE("p2p frame: lengths above the limit up to 2^32-1 are refused before allocating") {
  CHECK(CheckFrameLength(kMax + 1, kMax) == DisconnectReason::kFrameTooLarge);
  CHECK(CheckFrameLength(0xFFFFFFFFu, kMax) == DisconnectReason::kFrameTooLarge);
  CHECK(CheckFrameLength(p2p_limits::kMaxHelloFrameBytes + 1, p2p_limits::kMaxHelloFrameBytes) ==
        DisconnectReason::kFrameTooLarge);
  CHECK_FALSE(CheckFrameLength(1, kMax).has_value());
  CHECK_FALSE(CheckFrameLength(kMax, kMax).has_value());
}

TEST_CASE("p2p frame: encoding writes a big-endian length and the message round-trips") {
  pb::PeerMessage msg;
  msg.mutable_block_request()->set_from_height(0x0102030405ull);
  msg.mutable_block_request()->set_max_blocks(9);
  auto frame = EncodeFrame(msg, kMax);
  REQUIRE(frame.ok());
  const std::string& bytes = **frame;
  REQUIRE(bytes.size() > kFrameHeaderBytes);
  uint32_t length = core::GetBigEndian32(reinterpret_cast<const uint8_t*>(bytes.data()));
  CHECK(length == bytes.size() - kFrameHeaderBytes);
  pb::PeerMessage back;
  CHECK_FALSE(ParseFrameBody(std::string_view(bytes).substr(kFrameHeaderBytes), &back));
  CHECK(back.block_request().from_height() == 0x0102030405ull);
  CHECK(back.block_request().max_blocks() == 9);
}

TEST_CASE("p2p frame: a message without a body or above the limit is not encoded") {
  pb::PeerMessage empty;
  CHECK_FALSE(EncodeFrame(empty, kMax).ok());
  pb::PeerMessage big;
  big.mutable_records()->add_records()->set_payload(std::string(2000, 'x'));
  CHECK_FALSE(EncodeFrame(big, 1000).ok());
  CHECK(EncodeFrame(big, 4000).ok());
}

TEST_CASE("p2p frame: garbage or unknown fields or an empty message are bad messages") {
  pb::PeerMessage out;
  CHECK(ParseFrameBody(std::string(8, '\xff'), &out) == DisconnectReason::kBadMessage);
  // Field 99, varint 1: well-formed Protobuf, but nothing this version knows.
  CHECK(ParseFrameBody(std::string("\x98\x06\x01", 3), &out) == DisconnectReason::kBadMessage);
  // A nested message whose length runs past the end.
  CHECK(ParseFrameBody(std::string("\x32\x10\x08", 3), &out) == DisconnectReason::kBadMessage);
  // Valid encoding of a PeerMessage with no body set.
  CHECK(ParseFrameBody(std::string(), &out) == DisconnectReason::kBadMessage);
}

TEST_CASE("p2p hello: a validator's Hello for this session is accepted") {
  core::Network net = test::TestNetwork();
  HelloPolicy policy = TestPolicy(net);
  CHECK_FALSE(CheckHello(HelloFrom("validator-1", net, FakeExporter(1)), policy, FakeExporter(1))
                  .has_value());
}

TEST_CASE("p2p hello: a Hello signed over another session's exporter is refused") {
  core::Network net = test::TestNetwork();
  auto refusal =
      CheckHello(HelloFrom("validator-1", net, FakeExporter(1)), TestPolicy(net), FakeExporter(2));
  REQUIRE(refusal);
  CHECK(refusal->reason == DisconnectReason::kBadSignature);
}

TEST_CASE("p2p hello: flipping the role after signing breaks the signature") {
  core::Network net = test::TestNetwork();
  HelloPolicy policy = TestPolicy(net);
  policy.observers.insert(KeyFor("validator-1").public_key());
  pb::Hello hello = HelloFrom("validator-1", net, FakeExporter(1), /*observer=*/false);
  hello.set_observer(true);
  auto refusal = CheckHello(hello, policy, FakeExporter(1));
  REQUIRE(refusal);
  CHECK(refusal->reason == DisconnectReason::kBadSignature);
}

TEST_CASE("p2p hello: keys outside the validator sets and the observer list are refused") {
  core::Network net = test::TestNetwork();
  HelloPolicy policy = TestPolicy(net);
  auto stranger = CheckHello(HelloFrom("stranger", net, FakeExporter(1)), policy, FakeExporter(1));
  REQUIRE(stranger);
  CHECK(stranger->reason == DisconnectReason::kUnknownPeer);
  // An allowed observer may connect as an observer, and as a validator to be (a node joining
  // through governance follows with its validator role before its set is in force; its votes
  // are checked against the set of their height like anyone's).
  CHECK_FALSE(
      CheckHello(HelloFrom("observer-0", net, FakeExporter(1), true), policy, FakeExporter(1)));
  CHECK_FALSE(
      CheckHello(HelloFrom("observer-0", net, FakeExporter(1), false), policy, FakeExporter(1)));
  // A validator not listed as an observer may not claim to be one.
  auto claims_observer =
      CheckHello(HelloFrom("validator-2", net, FakeExporter(1), true), policy, FakeExporter(1));
  REQUIRE(claims_observer);
  CHECK(claims_observer->reason == DisconnectReason::kUnknownPeer);
}

TEST_CASE("p2p hello: a wrong chain id or genesis hash or our own key is refused") {
  core::Network net = test::TestNetwork();
  HelloPolicy policy = TestPolicy(net);
  pb::Hello hello = HelloFrom("validator-1", net, FakeExporter(1));
  hello.set_chain_id("other-chain");
  CHECK(CheckHello(hello, policy, FakeExporter(1))->reason == DisconnectReason::kWrongChain);

  hello = HelloFrom("validator-1", net, FakeExporter(1));
  hello.set_genesis_hash(std::string(32, 'g'));
  CHECK(CheckHello(hello, policy, FakeExporter(1))->reason == DisconnectReason::kWrongGenesis);

  hello = HelloFrom("validator-0", net, FakeExporter(1));
  CHECK(CheckHello(hello, policy, FakeExporter(1))->reason == DisconnectReason::kSelf);
}

TEST_CASE("p2p hello: fields of the wrong size are refused without a signature check") {
  core::Network net = test::TestNetwork();
  HelloPolicy policy = TestPolicy(net);
  pb::Hello hello = HelloFrom("validator-1", net, FakeExporter(1));
  hello.set_node_key(hello.node_key().substr(0, 31));
  CHECK(CheckHello(hello, policy, FakeExporter(1))->reason == DisconnectReason::kBadHello);
  hello = HelloFrom("validator-1", net, FakeExporter(1));
  hello.set_signature(hello.signature() + "x");
  CHECK(CheckHello(hello, policy, FakeExporter(1))->reason == DisconnectReason::kBadHello);
  hello = HelloFrom("validator-1", net, FakeExporter(1));
  hello.set_genesis_hash("");
  CHECK(CheckHello(hello, policy, FakeExporter(1))->reason == DisconnectReason::kWrongGenesis);
}

TEST_CASE(
    "p2p hello: the signed bytes are domain then chain id then genesis hash then exporter then "
    "role") {
  core::Hash256 genesis = FakeExporter(0x11);
  core::Hash256 exporter = FakeExporter(0x22);
  std::string bytes = HelloSignBytes("chain", genesis, exporter, /*observer=*/true);
  std::string expected = std::string("hallmark/p2p/hello/v1") + "chain" + std::string(32, '\x11') +
                         std::string(32, '\x22') + std::string(1, '\x01');
  CHECK(bytes == expected);
  CHECK(HelloSignBytes("chain", genesis, exporter, false).back() == '\x00');
}

TEST_CASE("p2p tie-break: both ends keep the connection dialed by the lower key") {
  core::PublicKey lo = KeyFor("validator-1").public_key();
  core::PublicKey hi = KeyFor("validator-0").public_key();
  REQUIRE(lo < hi);
  // At `lo`: existing = lo dialed (outbound), new = hi dialed (inbound) -> keep existing.
  CHECK_FALSE(PreferNewConnection(lo, hi, /*existing_outbound=*/true, /*new_outbound=*/false));
  // At `hi`, the same two connections: existing = lo dialed (inbound), new = hi dialed.
  CHECK_FALSE(PreferNewConnection(hi, lo, false, true));
  // Arriving in the other order, both switch to lo's dial.
  CHECK(PreferNewConnection(lo, hi, false, true));
  CHECK(PreferNewConnection(hi, lo, true, false));
}

TEST_CASE("p2p tie-break: a newer connection from the same dialer replaces the old one") {
  core::PublicKey a = KeyFor("validator-0").public_key();
  core::PublicKey b = KeyFor("validator-1").public_key();
  CHECK(PreferNewConnection(a, b, true, true));
  CHECK(PreferNewConnection(a, b, false, false));
  CHECK(PreferNewConnection(b, a, true, true));
  CHECK(PreferNewConnection(b, a, false, false));
}

TEST_CASE("p2p backoff: delays double from the initial value with jitter up to the cap") {
  Backoff b(100, 5000, 42);
  uint32_t nominal = 100;
  for (int i = 0; i < 20; ++i) {
    uint32_t d = b.NextDelayMs();
    CHECK(d >= nominal / 2);
    CHECK(d <= nominal);
    nominal = std::min<uint32_t>(nominal * 2, 5000);
  }
  b.Reset();
  CHECK(b.NextDelayMs() <= 100);
}

TEST_CASE("p2p backoff: different seeds give different jitter") {
  std::set<uint32_t> firsts;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Backoff b(1000, 5000, seed);
    firsts.insert(b.NextDelayMs());
  }
  CHECK(firsts.size() > 5);
}

}  // namespace
}  // namespace hallmark::node
