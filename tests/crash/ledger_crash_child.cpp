// A child process for the crash test: commits blocks to the ledger in DIR in a loop with synced
// writes, printing "<height> <block hash>" after each commit returns. The parent kills it with
// SIGKILL at random moments; every printed height was acknowledged and must survive.
#include <cstdio>
#include <string>
#include <vector>

#include "fixtures.h"
#include "storage/ledger.h"

using namespace hallmark;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 3;
  }
  auto net = test::TestNetwork();
  auto opened = storage::Ledger::Open(argv[1], net, storage::LedgerOptions{.sync = true});
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto& ledger = *opened.value();
  const core::Hash256 proposer = test::PubFor("validator-0");
  const auto maison = test::KeyFor("maison");
  const std::string item_base = "01/00614141000012/21/K";
  for (;;) {
    uint64_t h = ledger.head().height() + 1;
    std::vector<pb::Envelope> recs;
    for (int i = 0; i < 40; ++i) {
      auto p = test::Payload(item_base + std::to_string(h) + "-" + std::to_string(i));
      p.mutable_register_();
      recs.push_back(test::Sign(maison, p));
      // Move last block's items on, so that states change as well as appear.
      if (h > 1) {
        std::string prev_item = item_base + std::to_string(h - 1) + "-" + std::to_string(i);
        auto state = ledger.GetItem(core::ParseItemId(prev_item)->Key());
        if (!state.ok() || !state->has_value()) {
          std::fprintf(stderr, "item %s missing\n", prev_item.c_str());
          return 1;
        }
        auto t = test::Payload(prev_item, (*state)->state.last_record());
        *t.mutable_transfer()->mutable_to() = test::OrgHolder("resale");
        recs.push_back(test::Sign(maison, t));
      }
    }
    auto built = ledger.BuildBlock(recs, test::kTestTimeMs + h, proposer);
    if (!built.ok() || !built->dropped.empty()) {
      std::fprintf(stderr, "build failed at %llu\n", static_cast<unsigned long long>(h));
      return 1;
    }
    auto st = ledger.Commit(*built);
    if (!st.ok()) {
      std::fprintf(stderr, "commit: %s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("%llu %s\n", static_cast<unsigned long long>(h), built->hash.Hex().c_str());
    std::fflush(stdout);
  }
}
