#include "wallet-cli/verify_commands.h"

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "core/clock.h"
#include "core/codec.h"
#include "core/genesis.h"
#include "core/item_id.h"
#include "core/json.h"
#include "core/proof_bundle.h"
#include "proto/api.pb.h"
#include "proto/cli.pb.h"
#include "proto/proof.pb.h"
#include "wallet-cli/format.h"
#include "wallet-cli/node_client.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/trust_store.h"

namespace hallmark::wallet {
namespace {

constexpr std::string_view kCommand = "hallmark verify";

int Usage(std::ostream& err, std::string_view message) {
  err << kCommand << ": " << ForTerminal(message) << "\n";
  return static_cast<int>(VerifyExit::kUsage);
}

std::string AuthorText(const core::Network& network, const core::CustodyStep& step) {
  if (!step.author.empty()) {
    const pb::Organization* org = network.FindOrganization(step.author);
    if (org && !org->display_name().empty() && org->display_name() != step.author) {
      return step.author + " (" + org->display_name() + ")";
    }
    return step.author;
  }
  return "key " + step.signer.Hex().substr(0, 16) + "…";
}

// The step as the API's HistoryEntry, so the details column reads like `hallmark show`.
pb::HistoryEntry AsHistoryEntry(const core::CustodyStep& step) {
  pb::HistoryEntry e;
  e.set_record_id(step.record_id.Hex());
  e.set_type(std::string(core::RecordTypeName(step.type)));
  e.set_signer(step.signer.Hex());
  e.set_signer_organization(step.author);
  *e.mutable_payload() = step.payload;
  return e;
}

}  // namespace

// A saved bundle: binary Protobuf, or JSON (Protobuf's mapping) when its first non-blank byte is
// '{'. A JSON text that does not parse is kInvalidInput: a bundle that fails the format check.
core::Result<std::string> ReadProofBundleFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::IoError("--proof " + path.string() + " is a folder; give the bundle file");
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec)
    return core::Status::IoError("cannot read --proof " + path.string() + ": " + ec.message());
  if (size > core::kMaxProofBundleBytes) {
    return core::Status::InvalidInput("--proof " + path.string() + " is " + std::to_string(size) +
                                      " bytes, larger than any proof bundle (" +
                                      std::to_string(core::kMaxProofBundleBytes) + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Status::IoError("cannot open --proof " + path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return core::Status::IoError("cannot read --proof " + path.string());
  const size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && bytes[first] == '{') {
    pb::ProofBundle bundle;
    core::Status st = core::ParseJsonStrict(bytes, &bundle, core::kProofBundleJsonLimits)
                          .WithContext("JSON proof bundle " + path.string());
    if (!st.ok()) return core::Status::InvalidInput(st.message());
    return core::SerializeDeterministic(bundle);
  }
  return bytes;
}

// Writes `text` to `path` through a temporary file in the same folder and a rename, so a reader
// sees the whole file or the old one, and a failed run leaves nothing behind.
core::Status WriteOutputFile(const std::filesystem::path& path, std::string_view text,
                             std::string_view option) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return core::Status::IoError(std::string(option) + " " + path.string() +
                                 " is a folder; give a file name");
  }
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return core::Status::IoError("cannot write " + tmp.string());
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.flush();
    if (!f) {
      f.close();
      std::filesystem::remove(tmp, ec);
      return core::Status::IoError("cannot write " + tmp.string());
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return core::Status::IoError("cannot write " + path.string() + ": " + ec.message());
  }
  return core::Status::Ok();
}

