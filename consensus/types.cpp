#include "consensus/types.h"

#include <type_traits>

namespace hallmark::consensus {

namespace {

std::string Short(const Hash256& id) {
  return core::IsNil(id) ? "nil" : id.Hex().substr(0, 12);
}
std::string Short(const PublicKey& key) {
  return key.Hex().substr(0, 8);
}
std::string HR(uint64_t height, uint32_t round) {
  return "h=" + std::to_string(height) + " r=" + std::to_string(round);
}

}  // namespace

std::string_view RoundStepName(RoundStep step) {
  switch (step) {
    case RoundStep::kPropose:
      return "propose";
    case RoundStep::kPrevote:
      return "prevote";
    case RoundStep::kPrecommit:
      return "precommit";
  }
  return "unknown";
}

std::string_view TimeoutKindName(TimeoutKind kind) {
  switch (kind) {
    case TimeoutKind::kPropose:
      return "propose";
    case TimeoutKind::kPrevote:
      return "prevote";
    case TimeoutKind::kPrecommit:
      return "precommit";
    case TimeoutKind::kRebroadcast:
      return "rebroadcast";
    case TimeoutKind::kDoubleSignCheck:
      return "double-sign-check";
  }
  return "unknown";
}

std::string Describe(const Message& message) {
  return std::visit(
      [](const auto& m) -> std::string {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, Proposal>) {
          return "proposal " + HR(m.height, m.round) + " block=" + Short(m.block_id) +
                 " pol=" + (m.pol_round ? std::to_string(*m.pol_round) : "-") +
                 " from=" + Short(m.proposer);
        } else if constexpr (std::is_same_v<M, Vote>) {
          return std::string(core::VoteTypeName(m.type)) + " " + HR(m.height, m.round) +
                 " block=" + Short(m.block_id) + " from=" + Short(m.validator);
        } else {
          return "certificate " + HR(m.height, m.round) + " block=" + Short(m.block_id) +
                 " signers=" + std::to_string(m.signatures.size());
        }
      },
      message);
}

std::string Describe(const Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, ProposalReceived>) {
          return "recv " + Describe(Message{e.proposal});
        } else if constexpr (std::is_same_v<E, VoteReceived>) {
          return "recv " + Describe(Message{e.vote});
        } else if constexpr (std::is_same_v<E, CertificateReceived>) {
          return "recv " + Describe(Message{e.certificate});
        } else if constexpr (std::is_same_v<E, TimeoutFired>) {
          return "timeout " + std::string(TimeoutKindName(e.timeout.kind)) + " " +
                 HR(e.timeout.height, e.timeout.round);
        } else if constexpr (std::is_same_v<E, BlockBuilt>) {
          return "built " + HR(e.height, e.round) + " block=" + Short(e.block.id);
        } else if constexpr (std::is_same_v<E, BlockVerdict>) {
          return "verdict h=" + std::to_string(e.height) + " block=" + Short(e.block_id) +
                 (e.valid ? " valid" : " invalid");
        } else if constexpr (std::is_same_v<E, BlockFetched>) {
          return "fetched h=" + std::to_string(e.certificate.height) +
                 " block=" + Short(e.block.id);
        } else {
          static_assert(std::is_same_v<E, ScheduleValidators>);
          return "schedule validators from h=" + std::to_string(e.from_height) +
                 " n=" + std::to_string(e.set.size()) +
                 " power=" + std::to_string(e.set.total_power());
        }
      },
      event);
}

std::string Describe(const Action& action) {
  return std::visit(
      [](const auto& a) -> std::string {
        using A = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<A, Broadcast>) {
          return "broadcast " + Describe(a.message);
        } else if constexpr (std::is_same_v<A, SendTo>) {
          return "send to=" + std::to_string(a.to) + " " + Describe(a.message);
        } else if constexpr (std::is_same_v<A, ScheduleTimeout>) {
          return "schedule " + std::string(TimeoutKindName(a.timeout.kind)) + " " +
                 HR(a.timeout.height, a.timeout.round) + " in " + std::to_string(a.delay_ms) + "ms";
        } else if constexpr (std::is_same_v<A, BuildBlock>) {
          return "build " + HR(a.height, a.round);
        } else if constexpr (std::is_same_v<A, ValidateBlock>) {
          return "validate h=" + std::to_string(a.height) + " block=" + Short(a.block.id);
        } else if constexpr (std::is_same_v<A, PersistSignerState>) {
          return "persist " + HR(a.state.height, a.state.round) +
                 " step=" + std::to_string(a.state.step) + " block=" + Short(a.state.block_id);
        } else if constexpr (std::is_same_v<A, PersistLock>) {
          return "persist-lock " + HR(a.lock.height, a.lock.round) +
                 " block=" + Short(a.lock.block.id) +
                 " polka=" + std::to_string(a.lock.polka.size());
        } else if constexpr (std::is_same_v<A, CommitBlock>) {
          return "commit h=" + std::to_string(a.certificate.height) +
                 " r=" + std::to_string(a.certificate.round) + " block=" + Short(a.block.id);
        } else if constexpr (std::is_same_v<A, FetchBlocks>) {
          return "fetch " + std::to_string(a.from_height) + ".." + std::to_string(a.to_height);
        } else if constexpr (std::is_same_v<A, ReportEvidence>) {
          return std::visit(
              [](const auto& pair) {
                return "evidence " + Describe(Message{pair.first}) + " vs " +
                       Short(pair.second.block_id);
              },
              a.evidence);
        } else {
          static_assert(std::is_same_v<A, Log>);
          return "log " + a.message;
        }
      },
      action);
}

}  // namespace hallmark::consensus
