#include "storage/smt_store.h"

#include <leveldb/db.h>
#include <leveldb/write_batch.h>

namespace hallmark::storage {

LevelDbSmtReader::LevelDbSmtReader(leveldb::DB* db, std::string_view prefix)
    : db_(db), prefix_(prefix) {}

core::Result<std::optional<std::string>> LevelDbSmtReader::GetNode(
    std::string_view node_key) const {
  std::string key;
  key.reserve(prefix_.size() + node_key.size());
  key.append(prefix_).append(node_key);
  std::string value;
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), key, &value);
  if (s.ok()) return std::optional<std::string>(std::move(value));
  if (s.IsNotFound()) return std::optional<std::string>();
  if (s.IsCorruption()) return core::Status::Corruption("state tree node: " + s.ToString());
  return core::Status::IoError("state tree node: " + s.ToString());
}

void PutSmtUpdate(const core::SmtUpdate& update, std::string_view prefix,
                  leveldb::WriteBatch* batch) {
  std::string key;
  update.ForEachWrite([&](std::string_view node_key, std::string_view bytes) {
    key.assign(prefix).append(node_key);
    batch->Put(key, leveldb::Slice(bytes.data(), bytes.size()));
  });
}

}  // namespace hallmark::storage
