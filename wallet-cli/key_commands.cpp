#include "wallet-cli/key_commands.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <ostream>
#include <string_view>
#include <system_error>

#include "core/bytes.h"
#include "core/crypto/sha256.h"
#include "core/crypto/shamir.h"
#include "proto/share.pb.h"
#include "wallet-cli/format.h"
#include "wallet-cli/gov_commands.h"
#include "wallet-cli/keystore.h"

namespace hallmark::wallet {
namespace {

constexpr size_t kFingerprintBytes = 8;

// Reads a keystore, asking `passphrase` only when it is encrypted.
core::Result<core::SigningKey> LoadKey(const std::filesystem::path& path,
                                       const ExistingPassphraseSource& passphrase) {
  core::Result<pb::Keystore> info = core::ReadKeystoreInfo(path);
  if (!info.ok()) return info.status();
  if (!core::KeystoreNeedsPassphrase(*info)) return core::ReadKeystore(path, std::nullopt);
  core::Result<std::string> p = passphrase(path);
  if (!p.ok()) return p.status();
  core::Result<core::SigningKey> key = core::ReadKeystore(path, *p);
  WipeString(&*p);
  return key;
}

// True for the names ShareFileName gives: "share-<digits>-of-<digits>.json".
bool LooksLikeShareFile(std::string_view name) {
  constexpr std::string_view kPrefix = "share-";
  constexpr std::string_view kSuffix = ".json";
  if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) ||
      !name.ends_with(kSuffix)) {
    return false;
  }
  name = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  const size_t of = name.find("-of-");
  if (of == std::string_view::npos || of == 0 || of + 4 == name.size()) return false;
  auto digits = [](std::string_view s) {
    return s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return digits(name.substr(0, of)) && digits(name.substr(of + 4));
}

}  // namespace

std::string KeyFingerprint(const core::PublicKey& key) {
  const core::Hash256 digest = core::Sha256Of(key.span());
  const std::string hex = core::ToHex(digest.span().first(kFingerprintBytes));
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 4) {
    if (i > 0) out += ':';
    out += hex.substr(i, 4);
  }
  return out;
}

core::Result<std::string> AskExistingPassphrase(const std::filesystem::path& keystore) {
  return ReadExistingPassphrase("Passphrase for " + keystore.string() + ": ");
}

std::string ShareFileName(uint32_t index, uint32_t total) {
  return "share-" + std::to_string(index) + "-of-" + std::to_string(total) + ".json";
}

