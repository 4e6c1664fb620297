#pragma once

// Runs the whole `hallmark` CLI in-process (argument parsing included) with given standard
// input, capturing what it prints; and writes development keystores for the test organisations.

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "core/crypto/keystore.h"
#include "fixtures.h"
#include "wallet-cli/commands.h"

namespace hallmark::test {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

inline CliRun RunCli(std::vector<std::string> args, const std::string& stdin_text = "") {
  args.insert(args.begin(), "hallmark");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  CliRun r;
  r.code = wallet::Main(static_cast<int>(argv.size()), argv.data(), in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// An unencrypted keystore holding KeyFor(name), so no passphrase is asked for.
inline std::string WriteDevKey(const std::filesystem::path& dir, std::string_view name) {
  const std::filesystem::path path = dir / (std::string(name) + ".key");
  core::Status s = core::WriteKeystore(path, KeyFor(name), std::nullopt);
  if (!s.ok()) throw std::runtime_error("cannot write test keystore: " + s.message());
  return path.string();
}

}  // namespace hallmark::test
