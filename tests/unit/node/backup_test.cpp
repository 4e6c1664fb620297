// Backups (node/backup.h): the file format and its checks, restore into an empty or a forced
// home, the restore mark on the watermark, and live backups through the admin socket while the
// ledger is written.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "core/crypto/keystore.h"
#include "core/genesis.h"
#include "node/admin_socket.h"
#include "node/backup.h"
#include "node/config.h"
#include "node/signer_state.h"
#include "node/testnet.h"
#include "storage/ledger.h"
#include "test_util.h"

using namespace hallmark;
namespace fs = std::filesystem;

namespace {

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A 4-validator testnet written into `dir`, as `hallmarkd testnet` does.
void Testnet(const fs::path& dir, const std::string& chain_id = "hallmark-testnet") {
  node::TestnetOptions o;
  o.validators = 4;
  o.dir = dir;
  o.base_port = 23700;
  o.chain_id = chain_id;
  std::string summary;
  REQUIRE(node::WriteTestnet(o, &summary).ok());
}

node::WatermarkOwner OwnerOf(const fs::path& home) {
  auto cfg = node::LoadConfig(home);
  REQUIRE(cfg.ok());
  auto network = core::Network::FromFile(node::ResolvePath(home, cfg->genesis_file()));
  REQUIRE(network.ok());
  auto info = core::ReadKeystoreInfo(node::ResolvePath(home, cfg->node_key_file()));
  REQUIRE(info.ok());
  auto key = core::PublicKey::FromHex(info->public_key());
  REQUIRE(key.ok());
  return node::WatermarkOwner{network->chain_id(), *key};
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

}  // namespace

TEST_CASE(
    "backup: a stopped node's backup restores into an empty home, watermark marked restored") {
  test::TempDir tmp;
  Testnet(tmp.path() / "net");
  const fs::path home = tmp.path() / "net" / "node1";
  const fs::path file = tmp.path() / "node1.bak";
  auto made = node::RunBackup({home, file, false, /*include_node_key=*/true});
  REQUIRE_MESSAGE(made.ok(), made.status().ToString());
  CHECK(made->find("stopped node") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // It may hold the node key.

  auto summary = node::VerifyBackupFile(file);
  REQUIRE(summary.ok());
  CHECK(summary->header.chain_id() == "hallmark-testnet");
  CHECK(summary->header.height() == 0);
  CHECK(summary->header.includes_node_key());
  CHECK(summary->has_watermark);
  CHECK(summary->ledger_entries > 0);

  const fs::path restored = tmp.path() / "restored";
  auto done = node::RunRestore({file, restored, tmp.path() / "net" / "genesis.json", false});
  REQUIRE_MESSAGE(done.ok(), done.status().ToString());
  CHECK(ReadAll(restored / "node.key") == ReadAll(home / "node.key"));
  CHECK(ReadAll(restored / "genesis.json") == ReadAll(tmp.path() / "net" / "genesis.json"));
  auto cfg = node::LoadConfig(restored);
  REQUIRE(cfg.ok());
  CHECK(cfg->genesis_file() == "genesis.json");  // Was ../genesis.json: now inside the home.
  CHECK(cfg->p2p_listen() == "127.0.0.1:23701");
  auto mark = node::ReadWatermarkFile(restored / node::kWatermarkFileName, OwnerOf(home));
  REQUIRE(mark.ok());
  REQUIRE(mark->has_value());
  REQUIRE((*mark)->restored.has_value());
  CHECK((*mark)->restored->from_height == 0);
  auto original = node::ReadWatermarkFile(home / node::kWatermarkFileName, OwnerOf(home));
  REQUIRE(original.ok());
  CHECK((*mark)->state == (*original)->state);
  CHECK_FALSE((*original)->restored.has_value());
  // The restored ledger opens as the node would open it.
  auto network = core::Network::FromFile(restored / "genesis.json");
  REQUIRE(network.ok());
  auto ledger = storage::Ledger::Open(restored / "data" / "ledger", *network);
  REQUIRE_MESSAGE(ledger.ok(), ledger.status().ToString());
  CHECK((*ledger)->height() == 0);
  // No staging folder is left behind.
  for (const auto& e : fs::directory_iterator(restored))
    CHECK(e.path().filename().string().rfind(".restore-", 0) != 0);
}

TEST_CASE("backup: never overwrites --out without --force") {
  test::TempDir tmp;
  Testnet(tmp.path() / "net");
  const fs::path home = tmp.path() / "net" / "node0";
  const fs::path file = tmp.path() / "node0.bak";
  WriteAll(file, "precious");
  auto refused = node::RunBackup({home, file, false, false});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == core::StatusCode::kInvalidInput);
  CHECK(refused.status().message().find("--force") != std::string::npos);
  CHECK(ReadAll(file) == "precious");
  REQUIRE(node::RunBackup({home, file, true, false}).ok());
  CHECK(node::VerifyBackupFile(file).ok());
  // No temporary file is left beside it.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path())) ++files;
  CHECK(files == 2);  // net/ and node0.bak
}

TEST_CASE("restore: a truncated or corrupted file is refused and changes nothing") {
  test::TempDir tmp;
  Testnet(tmp.path() / "net");
  const fs::path file = tmp.path() / "good.bak";
  REQUIRE(node::RunBackup({tmp.path() / "net" / "node2", file, false, true}).ok());
  const std::string good = ReadAll(file);
  const fs::path bad = tmp.path() / "bad.bak";
  const fs::path home = tmp.path() / "home";
  auto refused = [&](const std::string& bytes, const std::string& why) {
    WriteAll(bad, bytes);
    auto r = node::RunRestore({bad, home, std::nullopt, false});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == core::StatusCode::kInvalidInput);
    CHECK_MESSAGE(r.status().message().find(why) != std::string::npos, r.status().message());
    CHECK_FALSE(Exists(home));  // Not even created.
  };
  for (size_t cut = 0; cut < good.size(); cut += 61) refused(good.substr(0, cut), "");
  refused(good.substr(0, good.size() - 1), "truncated");
  refused(good.substr(0, 40), "truncated");
  refused("", "empty");
  refused("not a backup at all", "not a Hallmark backup");
  for (size_t at = 8; at < good.size(); at += 53) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    refused(flipped, "");
  }
  {
    std::string flipped = good;
    flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 1);
    refused(flipped, "corrupted");
  }
  refused(good + "x", "follow its trailer");

  // Into an existing home with --force: a bad file leaves every file as it was.
  Testnet(tmp.path() / "other");
  const fs::path existing = tmp.path() / "other" / "node2";
  const std::string config = ReadAll(existing / "config.json");
  const std::string mark = ReadAll(existing / node::kWatermarkFileName);
  WriteAll(bad, good.substr(0, good.size() - 5));
  REQUIRE_FALSE(node::RunRestore({bad, existing, std::nullopt, true}).ok());
  CHECK(ReadAll(existing / "config.json") == config);
  CHECK(ReadAll(existing / node::kWatermarkFileName) == mark);
  CHECK(Exists(existing / "data" / "ledger" / "CURRENT"));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(existing)) ++entries;
  CHECK(entries == 4);  // config.json, node.key, signer_state.json, data/: no staging left.
}