core::Result<uint64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return core::Status::InvalidInput("empty duration");
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    uint64_t n = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (n > 1'000'000'000) return core::Status::InvalidInput("duration is too long");
      n = n * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
      ++digits;
    }
    size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    uint64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m" || unit == "min")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    if (digits == 0 || scale == 0) {
      return core::Status::InvalidInput("duration '" + std::string(text) +
                                        "' is not like 90s, 10m, 2h, 7d or 1h30m");
    }
    // Ten years at most: a sum that wrapped around must never become "no limit".
    constexpr uint64_t kMaxDurationMs = 10ull * 366 * 86'400'000;
    if (n > kMaxDurationMs / scale || total + n * scale > kMaxDurationMs) {
      return core::Status::InvalidInput("duration '" + std::string(text) + "' is too long");
    }
    total += n * scale;
  }
  return total;
}

std::string FormatAge(uint64_t ms) {
  struct Unit {
    uint64_t ms;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "min"}, {1000, "s"}};
  if (ms < 1000) return std::to_string(ms) + " ms";
  std::string out;
  int shown = 0;
  for (const Unit& u : kUnits) {
    if (ms >= u.ms || shown > 0) {
      uint64_t n = ms / u.ms;
      ms %= u.ms;
      if (n > 0 || shown > 0) {
        if (n > 0) out += (out.empty() ? "" : " ") + std::to_string(n) + " " + u.name;
        if (++shown == 2) break;
      }
    }
  }
  return out;
}

namespace {

// One node's answer, verified.
struct Fetched {
  std::string url;
  std::string bytes;
  core::ProofVerdict verdict;
};

// Asks every node and verifies each answer, reading the clock after each answer arrives (a
// node that stalls must not make another's fresh header look dated in the future, nor an old
// one look younger). Returns the newest header that checks out; when none does, the first
// failure; when no node answered at all, an error for exit 3. Two answers that check out at
// one height with different blocks are a fork: a failure, whoever sent them. Answers that do
// not check out while another does are warned about on `err`.
core::Result<Fetched> FetchNewest(const VerifyOptions& o, const core::Network& network,
                                  const core::ItemId& item, core::VerifyOptions checks,
                                  uint64_t since_height, const std::function<uint64_t()>& clock,
                                  std::ostream& err) {
  std::vector<std::string> urls = o.node_urls;
  if (urls.empty()) urls.push_back(ResolveNodeUrl(""));
  std::vector<Fetched> answers;
  std::vector<std::string> unreachable;
  for (const std::string& given : urls) {
    const std::string url = ResolveNodeUrl(given);
    auto fetched =
        FetchProofBundle(url, item, o.timeout_ms, kOnlineProofBundleBytesMax, since_height);
    if (!fetched.ok()) {
      unreachable.push_back(url + ": " + fetched.status().message());
      continue;
    }
    Fetched f{url, std::move(*fetched), {}};
    checks.now_ms = clock();
    f.verdict = core::VerifyProofBundle(network, f.bytes, checks);
    answers.push_back(std::move(f));
  }
  if (answers.empty()) {
    std::string why;
    for (const std::string& u : unreachable) why += (why.empty() ? "" : "; ") + u;
    return core::Status::IoError(why);
  }
  const Fetched* best = nullptr;
  for (const Fetched& f : answers) {
    if (!f.verdict.ok()) continue;
    for (const Fetched& g : answers) {
      if (&g != &f && g.verdict.ok() && g.verdict.item.height == f.verdict.item.height &&
          g.verdict.item.block_hash != f.verdict.item.block_hash) {
        Fetched fork{f.url, f.bytes, {}};
        fork.verdict.failure = core::ProofFailure{
            core::ProofCheck::kCertificate,
            f.url + " and " + g.url + " show two different certified blocks at height " +
                std::to_string(f.verdict.item.height) +
                ": more than a third of the validators signed both, so no proof from this "
                "network can be trusted now"};
        return fork;
      }
    }
    if (!best || f.verdict.item.height > best->verdict.item.height) best = &f;
  }
  if (urls.size() > 1) {
    for (const std::string& u : unreachable) err << "warning: no answer from " << u << "\n";
  }
  if (!best) return std::move(answers.front());
  for (const Fetched& f : answers) {
    if (!f.verdict.ok()) {
      err << "warning: " << f.url << " sent a proof that does not check out ("
          << core::ProofCheckName(f.verdict.failure->check)
          << "): " << ForTerminal(f.verdict.failure->message) << "\n";
    }
  }
  return Fetched(*best);
}

}  // namespace

