// Bulk registration and transfer (`hallmark register --from FILE`, wallet-cli/bulk.h): the CSV and
// JSON Lines readers, bad lines by number, --strict, the report file, and re-runs that skip what
// is committed and report conflicts, against the node's real API and ledger (live_node.h).
#include "wallet-cli/bulk.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "cli_runner.h"
#include "core/codec.h"
#include "fixtures.h"
#include "live_node.h"
#include "proto/api.pb.h"
#include "proto/cli.pb.h"
#include "test_util.h"
#include "wallet-cli/node_commands.h"
#include "wallet-cli/records.h"

using namespace hallmark;
using test::CliRun;
using test::RunCli;
using wallet::BulkFormat;
using wallet::CsvRecord;

namespace {

// Items under maison's GS1 prefix (0614141): GTIN 00614141000012.
std::string Item(int n) {
  return "01/00614141000012/21/B-" + std::to_string(n);
}

void WriteFile(const std::filesystem::path& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The report's rows by line number: outcome and reason.
struct ReportRow {
  std::string item, outcome, record_id, height, reason;
};
std::map<uint64_t, ReportRow> ReadReport(const std::filesystem::path& path) {
  std::vector<CsvRecord> recs = wallet::ParseCsv(ReadText(path));
  std::map<uint64_t, ReportRow> rows;
  REQUIRE(!recs.empty());
  CHECK(recs[0].fields ==
        std::vector<std::string>{"line", "item", "outcome", "record_id", "height", "reason"});
  for (size_t i = 1; i < recs.size(); ++i) {
    REQUIRE(recs[i].error.empty());
    REQUIRE(recs[i].fields.size() == 6);
    const auto& f = recs[i].fields;
    rows[std::stoull(f[0])] = ReportRow{f[1], f[2], f[3], f[4], f[5]};
  }
  return rows;
}

std::vector<wallet::BulkLine> Parse(std::string_view text, BulkFormat format,
                                    core::RecordType type = core::RecordType::kRegister,
                                    const std::filesystem::path& dir = {}) {
  auto r = wallet::ParseBulkText(text, format, type, dir);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return std::move(*r);
}

struct Fixture {
  explicit Fixture(node::MempoolLimits limits = {}) : node(limits) {
    ::unsetenv(wallet::kNodeEnvVar);
  }
  test::LiveNode node;
  test::TempDir dir;
  std::string maison = test::WriteDevKey(dir.path(), "maison");
  std::string atelier = test::WriteDevKey(dir.path(), "atelier");
  std::string resale = test::WriteDevKey(dir.path(), "resale");

  CliRun Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node.url()});
    return RunCli(std::move(args));
  }
  std::filesystem::path File(const std::string& name, std::string_view text) {
    const auto p = dir.path() / name;
    WriteFile(p, text);
    return p;
  }
  pb::ItemResponse Show(const std::string& item) {
    CliRun r = Run({"show", item, "--json"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    pb::ItemResponse msg;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;
    REQUIRE(google::protobuf::util::JsonStringToMessage(r.out, &msg, o).ok());
    return msg;
  }
  pb::BulkSummary Summary(const CliRun& r) {
    pb::BulkSummary s;
    INFO(r.out, r.err);
    REQUIRE(google::protobuf::util::JsonStringToMessage(r.out, &s).ok());
    return s;
  }
};

}  // namespace

TEST_CASE("bulk csv: quoted fields hold commas, doubled quotes and line breaks, BOM and CRLF") {
  const std::string text =
      "\xEF\xBB\xBFitem,attr:model\r\n"
      "a,\"Speedy, 30\"\r\n"
      "\r\n"
      "b,\"say \"\"hi\"\"\"\r\n"
      "c,\"two\nlines\"\n"
      "d,\n"
      "e,last";
  std::vector<CsvRecord> r = wallet::ParseCsv(text);
  REQUIRE(r.size() == 6);
  CHECK(r[0].fields == std::vector<std::string>{"item", "attr:model"});
  CHECK(r[0].line == 1);
  CHECK(r[1].fields == std::vector<std::string>{"a", "Speedy, 30"});
  CHECK(r[1].line == 2);
  CHECK(r[2].line == 4);  // The empty line 3 is skipped.
  CHECK(r[2].fields == std::vector<std::string>{"b", "say \"hi\""});
  CHECK(r[3].fields == std::vector<std::string>{"c", "two\nlines"});
  CHECK(r[3].line == 5);
  CHECK(r[4].line == 7);  // The field above spanned two lines.
  CHECK(r[4].fields == std::vector<std::string>{"d", ""});
  CHECK(r[5].fields == std::vector<std::string>{"e", "last"});
  for (const auto& rec : r) CHECK(rec.error.empty());
}

