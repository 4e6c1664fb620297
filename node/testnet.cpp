#include "node/testnet.h"

#include <fstream>

#include "consensus/types.h"
#include "core/clock.h"
#include "core/codec.h"
#include "core/crypto/ed25519.h"
#include "core/crypto/keystore.h"
#include "core/genesis.h"
#include "node/config.h"
#include "node/signer_state.h"
#include "proto/genesis.pb.h"
#include "proto/node.pb.h"
#include "storage/ledger.h"

namespace hallmark::node {

using core::Status;

namespace {

// Names for the demo organisations; beyond the list, generic ones.
const char* kBrandNames[] = {"maison-aurele", "atelier-nord", "casa-orsini",
                             "hanaoka",       "ruedi-uhren",  "lumen-paris"};
const char* kMarketNames[] = {"lux-resale",  "second-luxe",  "vintage-vault",
                              "closet-club", "rewear-house", "galerie-deux"};
// GS1 company prefixes for the brands: the spec's example prefixes first, then 7-digit ones
// of the same length (same length: they can never overlap).
const char* kPrefixes[] = {"0614141", "9506000", "4012345", "4098765", "7612345", "3012345"};

std::string OrgName(int i) {
  int k = i / 2;
  if (i % 2 == 0) return k < 6 ? kBrandNames[k] : "brand-" + std::to_string(k);
  return k < 6 ? kMarketNames[k] : "market-" + std::to_string(k);
}

std::string Prefix(int brand_index) {
  if (brand_index < 6) return kPrefixes[brand_index];
  return std::to_string(5000000 + brand_index);
}

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) return Status::IoError("cannot write " + path.string());
  return Status::Ok();
}

}  // namespace

