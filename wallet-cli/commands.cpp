#include "wallet-cli/commands.h"

#include <google/protobuf/util/json_util.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <vector>

#include "core/item_id.h"
#include "proto/cli.pb.h"
#include "wallet-cli/bulk.h"
#include "wallet-cli/custody_commands.h"
#include "wallet-cli/export_commands.h"
#include "wallet-cli/gov_commands.h"
#include "wallet-cli/http_client.h"
#include "wallet-cli/import_commands.h"
#include "wallet-cli/key_commands.h"
#include "wallet-cli/keystore.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/qr_commands.h"
#include "wallet-cli/trust_store.h"
#include "wallet-cli/verify_commands.h"
#include "wallet-cli/watch_commands.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kExitCodesHelp =
    "Exit codes:\n"
    "  0  success (a record command: the record is committed, or accepted with --no-wait)\n"
    "  1  internal error (a bug; please report it); for check: some item is not clean\n"
    "     (unregistered, decommissioned or flagged), or a --custody-proof's signer is not\n"
    "     its custodian\n"
    "  2  invalid input (e.g. a malformed item id, passphrases that differ), or a record the\n"
    "     node rejected: its code and message are printed as the node gave them\n"
    "  3  file or usage error (e.g. a missing or existing file, a wrong option), or the node\n"
    "     cannot be reached or is busy\n"
    "  4  timed out waiting for commit: the record was accepted and may still commit\n"
    "  register/transfer --from FILE: 0 every line committed (now or before), 2 some lines\n"
    "     bad, conflicting or refused (see the report), 4 interrupted or still pending: run\n"
    "     the same command again to finish\n"
    "\n"
    "Environment:\n"
    "  HALLMARK_PASSPHRASE  passphrase for keystores, instead of a terminal prompt\n"
    "  HALLMARK_NODE        the node's URL when --node is not given (default "
    "http://127.0.0.1:7800)\n"
    "  HALLMARK_CACERT      the CA file for https nodes when --cacert is not given";

}  // namespace

ExitCode ExitCodeFor(const core::Status& status) {
  switch (status.code()) {
    case core::StatusCode::kOk:
      return ExitCode::kOk;
    case core::StatusCode::kInvalidInput:
      return ExitCode::kInvalidInput;
    case core::StatusCode::kNotFound:
    case core::StatusCode::kIoError:
    case core::StatusCode::kCorruption:
      return ExitCode::kFileOrUsage;
    case core::StatusCode::kInternal:
    case core::StatusCode::kCancelled:
      return ExitCode::kInternal;
  }
  return ExitCode::kInternal;
}

int RunId(std::string_view input, bool json, std::ostream& out, std::ostream& err) {
  core::Result<core::ItemId> id = core::ParseItemId(input);
  if (!id.ok()) {
    err << "hallmark id: invalid item id: " << id.status().message() << "\n";
    return ToInt(ExitCode::kInvalidInput);
  }
  const std::string canonical = id->Canonical();
  const std::string digital_link = id->DigitalLinkUrl();
  if (!json) {
    out << "canonical:    " << canonical << "\n"
        << "digital_link: " << digital_link << "\n";
    return ToInt(ExitCode::kOk);
  }
  pb::IdOutput msg;
  msg.set_canonical(canonical);
  msg.set_digital_link(digital_link);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  const auto st = google::protobuf::util::MessageToJsonString(msg, &text, options);
  if (!st.ok()) {
    err << "hallmark id: cannot print JSON: " << st.ToString() << "\n";
    return ToInt(ExitCode::kInternal);
  }
  out << text << "\n";
  return ToInt(ExitCode::kOk);
}