TEST_CASE("bulk csv: a malformed record is an error of its line and reading goes on") {
  std::vector<CsvRecord> r = wallet::ParseCsv("item\na\"b\n\"x\"y\nok\n\"open");
  REQUIRE(r.size() == 5);
  CHECK(r[1].line == 2);
  CHECK(r[1].error.find("quote inside an unquoted field") != std::string::npos);
  CHECK(r[2].line == 3);
  CHECK(r[2].error.find("after the closing quote") != std::string::npos);
  CHECK(r[3].fields == std::vector<std::string>{"ok"});
  CHECK(r[3].line == 4);
  CHECK(r[4].line == 5);
  CHECK(r[4].error.find("not closed") != std::string::npos);
}

TEST_CASE("bulk csv: a field over the limit is refused, not kept") {
  const std::string text = "item\n" + std::string(wallet::kBulkFieldBytesMax + 1, 'x') + "\nz\n";
  std::vector<CsvRecord> r = wallet::ParseCsv(text);
  REQUIRE(r.size() == 3);
  CHECK(r[1].error.find("longer than") != std::string::npos);
  CHECK(r[2].fields == std::vector<std::string>{"z"});
}

TEST_CASE("bulk file: bad lines are reported by number with their reason, the rest is kept") {
  test::TempDir dir;
  WriteFile(dir.path() / "cert.pdf", "certificate");
  const std::string text = "item,attr:model,doc:cert,custodian\n" + Item(1) +
                           ",Speedy,cert.pdf,\n" +                // 2 good
                           "01/00614141000013/21/X,Speedy,,\n" +  // 3 bad check digit
                           Item(3) + ",Speedy\n" +                // 4 wrong column count
                           Item(4) + ",Speedy,missing.pdf,\n" +   // 5 bad doc path
                           Item(1) + ",Alma,,\n" +                // 6 duplicate of line 2
                           Item(6) + ",,,not a holder!\n" +       // 7 bad custodian
                           "\"" + Item(7) + "\",\"Neverfull, MM\",,resale\n";  // 8 good
  std::vector<wallet::BulkLine> lines =
      Parse(text, BulkFormat::kCsv, core::RecordType::kRegister, dir.path());
  REQUIRE(lines.size() == 7);
  std::map<uint64_t, std::string> errors;
  for (const auto& l : lines) errors[l.line] = l.error;
  CHECK(errors[2].empty());
  CHECK(errors[3].find("invalid item id") != std::string::npos);
  CHECK(errors[4].find("2 fields, but the header has 4") != std::string::npos);
  CHECK(errors[5].find("doc:cert") != std::string::npos);
  CHECK(errors[6].find("line 2") != std::string::npos);
  CHECK(errors[7].find("custodian") != std::string::npos);
  CHECK(errors[8].empty());
  CHECK(lines[0].attributes.size() == 1);
  REQUIRE(lines[0].documents.size() == 1);
  CHECK(lines[0].documents[0].name() == "cert");
  CHECK(lines[0].documents[0].sha256().size() == 32);
  CHECK(lines[6].attributes[0].value() == "Neverfull, MM");
  REQUIRE(lines[6].custodian);
  CHECK(lines[6].custodian->organization() == "resale");
}

TEST_CASE("bulk file: an unknown or repeated column, or no item column, refuses the whole file") {
  for (const char* header : {"item,colour", "item,attr:a,attr:a", "attr:model", "item,doc:a=b"}) {
    auto r = wallet::ParseBulkText(std::string(header) + "\n" + Item(1) + ",x\n", BulkFormat::kCsv,
                                   core::RecordType::kRegister, {});
    INFO(header);
    CHECK_FALSE(r.ok());
    if (!r.ok()) CHECK(r.status().message().find("line 1") != std::string::npos);
  }
  CHECK_FALSE(wallet::ParseBulkText("", BulkFormat::kCsv, core::RecordType::kRegister, {}).ok());
}