Status WriteTestnet(const TestnetOptions& o, std::string* summary) {
  if (o.validators < 1 || o.validators > 64) {
    return Status::InvalidInput("--validators must be between 1 and 64");
  }
  if (o.observers < 0 || o.observers > 16) {
    return Status::InvalidInput("--observers must be between 0 and 16");
  }
  if (o.joiners < 0 || o.joiners > 16) {
    return Status::InvalidInput("--joiners must be between 0 and 16");
  }
  if (o.base_port < 1024 || o.base_port > 65535 - 200) {
    return Status::InvalidInput("--base-port must be between 1024 and 65335");
  }
  std::error_code ec;
  if (std::filesystem::exists(o.dir) && !std::filesystem::is_empty(o.dir, ec)) {
    if (!o.force) {
      return Status::InvalidInput(o.dir.string() +
                                  " is not empty; choose another folder or pass --force");
    }
    std::filesystem::remove_all(o.dir, ec);
  }
  std::filesystem::create_directories(o.dir / "keys", ec);
  if (ec) return Status::IoError("cannot create " + o.dir.string() + ": " + ec.message());

  core::KeystoreWriteOptions ks;
  ks.overwrite = true;
  pb::Genesis g;
  g.set_chain_id(o.chain_id);
  g.set_genesis_time_ms(core::UnixTimeMs());
  if (o.idle_block_interval_ms != 0) {
    g.mutable_consensus()->set_idle_block_interval_ms(o.idle_block_interval_ms);
  }
  std::string lines;
  auto add_org = [&](const std::string& id, const std::string& display,
                     std::initializer_list<pb::Role> roles,
                     const std::string& prefix) -> core::Result<std::string> {
    auto key = core::SigningKey::Generate();
    ks.label = id;
    HM_RETURN_IF_ERROR(core::WriteKeystore(o.dir / "keys" / (id + ".key"), key, std::nullopt, ks));
    pb::Organization* org = g.add_organizations();
    org->set_id(id);
    org->set_display_name(display);
    for (auto r : roles) org->add_roles(r);
    org->add_signing_keys(key.public_key().Hex());
    if (!prefix.empty()) org->add_gs1_company_prefixes(prefix);
    std::string role_names;
    for (auto r : roles) role_names += (role_names.empty() ? "" : ",") + pb::Role_Name(r);
    lines += "  " + id + "  " + role_names + (prefix.empty() ? "" : "  GS1 prefix " + prefix) +
             "  key keys/" + id + ".key\n";
    return id;
  };

  struct NodeKeys {
    std::string name;
    std::string dir;
    core::SigningKey key;
    uint16_t p2p;
    uint16_t http;
    bool observer;
    bool joiner = false;
    std::string org;      // Joiners: the organisation governance would admit.
    std::string org_key;  // Joiners: its signing key, hex.
  };
  std::vector<NodeKeys> nodes;
  for (int i = 0; i < o.validators; ++i) {
    std::string org = OrgName(i);
    bool brand = i % 2 == 0;
    auto added =
        add_org(org, org, {brand ? pb::BRAND : pb::MARKETPLACE}, brand ? Prefix(i / 2) : "");
    if (!added.ok()) return added.status();
    nodes.push_back(NodeKeys{"node" + std::to_string(i), "node" + std::to_string(i),
                             core::SigningKey::Generate(), static_cast<uint16_t>(o.base_port + i),
                             static_cast<uint16_t>(o.base_port + 100 + i), false, false, "", ""});
    pb::Validator* v = g.add_validators();
    v->set_name(nodes.back().name);
    v->set_organization(org);
    v->set_consensus_key(nodes.back().key.public_key().Hex());
    v->set_voting_power(1);
  }
  if (auto a = add_org("veritas-lab", "Veritas Authentication Lab", {pb::AUTHENTICATOR}, "");
      !a.ok()) {
    return a.status();
  }
  if (auto a = add_org("maison-service", "Maison Service Centre", {pb::SERVICE_CENTER}, "");
      !a.ok()) {
    return a.status();
  }
  for (int j = 0; j < o.observers; ++j) {
    nodes.push_back(NodeKeys{"observer" + std::to_string(j), "observer" + std::to_string(j),
                             core::SigningKey::Generate(),
                             static_cast<uint16_t>(o.base_port + 50 + j),
                             static_cast<uint16_t>(o.base_port + 150 + j), true, false, "", ""});
  }

  // Joiners: a consensus key and an organisation, neither in genesis.
  for (int k = 0; k < o.joiners; ++k) {
    const std::string org = "joiner-" + std::to_string(k);
    auto org_key = core::SigningKey::Generate();
    ks.label = org;
    HM_RETURN_IF_ERROR(
        core::WriteKeystore(o.dir / "keys" / (org + ".key"), org_key, std::nullopt, ks));
    nodes.push_back(NodeKeys{
        "joiner" + std::to_string(k), "joiner" + std::to_string(k), core::SigningKey::Generate(),
        static_cast<uint16_t>(o.base_port + 80 + k), static_cast<uint16_t>(o.base_port + 180 + k),
        true, true, org, org_key.public_key().Hex()});
  }

  auto network = core::Network::FromProto(g);
  if (!network.ok()) return network.status().WithContext("generated genesis");
  auto json = core::ToJson(network->genesis());
  if (!json.ok()) return json.status();
  HM_RETURN_IF_ERROR(WriteFile(o.dir / "genesis.json", *json + "\n"));

  std::vector<std::string> observer_keys;
  for (const auto& n : nodes) {
    if (n.observer) observer_keys.push_back(n.key.public_key().Hex());
  }
  for (const auto& n : nodes) {
    std::filesystem::path home = o.dir / n.dir;
    std::filesystem::create_directories(home, ec);
    if (ec) return Status::IoError("cannot create " + home.string());
    pb::NodeConfig c;
    c.set_moniker(n.name);
    c.set_genesis_file("../genesis.json");
    c.set_node_key_file("node.key");
    c.set_p2p_listen(o.host + ":" + std::to_string(n.p2p));
    c.set_http_listen(o.host + ":" + std::to_string(n.http));
    // Joiners start with their validator role: they follow until governance adds them.
    c.set_observer(n.observer && !n.joiner);
    for (const auto& other : nodes) {
      if (&other == &n) continue;
      // Validators dial every validator; observers dial the validators.
      if (other.observer) continue;
      pb::PeerConfig* p = c.add_peers();
      p->set_name(other.name);
      p->set_address(o.host + ":" + std::to_string(other.p2p));
      p->set_key(other.key.public_key().Hex());
    }
    for (const auto& k : observer_keys) c.add_observer_keys(k);
    HM_RETURN_IF_ERROR(ValidateConfig(&c));
    HM_RETURN_IF_ERROR(WriteConfig(home, c));
    ks.label = n.name;
    HM_RETURN_IF_ERROR(core::WriteKeystore(home / "node.key", n.key, std::nullopt, ks));
    // A validator starts with the empty signer state in its data folder and its watermark
    // (node/signer_state.h); without them it would abstain at first.
    auto ledger = storage::Ledger::Open(home / c.data_dir() / "ledger", *network);
    if (!ledger.ok()) return ledger.status();
    if (!n.observer || n.joiner) {
      HM_RETURN_IF_ERROR(
          (*ledger)->PutLocal("signer", EncodeSignerState(consensus::SignerState{})));
      HM_RETURN_IF_ERROR(WriteWatermark(home / kWatermarkFileName,
                                        WatermarkOwner{o.chain_id, n.key.public_key()},
                                        consensus::SignerState{}));
    }
  }

  if (summary) {
    *summary = "Testnet \"" + o.chain_id + "\" written to " + o.dir.string() + "\n";
    *summary += "Organisations (signing keys are development keystores without a passphrase):\n";
    *summary += lines;
    *summary += "Nodes:\n";
    for (const auto& n : nodes) {
      if (n.joiner) continue;
      *summary += "  " + n.name + (n.observer ? " (observer)" : "") + "  p2p " + o.host + ":" +
                  std::to_string(n.p2p) + "  http http://" + o.host + ":" + std::to_string(n.http) +
                  "  home " + (o.dir / n.dir).string() + "\n";
    }
    if (o.joiners > 0) {
      const std::string api = "http://" + o.host + ":" + std::to_string(o.base_port + 100);
      const std::string proposer = (o.dir / "keys" / (OrgName(0) + ".key")).string();
      *summary +=
          "Joiners (not in genesis: each starts following the chain; governance admits its "
          "organisation, then adds it as a validator, and it votes once that is in force):\n";
      for (const auto& n : nodes) {
        if (!n.joiner) continue;
        *summary += "  " + n.name + " (joiner)  p2p " + o.host + ":" + std::to_string(n.p2p) +
                    "  http http://" + o.host + ":" + std::to_string(n.http) + "  home " +
                    (o.dir / n.dir).string() + "\n";
        *summary += "    consensus key " + n.key.public_key().Hex() + "\n";
        *summary += "    organisation " + n.org + " (not a member yet)  signing key " + n.org_key +
                    "  keys/" + n.org + ".key\n";
        *summary += "    admit it: hallmark --node " + api + " gov propose add-org --id " + n.org +
                    " --role marketplace --signing-key " + n.org_key + " --key " + proposer + "\n";
        *summary += "    then:     hallmark --node " + api + " gov propose add-validator --name " +
                    n.name + " --org " + n.org + " --consensus-key " + n.key.public_key().Hex() +
                    " --power 1 --key " + proposer + "\n";
      }
      *summary +=
          "    each proposal completes when more than 2/3 of the members approve it: "
          "hallmark gov approve ID --key " +
          (o.dir / "keys" / "ORG.key").string() +
          " (a validator change may move at most a third of the voting power)\n";
    }
    *summary += "Start a node: hallmarkd start --home " + (o.dir / "node0").string() + "\n";
  }
  return Status::Ok();
}

}  // namespace hallmark::node
