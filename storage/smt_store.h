#pragma once

// The state tree's nodes in LevelDB: each node under `prefix + node key` (node keys are
// described in docs/state-tree.md). The tree itself lives in core/smt.h and knows no LevelDB.

#include <string>
#include <string_view>

#include "core/smt.h"
#include "core/status.h"

namespace leveldb {
class DB;
class WriteBatch;
}  // namespace leveldb

namespace hallmark::storage {

// Reads state tree nodes from a LevelDB database. Thread-safe (LevelDB's Get is). The tree checks
// every node it reads against its parent's hash, so no LevelDB checksum is asked for here.
class LevelDbSmtReader final : public core::SmtNodeReader {
 public:
  // REQUIRES: `db` outlives the reader.
  LevelDbSmtReader(leveldb::DB* db, std::string_view prefix);

  core::Result<std::optional<std::string>> GetNode(std::string_view node_key) const override;

 private:
  leveldb::DB* const db_;
  const std::string prefix_;
};

// Adds the update's node writes to `batch` under `prefix`, to be written atomically with the
// rest of the block; call SparseMerkleTree::Commit only once that write has succeeded.
void PutSmtUpdate(const core::SmtUpdate& update, std::string_view prefix,
                  leveldb::WriteBatch* batch);

}  // namespace hallmark::storage
