// A driver for fuzz targets without libFuzzer (any compiler): runs every file of the corpus
// folders given, then a fixed number of deterministic mutations of each (byte flips, inserts,
// deletions, truncations, splices), so CTest exercises the target on every build.
//   proof_bundle_fuzz_replay [--mutations N] [--seed S] CORPUS_DIR...

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Run(const std::string& input) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

std::string Mutate(const std::string& in, const std::vector<std::string>& corpus,
                   std::mt19937_64& rng) {
  std::string s = in;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t n = s.size();
    switch (rng() % 6) {
      case 0:  // Flip bits of one byte.
        if (n) s[rng() % n] ^= static_cast<char>(1 + rng() % 255);
        break;
      case 1:  // Insert a byte.
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(n ? rng() % (n + 1) : 0),
                 static_cast<char>(rng()));
        break;
      case 2:  // Delete a run.
        if (n) {
          size_t at = rng() % n;
          s.erase(at, 1 + rng() % std::min<size_t>(16, n - at));
        }
        break;
      case 3:  // Truncate.
        if (n) s.resize(rng() % n);
        break;
      case 4:  // Splice in part of another input.
        if (!corpus.empty()) {
          const std::string& o = corpus[rng() % corpus.size()];
          if (!o.empty()) {
            size_t from = rng() % o.size();
            size_t len = 1 + rng() % std::min<size_t>(64, o.size() - from);
            s.insert(n ? rng() % (n + 1) : 0, o.substr(from, len));
          }
        }
        break;
      case 5:  // An interesting varint: 0, 1, 0x7f, or a huge length.
        if (n) {
          static const char kBytes[] = {'\0', '\x01', '\x7f', '\x80', '\xff'};
          s[rng() % n] = kBytes[rng() % sizeof(kBytes)];
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long mutations = 2000;
  unsigned long seed = 1;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::strtol(argv[++i], nullptr, 10);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoul(argv[++i], nullptr, 10);
    } else {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "usage: %s [--mutations N] [--seed S] CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  std::mt19937_64 rng(seed);
  for (const std::string& input : corpus) Run(input);
  for (long i = 0; i < mutations; ++i) Run(Mutate(corpus[rng() % corpus.size()], corpus, rng));
  std::printf("ran %zu corpus inputs and %ld mutations (seed %lu): no property violated\n",
              corpus.size(), mutations, seed);
  return 0;
}
