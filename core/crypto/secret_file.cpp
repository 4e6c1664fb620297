#include "core/crypto/secret_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace hallmark::core {
namespace {

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadSecretFile(const std::filesystem::path& path, size_t max_bytes,
                                   std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      return Status::NotFound(std::string(what) + " file not found: " + path.string());
    return Status::IoError("cannot open " + path.string() + ": " + std::strerror(err));
  }
  std::string data;
  std::array<char, 4096> buf;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      Wipe(&data);
      return Status::IoError("cannot read " + path.string() + ": " + std::strerror(err));
    }
    if (n == 0) break;
    data.append(buf.data(), static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      ::close(fd);
      Wipe(&data);
      return Status::InvalidInput(path.string() + " is larger than " + std::to_string(max_bytes) +
                                  " bytes; it is not a " + std::string(what));
    }
  }
  ::close(fd);
  return data;
}

// Writes `data` to `path` so that readers see either no file (or the old one) or the whole new
// file: temp file in the same folder, fsync, then link (no overwrite) or rename (overwrite), and
// fsync of the folder.
Status WriteSecretFileAtomically(const std::filesystem::path& path, std::string_view data,
                                 bool overwrite) {
  const std::filesystem::path dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);  // Created with mode 0600.
  if (fd < 0) {
    return Status::IoError("cannot create a file in " + dir.string() + ": " + std::strerror(errno));
  }
  const std::string tmp = tmpl;
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    return Status::IoError(what + " " + path.string() + ": " + std::strerror(err));
  };
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
    const int err = errno;
    ::close(fd);
    return fail("cannot set mode 0600 on", err);
  }
  Status s = WriteAll(fd, data);
  if (!s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::IoError("cannot write " + path.string() + ": " + s.message());
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return fail("cannot sync", err);
  }
  if (::close(fd) != 0) return fail("cannot close", errno);
  if (overwrite) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename into", errno);
  } else {
    // link() fails with EEXIST instead of replacing: no window between a check and the write.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      if (err == EEXIST) {
        ::unlink(tmp.c_str());
        return Status::IoError(path.string() + " already exists; not overwriting it");
      }
      return fail("cannot create", err);
    }
    ::unlink(tmp.c_str());
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);  // Best effort: the file is complete either way.
    ::close(dir_fd);
  }
  return Status::Ok();
}

}  // namespace hallmark::core