TEST_CASE("bulk file: JSON Lines are read strictly, one object per line, blank lines skipped") {
  const std::string text = "{\"item\": \"" + Item(1) +
                           "\", \"attributes\": {\"model\": \"Speedy\", \"colour\": \"tan\"}}\n"
                           "\n"
                           "{\"item\": \"" +
                           Item(2) +
                           "\", \"colour\": \"red\"}\n"
                           "{\"item\": 5}\n"
                           "not json\r\n"
                           "{\"item\": \"" +
                           Item(5) + "\", \"custodian\": \"resale\"}\r\n";
  std::vector<wallet::BulkLine> lines = Parse(text, BulkFormat::kJsonl);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].line == 1);
  CHECK(lines[0].error.empty());
  REQUIRE(lines[0].attributes.size() == 2);
  CHECK(lines[0].attributes[0].key() == "colour");  // Sorted by name.
  CHECK(lines[1].line == 3);
  CHECK(lines[1].error.find("colour") != std::string::npos);  // Unknown key.
  CHECK(lines[2].line == 4);
  CHECK_FALSE(lines[2].error.empty());
  CHECK(lines[3].line == 5);
  CHECK_FALSE(lines[3].error.empty());
  CHECK(lines[4].line == 6);
  CHECK(lines[4].error.empty());
  CHECK(lines[4].custodian->organization() == "resale");
}

TEST_CASE("bulk format: by extension or --format") {
  CHECK(*wallet::BulkFormatOf("a/b.CSV") == BulkFormat::kCsv);
  CHECK(*wallet::BulkFormatOf("b.ndjson") == BulkFormat::kJsonl);
  CHECK_FALSE(wallet::BulkFormatOf("b.txt").ok());
  CHECK(*wallet::ParseBulkFormat("jsonl") == BulkFormat::kJsonl);
  CHECK_FALSE(wallet::ParseBulkFormat("xml").ok());
}

TEST_CASE("cli register --from: commits good lines, reports bad ones, a re-run sends nothing") {
  Fixture f;
  WriteFile(f.dir.path() / "cert.pdf", "certificate");
  std::string csv = "item,attr:model,doc:cert\n";
  for (int i = 0; i < 50; ++i) csv += Item(i) + ",Speedy,cert.pdf\n";
  csv += "01/00614141000013/21/BAD,Speedy,\n";  // Line 52: bad check digit.
  const auto file = f.File("bags.csv", csv);

  CliRun r =
      f.Run({"register", "--from", file.string(), "--key", f.maison, "--json", "--clients", "4"});
  INFO(r.out, r.err);
  CHECK(r.code == 2);  // One bad line.
  pb::BulkSummary s = f.Summary(r);
  CHECK(s.lines() == 51);
  CHECK(s.committed() == 50);
  CHECK(s.invalid() == 1);
  CHECK(s.pending() == 0);
  auto report = ReadReport(file.string() + ".report.csv");
  REQUIRE(report.size() == 51);
  CHECK(report[52].outcome == "invalid");
  CHECK(report[52].reason.find("check digit") != std::string::npos);
  CHECK(report[2].outcome == "committed");
  CHECK(report[2].item == Item(0));
  CHECK(report[2].record_id.size() == 64);
  CHECK_FALSE(report[2].height.empty());
  CHECK_FALSE(std::filesystem::exists(file.string() + ".report.csv.journal"));

  pb::ItemResponse item = f.Show(Item(7));
  REQUIRE(item.registered());
  CHECK(item.history_size() == 1);
  CHECK(item.state().attributes(0).value() == "Speedy");
  CHECK(item.state().documents_size() == 1);

  // The same file again: everything is already there and nothing is sent.
  CliRun again = f.Run({"register", "--from", file.string(), "--key", f.maison, "--json"});
  pb::BulkSummary s2 = f.Summary(again);
  CHECK(again.code == 2);  // Still the bad line.
  CHECK(s2.committed() == 0);
  CHECK(s2.already_committed() == 50);
  auto report2 = ReadReport(file.string() + ".report.csv");
  CHECK(report2[9].outcome == "already-committed");
  CHECK(report2[9].record_id == report[9].record_id);
  CHECK(f.Show(Item(7)).history_size() == 1);
}

