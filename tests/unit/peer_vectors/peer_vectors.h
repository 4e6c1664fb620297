#pragma once

// Access to the public test vectors in shared/peer-vectors, which lives beside the repository
// (HALLMARK_SOURCE_DIR/../shared/peer-vectors) and may not be copied into it. Its SOURCES.md
// says where each file comes from. A checkout without that folder (CI clones elsewhere) skips
// these suites: each test says so with a "SKIPPED: ... absent" message and passes.
//
// Set HALLMARK_PEER_VECTORS to read the vectors from another folder.

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace hallmark::test {

inline std::filesystem::path PeerVectorsDir() {
  if (const char* env = std::getenv("HALLMARK_PEER_VECTORS"); env != nullptr && *env != '\0') {
    return env;
  }
  return std::filesystem::path(HALLMARK_SOURCE_DIR) / ".." / "shared" / "peer-vectors";
}

// The path of `relative` inside the peer-vector folder, or nothing when it is absent.
inline std::optional<std::filesystem::path> PeerVectorPath(const std::string& relative) {
  std::filesystem::path p = PeerVectorsDir() / relative;
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return std::nullopt;
  return p.lexically_normal();
}

// The whole file, or nothing when it cannot be read.
inline std::optional<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Reads JSON text into `out` through Protobuf's JSON mapping, skipping fields `out` does not
// declare. Returns the parser's complaint, or an empty string on success.
inline std::string ParseJsonInto(const std::string& json, google::protobuf::Message* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(json, out, options);
  return status.ok() ? std::string() : status.ToString();
}

}  // namespace hallmark::test