int RunKeyShow(const KeyShowOptions& options, const ExistingPassphraseSource& passphrase,
               std::ostream& out, std::ostream& err) {
  if (options.keystore.empty()) {
    err << "hallmark key show: give the keystore FILE\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  // The public facts come from the file without decrypting anything.
  core::Result<pb::Keystore> info = core::ReadKeystoreInfo(options.keystore);
  if (!info.ok()) {
    err << "hallmark key show: " << info.status().message() << "\n";
    return ToInt(ExitCodeFor(info.status()));
  }
  const core::PublicKey public_key = core::PublicKey::FromHex(info->public_key()).value();
  if (options.verify) {
    core::Result<core::SigningKey> key = LoadKey(options.keystore, passphrase);
    if (!key.ok()) {
      err << "hallmark key show: " << key.status().message() << "\n";
      return ToInt(ExitCodeFor(key.status()));
    }
    // ReadKeystore checked that the secret derives the file's public key; the file could only
    // differ from the one read above if it was replaced in between.
    if (key->public_key() != public_key) {
      err << "hallmark key show: " << options.keystore.string()
          << " changed while it was being read; run the command again\n";
      return ToInt(ExitCode::kFileOrUsage);
    }
  }

  pb::KeyShowOutput msg;
  msg.set_public_key(public_key.Hex());
  msg.set_fingerprint(KeyFingerprint(public_key));
  msg.set_label(info->label());
  msg.set_encrypted(core::KeystoreNeedsPassphrase(*info));
  msg.set_verified(options.verify);
  if (options.json) {
    out << JsonLine(msg) << "\n";
    return ToInt(ExitCode::kOk);
  }
  out << "public_key:  " << msg.public_key() << "\n"
      << "fingerprint: " << msg.fingerprint() << "\n"
      << "label:       " << ForTerminal(msg.label()) << "\n"
      << "encrypted:   " << (msg.encrypted() ? "yes" : "no (development key)") << "\n";
  if (options.verify) {
    out << "verified:    yes (the secret key decrypts and derives this public key)\n";
  }
  return ToInt(ExitCode::kOk);
}

int RunKeySplit(const KeySplitOptions& options, const ExistingPassphraseSource& passphrase,
                std::ostream& out, std::ostream& err) {
  constexpr std::string_view kCmd = "hallmark key split: ";
  if (options.keystore.empty()) {
    err << kCmd << "give the keystore FILE to split\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (options.out_dir.empty()) {
    err << kCmd << "--out-dir DIR is required\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  const core::Status params = core::CheckSplitParameters(options.threshold, options.shares);
  if (!params.ok()) {
    err << kCmd << "usage: " << params.message()
        << " (--threshold K --shares N with 2 <= K <= N <= " << core::kKeySharesMax << ")\n";
    return ToInt(ExitCode::kFileOrUsage);
  }

  // The output folder is checked before the passphrase is asked for.
  const std::filesystem::path& dir = options.out_dir;
  std::error_code ec;
  const bool dir_exists = std::filesystem::exists(dir, ec);
  if (ec) {
    err << kCmd << "cannot check " << dir.string() << ": " << ec.message() << "\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (dir_exists) {
    if (!std::filesystem::is_directory(dir, ec)) {
      err << kCmd << dir.string() << " exists and is not a folder\n";
      return ToInt(ExitCode::kFileOrUsage);
    }
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) {
      err << kCmd << "cannot list " << dir.string() << ": " << ec.message() << "\n";
      return ToInt(ExitCode::kFileOrUsage);
    }
    for (const std::filesystem::directory_entry& entry : it) {
      const std::string name = entry.path().filename().string();
      if (LooksLikeShareFile(name)) {
        err << kCmd << dir.string() << " already holds share files (" << name
            << "); use an empty or new folder, so that shares of different splits are never "
               "mixed\n";
        return ToInt(ExitCode::kFileOrUsage);
      }
    }
  }

  core::Result<pb::Keystore> info = core::ReadKeystoreInfo(options.keystore);
  if (!info.ok()) {
    err << kCmd << info.status().message() << "\n";
    return ToInt(ExitCodeFor(info.status()));
  }
  core::Result<core::SigningKey> key = LoadKey(options.keystore, passphrase);
  if (!key.ok()) {
    err << kCmd << key.status().message() << "\n";
    return ToInt(ExitCodeFor(key.status()));
  }
  core::Result<std::vector<pb::KeyShare>> shares =
      core::SplitKey(*key, options.threshold, options.shares, info->label());
  if (!shares.ok()) {
    err << kCmd << shares.status().message() << "\n";
    return ToInt(ExitCodeFor(shares.status()));
  }

  if (!dir_exists) {
    std::filesystem::create_directories(dir, ec);
    if (!ec) {
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::replace, ec);
    }
    if (ec) {
      err << kCmd << "cannot create " << dir.string() << ": " << ec.message() << "\n";
      return ToInt(ExitCode::kFileOrUsage);
    }
  }
  std::vector<std::filesystem::path> written;
  for (const pb::KeyShare& share : *shares) {
    const std::filesystem::path path = dir / ShareFileName(share.index(), share.total());
    const core::Status s = core::WriteKeyShareFile(path, share);
    if (!s.ok()) {
      // No partial set is left behind: the shares written so far are removed.
      for (const std::filesystem::path& p : written) std::filesystem::remove(p, ec);
      err << kCmd << s.message() << "\n";
      if (!written.empty()) err << kCmd << "removed the " << written.size() << " shares written\n";
      return ToInt(ExitCodeFor(s));
    }
    written.push_back(path);
  }
  for (pb::KeyShare& share : *shares) WipeString(share.mutable_share());

  pb::KeySplitOutput msg;
  msg.set_public_key(key->public_key().Hex());
  msg.set_fingerprint(KeyFingerprint(key->public_key()));
  msg.set_split_id(shares->front().split_id());
  msg.set_threshold(options.threshold);
  msg.set_total(options.shares);
  for (const std::filesystem::path& p : written) msg.add_files(p.string());
  if (options.json) {
    out << JsonLine(msg) << "\n";
  } else {
    out << "public_key:  " << msg.public_key() << "\n"
        << "fingerprint: " << msg.fingerprint() << "\n"
        << "split_id:    " << msg.split_id() << "\n"
        << "threshold:   any " << msg.threshold() << " of the " << msg.total()
        << " shares restore the key\n";
    for (int i = 0; i < msg.files_size(); ++i) {
      out << (i == 0 ? "shares:      " : "             ") << msg.files(i) << "\n";
    }
  }
  err << "wrote " << written.size() << " share files (mode 0600) to " << dir.string()
      << ". Give each to a different officer; any " << options.threshold
      << " of them restore the key with `hallmark key combine`. " << options.keystore.string()
      << " is unchanged: delete it once the shares are stored safely if no single person should "
         "hold the key.\n";
  return ToInt(ExitCode::kOk);
}

