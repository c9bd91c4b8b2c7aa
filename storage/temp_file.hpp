#pragma once

// Files in a POSIX store's staging area before they are moved into place:
// the guard every temp file is held by, and the staging_file that upload
// bytes are appended to. One thread at a time each.

#include "schema/error.hpp"
#include "storage/file_system.hpp"
#include "storage/posix_store.hpp"
#include "storage/store.hpp"

#include <cstdlib>
#include <memory>
#include <string>

namespace depot::storage {

/// A temp file at a path of its own, removed when the guard goes unless it
/// was moved into place (or never created).
class temp_file {
 public:
  /// A guard for `path`, which does not exist yet. `fs` outlives the guard.
  temp_file(file_system& fs, std::string path);
  /// A guard for `path`, which the caller has just created.
  static temp_file adopt(file_system& fs, std::string path);
  temp_file(temp_file&& other) noexcept;
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  temp_file& operator=(temp_file&&) = delete;
  ~temp_file();

  /// Creates the file exclusively with `bytes` as its content, flushed to
  /// stable storage if `flush`. io_error on failure.
  caf::error write(const std::string& bytes, bool flush);

  /// Renames the file to `to` unless `to` exists: 0, else the errno
  /// (EEXIST: nothing moved, the file is still ours).
  int move_to(const std::string& to);

  /// Renames the file to `to`, replacing whatever is there: 0, else the
  /// errno (the file is still ours).
  int replace(const std::string& to);

  /// Leaves the file in place for good: the guard no longer removes it.
  void release() { owned_ = false; }

  /// Where the file is (until moved).
  const std::string& path() const { return path_; }

 private:
  file_system* fs_;
  std::string path_;
  bool owned_ = false;  // exists at path_ and is ours to remove
};

/// The POSIX store's staging_file: a temp file appended to, with writeback
/// of the cached part started every few MiB so that the final flush has less
/// to do, and direct I/O past staging_direct_from (posix_store.hpp).
class posix_staging final : public staging_file {
 public:
  /// Takes over `file`, just created at `path`; `fs` must outlive this.
  /// Without `direct_io`, every byte goes through the page cache.
  posix_staging(std::shared_ptr<file_system> fs, std::string path,
                std::unique_ptr<writable_file> file, bool direct_io);
  ~posix_staging() override;

  caf::error append(const std::byte* data, size_t size) override;
  uint64_t size() const override { return size_; }

  /// Writes what is held, flushes (if `flush`) and closes. Errors are
  /// sticky like append's: a failed flush is never retried, since the
  /// kernel may have dropped the dirty pages.
  caf::error finish(bool flush);

  /// Where the bytes are (until moved).
  const std::string& path() const { return temp_.path(); }

  /// Puts the bytes at `to` unless it exists (see temp_file::move_to).
  int move_to(const std::string& to) { return temp_.move_to(to); }

  /// Puts the bytes at `to`, replacing what is there: 0, else the errno.
  int replace(const std::string& to) { return temp_.replace(to); }

 private:
  struct free_block {
    void operator()(std::byte* p) const { std::free(p); }
  };

  // Appends through the page cache.
  caf::error write_cached(const std::byte* data, size_t size);
  // Turns direct I/O on at an aligned size, if the file system allows it.
  void start_direct();
  // Writes the block's whole direct_io_align units past the page cache
  // (through it, from now on, if the file system refuses), keeping the rest.
  caf::error write_block();
  caf::error fail(int err, const char* op);

  std::shared_ptr<file_system> fs_;
  temp_file temp_;
  std::unique_ptr<writable_file> file_;
  uint64_t size_ = 0;  // bytes appended (the last of them maybe in block_)
  uint64_t written_back_ = 0;  // writeback started up to here
  bool direct_ = false;        // direct I/O on: bytes gather in block_
  bool cached_only_ = false;   // direct I/O refused: the page cache for good
  std::unique_ptr<std::byte, free_block> block_;
  size_t block_used_ = 0;
  caf::error error_;
};

}  // namespace depot::storage
