// The evidence pool checks a piece against the validator set of the offence's height.

#include <doctest/doctest.h>

#include "evidence_fixture.h"
#include "fixtures.h"
#include "node/evidence_pool.h"
#include "test_util.h"

using namespace hallmark;
using namespace hallmark::test;
using Result = node::EvidencePool::AddResult;

TEST_CASE("evidence pool: an offence is checked against the set of its height") {
  TempDir dir;
  const core::Network network = TestNetwork();
  auto ledger = std::move(storage::Ledger::Open(dir.path(), network, {.sync = false}).value());
  auto built = ledger->BuildBlock({}, kTestTimeMs + 1, PubFor("validator-0"),
                                  storage::VerifyEverySignature(), {});
  REQUIRE(built.ok());
  REQUIRE(ledger->Commit(*built).ok());
  // validator-3 is replaced by validator-7 from height 2.
  pb::NetworkStateProto proto = core::NetworkState::FromGenesis(network).ToProto();
  pb::ValidatorEpoch* epoch = proto.add_validator_epochs();
  *epoch = proto.validator_epochs(0);
  epoch->set_from_height(2);
  epoch->set_moved_power(1);
  const core::PublicKey seven = KeyFor("validator-7").public_key();
  epoch->mutable_validators(3)->set_consensus_key(
      std::string(reinterpret_cast<const char*>(seven.bytes.data()), 32));
  auto state = core::NetworkState::FromProto(proto, network.governance());
  REQUIRE(state.ok());
  auto shared = std::make_shared<const core::NetworkState>(std::move(state).value());

  node::EvidencePool pool(network, ledger.get(), core::limits::kMaxPendingEvidence,
                          [shared] { return shared; });
  CHECK(pool.Add(DoubleVote(7, 2)) == Result::kAdded);    // In the set of height 2.
  CHECK(pool.Add(DoubleVote(3, 2)) == Result::kInvalid);  // Gone from it.
  CHECK(pool.Add(DoubleVote(3, 1)) == Result::kAdded);    // Still a validator at height 1.
  CHECK(pool.Add(DoubleVote(7, 1)) == Result::kInvalid);  // Not yet one.
  // Without the state, genesis' set decides.
  node::EvidencePool genesis_only(network, ledger.get());
  CHECK(genesis_only.Add(DoubleVote(7, 2)) == Result::kInvalid);
  CHECK(genesis_only.Add(DoubleVote(3, 2)) == Result::kAdded);
}