int RunKeyCombine(const KeyCombineOptions& options, const PassphraseSource& passphrase,
                  std::ostream& out, std::ostream& err) {
  constexpr std::string_view kCmd = "hallmark key combine: ";
  const std::string path = options.out_path.string();
  if (path.empty()) {
    err << kCmd << "--out FILE is required\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (options.shares.empty()) {
    err << kCmd << "give the share files to combine\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (options.shares.size() > core::kKeySharesMax) {
    err << kCmd << "usage: at most " << core::kKeySharesMax << " share files, got "
        << options.shares.size() << "\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  std::error_code ec;
  if (std::filesystem::is_directory(options.out_path, ec)) {
    err << kCmd << path << " is a folder; give a file name\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (std::filesystem::exists(options.out_path, ec)) {
    err << kCmd << path << " already exists; key combine never overwrites a file\n";
    return ToInt(ExitCode::kFileOrUsage);
  }
  if (options.label && options.label->size() > core::kKeystoreLabelBytesMax) {
    err << kCmd << "--label is longer than " << core::kKeystoreLabelBytesMax << " bytes\n";
    return ToInt(ExitCode::kInvalidInput);
  }

  std::vector<core::NamedKeyShare> shares;
  shares.reserve(options.shares.size());
  for (const std::filesystem::path& p : options.shares) {
    core::Result<pb::KeyShare> share = core::ReadKeyShareFile(p);
    if (!share.ok()) {
      for (core::NamedKeyShare& s : shares) WipeString(s.share.mutable_share());
      err << kCmd << share.status().message() << "\n";
      return ToInt(ExitCodeFor(share.status()));
    }
    shares.push_back({p.string(), std::move(*share)});
  }
  core::Result<core::SigningKey> key = core::CombineKeyShares(shares);
  const std::string split_id = shares.front().share.split_id();
  const std::string recorded_label = shares.front().share.label();
  const size_t given = shares.size();
  for (core::NamedKeyShare& s : shares) WipeString(s.share.mutable_share());
  if (!key.ok()) {
    err << kCmd << key.status().message() << "\n";
    return ToInt(ExitCodeFor(key.status()));
  }

  std::optional<std::string> secret;
  if (options.no_passphrase) {
    err << "warning: --no-passphrase: the secret key in " << path
        << " is NOT encrypted. Anyone who can read the file can sign as this key. Use it for "
           "development only.\n";
  } else {
    core::Result<std::string> p = passphrase();
    if (!p.ok()) {
      err << kCmd << p.status().message() << "\n";
      return ToInt(ExitCodeFor(p.status()));
    }
    secret = std::move(*p);
  }
  core::KeystoreWriteOptions write;
  write.label = options.label.value_or(recorded_label);
  write.cost = options.cost;
  write.overwrite = false;
  const core::Status s =
      core::WriteKeystore(options.out_path, *key,
                          secret ? std::optional<std::string_view>(*secret) : std::nullopt, write);
  if (secret) WipeString(&*secret);
  if (!s.ok()) {
    err << kCmd << s.message() << "\n";
    return ToInt(ExitCodeFor(s));
  }

  if (options.json) {
    pb::KeyCombineOutput msg;
    msg.set_public_key(key->public_key().Hex());
    msg.set_fingerprint(KeyFingerprint(key->public_key()));
    msg.set_split_id(split_id);
    msg.set_shares_used(static_cast<uint32_t>(given));
    msg.set_file(path);
    msg.set_encrypted(!options.no_passphrase);
    out << JsonLine(msg) << "\n";
  } else {
    out << key->public_key().Hex() << "\n";
  }
  err << "restored key " << KeyFingerprint(key->public_key()) << " from " << given
      << " shares of split " << split_id << "; wrote "
      << (options.no_passphrase ? "unencrypted" : "encrypted") << " keystore " << path << "\n";
  return ToInt(ExitCode::kOk);
}

// --- Command line ---------------------------------------------------------------------------

struct KeyCommandLine::State {
  CLI::App* key = nullptr;
  CLI::App* show = nullptr;
  CLI::App* split = nullptr;
  CLI::App* combine = nullptr;
  CLI::App* rotate = nullptr;

  bool local_json = false;
  KeyShowOptions show_options;
  std::string show_file;
  KeySplitOptions split_options;
  std::string split_file;
  std::string split_dir;
  KeyCombineOptions combine_options;
  std::vector<std::string> combine_files;
  std::string combine_out;
  std::string combine_label;
  CLI::Option* combine_label_option = nullptr;
  KeyRotateOptions rotate_options;
  std::string rotate_key;
  uint64_t rotate_expires_in = 0;
  CLI::Option* rotate_expires_option = nullptr;
  double rotate_timeout_s = kDefaultWaitTimeoutMs / 1000.0;
  bool rotate_no_wait = false;
};

KeyCommandLine::KeyCommandLine(CLI::App& app) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.key = app.add_subcommand(
      "key",
      "Key custody: show a keystore's public key, split a key into K-of-N shares, "
      "combine shares back into a keystore");
  s.key->require_subcommand(1);

  s.show = s.key->add_subcommand(
      "show", "Print a keystore's public key and fingerprint (no passphrase needed)");
  s.show->add_option("FILE", s.show_file, "The keystore")->required();
  s.show->add_flag("--verify", s.show_options.verify,
                   "Also decrypt the secret key (asks for the passphrase) and check that it "
                   "derives the public key");
  s.show->add_flag("--json", s.local_json, "Print one line of JSON");

  s.split = s.key->add_subcommand(
      "split",
      "Split a keystore's key into N share files, any K of which restore it (Shamir, Crypto++)");
  s.split->add_option("FILE", s.split_file, "The keystore to split")->required();
  s.split->add_option("--shares", s.split_options.shares, "N: how many shares to make (2..255)")
      ->required();
  s.split
      ->add_option("--threshold", s.split_options.threshold,
                   "K: how many shares restore the key (2..N)")
      ->required();
  s.split
      ->add_option("--out-dir", s.split_dir,
                   "Folder for the share files (created if missing; must hold no shares yet)")
      ->required();
  s.split->add_flag("--json", s.local_json, "Print one line of JSON");

  s.combine = s.key->add_subcommand(
      "combine",
      "Restore a key from K share files into a new keystore, checked against the "
      "public key the shares record");
  s.combine->add_option("SHARES", s.combine_files, "Share files (from hallmark key split)")
      ->required();
  s.combine->add_option("--out", s.combine_out, "Keystore file to create (never overwritten)")
      ->required();
  s.combine->add_flag("--no-passphrase", s.combine_options.no_passphrase,
                      "Store the key unencrypted (development only)");
  s.combine_label_option = s.combine->add_option(
      "--label", s.combine_label, "Free text stored with the key (default: the shares' label)");
  s.combine->add_flag("--json", s.local_json, "Print one line of JSON");

  s.rotate = s.key->add_subcommand(
      "rotate",
      "Replace an organisation's signing key through governance: propose adding the new key "
      "and, when another key stays valid, revoking the old one (signed with --key; the other "
      "members approve with hallmark gov approve)");
  s.rotate
      ->add_option("--key", s.rotate_key, "Keystore of a valid signing key (usually the old one)")
      ->required();
  s.rotate->add_option("--new", s.rotate_options.new_key,
                       "The new key: its keystore (from hallmark keygen) or 64 hex digits");
  s.rotate->add_option("--org", s.rotate_options.org, "The organisation whose key changes")
      ->required();
  s.rotate->add_option("--old", s.rotate_options.old_key,
                       "The key to replace, if not --key's: 64 hex digits or a keystore");
  s.rotate->add_flag("--revoke-old", s.rotate_options.revoke_old,
                     "Only propose revoking the old key (the new one is in force)");
  s.rotate_expires_option = s.rotate->add_option(
      "--expires-in", s.rotate_expires_in,
      "Heights during which the proposals may be approved (default: the network's lifetime)");
  s.rotate->add_option("--note", s.rotate_options.note, "Why, for the other members");
  s.rotate->add_flag("--no-wait", s.rotate_no_wait,
                     "Return once the node has accepted each proposal");
  s.rotate->add_option("--timeout", s.rotate_timeout_s, "Seconds to wait for the node (30)")
      ->check(CLI::Range(0.001, 86400.0));
  s.rotate->add_flag("--json", s.local_json, "Print one line of JSON");
}

