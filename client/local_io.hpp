#pragma once

// Internal to the client library: the local side of transfers. Sources
// yield the bytes of an upload, sinks take the bytes of a download. errno
// becomes an error value here and nowhere else in client/. Not thread safe.

#include "client/client.hpp"

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

namespace depot::client::detail {

/// io_error: "`what`: strerror(err)".
error errno_error(int err, const std::string& what);

/// The bytes of an upload, read front to back.
class source {
 public:
  virtual ~source() = default;

  /// Fills `dst` with up to `n` bytes; fewer only at the end, 0 at the end.
  virtual result<size_t> read(std::byte* dst, size_t n) = 0;

  /// Back to the first byte, to start an upload over. False if the source
  /// cannot be read again (a pipe).
  virtual bool rewind() = 0;

  /// SHA-256 (64 lowercase hex digits) of the bytes read since the start or
  /// the last rewind(), if this source hashes what it reads (a regular
  /// file); nullopt otherwise. Call it once, after the last read.
  virtual std::optional<std::string> read_digest() { return std::nullopt; }

  /// Whether the input is still what was read: for a regular file, its
  /// size and modification and change times are those seen when it was
  /// opened. Errors: io_error "PATH changed while it was uploaded".
  virtual result<void> check_unchanged() { return {}; }

  /// Total bytes, when known in advance (declared as `size`).
  std::optional<uint64_t> size;
  /// SHA-256 as 64 lowercase hex digits, when known (declared as `sha256`).
  std::optional<std::string> sha256;
};

/// The file at `path`. A regular file declares its size (from fstat, no
/// sha256), is hashed as it is read (read_digest) and can rewind; anything
/// else (a pipe, /dev/stdin on a terminal) is read once, as it comes.
/// Errors: io_error.
result<std::unique_ptr<source>> open_file_source(const std::string& path);

/// The rest of `in`. If `in` can seek, it is hashed first and can rewind.
/// Errors: io_error if the stream fails while being hashed.
result<std::unique_ptr<source>> open_stream_source(std::istream& in);

/// Where a download's bytes go, in order.
class sink {
 public:
  virtual ~sink() = default;

  /// Appends `n` bytes. Errors: io_error.
  virtual result<void> write(const std::byte* data, size_t n) = 0;

  /// Makes the bytes final (after verification). Errors: io_error.
  virtual result<void> commit() = 0;
};

/// A temp file `path.depot-tmp-XXXXXX` beside `path`, written with O_DIRECT
/// where the file system allows it (no page cache: see local_io.cpp);
/// commit() flushes it to disk and renames it onto `path` (with !overwrite:
/// fails with io_error if `path` exists, atomically). Destroyed
/// uncommitted, it removes the temp file. An existing `path` that is not a
/// regular file or directory (/dev/null, a FIFO) is written into directly
/// and never replaced. Errors: io_error (also if !overwrite and a regular
/// `path` exists now).
result<std::unique_ptr<sink>> open_file_sink(const std::string& path,
                                             bool overwrite);

/// Writes to `out`; commit() flushes it.
std::unique_ptr<sink> make_stream_sink(std::ostream& out);

}  // namespace depot::client::detail
