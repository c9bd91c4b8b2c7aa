#pragma once

// The file-system operations the store is built on, behind an interface so
// that tests can inject faults (storage/fault_fs.hpp). Every operation
// returns 0 or an errno value; errno becomes a depot error in one place only
// (storage/io_error.hpp). All implementations are safe for concurrent use
// from several threads; a file object is used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace depot::storage {

/// What direct I/O needs aligned: buffer addresses, sizes and file offsets
/// (the largest logical block size of the disks we meet).
inline constexpr size_t direct_io_align = 4096;

/// A file open for appending.
class writable_file {
 public:
  virtual ~writable_file() = default;
  /// Appends all `size` bytes (short writes are retried inside). EINVAL
  /// (direct I/O refused) only when none of them were written.
  virtual int append(const void* data, size_t size) = 0;
  /// Asks the kernel to start writing back [offset, offset+size) now, so
  /// the final flush has less to do. Advisory: failures are ignored.
  virtual void start_writeback(uint64_t offset, uint64_t size) = 0;
  /// Turns direct I/O (O_DIRECT: past the page cache) on or off. While it is
  /// on, append() takes whole blocks only: `data` aligned to direct_io_align,
  /// `size` and the file's size multiples of it. An errno (EINVAL) where the
  /// file system has no direct I/O.
  virtual int set_direct(bool on) = 0;
  /// Flushes data (and the size) to stable storage: fdatasync.
  virtual int sync() = 0;
  /// Closes the descriptor; further calls fail with EBADF.
  virtual int close() = 0;
};

/// A file open for positional reads.
class readable_file {
 public:
  virtual ~readable_file() = default;
  /// Reads up to `size` bytes at `offset` into `out`; `*got` is how many
  /// (fewer only at the end of the file).
  virtual int read_at(uint64_t offset, size_t size, std::byte* out,
                      size_t* got) = 0;
  /// The file's size when it was opened.
  virtual uint64_t size() const = 0;
  /// Maps `size` bytes at `offset` (within the file) read-only and loads
  /// them, so that `*out` points at the file's bytes without a copy and
  /// keeps the mapping until its last copy goes. A read error is an error
  /// here, not a SIGBUS in whoever touches the bytes (the one way left to
  /// one: the kernel reclaims the loaded pages before they are sent and the
  /// disk then fails to read them again). Stored files are never truncated.
  /// ENOTSUP where mapping cannot be had: use read_at.
  virtual int map(uint64_t offset, size_t size,
                  std::shared_ptr<const std::byte>* out) = 0;
};

/// An exclusive advisory lock, released on destruction.
class file_lock {
 public:
  virtual ~file_lock() = default;
};

/// What `stat` tells about a path (not following a final symlink).
struct file_status {
  bool is_dir = false;
  bool is_symlink = false;
  bool is_regular = false;
  uint64_t size = 0;
  uint64_t inode = 0;  ///< st_ino: names with the same one are hard links
  uint64_t links = 0;  ///< st_nlink
};

/// The operations, named after their POSIX calls.
class file_system {
 public:
  virtual ~file_system() = default;

  /// Creates `path` (O_CREAT|O_EXCL) read-only for everyone, open for writing.
  virtual int create_exclusive(const std::string& path, bool append_mode,
                               std::unique_ptr<writable_file>* out) = 0;
  /// Opens an existing file for reading.
  virtual int open_read(const std::string& path,
                        std::unique_ptr<readable_file>* out) = 0;
  /// Reads a whole small file (at most `max` bytes, else EFBIG).
  virtual int read_small(const std::string& path, size_t max,
                         std::string* out) = 0;
  /// link(2): EEXIST when `to` exists, whatever it holds.
  virtual int link(const std::string& from, const std::string& to) = 0;
  virtual int unlink(const std::string& path) = 0;
  /// mkdir(2) with 0755: EEXIST when it exists.
  virtual int mkdir(const std::string& path) = 0;
  virtual int rmdir(const std::string& path) = 0;
  /// Flushes everything written to the file system holding `path` (syncfs).
  virtual int sync_fs(const std::string& path) = 0;
  /// Flushes a directory's entries to stable storage.
  virtual int sync_dir(const std::string& path) = 0;
  /// The names in a directory, without "." and "..", in no order; with
  /// `symlinks`, those of them that are symbolic links too (from the
  /// listing itself where the file system tells types, as ext4 and XFS do).
  virtual int list_dir(const std::string& path, std::vector<std::string>* names,
                       std::vector<std::string>* symlinks) = 0;
  /// The names alone.
  int list_dir(const std::string& path, std::vector<std::string>* names) {
    return list_dir(path, names, nullptr);
  }
  /// lstat(2).
  virtual int stat(const std::string& path, file_status* out) = 0;
  /// rename(2).
  virtual int rename(const std::string& from, const std::string& to) = 0;
  /// Moves `from` to `to` unless `to` exists (EEXIST, nothing moved):
  /// renameat2 with RENAME_NOREPLACE, or link and unlink where the file
  /// system lacks it.
  virtual int rename_exclusive(const std::string& from,
                               const std::string& to) = 0;
  /// Takes an exclusive flock on `path` without waiting: EWOULDBLOCK while
  /// another open file description holds it. With `create`, a missing file
  /// is created; without, it is ENOENT.
  virtual int try_lock(const std::string& path, bool create,
                       std::unique_ptr<file_lock>* out) = 0;
};

/// The real file system, taking paths as the kernel does (symlinks
/// followed). For tests and tools; a store uses the confined one below.
std::shared_ptr<file_system> posix_file_system();

/// The real file system confined to `root`: every path must be `root` or
/// lie beneath it (else EXDEV), and nothing below `root` is reached through
/// a symlink: each path is resolved with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS) from a descriptor on `root` (opened on first use,
/// itself not a symlink), and the final name is never followed (a planted
/// symlink is ELOOP to open, and is itself what unlink, link, rename and
/// stat act on). Refusals (ELOOP, EXDEV) are logged with the path.
std::shared_ptr<file_system> posix_file_system_beneath(std::string root);

}  // namespace depot::storage