KeyCommandLine::~KeyCommandLine() = default;

bool KeyCommandLine::parsed() const {
  return state_->key->parsed();
}

int KeyCommandLine::Run(bool json, const std::string& node_url, std::ostream& out,
                        std::ostream& err) {
  State& s = *state_;
  json = json || s.local_json;
  if (s.rotate->parsed()) {
    KeyRotateOptions& o = s.rotate_options;
    o.write.node_url = node_url;
    o.write.json = json;
    o.write.key_path = s.rotate_key;
    o.write.wait = !s.rotate_no_wait;
    o.write.timeout_ms = static_cast<uint32_t>(std::llround(s.rotate_timeout_s * 1000));
    if (s.rotate_expires_option->count() > 0) o.expires_in = s.rotate_expires_in;
    return RunKeyRotate(o, out, err);
  }
  if (s.show->parsed()) {
    s.show_options.keystore = s.show_file;
    s.show_options.json = json;
    return RunKeyShow(s.show_options, AskExistingPassphrase, out, err);
  }
  if (s.split->parsed()) {
    s.split_options.keystore = s.split_file;
    s.split_options.out_dir = s.split_dir;
    s.split_options.json = json;
    return RunKeySplit(s.split_options, AskExistingPassphrase, out, err);
  }
  if (s.combine->parsed()) {
    for (const std::string& f : s.combine_files) s.combine_options.shares.emplace_back(f);
    s.combine_options.out_path = s.combine_out;
    if (s.combine_label_option->count() > 0) s.combine_options.label = s.combine_label;
    s.combine_options.json = json;
    return RunKeyCombine(s.combine_options, ReadNewPassphrase, out, err);
  }
  err << "hallmark key: give a subcommand: show, split, combine or rotate\n";
  return ToInt(ExitCode::kFileOrUsage);
}

}  // namespace hallmark::wallet