int RunKeygen(const KeygenOptions& options, const PassphraseSource& passphrase, std::ostream& out,
              std::ostream& err) {
  const std::string path = options.out_path.string();
  if (path.empty()) {
    err << "hallmark keygen: --out FILE is required\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  std::error_code ec;
  if (std::filesystem::exists(options.out_path, ec) && !options.force) {
    err << "hallmark keygen: " << path << " already exists; use --force to replace it\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (std::filesystem::is_directory(options.out_path, ec)) {
    err << "hallmark keygen: " << path << " is a folder; give a file name\n";
    return ToInt(ExitCode::kFileOrUsage);
  }

  std::optional<std::string> secret;
  if (options.no_passphrase) {
    err << "warning: --no-passphrase: the secret key in " << path
        << " is NOT encrypted. Anyone who can read the file can sign as this key. Use it for "
           "development only.\n";
  } else {
    core::Result<std::string> p = passphrase();
    if (!p.ok()) {
      err << "hallmark keygen: " << p.status().message() << "\n";
      return ToInt(ExitCodeFor(p.status()));
    }
    secret = std::move(*p);
  }

  const core::SigningKey key = core::SigningKey::Generate();
  core::KeystoreWriteOptions write;
  write.label = options.label;
  write.cost = options.cost;
  write.overwrite = options.force;
  const core::Status s =
      core::WriteKeystore(options.out_path, key,
                          secret ? std::optional<std::string_view>(*secret) : std::nullopt, write);
  if (secret) WipeString(&*secret);
  if (!s.ok()) {
    err << "hallmark keygen: " << s.message() << "\n";
    return ToInt(ExitCodeFor(s));
  }
  out << key.public_key().Hex() << "\n";
  err << "wrote " << (options.no_passphrase ? "unencrypted" : "encrypted") << " keystore " << path
      << "\n";
  return ToInt(ExitCode::kOk);
}

int Main(int argc, const char* const* argv, std::istream& in, std::ostream& out,
         std::ostream& err) {
  CLI::App app{
      "hallmark: item ids, keys, custody records and listing-time checks for the Hallmark "
      "provenance ledger",
      "hallmark"};
  app.footer(std::string(kExitCodesHelp));
  app.require_subcommand(1);
  // The global options may also follow the command: `hallmark show ID --json`.
  app.fallthrough();

  std::vector<std::string> node_urls;
  bool json = false;
  app.add_option("--node", node_urls,
                 "The node's API URL, http:// or https:// (default: $HALLMARK_NODE, else "
                 "http://127.0.0.1:7800); verify may ask several (repeat --node)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--json", json,
               "Print one line of JSON (the API's messages) instead of tables and text");
  std::string cacert;
  app.add_option("--cacert", cacert,
                 "PEM file of the CA certificates that an https node's certificate must chain "
                 "to (default: $HALLMARK_CACERT, else the system's CA store)")
      ->envname("HALLMARK_CACERT");

  std::string id_input;
  bool id_json = false;
  CLI::App* id = app.add_subcommand(
      "id",
      "Parse an item id (Digital Link URL, element string, EPC URI or canonical form) and "
      "print its canonical form and GS1 Digital Link URL");
  id->add_option("INPUT", id_input, "The item id, in any supported form")->required();
  id->add_flag("--json", id_json, R"(Print {"canonical": ..., "digital_link": ...})");

  KeygenOptions keygen_options;
  std::string keygen_out;
  CLI::App* keygen = app.add_subcommand(
      "keygen",
      "Create a new Ed25519 signing key in an encrypted keystore file and print its "
      "public key");
  keygen->add_option("--out", keygen_out, "Keystore file to create (mode 0600)")->required();
  keygen->add_flag("--no-passphrase", keygen_options.no_passphrase,
                   "Store the key unencrypted (development only)");
  keygen->add_option("--label", keygen_options.label, "Free text stored with the key");
  keygen->add_flag("--force", keygen_options.force, "Replace FILE if it exists");

  // The record commands share one options struct: exactly one of them is parsed.
  WriteOptions write;
  std::string key_path;
  std::string genesis_path;
  double timeout_s = kDefaultWaitTimeoutMs / 1000.0;
  bool no_wait = false;
  struct WriteCommand {
    core::RecordType type;
    CLI::App* app;
  };
  std::vector<WriteCommand> write_commands;
  auto add_write = [&](core::RecordType type, const std::string& description) {
    CLI::App* c = app.add_subcommand(std::string(CommandName(type)),
                                     description +
                                         ". Signs with --key, fills prev from the node, "
                                         "submits, and waits for commit");
    c->add_option("--key", key_path, "Keystore of the signing key (from hallmark keygen)")
        ->required();
    CLI::Option* item_option =
        c->add_option("--item", write.item, "The item id, in any supported form");
    // register and transfer take --item or --from FILE (bulk.h); RunWrite insists on one.
    if (type != core::RecordType::kRegister && type != core::RecordType::kTransfer) {
      item_option->required();
    }
    c->add_flag("--no-wait", no_wait,
                "Return as soon as the node has accepted the record, without waiting for commit");
    c->add_option("--timeout", timeout_s, "Seconds to wait for the node and for commit (30)")
        ->check(CLI::Range(0.001, 86400.0));
    c->add_option("--genesis", genesis_path,
                  "genesis.json: check organisations and the custody rules locally first");
    write_commands.push_back({type, c});
    return c;
  };

  CLI::App* reg = add_write(core::RecordType::kRegister, "Register a new item (brands)");
  reg->add_option("--attr", write.attributes, "Attribute key=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  reg->add_option("--doc", write.documents,
                  "Document name=FILE: records the SHA-256 of FILE (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  reg->add_option("--custodian", write.custodian,
                  "First custodian: organisation id or holder public key (default: the brand)");

  CLI::App* transfer =
      add_write(core::RecordType::kTransfer, "Hand the item to a new custodian (custodian)");
  transfer
      ->add_option("--to", write.to,
                   "Organisation id from genesis, or a holder public key (64 hex digits, as "
                   "hallmark keygen prints it)")
      ->required();

  // Bulk: `register --from FILE` and `transfer --from FILE --to ORG` (docs/bulk.md).
  BulkOptions bulk;
  std::string bulk_from, bulk_format = "auto", bulk_report;
  for (CLI::App* c : {reg, transfer}) {
    c->add_option("--from", bulk_from,
                  "Many items from a CSV or JSON Lines file instead of --item (docs/bulk.md)");
    c->add_option("--format", bulk_format,
                  "With --from: csv | jsonl | ndjson (default: by extension)");
    c->add_option("--clients", bulk.clients, "With --from: connections to the node(s) (8)")
        ->check(CLI::Range(1u, kBulkClientsMax));
    c->add_option("--report", bulk_report,
                  "With --from: the report file (default FILE.report.csv)");
    c->add_flag("--strict", bulk.strict, "With --from: refuse the whole file if any line is bad");
  }

  CLI::App* attest =
      add_write(core::RecordType::kAttest, "Attest the item (marketplaces, authenticators)");
  attest->add_option("--verdict", write.verdict, "genuine | suspect")->required();
  attest->add_option("--note", write.note, "Free text");

  for (core::RecordType t : {core::RecordType::kFlag, core::RecordType::kClearFlag}) {
    CLI::App* c = add_write(t, t == core::RecordType::kFlag
                                   ? "Flag the item stolen, lost, counterfeit-suspected or recalled"
                                   : "Clear a flag");
    c->add_option("--reason,--kind", write.kind, "stolen | lost | counterfeit-suspected | recalled")
        ->required();
    c->add_option("--note", write.note, "Free text");
  }

  CLI::App* service = add_write(core::RecordType::kService, "Record a service (service centres)");
  service->add_option("--kind", write.kind, "repair | refurbishment | authentication")->required();
  service->add_option("--note", write.note, "Free text");

  CLI::App* decommission = add_write(core::RecordType::kDecommission,
                                     "Take the item out of circulation for good (brands)");
  decommission->add_option("--reason", write.reason, "Why, in free text")->required();
  decommission->add_option("--kind", write.kind, "destroyed | recycled (default destroyed)");

  CLI::App* reassign = add_write(core::RecordType::kReassign,
                                 "Restore custody to a holder's new key after a lost key (brands)");
  reassign->add_option("--to", write.to, "The holder's new public key (64 hex digits)")->required();
  reassign->add_option("--reason", write.reason, "Why, in free text")->required();

  ShowOptions show_options;
  CLI::App* show =
      app.add_subcommand("show", "Print an item's state and chain of custody as the node knows it");
  show->add_option("ID", show_options.item, "The item id, in any supported form")->required();

  CheckOptions check_options;
  CLI::App* check = app.add_subcommand(
      "check",
      "Listing-time check: is each item registered, active and unflagged? Ids as arguments or "
      "one per line on standard input");
  check->add_option("IDS", check_options.ids, "Item ids, in any supported form");
  std::string check_max_age;
  check->add_option("--max-age", check_max_age,
                    "Answers from a node whose head is older are stale, exit 1 (default 3m30s)");
  std::string check_custody_proof;
  check->add_option("--custody-proof", check_custody_proof,
                    "A custody proof from hallmark prove-custody: also check that its signer is "
                    "the item's current custodian (one ID; exit 1 unless so)");
  check->add_option("--challenge", check_options.challenge,
                    "With --custody-proof: the challenge you gave the seller, exactly");

  ListOptions list_options;
  CLI::App* list = app.add_subcommand(
      "list",
      "List items by brand and/or current flag, newest change first (what was flagged "
      "recently?)");
  list->add_option("--brand", list_options.brand, "Only this brand's items (organisation id)");
  list->add_option("--flag", list_options.flag,
                   "Only items carrying this flag now: stolen, lost, counterfeit-suspected, "
                   "recalled");
  list->add_option("--since", list_options.since,
                   "Only items whose state changed at or after this time: 2026-12-01, RFC 3339 "
                   "(2026-12-01T08:30:00Z) or milliseconds since 1970");
  list->add_option("--limit", list_options.limit, "Items per page, 1 to 1000 (default 100)");
  list->add_flag("--all", list_options.all, "Follow the pages to the last one");
  list->add_option("--after", list_options.after,
                   "Start after this cursor (the `next` of an earlier page)");

  KeyCommandLine key_commands(app);
  ExportCommandLine export_command(app);
  ImportCommandLine import_command(app);
  GovCommandLine gov_commands(app);
  CustodyCommandLine custody_commands(app);
  WatchCommandLine watch_command(app);
  QrCommandLine qr_commands(app);

  VerifyOptions verify_options;
  std::string verify_max_age;
  double verify_timeout_s = 0;
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Check an item's proof bundle against genesis.json alone, trusting no node: exit 0 "
      "genuine and clean, 1 valid but not clean, 2 the proof does not check out, 3 usage, file "
      "or network error, 4 the proof checks out but is too old to vouch for the item now");
  verify->add_option("ID", verify_options.item,
                     "The item id from its tag, in any supported form (required with --proof "
                     "unless --any-item)");
  verify->add_option("--genesis", verify_options.genesis_path, "The network's genesis.json")
      ->required();
  verify->add_option("--proof", verify_options.proof_path,
                     "Check this saved bundle offline instead of asking --node");
  verify->add_option("--save-proof", verify_options.save_path,
                     "Save the bundle the node sent, to check again later with --proof");
  verify->add_option("--max-age", verify_max_age,
                     "A proof whose header is older is stale, exit 4 (90s, 10m, 2h, 7d; default "
                     "online: the network's freshness limit; offline: none)");
  verify->add_flag("--any-item", verify_options.any_item,
                   "With --proof: check whichever item the bundle is about (named first); "
                   "compare it with the tag yourself");
  verify->add_option("--timeout", verify_timeout_s, "Seconds to wait for the node")
      ->check(CLI::Range(0.001, 86400.0));
  std::filesystem::path verify_trust_dir;
  verify->add_option("--trust-dir", verify_trust_dir,
                     "Where the governance state checked before is kept, per network (default "
                     "$XDG_STATE_HOME/hallmark/trust or ~/.local/state/hallmark/trust)");

  if (auto unknown = GovCommandLine::UnknownKind(argc, argv)) {
    err << *unknown << "\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kFileOrUsage);
  }

  if (node_urls.size() > 1 && !verify->parsed() && bulk_from.empty() &&
      !qr_commands.page_parsed()) {
    err << "hallmark: --node may be given more than once only for verify, page and --from\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  const std::string node_url = node_urls.empty() ? std::string() : node_urls.back();
  // Always set, so that one process running Main several times (the tests) starts afresh.
  if (core::Status s = SetDefaultCaFile(cacert); !s.ok()) {
    err << "hallmark: --cacert: " << s.message() << "\n";
    return ToInt(ExitCode::kFileOrUsage);
  }

  try {
    if (id->parsed()) return RunId(id_input, id_json || json, out, err);
    if (keygen->parsed()) {
      keygen_options.out_path = keygen_out;
      return RunKeygen(keygen_options, ReadNewPassphrase, out, err);
    }
    if (key_commands.parsed()) return key_commands.Run(json, node_url, out, err);
    if (gov_commands.parsed()) return gov_commands.Run(json, node_url, out, err);
    if (export_command.parsed()) return export_command.Run(node_url, out, err);
    if (import_command.parsed()) return import_command.Run(json, node_url, out, err);
    if (custody_commands.parsed()) return custody_commands.Run(node_url, out, err);
    if (watch_command.parsed()) return watch_command.Run(json, node_url, out, err);
    if (qr_commands.parsed()) {
      const bool terminal = &out == &std::cout && isatty(STDOUT_FILENO) == 1;
      return qr_commands.Run(node_urls, terminal, out, err);
    }
    if (verify->parsed()) {
      verify_options.node_urls = node_urls;
      verify_options.json = json;
      verify_options.timeout_ms = static_cast<uint32_t>(std::llround(verify_timeout_s * 1000));
      verify_options.trust_dir = TrustDir(verify_trust_dir);
      if (!verify_max_age.empty()) {
        auto age = ParseDuration(verify_max_age);
        if (!age.ok() || *age == 0) {
          err << "hallmark verify: --max-age: "
              << (age.ok() ? "must be more than 0" : age.status().message()) << "\n";
          return ToInt(ExitCode::kFileOrUsage);
        }
        verify_options.max_age_ms = *age;
      }
      return RunVerify(verify_options, out, err);
    }
    for (const WriteCommand& w : write_commands) {
      if (!w.app->parsed()) continue;
      if (!bulk_from.empty()) {
        if (!write.item.empty() || !write.attributes.empty() || !write.documents.empty() ||
            !write.custodian.empty() || !genesis_path.empty() || no_wait) {
          err << "hallmark " << CommandName(w.type)
              << ": with --from FILE, give no --item, --attr, --doc, --custodian, --genesis or "
                 "--no-wait: items and their details come from the file\n";
          return ToInt(ExitCode::kFileOrUsage);
        }
        core::Result<BulkFormat> format = ParseBulkFormat(bulk_format);
        if (!format.ok()) {
          err << "hallmark " << CommandName(w.type) << ": " << format.status().message() << "\n";
          return ToInt(ExitCode::kFileOrUsage);
        }
        bulk.type = w.type;
        bulk.from = bulk_from;
        bulk.format = *format;
        bulk.key_path = key_path;
        bulk.to = write.to;
        bulk.nodes = node_urls;
        bulk.report = bulk_report;
        bulk.json = json;
        if (w.app->get_option("--timeout")->count() > 0) {
          bulk.stall_timeout_ms = static_cast<uint32_t>(std::llround(timeout_s * 1000));
        }
        return RunBulk(bulk, out, err);
      }
      if (write.item.empty()) {
        err << "hallmark " << CommandName(w.type) << ": --item ID or --from FILE is required\n";
        return ToInt(ExitCode::kFileOrUsage);
      }
      write.type = w.type;
      write.node_url = node_url;
      write.json = json;
      write.key_path = key_path;
      write.genesis_path = genesis_path;
      write.wait = !no_wait;
      write.timeout_ms = static_cast<uint32_t>(std::llround(timeout_s * 1000));
      return RunWrite(write, out, err);
    }
    if (show->parsed()) {
      show_options.node_url = node_url;
      show_options.json = json;
      return RunShow(show_options, out, err);
    }
    if (list->parsed()) {
      list_options.node_url = node_url;
      list_options.json = json;
      return RunList(list_options, out, err);
    }
    if (check->parsed()) {
      check_options.node_url = node_url;
      if (!check_max_age.empty()) {
        auto age = ParseDuration(check_max_age);
        if (!age.ok() || *age == 0) {
          err << "hallmark check: --max-age: "
              << (age.ok() ? "must be more than 0" : age.status().message()) << "\n";
          return ToInt(ExitCode::kFileOrUsage);
        }
        check_options.max_age_ms = *age;
      }
      check_options.json = json;
      check_options.custody_proof_path = check_custody_proof;
      if (check_options.ids.empty() && check_custody_proof.empty() && &in == &std::cin &&
          ::isatty(STDIN_FILENO)) {
        err << "reading ids from standard input, one per line (end with Ctrl-D)\n";
      }
      return RunCheck(check_options, in, out, err);
    }
  } catch (const std::exception& e) {
    err << "hallmark: internal error: " << e.what() << "\n";
    return ToInt(ExitCode::kInternal);
  }
  err << "hallmark: no command given; see hallmark --help\n";
  return ToInt(ExitCode::kFileOrUsage);
}

int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return Main(argc, argv, std::cin, out, err);
}

}  // namespace hallmark::wallet
