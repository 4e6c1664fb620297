#include "wallet-cli/commands.h"

#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <optional>

#include "core/item_id.h"
#include "proto/cli.pb.h"
#include "wallet-cli/keystore.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kExitCodesHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  internal error (a bug; please report it)\n"
    "  2  invalid input (e.g. a malformed item id, passphrases that differ)\n"
    "  3  file or usage error (e.g. a missing or existing file, a wrong option)\n"
    "\n"
    "Environment:\n"
    "  HALLMARK_PASSPHRASE  passphrase for keystores, instead of a terminal prompt";

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

int Main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"hallmark: item ids, keys and (later) proofs for the Hallmark provenance ledger",
               "hallmark"};
  app.footer(std::string(kExitCodesHelp));
  app.require_subcommand(1);

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kFileOrUsage);
  }

  try {
    if (id->parsed()) return RunId(id_input, id_json, out, err);
    if (keygen->parsed()) {
      keygen_options.out_path = keygen_out;
      return RunKeygen(keygen_options, ReadNewPassphrase, out, err);
    }
  } catch (const std::exception& e) {
    err << "hallmark: internal error: " << e.what() << "\n";
    return ToInt(ExitCode::kInternal);
  }
  err << "hallmark: no command given; see hallmark --help\n";
  return ToInt(ExitCode::kFileOrUsage);
}

}  // namespace hallmark::wallet
