#pragma once

// The wallet's side of keystores: where passphrases come from. The file format and the
// cryptography live in core/crypto/keystore.h.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/crypto/ed25519.h"
#include "core/status.h"

namespace hallmark::wallet {

// Set this to supply the passphrase without a prompt (scripts, CI). It is read as is: no
// trimming. Anyone who can read this process's environment can read it.
inline constexpr const char* kPassphraseEnvVar = "HALLMARK_PASSPHRASE";
inline constexpr size_t kPassphraseBytesMax = 1024;

// A passphrase for a new key: HALLMARK_PASSPHRASE if set, else asked twice on the terminal
// without echo. Errors: kInvalidInput (empty, too long, the two entries differ); kIoError when
// there is no terminal to ask on and the variable is not set.
core::Result<std::string> ReadNewPassphrase();

// A passphrase for an existing key: HALLMARK_PASSPHRASE if set, else asked once on the terminal.
core::Result<std::string> ReadExistingPassphrase(std::string_view prompt);

// Loads a signing key, asking for the passphrase only when the keystore is encrypted.
core::Result<core::SigningKey> LoadSigningKey(const std::filesystem::path& path);

// Overwrites a string's bytes before it is freed (best effort: copies may exist elsewhere).
void WipeString(std::string* s);

}  // namespace hallmark::wallet
