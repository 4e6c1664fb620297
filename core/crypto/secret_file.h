#pragma once

// Small files that hold secrets (keystores, key shares): read with a size cap, and written with
// mode 0600 so that a reader sees no file (or the old one) or the whole new one.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hallmark::core {

// The whole file. NotFound "<what> file not found: PATH"; InvalidInput when it is larger than
// `max_bytes` ("… it is not a <what>"); IoError otherwise. Partial reads are wiped on error.
Result<std::string> ReadSecretFile(const std::filesystem::path& path, size_t max_bytes,
                                   std::string_view what);

// A temporary file in the same folder (mode 0600), written and synced, then renamed over `path`
// (overwrite) or link()ed to it, which fails with "… already exists" instead of replacing it:
// no window between a check and the write. The folder is synced afterwards (best effort).
Status WriteSecretFileAtomically(const std::filesystem::path& path, std::string_view data,
                                 bool overwrite);

}  // namespace hallmark::core
