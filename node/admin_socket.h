#pragma once

// The node's local admin socket: a Unix domain socket at <home>/admin.sock, mode 0600, answered
// only for a client of the node's own user (SO_PEERCRED). Never on a network port. One request
// per connection (proto/backup.proto: a 4-byte big-endian length and an AdminRequest), handled
// one connection at a time on the server's own thread, so a long backup never holds up
// consensus or the API. Today it serves one request: a backup (node/backup.h).
//
// Thread-safety: Start and Stop from one thread; the handler runs on the server's thread.

#include <atomic>
#include <filesystem>
#include <functional>
#include <string_view>
#include <thread>

#include "core/status.h"
#include "node/backup.h"
#include "proto/backup.pb.h"

namespace hallmark::node {

class AdminServer {
 public:
  // Streams a backup to `sink` (the socket); an error is logged and ends the connection.
  using BackupHandler =
      std::function<core::Status(const pb::AdminBackupRequest& request, const ByteSink& sink)>;
  using Log = std::function<void(std::string_view)>;

  AdminServer(std::filesystem::path path, BackupHandler backup, Log log);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Removes a stale socket file (the caller holds the data folder's lock, so no other node uses
  // this home), binds, restricts the file to mode 0600 before listening, and starts the thread.
  core::Status Start();
  // Ends the thread (a backup in progress stops at its next write) and removes the socket file.
  void Stop();

 private:
  void Run();
  void Serve(int fd);
  std::filesystem::path path_;
  BackupHandler backup_;
  Log log_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // A pipe: Stop writes a byte to end the poll.
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Connects to the admin socket at `path`. NotFound when no node listens there (no file, or a
// stale one: connection refused); IoError otherwise.
core::Result<int> ConnectAdminSocket(const std::filesystem::path& path);

// Reads and writes whole buffers on a socket; errors name `what`.
core::Status SendAll(int fd, std::string_view data, std::string_view what);
core::Result<size_t> ReceiveSome(int fd, char* buf, size_t n, std::string_view what);
// A 4-byte big-endian length and the message's bytes.
core::Status SendMessage(int fd, const google::protobuf::Message& m, std::string_view what);
// REQUIRES: max_bytes is small (requests, responses).
core::Status ReceiveMessage(int fd, google::protobuf::Message* m, size_t max_bytes,
                            std::string_view what);

}  // namespace hallmark::node