TEST_CASE("restore: refuses another chain's backup, and a non-empty home without --force") {
  test::TempDir tmp;
  Testnet(tmp.path() / "a", "chain-a");
  Testnet(tmp.path() / "b", "chain-b");
  const fs::path file = tmp.path() / "a.bak";
  REQUIRE(node::RunBackup({tmp.path() / "a" / "node0", file, false, true}).ok());
  auto foreign =
      node::RunRestore({file, tmp.path() / "h", tmp.path() / "b" / "genesis.json", false});
  REQUIRE_FALSE(foreign.ok());
  CHECK(foreign.status().code() == core::StatusCode::kInvalidInput);
  CHECK(foreign.status().message().find("chain-b") != std::string::npos);
  CHECK_FALSE(Exists(tmp.path() / "h"));

  const fs::path busy = tmp.path() / "b" / "node0";
  const std::string config = ReadAll(busy / "config.json");
  auto not_empty = node::RunRestore({file, busy, std::nullopt, false});
  REQUIRE_FALSE(not_empty.ok());
  CHECK(not_empty.status().message().find("not empty") != std::string::npos);
  CHECK(ReadAll(busy / "config.json") == config);

  // --force replaces the node's files with the backup's.
  fs::create_directories(tmp.path() / "empty");
  REQUIRE(node::RunRestore({file, tmp.path() / "empty", tmp.path() / "a" / "genesis.json", false})
              .ok());
  auto forced = node::RunRestore({file, busy, std::nullopt, true});
  REQUIRE_MESSAGE(forced.ok(), forced.status().ToString());
  CHECK(ReadAll(busy / "node.key") == ReadAll(tmp.path() / "a" / "node0" / "node.key"));
  auto network = core::Network::FromFile(busy / "genesis.json");
  REQUIRE(network.ok());
  CHECK(network->chain_id() == "chain-a");
  CHECK(storage::Ledger::Open(busy / "data" / "ledger", *network).ok());
}

