// `hallmark list` against the node's real API (live_node.h): filters, pages, --all, --json, and
// the refusals of bad options.
#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <stdlib.h>

#include <set>
#include <sstream>

#include "cli_runner.h"
#include "fixtures.h"
#include "live_node.h"
#include "test_util.h"
#include "wallet-cli/node_commands.h"

using namespace hallmark;
using test::CliRun;
using test::RunCli;

namespace {

struct Fixture {
  test::LiveNode node;
  test::TempDir dir;
  std::string maison = test::WriteDevKey(dir.path(), "maison");
  std::string atelier = test::WriteDevKey(dir.path(), "atelier");

  Fixture() { ::unsetenv(wallet::kNodeEnvVar); }

  CliRun Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--node", node.url()});
    return RunCli(std::move(args));
  }
  void Register(const std::string& key, const std::string& item) {
    CliRun r = Run({"register", "--key", key, "--item", item, "--timeout", "10"});
    INFO(r.err);
    REQUIRE(r.code == 0);
  }
};

std::vector<pb::ItemListResponse> JsonPages(const std::string& out) {
  std::vector<pb::ItemListResponse> pages;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    pb::ItemListResponse page;
    const auto st = google::protobuf::util::JsonStringToMessage(line, &page);
    REQUIRE_MESSAGE(st.ok(), st.ToString() << " in " << line);
    pages.push_back(std::move(page));
  }
  return pages;
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("cli list: by brand and flag, newest first, as a table and as JSON") {
  Fixture f;
  const std::string a = "01/00614141000012/21/LIST-A";
  const std::string b = "01/00614141000012/21/LIST-B";
  const std::string c = "01/01234567000015/21/LIST-C";
  f.Register(f.maison, a);
  f.Register(f.maison, b);
  f.Register(f.atelier, c);
  REQUIRE(f.Run({"flag", "--key", f.maison, "--item", a, "--reason", "stolen", "--timeout", "10"})
              .code == 0);

  CliRun table = f.Run({"list", "--brand", "maison"});
  INFO(table.err);
  REQUIRE(table.code == 0);
  CHECK(Contains(table.out, "UPDATED (UTC)"));
  // A changed last, so it comes first.
  CHECK(table.out.find("LIST-A") < table.out.find("LIST-B"));
  CHECK_FALSE(Contains(table.out, "LIST-C"));
  CHECK(Contains(table.out, "stolen"));
  CHECK(Contains(table.out, "2 items as of height"));

  CliRun stolen = f.Run({"list", "--flag", "stolen", "--json"});
  REQUIRE(stolen.code == 0);
  auto pages = JsonPages(stolen.out);
  REQUIRE(pages.size() == 1);
  REQUIRE(pages[0].items_size() == 1);
  CHECK(pages[0].items(0).item_id() == a);
  CHECK(pages[0].items(0).flags(0) == "stolen");
  // Every documented field is printed, the empty `next` too.
  CHECK(Contains(stolen.out, "\"next\":\"\""));

  // --since in the future: nothing; as a date long ago: everything.
  CHECK(JsonPages(f.Run({"list", "--since", "2999-01-01", "--json"}).out)[0].items_size() == 0);
  CHECK(
      JsonPages(f.Run({"list", "--since", "2001-01-01T00:00:00Z", "--json"}).out)[0].items_size() ==
      3);
  CHECK(f.Run({"list", "--brand", "nobody"}).code == 0);
}

TEST_CASE("cli list: --limit pages, --after continues, --all follows every page") {
  Fixture f;
  for (int i = 0; i < 5; ++i)
    f.Register(f.maison, "01/00614141000012/21/PAGE-" + std::to_string(i));

  CliRun first = f.Run({"list", "--limit", "2"});
  REQUIRE(first.code == 0);
  CHECK(Contains(first.out, "more items follow: add --after "));
  auto one = JsonPages(f.Run({"list", "--limit", "2", "--json"}).out);
  REQUIRE(one.size() == 1);
  REQUIRE(one[0].items_size() == 2);
  REQUIRE_FALSE(one[0].next().empty());
  auto two = JsonPages(f.Run({"list", "--limit", "2", "--after", one[0].next(), "--json"}).out);
  REQUIRE(two.size() == 1);
  REQUIRE(two[0].items_size() == 2);
  CHECK(two[0].items(0).item_id() != one[0].items(1).item_id());

  CliRun all = f.Run({"list", "--limit", "2", "--all", "--json"});
  REQUIRE(all.code == 0);
  auto pages = JsonPages(all.out);
  CHECK(pages.size() == 3);
  std::set<std::string> ids;
  for (const auto& p : pages) {
    for (const auto& i : p.items()) ids.insert(i.item_id());
  }
  CHECK(ids.size() == 5);
  CliRun all_table = f.Run({"list", "--limit", "2", "--all"});
  CHECK(Contains(all_table.out, "5 items as of height"));
}

TEST_CASE("cli list: bad options are refused before asking the node") {
  Fixture f;
  CliRun flag = f.Run({"list", "--flag", "taken"});
  CHECK(flag.code == 2);
  CHECK(Contains(flag.err, "--flag must be one of stolen"));
  CliRun since = f.Run({"list", "--since", "last week"});
  CHECK(since.code == 2);
  CHECK(Contains(since.err, "is not a time"));
  CHECK(f.Run({"list", "--limit", "0"}).code == 3);
  CHECK(f.Run({"list", "--limit", "1001"}).code == 3);
  // The node's refusal (a cursor it cannot read) is shown as the node worded it.
  CliRun cursor = f.Run({"list", "--after", "nonsense"});
  CHECK(cursor.code != 0);
  CHECK(Contains(cursor.err, "after must be a cursor"));
}
