#include "broker/storage/internal/merkle_nodes.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace safeguard::storage::internal {

absl::StatusOr<audit::Hash> StoredMerkleNodes::GetNode(int level, uint64_t index) {
  auto it = returned_.find({level, index});
  if (it != returned_.end()) return it->second;
  absl::StatusOr<audit::Hash> hash = Read(level, index);
  if (hash.ok()) returned_.emplace(std::make_pair(level, index), *hash);
  return hash;
}

absl::StatusOr<audit::Hash> StoredMerkleNodes::Read(int level, uint64_t index) {
  if (level < 0 || level >= 64 || index >= (uint64_t{1} << (63 - level))) {
    return absl::NotFoundError(absl::StrCat("Merkle node ", level, "/", index,
                                            " is outside any tree the store can hold"));
  }
  // The kept level at or below `level`, and the range of its nodes under (level, index).
  const int base = level - level % kStoredMerkleLevelStride;
  const uint64_t first = index << (level - base);
  const uint64_t count = uint64_t{1} << (level - base);
  Statement read(statements_,
                 "SELECT idx, hash FROM merkle_nodes WHERE idx >= ?1 AND idx < ?2 AND level = ?3 "
                 "ORDER BY idx");
  if (!read.status().ok()) return read.status();
  read.Bind(1, static_cast<int64_t>(first));
  read.Bind(2, static_cast<int64_t>(first + count));
  read.Bind(3, static_cast<int64_t>(base));
  auto what = [&](uint64_t at) { return absl::StrCat("Merkle node ", base, "/", at); };
  std::vector<audit::Hash> hashes;
  hashes.reserve(count);
  int rc;
  while ((rc = read.Step()) == SQLITE_ROW) {
    const uint64_t at = first + hashes.size();
    if (static_cast<uint64_t>(read.Int(0)) != at) break;
    absl::StatusOr<audit::Hash> hash = audit::HashFromBytes(read.Blob(1));
    if (!hash.ok()) {
      return absl::DataLossError(
          absl::StrCat(what(at), " is damaged in the store: ", hash.status().message()));
    }
    hashes.push_back(*hash);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return absl::UnavailableError(absl::StrCat("reading Merkle node ", level, "/", index, ": ",
                                               sqlite3_errstr(rc), " ",
                                               sqlite3_errmsg(statements_.db())));
  }
  if (hashes.size() != count) {
    return absl::NotFoundError(
        absl::StrCat(what(first + hashes.size()), " is missing from the store"));
  }
  // Hash the range up to `level`: pairs, left to right, until one is left.
  for (size_t n = hashes.size(); n > 1; n /= 2) {
    for (size_t i = 0; i < n / 2; ++i) {
      hashes[i] = audit::NodeHash(hashes[2 * i], hashes[2 * i + 1]);
    }
  }
  return hashes[0];
}

}  // namespace safeguard::storage::internal
