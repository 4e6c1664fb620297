#include "node/admin_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/bytes.h"
#include "core/codec.h"

namespace hallmark::node {

using core::Status;

namespace {

constexpr size_t kRequestBytesMax = 64 * 1024;
constexpr int kRequestTimeoutSec = 10;
// A client that reads nothing for this long is dropped, so it cannot hold the server forever.
constexpr int kSendTimeoutSec = 60;

core::Result<sockaddr_un> Address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() + 1 > sizeof(addr.sun_path)) {
    return Status::InvalidInput("the admin socket path " + p + " is longer than " +
                                std::to_string(sizeof(addr.sun_path) - 1) +
                                " bytes (a Unix socket's limit): use a shorter home path");
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  return addr;
}

void SetTimeout(int fd, int option, int seconds) {
  timeval tv{};
  tv.tv_sec = seconds;
  (void)::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

}  // namespace

Status SendAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return Status::IoError(std::string(what) + ": the peer stopped reading (timed out)");
      return Status::IoError(std::string(what) + ": " + std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

core::Result<size_t> ReceiveSome(int fd, char* buf, size_t n, std::string_view what) {
  for (;;) {
    const ssize_t got = ::recv(fd, buf, n, 0);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return Status::IoError(std::string(what) + ": timed out");
    return Status::IoError(std::string(what) + ": " + std::strerror(errno));
  }
}

Status SendMessage(int fd, const google::protobuf::Message& m, std::string_view what) {
  const std::string body = core::SerializeDeterministic(m);
  std::string out;
  core::PutBigEndian32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  return SendAll(fd, out, what);
}

Status ReceiveMessage(int fd, google::protobuf::Message* m, size_t max_bytes,
                      std::string_view what) {
  auto read_exact = [&](char* buf, size_t n) -> Status {
    size_t done = 0;
    while (done < n) {
      auto got = ReceiveSome(fd, buf + done, n - done, what);
      if (!got.ok()) return got.status();
      if (*got == 0) return Status::IoError(std::string(what) + ": the connection closed early");
      done += *got;
    }
    return Status::Ok();
  };
  uint8_t len[4];
  HM_RETURN_IF_ERROR(read_exact(reinterpret_cast<char*>(len), 4));
  const uint32_t n = core::GetBigEndian32(len);
  if (n > max_bytes) {
    return Status::InvalidInput(std::string(what) + ": a message of " + std::to_string(n) +
                                " bytes, more than " + std::to_string(max_bytes));
  }
  std::string body(n, '\0');
  HM_RETURN_IF_ERROR(read_exact(body.data(), n));
  if (!m->ParseFromString(body)) return Status::InvalidInput(std::string(what) + ": not a message");
  return Status::Ok();
}

core::Result<int> ConnectAdminSocket(const std::filesystem::path& path) {
  auto addr = Address(path);
  if (!addr.ok()) return addr.status();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == ENOENT || err == ECONNREFUSED) {
      return Status::NotFound("no node answers on " + path.string());
    }
    return Status::IoError("cannot connect to " + path.string() + ": " + std::strerror(err));
  }
  return fd;
}

AdminServer::AdminServer(std::filesystem::path path, BackupHandler backup, Log log)
    : path_(std::move(path)), backup_(std::move(backup)), log_(std::move(log)) {}

AdminServer::~AdminServer() {
  Stop();
}

Status AdminServer::Start() {
  auto addr = Address(path_);
  if (!addr.ok()) return addr.status();
  std::error_code ec;
  std::filesystem::remove(path_, ec);  // A stale socket of an earlier run of this home.
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Status::IoError(std::string("admin socket: ") + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return Status::IoError(what + " " + path_.string() + ": " + std::strerror(err));
  };
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0)
    return fail("cannot bind");
  // Nobody can connect before listen(), so the mode is set before anyone could.
  if (::chmod(path_.c_str(), S_IRUSR | S_IWUSR) != 0) return fail("cannot chmod");
  if (::listen(listen_fd_, 4) != 0) return fail("cannot listen on");
  if (::pipe2(wake_, O_CLOEXEC) != 0) return fail("cannot make a pipe for");
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void AdminServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (wake_[1] >= 0) {
    const char b = 1;
    (void)!::write(wake_[1], &b, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int* fd : {&listen_fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void AdminServer::Run() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log_(std::string("admin socket: poll: ") + std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0 || stopping_.load()) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Serve(fd);
    ::close(fd);
  }
}

void AdminServer::Serve(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
    log_("admin socket: refused a client of another user (uid " + std::to_string(cred.uid) + ")");
    return;
  }
  SetTimeout(fd, SO_RCVTIMEO, kRequestTimeoutSec);
  SetTimeout(fd, SO_SNDTIMEO, kSendTimeoutSec);
  pb::AdminRequest request;
  if (Status st = ReceiveMessage(fd, &request, kRequestBytesMax, "admin request"); !st.ok()) {
    log_("admin socket: " + st.message());
    return;
  }
  pb::AdminResponse response;
  if (request.body_case() != pb::AdminRequest::kBackup) {
    response.set_error("unknown request (this node serves: backup)");
    (void)SendMessage(fd, response, "admin response");
    return;
  }
  if (Status st = SendMessage(fd, response, "admin response"); !st.ok()) return;
  log_(std::string("admin socket: backup started") +
       (request.backup().include_node_key() ? " (with the node key)" : ""));
  uint64_t sent = 0;
  Status st = backup_(request.backup(), [&](std::string_view bytes) -> Status {
    if (stopping_.load()) return Status::IoError("the node is stopping");
    sent += bytes.size();
    return SendAll(fd, bytes, "backup stream");
  });
  if (st.ok()) {
    log_("admin socket: backup sent (" + std::to_string(sent) + " bytes)");
  } else {
    log_("admin socket: backup ended early: " + st.message());
  }
}

}  // namespace hallmark::node