TEST_CASE("backup: a running node's ledger is read through its admin socket, from one snapshot") {
  test::TempDir tmp;
  Testnet(tmp.path() / "net");
  const fs::path home = tmp.path() / "net" / "node3";
  auto network = core::Network::FromFile(tmp.path() / "net" / "genesis.json");
  REQUIRE(network.ok());
  auto ledger = storage::Ledger::Open(home / "data" / "ledger", *network);
  REQUIRE(ledger.ok());

  // The ledger is open (LevelDB's lock held) and no node answers: a clear error.
  auto locked = node::RunBackup({home, tmp.path() / "x.bak", false, false});
  REQUIRE_FALSE(locked.ok());
  CHECK(locked.status().code() == core::StatusCode::kInvalidInput);
  CHECK_MESSAGE(locked.status().message().find("in use") != std::string::npos,
                locked.status().message());
  CHECK_FALSE(Exists(tmp.path() / "x.bak"));

  auto config = node::LoadConfig(home);
  REQUIRE(config.ok());
  int writes_during_scan = 0;
  node::AdminServer admin(
      home / node::kAdminSocketName,
      [&](const pb::AdminBackupRequest& request, const node::ByteSink& sink) {
        node::BackupSource source;
        source.home = home;
        source.config = *config;
        source.chain_id = network->chain_id();
        source.genesis_hash = std::string(network->hash().view());
        source.validator_key_hex = OwnerOf(home).validator.Hex();
        source.include_node_key = request.include_node_key();
        source.scan = [&](const auto& begin, const auto& visit) {
          return (*ledger)->ScanSnapshot(begin, [&](std::string_view k, std::string_view v) {
            // The node goes on writing while the backup runs; the snapshot does not see it.
            if (writes_during_scan++ == 0) REQUIRE((*ledger)->PutLocal("during", "x").ok());
            return visit(k, v);
          });
        };
        return node::WriteBackup(source, sink);
      },
      [](std::string_view) {});
  REQUIRE(admin.Start().ok());
  struct stat st {};
  REQUIRE(::stat((home / node::kAdminSocketName).c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);

  const fs::path file = tmp.path() / "live.bak";
  auto made = node::RunBackup({home, file, false, false});
  REQUIRE_MESSAGE(made.ok(), made.status().ToString());
  CHECK(made->find("running node") != std::string::npos);
  CHECK(writes_during_scan > 0);
  auto during = (*ledger)->GetLocal("during");
  REQUIRE(during.ok());
  CHECK(during->has_value());

  // A restore refuses the home of a running node, even with --force.
  auto running = node::RunRestore({file, home, std::nullopt, true});
  REQUIRE_FALSE(running.ok());
  CHECK(running.status().message().find("running") != std::string::npos);
  admin.Stop();
  CHECK_FALSE(Exists(home / node::kAdminSocketName));

  const fs::path restored = tmp.path() / "restored";
  REQUIRE(node::RunRestore({file, restored, std::nullopt, false}).ok());
  CHECK_FALSE(Exists(restored / "node.key"));  // Not asked for.
  auto copy = storage::Ledger::Open(restored / "data" / "ledger", *network);
  REQUIRE(copy.ok());
  auto absent = (*copy)->GetLocal("during");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
}

TEST_CASE("signer watermark: the restore mark round-trips and is absent by default") {
  test::TempDir tmp;
  const node::WatermarkOwner owner{"hallmark-test", core::PublicKey()};
  consensus::SignerState s;
  s.height = 7;
  s.round = 1;
  s.step = 2;
  const fs::path path = tmp.path() / node::kWatermarkFileName;
  REQUIRE(node::WriteWatermark(path, owner, s, node::RestoreMark{42}).ok());
  auto read = node::ReadWatermarkFile(path, owner);
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->state == s);
  REQUIRE((*read)->restored.has_value());
  CHECK((*read)->restored->from_height == 42);
  auto plain = node::ReadWatermark(path, owner);  // The old reader still reads it.
  REQUIRE(plain.ok());
  CHECK(**plain == s);
  REQUIRE(node::WriteWatermark(path, owner, s).ok());
  read = node::ReadWatermarkFile(path, owner);
  REQUIRE(read.ok());
  CHECK_FALSE((*read)->restored.has_value());
  CHECK(ReadAll(path).find("restored") == std::string::npos);
}
