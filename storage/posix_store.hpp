#pragma once

#include "storage/file_system.hpp"
#include "storage/store.hpp"

#include <memory>
#include <optional>
#include <string>

namespace depot::storage {

/// How to open a store on a POSIX file system.
struct posix_store_options {
  std::string root;                 ///< created if missing; not a symlink
  std::optional<unsigned> id_bits;  ///< narrows ids (collision tests only)
  uint32_t max_candidates = 16;     ///< naming candidates tried (>= 16)
  std::shared_ptr<file_system> fs;  ///< default: the real one
  /// A batch commit of at most this many bytes is flushed with one syncfs
  /// per barrier; a larger one file by file.
  uint64_t group_sync_max_bytes = uint64_t{64} << 20;
};

/// Opens (creating if needed) the store at `options.root`.
///
/// Layout: id `abcdEFGH1234` is the file `ROOT/ab/cd/EFGH1234` (its bytes),
/// beside `EFGH1234.meta` (its metadata, immutable, written first: the claim
/// on the id), one `EFGH1234.r.GEN.TOKEN` per reference (a
/// hard link, so a reference costs a name, not an inode), and
/// `EFGH1234.dead` while a delete of the last reference is deciding.
/// Each process keeps `ROOT/.staging/INSTANCE/` under an flock: its temp
/// files and a journal of operations in flight. Opening recovers what dead
/// instances left (their staging files removed, their unfinished operations
/// rolled back) and logs what it did.
schema::expected<std::shared_ptr<store>> open_posix_store(
    posix_store_options options);

}  // namespace depot::storage
