// GS1's own EPCIS 2.0 files (shared/peer-vectors/epcis, outside the repository; see its
// SOURCES.md) against what the exporter relies on: the CBV 2.0 words in GS1's JSON-LD context
// files are exactly the exporter's word lists, and GS1's example documents use only those words
// and item ids that core reads. Skipped, with a "SKIPPED: ... absent" message, without the folder.

#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/epcis.h"
#include "core/item_id.h"
#include "peer_vectors/peer_vectors.h"

using google::protobuf::Struct;
using google::protobuf::Value;
using hallmark::test::ParseJsonInto;
using hallmark::test::PeerVectorPath;
using hallmark::test::ReadWholeFile;

namespace {

Struct ReadJsonLd(const std::filesystem::path& path) {
  const auto text = ReadWholeFile(path);
  REQUIRE_MESSAGE(text.has_value(), "cannot read " << path);
  Struct s;
  const std::string error = ParseJsonInto(*text, &s);
  REQUIRE_MESSAGE(error.empty(), path << ": " << error);
  return s;
}

// The CBV words a context file defines: each term "word": "cbv:<Prefix>-word".
std::set<std::string> ContextWords(const std::filesystem::path& path, const std::string& prefix) {
  const Struct doc = ReadJsonLd(path);
  REQUIRE(doc.fields().contains("@context"));
  std::set<std::string> words;
  for (const auto& [term, value] : doc.fields().at("@context").struct_value().fields()) {
    if (term.starts_with("@") || term == "cbv") continue;
    CHECK_MESSAGE(value.string_value() == "cbv:" + prefix + "-" + term, path << ": " << term);
    words.insert(term);
  }
  return words;
}

template <size_t N>
std::set<std::string> AsSet(const std::array<std::string_view, N>& words) {
  return std::set<std::string>(words.begin(), words.end());
}

}  // namespace

TEST_CASE("peer vectors: the exporter's CBV word lists are exactly GS1's JSON-LD contexts") {
  const auto dir = PeerVectorPath("epcis/JSON-LD-Context");
  if (!dir) {
    MESSAGE("SKIPPED: epcis/JSON-LD-Context absent (" << hallmark::test::PeerVectorsDir().string()
                                                      << " is outside the repository)");
    return;
  }
  const auto biz_steps = ContextWords(*dir / "cbv-context-bizstep.jsonld", "BizStep");
  const auto dispositions = ContextWords(*dir / "cbv-context-disposition.jsonld", "Disp");
  const auto sdts = ContextWords(*dir / "cbv-context-sourcedest-type.jsonld", "SDT");
  CHECK(biz_steps == AsSet(hallmark::core::kCbvBizSteps));
  CHECK(dispositions == AsSet(hallmark::core::kCbvDispositions));
  CHECK(sdts == AsSet(hallmark::core::kCbvSourceDestTypes));
  MESSAGE("epcis CBV contexts: " << biz_steps.size() << " bizSteps, " << dispositions.size()
                                 << " dispositions, " << sdts.size()
                                 << " source/destination types, all equal to the exporter's lists");
}

TEST_CASE("peer vectors: GS1's EPCIS examples use CBV words and item ids Hallmark reads") {
  const auto dir = PeerVectorPath("epcis/JSON-simple-context");
  if (!dir) {
    MESSAGE("SKIPPED: epcis/JSON-simple-context absent ("
            << hallmark::test::PeerVectorsDir().string() << " is outside the repository)");
    return;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(*dir)) {
    if (e.is_regular_file() && e.path().extension() == ".jsonld") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  int events = 0;
  int words = 0;
  int sgtins = 0;
  for (const auto& path : files) {
    CAPTURE(path.filename().string());
    const Struct doc = ReadJsonLd(path);
    REQUIRE(doc.fields().contains("epcisBody"));
    const auto& body = doc.fields().at("epcisBody").struct_value().fields();
    REQUIRE(body.contains("eventList"));
    for (const Value& ev : body.at("eventList").list_value().values()) {
      ++events;
      const auto& f = ev.struct_value().fields();
      // Bare words are CBV 2.0 vocabulary; URIs (a company's own words) are not ours to check.
      if (f.contains("bizStep") && f.at("bizStep").string_value().find(':') == std::string::npos) {
        ++words;
        CHECK(hallmark::core::IsCbvBizStep(f.at("bizStep").string_value()));
      }
      if (f.contains("disposition") &&
          f.at("disposition").string_value().find(':') == std::string::npos) {
        ++words;
        CHECK(hallmark::core::IsCbvDisposition(f.at("disposition").string_value()));
      }
      for (const char* list : {"sourceList", "destinationList"}) {
        if (!f.contains(list)) continue;
        for (const Value& sd : f.at(list).list_value().values()) {
          ++words;
          CHECK(hallmark::core::IsCbvSourceDestType(
              sd.struct_value().fields().at("type").string_value()));
        }
      }
      // Every SGTIN in an epcList, as an EPC URI or a Digital Link, is an item id core reads.
      if (f.contains("epcList")) {
        for (const Value& epc : f.at("epcList").list_value().values()) {
          const std::string& id = epc.string_value();
          if (!id.starts_with("urn:epc:id:sgtin:") && id.find("/01/") == std::string::npos)
            continue;
          ++sgtins;
          const auto parsed = hallmark::core::ParseItemId(id);
          CHECK_MESSAGE(parsed.ok(), id << ": " << parsed.status().message());
        }
      }
    }
  }
  CHECK(files.size() == 5);
  MESSAGE("epcis examples: " << files.size() << " documents, " << events << " events, " << words
                             << " CBV words, " << sgtins << " SGTINs read by ParseItemId");
}