int RunVerify(const VerifyOptions& o, std::ostream& out, std::ostream& err) {
  if (o.genesis_path.empty()) return Usage(err, "--genesis FILE is required: it is what you trust");
  const bool offline = !o.proof_path.empty();
  if (!offline && o.item.empty()) {
    return Usage(err, "give an item id (checked through --node) or --proof FILE");
  }
  if (offline && o.item.empty() && !o.any_item) {
    // A bundle proves something about one item; without the id from the tag, a seller could
    // hand over any clean item's bundle. The id is not printed here, so it cannot be copied.
    return Usage(err,
                 "with --proof, give the id of the item in front of you: the text under its "
                 "barcode, '(01)…(21)…', or the web address in its QR code, e.g. "
                 "hallmark verify --proof FILE --genesis genesis.json "
                 "'https://id.gs1.org/01/…/21/…' (or --any-item to check whichever item the "
                 "bundle is about)");
  }
  if (offline && !o.node_urls.empty()) {
    return Usage(err, "--proof checks a saved bundle offline; --node is not used with it");
  }
  if (!offline && o.any_item) return Usage(err, "--any-item goes with --proof");
  if (offline && !o.save_path.empty()) {
    return Usage(err,
                 "--save-proof saves what a node sends; with --proof there is nothing to save");
  }
  std::optional<core::ItemId> item;
  if (!o.item.empty()) {
    auto parsed = core::ParseItemId(o.item);
    if (!parsed.ok()) return Usage(err, "invalid item id: " + parsed.status().message());
    item = *parsed;
  }
  auto network = core::Network::FromFile(o.genesis_path);
  if (!network.ok()) return Usage(err, network.status().message());

  const std::function<uint64_t()> clock = [&o] {
    return o.now_ms != 0 ? o.now_ms : core::UnixTimeMs();
  };
  core::VerifyOptions checks;
  if (item) checks.expected_item = o.item;
  checks.now_ms = clock();
  // What this verifier checked before: the node then only needs to send the governance changes
  // since. A bundle to be saved walks from genesis, so that it checks anywhere with genesis alone.
  const std::optional<core::TrustedState> trusted = LoadTrust(o.trust_dir, *network, err);
  checks.trusted = trusted ? &*trusted : nullptr;
  const uint64_t since_height = trusted && o.save_path.empty() ? trusted->height : 0;
  // Online, a proof must be recent unless the user says otherwise: a node that withholds newer
  // blocks must not be able to show a stolen item as clean.
  // 0: no limit.
  const uint64_t max_age = o.max_age_ms.value_or(offline ? 0 : network->freshness_ms());

  std::string bytes;
  core::ProofVerdict verdict;
  std::string source;
  if (offline) {
    source = o.proof_path.string();
    auto read = ReadProofBundleFile(o.proof_path);
    if (!read.ok()) {
      if (read.status().code() != core::StatusCode::kInvalidInput) {
        return Usage(err, read.status().message());
      }
      // Not a bundle at all (too large, or JSON that does not parse): it fails the format check.
      verdict.failure = core::ProofFailure{core::ProofCheck::kFormat, read.status().message()};
    } else {
      bytes = std::move(*read);
      verdict = core::VerifyProofBundle(*network, bytes, checks);
    }
  } else {
    auto fetched = FetchNewest(o, *network, *item, checks, since_height, clock, err);
    if (!fetched.ok()) return Usage(err, fetched.status().message());
    bytes = std::move(fetched->bytes);
    verdict = std::move(fetched->verdict);
    source = fetched->url;
    if (!o.save_path.empty()) {
      core::Status st = WriteOutputFile(o.save_path, bytes, "--save-proof");
      if (!st.ok()) return Usage(err, st.message());
      err << "saved the proof bundle to " << o.save_path.string() << " (" << bytes.size()
          << " bytes); check it later with: hallmark verify --proof " << o.save_path.string()
          << " --genesis " << o.genesis_path.string() << " ID\n";
    }
  }

  pb::VerifyOutput v;
  v.set_chain_id(network->chain_id());
  v.set_validators(static_cast<uint32_t>(network->validators().size()));  // Genesis'.
  if (!verdict.ok()) {
    const core::ProofFailure& f = *verdict.failure;
    v.set_verdict("invalid");
    v.set_failed_check(std::string(core::ProofCheckName(f.check)));
    v.set_message(f.message);
    if (o.json) {
      out << JsonLine(v) << "\n";
    } else {
      out << "PROOF DOES NOT CHECK OUT (from " << ForTerminal(source) << ")\n"
          << "  failed check  " << core::ProofCheckName(f.check) << "\n"
          << "  why           " << ForTerminal(f.message) << "\n"
          << "Nothing in this bundle can be trusted.\n";
    }
    return static_cast<int>(VerifyExit::kInvalid);
  }

  const core::ProvenItem& p = verdict.item;
  // The network state the bundle rebuilt and the certified state confirmed: trusted from now on.
  if (p.network_state && (!trusted || p.height > trusted->height)) {
    if (core::Status st =
            SaveTrust(o.trust_dir, *network, p.height, p.block_hash, *p.network_state);
        !st.ok()) {
      err << "warning: could not write the trust file: " << ForTerminal(st.message()) << "\n";
    }
  }
  // The age at the time of the verdict, after every node has answered.
  const uint64_t age = core::ProofAgeMs(p, clock());
  const bool stale = max_age != 0 && age > max_age;
  const std::vector<std::string> reasons = p.NotCleanReasons();
  auto id = core::ParseItemId(p.item_id);  // Checked by the verifier.

  v.set_verdict(stale ? "stale" : reasons.empty() ? "clean" : "not_clean");
  for (const auto& r : reasons) v.add_not_clean(r);
  v.set_item_id(p.item_id);
  if (id.ok()) v.set_digital_link(id->DigitalLinkUrl());
  v.set_registered(p.state.has_value());
  if (p.state) *v.mutable_state() = *p.state;
  v.set_height(p.height);
  v.set_header_time_ms(p.header_time_ms);
  v.set_block_hash(p.block_hash.Hex());
  v.set_state_root(p.state_root.Hex());
  v.set_signers(static_cast<uint32_t>(p.signers));
  v.set_age_ms(age);
  v.set_stale(stale);
  v.set_max_age_ms(max_age);
  v.set_item_checked(item.has_value());
  v.set_validators(static_cast<uint32_t>(p.validators));  // The set of the header's height.
  v.set_walk_from_height(p.walk_from_height);
  v.set_governance_changes(p.walk_changes);
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const core::CustodyStep& s = p.steps[i];
    pb::VerifiedStep* vs = v.add_steps();
    vs->set_index(static_cast<uint32_t>(i + 1));
    vs->set_record_id(s.record_id.Hex());
    vs->set_type(std::string(core::RecordTypeName(s.type)));
    vs->set_author(s.author);
    vs->set_signer(s.signer.Hex());
    vs->set_timestamp_ms(s.timestamp_ms);
    vs->set_details(HistoryDetails(AsHistoryEntry(s)));
    *vs->mutable_payload() = s.payload;
  }
  const VerifyExit exit = stale             ? VerifyExit::kStale
                          : reasons.empty() ? VerifyExit::kClean
                                            : VerifyExit::kNotClean;
  if (o.json) {
    out << JsonLine(v) << "\n";
    return static_cast<int>(exit);
  }

  // The first line says what is proven, about which item, as of when.
  const std::string as_of = "as of " + FormatUtc(p.header_time_ms) + " UTC (" +
                            (age == 0 ? std::string("just now") : FormatAge(age) + " ago") + ")";
  std::ostringstream s;
  if (stale) {
    s << "TOO OLD TO TRUST " << as_of << ": item " << p.item_id << "\n"
      << "  The proof checks out, but it is older than the limit of " << FormatAge(max_age)
      << ", so it cannot show the item as it is now: a newer flag (stolen, counterfeit) could be "
         "missing. The node may be behind or withholding blocks: ask another node (--node URL, "
         "repeatable; the newest proof wins)"
      << (offline ? ", or fetch a new proof" : "") << ".\n";
  } else if (reasons.empty()) {
    s << "GENUINE " << as_of << ": item " << p.item_id << " is registered, active and unflagged\n";
  } else {
    s << "NOT CLEAN " << as_of << ": item " << p.item_id << " is ";
    for (size_t i = 0; i < reasons.size(); ++i) s << (i ? "; " : "") << ForTerminal(reasons[i]);
    s << "\n";
  }
  if (!item) {
    s << "  Compare this item id with the tag on the item: a proof of another item says nothing "
         "about this one.\n";
  }
  TextTable head;
  head.AddRow({"item", p.item_id});
  if (id.ok()) head.AddRow({"", id->DigitalLinkUrl()});
  if (p.state) {
    const pb::Organization* brand = network->FindOrganization(p.state->brand());
    std::string brand_text = p.state->brand();
    if (brand && !brand->display_name().empty() && brand->display_name() != brand_text) {
      brand_text += " (" + brand->display_name() + ")";
    }
    head.AddRow({"brand", ForTerminal(brand_text)});
    head.AddRow({"custodian", ForTerminal(HolderText(p.state->custodian(), true))});
    std::string status = p.state->status() == pb::DECOMMISSIONED ? "decommissioned" : "active";
    if (p.state->flags_size() == 0) status += ", no flags";
    head.AddRow({"status", status});
    for (const pb::ActiveFlag& f : p.state->flags()) {
      std::string flag =
          std::string(core::FlagKindName(f.kind())) + ", set by " + HolderText(f.set_by(), false);
      if (!f.note().empty()) flag += ": " + f.note();
      head.AddRow({"flag", ForTerminal(flag)});
    }
    for (const pb::Attribute& a : p.state->attributes()) {
      head.AddRow({"attribute", ForTerminal(a.key() + " = " + a.value())});
    }
  }
  head.AddRow({"proven at", "block " + std::to_string(p.height) + ", " +
                                FormatUtc(p.header_time_ms) + " UTC (" + FormatAge(age) + " old" +
                                (stale ? ", STALE" : "") + ")"});
  head.AddRow({"certified by", std::to_string(p.signers) + " of " + std::to_string(p.validators) +
                                   " validators of " + network->chain_id()});
  head.AddRow(
      {"governance", std::to_string(p.walk_changes) + " change" + (p.walk_changes == 1 ? "" : "s") +
                         " checked since " +
                         (p.walk_from_height == 0
                              ? std::string("genesis")
                              : "height " + std::to_string(p.walk_from_height) + " (trust file)")});
  head.AddRow({"from", ForTerminal(source)});
  s << head.Render("  ");
  if (!p.steps.empty()) {
    s << "chain of custody (signed by each author; dates are the author's clock, UTC):\n";
    TextTable steps;
    steps.AddRow({"#", "date", "record", "by", "details"});
    for (size_t i = 0; i < p.steps.size(); ++i) {
      const core::CustodyStep& st = p.steps[i];
      steps.AddRow({std::to_string(i + 1), FormatUtc(st.timestamp_ms),
                    std::string(core::RecordTypeName(st.type)),
                    ForTerminal(AuthorText(*network, st)),
                    ForTerminal(HistoryDetails(AsHistoryEntry(st)))});
    }
    s << steps.Render("  ");
  }
  out << s.str();
  return static_cast<int>(exit);
}

}  // namespace hallmark::wallet
