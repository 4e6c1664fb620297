#pragma once

// A node that misbehaves on purpose, for the CLI's HTTP client tests: a plain TCP server on
// 127.0.0.1 (an ephemeral port) whose every connection runs a script. The script gets the
// connection after the request header has been read and writes whatever it likes: a 3 GiB
// Content-Length, an endless chunked body, one byte a second, garbage, or nothing at all. It
// stops when the client hangs up or the server is destroyed.
//
// Thread-safety: the server runs on its own thread, one connection at a time; bytes_written()
// may be read from the test's thread.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace hallmark::test {

class HostileServer {
 public:
  class Connection {
   public:
    // Writes all of `bytes`; false once the client has gone or the server is stopping.
    bool Write(std::string_view bytes) {
      while (!bytes.empty()) {
        if (server_->stop_) return false;
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        server_->bytes_written_ += static_cast<uint64_t>(n);
        bytes.remove_prefix(static_cast<size_t>(n));
      }
      return true;
    }
    // Sleeps `ms`, or less when the server is stopping; false when it is.
    bool Pause(int ms) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      while (std::chrono::steady_clock::now() < until) {
        if (server_->stop_) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return !server_->stop_;
    }

   private:
    friend class HostileServer;
    Connection(int fd, HostileServer* server) : fd_(fd), server_(server) {}
    int fd_;
    HostileServer* server_;
  };
  using Script = std::function<void(Connection&)>;

  explicit HostileServer(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("hostile server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HostileServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  HostileServer(const HostileServer&) = delete;
  HostileServer& operator=(const HostileServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      if (ReadRequestHeader(fd)) {
        Connection c(fd, this);
        script_(c);
      }
      ::shutdown(fd, SHUT_RDWR);
      ::close(fd);
    }
  }

  // Reads until the blank line that ends a request header (the CLI's GETs have no body).
  bool ReadRequestHeader(int fd) {
    std::string seen;
    char buf[4096];
    while (!stop_ && seen.find("\r\n\r\n") == std::string::npos && seen.size() < 65536) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      seen.append(buf, static_cast<size_t>(n));
    }
    return !stop_;
  }

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_written_{0};
  std::thread thread_;
};

}  // namespace hallmark::test