TEST_CASE(
    "cli register --from: an item registered with other content, or by another brand, is a "
    "conflict") {
  Fixture f;
  CliRun pre = f.Run({"register", "--item", Item(1), "--key", f.maison, "--attr", "model=Alma"});
  REQUIRE(pre.code == 0);
  const std::string other = "01/01234567000015/21/W-1";  // atelier's prefix.
  pre = f.Run({"register", "--item", other, "--key", f.atelier});
  REQUIRE(pre.code == 0);
  const auto file = f.File("c.csv", "item,attr:model\n" + Item(1) + ",Speedy\n" + other +
                                        ",Speedy\n" + Item(2) + ",Speedy\n");
  CliRun r = f.Run({"register", "--from", file.string(), "--key", f.maison, "--json"});
  INFO(r.out, r.err);
  CHECK(r.code == 2);
  pb::BulkSummary s = f.Summary(r);
  CHECK(s.committed() == 1);
  CHECK(s.conflicts() == 2);
  auto report = ReadReport(file.string() + ".report.csv");
  CHECK(report[2].outcome == "conflict");
  CHECK(report[2].reason.find("other attributes") != std::string::npos);
  CHECK(report[3].outcome == "conflict");
  CHECK(report[3].reason.find("atelier") != std::string::npos);
  CHECK(report[4].outcome == "committed");
  CHECK(f.Show(Item(1)).history_size() == 1);
}

TEST_CASE("cli register --from --strict: one bad line and nothing is sent") {
  Fixture f;
  const auto file = f.File("s.csv", "item\n" + Item(1) + "\nnot-an-id\n");
  CliRun r = f.Run({"register", "--from", file.string(), "--key", f.maison, "--strict"});
  INFO(r.out, r.err);
  CHECK(r.code == 2);
  CHECK(r.err.find("nothing was sent") != std::string::npos);
  CHECK_FALSE(f.Show(Item(1)).registered());
  auto report = ReadReport(file.string() + ".report.csv");
  CHECK(report[3].outcome == "invalid");
  CHECK(report[2].outcome == "not-sent");
}

TEST_CASE("cli register --from: a journal's envelope is sent again, not signed anew") {
  Fixture f;
  const auto file =
      f.File("j.jsonl", "{\"item\": \"" + Item(1) + "\"}\n{\"item\": \"" + Item(2) + "\"}\n");
  // A run that died after writing its journal: the envelope for item 1, signed an hour ago.
  wallet::PayloadHeader h;
  h.chain_id = f.node.network().chain_id();
  h.item = core::ParseItemId(Item(1)).value();
  h.timestamp_ms = wallet::NowMs() - 3'600'000;
  pb::Envelope env =
      wallet::SignEnvelope(test::KeyFor("maison"), wallet::BuildPayload(h, pb::Register{}));
  const std::string report_path = (f.dir.path() / "r.csv").string();
  WriteFile(report_path + ".journal",
            core::ToHex(core::SerializeDeterministic(env)) + "\n" + "0a0b0c-torn");
  CliRun r = f.Run(
      {"register", "--from", file.string(), "--key", f.maison, "--report", report_path, "--json"});
  INFO(r.out, r.err);
  CHECK(r.code == 0);
  CHECK(f.Summary(r).committed() == 2);
  auto report = ReadReport(report_path);
  CHECK(report[1].record_id == wallet::RecordIdOf(env).Hex());
  CHECK(report[2].record_id != wallet::RecordIdOf(env).Hex());
  CHECK_FALSE(std::filesystem::exists(report_path + ".journal"));
}

TEST_CASE("cli transfer --from: moves our items, a re-run says already there, others conflict") {
  Fixture f;
  std::string csv = "item\n";
  for (int i = 0; i < 5; ++i) csv += Item(i) + "\n";
  const auto regs = f.File("t.csv", csv);
  REQUIRE(f.Run({"register", "--from", regs.string(), "--key", f.maison}).code == 0);
  // Item 4 leaves for another holder first; item 9 was never registered.
  REQUIRE(f.Run({"transfer", "--item", Item(4), "--key", f.maison, "--to", "authlab"}).code == 0);
  const auto file = f.File("t2.csv", csv + Item(9) + "\n");
  CliRun r =
      f.Run({"transfer", "--from", file.string(), "--to", "resale", "--key", f.maison, "--json"});
  INFO(r.out, r.err);
  CHECK(r.code == 2);
  pb::BulkSummary s = f.Summary(r);
  CHECK(s.committed() == 4);
  CHECK(s.conflicts() == 1);
  CHECK(s.refused() == 1);
  auto report = ReadReport(file.string() + ".report.csv");
  CHECK(report[6].outcome == "conflict");
  CHECK(report[6].reason.find("authlab") != std::string::npos);
  CHECK(report[7].outcome == "refused");
  CHECK(f.Show(Item(2)).state().custodian().organization() == "resale");

  CliRun again =
      f.Run({"transfer", "--from", file.string(), "--to", "resale", "--key", f.maison, "--json"});
  pb::BulkSummary s2 = f.Summary(again);
  CHECK(s2.committed() == 0);
  CHECK(s2.already_committed() == 4);
  CHECK(f.Show(Item(2)).history_size() == 2);
}

