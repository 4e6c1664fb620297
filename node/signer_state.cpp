#include "node/signer_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <tuple>

#include "core/codec.h"
#include "core/consensus_codec.h"
#include "core/crypto/secret_file.h"
#include "proto/node.pb.h"

namespace hallmark::node {

using core::Hash256;
using core::Status;

namespace {

pb::SignerStateRecord ToRecord(const consensus::SignerState& s) {
  pb::SignerStateRecord r;
  r.set_height(s.height);
  r.set_round(s.round);
  r.set_step(s.step);
  r.set_block_id(std::string(s.block_id.view()));
  r.set_lock_height(s.lock_height);
  r.set_lock_round(s.lock_round);
  r.set_lock_block_id(std::string(s.lock_block_id.view()));
  if (s.prevote) *r.mutable_prevote() = core::ToProto(*s.prevote);
  if (s.precommit) *r.mutable_precommit() = core::ToProto(*s.precommit);
  return r;
}

core::Result<consensus::SignerState> FromRecord(const pb::SignerStateRecord& r) {
  auto block = Hash256::FromBytes(r.block_id());
  auto lock = Hash256::FromBytes(r.lock_block_id());
  if (!block || !lock || r.step() > 3) return Status::Corruption("signer state is malformed");
  consensus::SignerState s;
  s.height = r.height();
  s.round = r.round();
  s.step = static_cast<uint8_t>(r.step());
  s.block_id = *block;
  s.lock_height = r.lock_height();
  s.lock_round = r.lock_round();
  s.lock_block_id = *lock;
  if (r.has_prevote()) {
    auto v = core::FromProto(r.prevote());
    if (!v.ok()) return Status::Corruption("signer state prevote: " + v.status().message());
    s.prevote = *v;
  }
  if (r.has_precommit()) {
    auto v = core::FromProto(r.precommit());
    if (!v.ok()) return Status::Corruption("signer state precommit: " + v.status().message());
    s.precommit = *v;
  }
  return s;
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

auto Position(const consensus::SignerState& s) {
  return std::make_tuple(s.height, s.round, s.step);
}

}  // namespace

std::string EncodeSignerState(const consensus::SignerState& state) {
  return core::SerializeDeterministic(ToRecord(state));
}

core::Result<consensus::SignerState> DecodeSignerState(std::string_view bytes) {
  pb::SignerStateRecord r;
  HM_RETURN_IF_ERROR(core::ParseStrict(bytes, &r, "signer state"));
  return FromRecord(r);
}

Status WriteFileDurably(const std::filesystem::path& path, std::string_view data) {
  const std::filesystem::path dir =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // One writer per home (the data folder's LevelDB lock keeps a second node out), so a fixed
  // temporary name is enough; a leftover from a crash is truncated and reused.
  const std::filesystem::path tmp = dir / ("." + path.filename().string() + ".tmp");
  auto fail = [&](const std::string& what, int err) {
    return Status::IoError(what + " " + tmp.string() + ": " + std::strerror(err));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) return fail("cannot create", errno);
  if (Status s = WriteAll(fd, data); !s.ok()) {
    ::close(fd);
    return Status::IoError("cannot write " + tmp.string() + ": " + s.message());
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return fail("cannot sync", err);
  }
  if (::close(fd) != 0) return fail("cannot close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " +
                           std::strerror(errno));
  }
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return Status::IoError("cannot open " + dir.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  if (rc != 0) return Status::IoError("cannot sync " + dir.string() + ": " + std::strerror(err));
  return Status::Ok();
}

std::string EncodeWatermark(const WatermarkOwner& owner, const consensus::SignerState& state,
                            std::optional<RestoreMark> restored) {
  pb::SignerWatermark w;
  w.set_version(kWatermarkVersion);
  w.set_chain_id(owner.chain_id);
  w.set_validator_key(owner.validator.Hex());
  *w.mutable_state() = ToRecord(state);
  if (restored) {
    w.set_restored(true);
    w.set_restored_from_height(restored->from_height);
  }
  auto json = core::ToJson(w);
  HM_ASSERT_MSG(json.ok(), "a signer watermark always has a JSON form");
  return *json + "\n";
}

core::Result<WatermarkFile> ParseWatermark(std::string_view text, const WatermarkOwner& owner,
                                           const std::string& name) {
  pb::SignerWatermark w;
  if (Status st = core::ParseJsonStrict(text, &w, kWatermarkJsonLimits); !st.ok()) {
    return Status::Corruption(name + ": " + st.message());
  }
  if (w.version() != kWatermarkVersion) {
    return Status::InvalidInput(name + " has version " + std::to_string(w.version()) +
                                "; this hallmarkd reads version " +
                                std::to_string(kWatermarkVersion));
  }
  if (w.chain_id() != owner.chain_id) {
    return Status::InvalidInput(name + " belongs to chain \"" + w.chain_id() +
                                "\", not to this node's chain \"" + owner.chain_id +
                                "\": it is another validator's file");
  }
  if (w.validator_key() != owner.validator.Hex()) {
    return Status::InvalidInput(name + " guards the key " + w.validator_key().substr(0, 16) +
                                "…, not this node's key " + owner.validator.Hex().substr(0, 16) +
                                "…: it is another validator's file");
  }
  if (!w.has_state()) return Status::Corruption(name + ": no state");
  auto state = FromRecord(w.state());
  if (!state.ok()) return Status::Corruption(name + ": " + state.status().message());
  WatermarkFile file;
  file.state = std::move(state).value();
  if (w.restored()) file.restored = RestoreMark{w.restored_from_height()};
  return file;
}

core::Result<std::optional<WatermarkFile>> ReadWatermarkFile(const std::filesystem::path& path,
                                                             const WatermarkOwner& owner) {
  auto text = core::ReadSecretFile(path, kWatermarkJsonLimits.bytes_max, "signer watermark");
  if (!text.ok()) {
    if (text.status().code() == core::StatusCode::kNotFound) {
      return std::optional<WatermarkFile>();
    }
    return text.status();
  }
  auto file = ParseWatermark(*text, owner, path.string());
  if (!file.ok()) return file.status();
  return std::optional<WatermarkFile>(std::move(file).value());
}

core::Result<std::optional<consensus::SignerState>> ReadWatermark(const std::filesystem::path& path,
                                                                  const WatermarkOwner& owner) {
  auto file = ReadWatermarkFile(path, owner);
  if (!file.ok()) return file.status();
  if (!file->has_value()) return std::optional<consensus::SignerState>();
  return std::optional<consensus::SignerState>((*file)->state);
}

Status WriteWatermark(const std::filesystem::path& path, const WatermarkOwner& owner,
                      const consensus::SignerState& state, std::optional<RestoreMark> restored) {
  return WriteFileDurably(path, EncodeWatermark(owner, state, restored));
}

SignerStateChoice ChooseSignerState(const std::optional<consensus::SignerState>& watermark,
                                    const std::optional<consensus::SignerState>& data_folder) {
  using enum SignerStateSource;
  if (!watermark && !data_folder) return {kAbstainNone, std::nullopt, false};
  // The data folder alone may be an old copy, and nothing tells which: abstain.
  if (!watermark) return {kAbstainNoMark, std::nullopt, false};
  // The watermark is written before the data folder and before anything leaves: it is at least
  // as new as anything sent, so a wiped data folder loses nothing.
  if (!data_folder) return {kWatermark, watermark, false};
  const auto w = Position(*watermark);
  const auto d = Position(*data_folder);
  if (w > d) return {kWatermark, watermark, false};
  if (d > w) return {kDataFolder, data_folder, true};
  if (*watermark == *data_folder) return {kBothAgree, watermark, false};
  // One (height, round, step), two different states: the same key signed in two lives (a copy
  // of this validator ran elsewhere), and neither file knows all it signed.
  return {kAbstainConflict, std::nullopt, false};
}

std::string DescribeSignerState(const consensus::SignerState& s) {
  return "h=" + std::to_string(s.height) + " r=" + std::to_string(s.round) +
         " step=" + std::to_string(s.step);
}

}  // namespace hallmark::node
