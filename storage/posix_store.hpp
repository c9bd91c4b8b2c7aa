#pragma once

// The store on a local (or shared) POSIX file system. Every atomic step is
// an exclusive create, a rename or link that fails on an existing name, or
// an unlink of one entry. Its parts, one job per file: layout (paths),
// meta_file (the metadata codec), temp_file (staged bytes), object_table
// (claim, join, collect), journal and recovery (crash safety across
// processes), shard_dirs (directory durability), group_commit (the
// staged_batch), posix_reader (reads).

#include "storage/file_system.hpp"
#include "storage/store.hpp"

#include <memory>
#include <optional>
#include <string>

namespace depot::storage {

/// An upload's staging file takes its first staging_direct_from bytes
/// through the page cache, where the first downloads of a photo just sent
/// find them; the rest of a larger upload goes past it (direct I/O), in
/// blocks of staging_direct_block gathered in RAM: copied once, by the
/// disk, instead of into fresh page cache that the kernel must allocate,
/// write back and reclaim (a third of depotd's CPU in a 1 GiB upload).
inline constexpr uint64_t staging_direct_from = uint64_t{8} << 20;
inline constexpr size_t staging_direct_block = size_t{4} << 20;

/// How to open a store on a POSIX file system.
struct posix_store_options {
  std::string root;  ///< created if missing; not a symlink, nor .staging in it
  std::optional<unsigned> id_bits;  ///< narrows ids (collision tests only)
  uint32_t max_candidates = 16;     ///< naming candidates tried (>= 16)
  /// Default: posix_file_system_beneath(root), which never follows a
  /// symlink beneath the root (a planted one is io_error, logged).
  std::shared_ptr<file_system> fs;
  /// A batch of at most this many bytes is made durable by barrier() (one
  /// syncfs); a larger one flushes file by file and needs no barrier.
  uint64_t group_sync_max_bytes = uint64_t{64} << 20;
  /// Direct I/O past staging_direct_from (above), where the file system
  /// has it; false: everything through the page cache.
  bool direct_io = true;
};

/// Opens (creating if needed) the store at `options.root`. internal for
/// options out of range; io_error when the root cannot be used.
///
/// Layout: id `abcdEFGH1234` is the file `ROOT/ab/cd/EFGH1234` (its bytes),
/// beside `EFGH1234.meta` (its metadata, immutable, written first: the claim
/// on the id), one `EFGH1234.r.GEN.TOKEN` per reference (a
/// hard link, so a reference costs a name, not an inode), and
/// `EFGH1234.dead` while a delete of the last reference is deciding (a
/// hard link to the deleting instance's lock file, which holds its name:
/// deleting needs no free space).
/// Each process keeps `ROOT/.staging/INSTANCE/` under an flock: its temp
/// files and a journal of operations in flight. Opening recovers what dead
/// instances left (their staging files removed, their unfinished operations
/// rolled back; what recovery does is journaled too, so a recovery cut
/// short is finished by the next) and logs what it did. A clean close (the
/// last reference to the store dropped) removes the instance's directory
/// when nothing is left open, so the next opening has nothing to recover.
/// `ROOT/.quarantine/` is `depotd fsck --repair`'s (storage/fsck.hpp): the
/// store never looks in it.
schema::expected<std::shared_ptr<store>> open_posix_store(
    posix_store_options options);

}  // namespace depot::storage