TEST_CASE("cli register --from: usage errors") {
  Fixture f;
  const auto file = f.File("u.csv", "item\n" + Item(1) + "\n");
  CHECK(f.Run({"register", "--from", file.string(), "--item", Item(1), "--key", f.maison}).code ==
        3);
  CHECK(f.Run({"register", "--key", f.maison}).code == 3);
  CHECK(
      f.Run({"register", "--from", (f.dir.path() / "none.csv").string(), "--key", f.maison}).code ==
      3);
  CHECK(f.Run({"register", "--from", file.string(), "--format", "xml", "--key", f.maison}).code ==
        3);
  const auto txt = f.File("u.txt", "item\n");
  CHECK(f.Run({"register", "--from", txt.string(), "--key", f.maison}).code == 3);
  // No node answers: the command fails at once, not after --timeout.
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(RunCli({"--node", "http://127.0.0.1:1", "register", "--from", file.string(), "--key",
                f.maison})
            .code == 3);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  // A key that belongs to no member.
  const std::string stranger = test::WriteDevKey(f.dir.path(), "stranger");
  CHECK(f.Run({"register", "--from", file.string(), "--key", stranger}).code == 2);
  CHECK_FALSE(f.Show(Item(1)).registered());
}

TEST_CASE("cli register --from: a stop request ends the run with pending or unsent items") {
  Fixture f;
  std::string csv = "item\n";
  for (int i = 0; i < 20; ++i) csv += Item(i) + "\n";
  const auto file = f.File("stop.csv", csv);
  std::atomic<bool> stop{true};
  wallet::BulkOptions o;
  o.from = file;
  o.key_path = f.maison;
  o.nodes = {f.node.url()};
  o.stop = &stop;
  o.json = true;
  o.stop_grace_ms = 100;
  std::ostringstream out, err;
  const int code = wallet::RunBulk(o, out, err);
  INFO(out.str(), err.str());
  CHECK(code == 4);
  auto report = ReadReport(file.string() + ".report.csv");
  CHECK(report.size() == 20);
  for (const auto& [line, row] : report) CHECK(row.outcome == "not-sent");
  // Then a full run finishes the file.
  o.stop = nullptr;
  std::ostringstream out2, err2;
  CHECK(wallet::RunBulk(o, out2, err2) == 0);
}

// Registers 16 items through a node whose mempool `limits` make it answer 429: every item
// commits once, and the run met (and waited out) at least one busy answer.
static void RegistersAllThroughBusyNode(const node::MempoolLimits& limits,
                                        const std::string& name) {
  Fixture f(limits);
  std::string csv = "item\n";
  for (int i = 0; i < 16; ++i) csv += Item(i) + "\n";
  const auto file = f.File(name, csv);
  CliRun r =
      f.Run({"register", "--from", file.string(), "--key", f.maison, "--json", "--clients", "8"});
  INFO(r.out, r.err);
  CHECK(r.code == 0);
  pb::BulkSummary s = f.Summary(r);
  CHECK(s.committed() == 16);
  CHECK(s.busy_retries() > 0);
  for (int i = 0; i < 16; ++i) CHECK(f.Show(Item(i)).history_size() == 1);
}

TEST_CASE("cli register --from: the admission limit (429 busy) is waited out, nothing lost") {
  node::MempoolLimits limits;
  limits.admission_ms = 1;  // The limit is then the floor: 4 records waiting.
  limits.admission_floor = 4;
  RegistersAllThroughBusyNode(limits, "busy.csv");
}

TEST_CASE("cli register --from: a full mempool (429 mempool_full) is waited out, nothing lost") {
  node::MempoolLimits limits;
  limits.max_records = 4;
  RegistersAllThroughBusyNode(limits, "full.csv");
}
