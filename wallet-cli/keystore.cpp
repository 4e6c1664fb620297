#include "wallet-cli/keystore.h"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "core/crypto/keystore.h"

namespace hallmark::wallet {
namespace {

// The terminal settings to restore if a signal arrives while echo is off. Written before the
// handlers are installed, read only by them.
struct termios g_saved_termios;
volatile sig_atomic_t g_echo_off = 0;

void RestoreTerminalAndReraise(int sig) {
  if (g_echo_off) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// Turns terminal echo off for its lifetime, and back on even on Ctrl-C or Ctrl-\.
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    struct termios quiet = g_saved_termios;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // The Enter key still moves to the next line.
    struct sigaction sa {};
    sa.sa_handler = RestoreTerminalAndReraise;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    ::sigaction(SIGQUIT, &sa, &old_quit_);
    g_echo_off = 1;
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (g_echo_off) {
      ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
      g_echo_off = 0;
      ::sigaction(SIGINT, &old_int_, nullptr);
      ::sigaction(SIGTERM, &old_term_, nullptr);
      ::sigaction(SIGQUIT, &old_quit_, nullptr);
    }
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  bool active() const { return active_; }

 private:
  bool active_ = false;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
  struct sigaction old_quit_ {};
};

std::optional<std::string> PassphraseFromEnv() {
  const char* v = std::getenv(kPassphraseEnvVar);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

core::Status CheckPassphrase(const std::string& p) {
  if (p.empty()) {
    return core::Status::InvalidInput(
        "the passphrase is empty; use --no-passphrase for an unprotected development key");
  }
  if (p.size() > kPassphraseBytesMax) {
    return core::Status::InvalidInput("the passphrase is longer than " +
                                      std::to_string(kPassphraseBytesMax) + " bytes");
  }
  return core::Status::Ok();
}

// One line from the terminal with echo off; the prompt goes to stderr so stdout stays clean.
core::Result<std::string> Prompt(std::string_view prompt) {
  if (!::isatty(STDIN_FILENO)) {
    return core::Status::IoError(
        std::string("no passphrase: standard input is not a terminal and ") + kPassphraseEnvVar +
        " is not set");
  }
  std::string line;
  {
    // Echo goes off (discarding anything typed ahead) before the prompt appears, so that what
    // the user types after seeing the prompt is never shown.
    EchoOff echo_off;
    std::cerr << prompt << std::flush;
    if (!std::getline(std::cin, line)) {
      return core::Status::IoError("no passphrase: end of input at the prompt");
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

void WipeString(std::string* s) {
  if (!s->empty()) ::explicit_bzero(s->data(), s->size());
  s->clear();
}

core::Result<std::string> ReadNewPassphrase() {
  if (std::optional<std::string> env = PassphraseFromEnv()) {
    core::Status s = CheckPassphrase(*env);
    if (!s.ok()) return s.WithContext(kPassphraseEnvVar);
    return std::move(*env);
  }
  core::Result<std::string> first = Prompt("New passphrase: ");
  if (!first.ok()) return first.status();
  core::Status s = CheckPassphrase(*first);
  if (!s.ok()) {
    WipeString(&*first);
    return s;
  }
  core::Result<std::string> second = Prompt("Repeat passphrase: ");
  if (!second.ok()) {
    WipeString(&*first);
    return second.status();
  }
  const bool same = *first == *second;
  WipeString(&*second);
  if (!same) {
    WipeString(&*first);
    return core::Status::InvalidInput("the two passphrases differ");
  }
  return first;
}

core::Result<std::string> ReadExistingPassphrase(std::string_view prompt) {
  if (std::optional<std::string> env = PassphraseFromEnv()) return std::move(*env);
  return Prompt(prompt);
}

core::Result<core::SigningKey> LoadSigningKey(const std::filesystem::path& path) {
  core::Result<pb::Keystore> info = core::ReadKeystoreInfo(path);
  if (!info.ok()) return info.status();
  if (!core::KeystoreNeedsPassphrase(*info)) return core::ReadKeystore(path, std::nullopt);
  core::Result<std::string> passphrase =
      ReadExistingPassphrase("Passphrase for " + path.string() + ": ");
  if (!passphrase.ok()) return passphrase.status();
  core::Result<core::SigningKey> key = core::ReadKeystore(path, *passphrase);
  WipeString(&*passphrase);
  return key;
}

}  // namespace hallmark::wallet
