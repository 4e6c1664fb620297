#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/status.h"
#include "proto/node.pb.h"

namespace hallmark::node {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "127.0.0.1:7700" or "[::1]:7700"; InvalidInput naming `field` otherwise.
core::Result<HostPort> ParseHostPort(std::string_view text, std::string_view field);

// Reads <home>/config.json through Protobuf's JSON mapping, fills defaults and checks every
// setting; each error names the setting ("config.json: peers[2].key: …").
core::Result<pb::NodeConfig> LoadConfig(const std::filesystem::path& home);

// Fills defaults and validates an in-memory config (used by LoadConfig and testnet).
core::Status ValidateConfig(pb::NodeConfig* config);

// A path from the config, relative to home unless absolute.
std::filesystem::path ResolvePath(const std::filesystem::path& home, const std::string& path);

// Writes `config` as pretty JSON, atomically.
core::Status WriteConfig(const std::filesystem::path& home, const pb::NodeConfig& config);

}  // namespace hallmark::node
