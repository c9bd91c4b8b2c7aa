#pragma once

// The content-addressed object store: what depot keeps on disk. The
// interface is what actors/ program against; posix_store.hpp implements it
// on a local (or shared) POSIX file system, and a later implementation puts
// it on a distributed object store. Every atomic step of the POSIX one is an
// exclusive create, a link that fails on an existing name, or an unlink of
// one entry: primitives a distributed store offers atomically too.

#include "schema/error.hpp"
#include "schema/messages.hpp"
#include "storage/sha256.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace depot::storage {

/// An upload's bytes on their way into the store: a temp file on the store's
/// own file system, never visible under an id. Destroying it uncommitted
/// removes it. One thread at a time.
class staging_file {
 public:
  virtual ~staging_file() = default;
  /// Appends bytes. Errors are sticky: after one, every call fails the same.
  virtual caf::error append(const std::byte* data, size_t size) = 0;
  /// Bytes appended so far.
  virtual uint64_t size() const = 0;
};

/// What a commit records about new content.
struct commit_info {
  std::string name;         ///< original filename (validated by the caller)
  std::string mime;         ///< content type
  digest sha256{};          ///< digest of the staged bytes (the caller's hash)
  uint64_t created_ms = 0;  ///< "created", used when the content is new
};

/// The outcome of a successful commit.
struct commit_result {
  schema::file_meta file;  ///< the stored file as `stat` would answer now
  bool dedup = false;      ///< the content was already stored
};

/// One upload of a batch commit.
struct commit_request {
  std::unique_ptr<staging_file> staged;
  commit_info info;
};

/// The outcome of a ranged read.
struct read_result {
  uint64_t file_size = 0;  ///< the whole file's size
  size_t bytes = 0;        ///< bytes written to the caller's buffer
};

/// A stored file open for reading. One thread at a time.
class object_reader {
 public:
  virtual ~object_reader() = default;
  /// The file's size.
  virtual uint64_t size() const = 0;
  /// Reads up to `length` bytes at `offset` into `out` (room for `length`);
  /// fewer only at the end. `offset` equal to the size reads nothing;
  /// beyond it: out_of_range.
  virtual schema::expected<size_t> read(uint64_t offset, size_t length,
                                        std::byte* out) = 0;
  /// The same range as a buffer over the file's bytes in memory: mapped,
  /// not copied (copied only where the file system cannot map).
  virtual schema::expected<schema::buffer> view(uint64_t offset, size_t length) = 0;
  /// The same range read into a buffer of its own: for small ranges, which
  /// are cheaper copied than mapped.
  schema::expected<schema::buffer> copy(uint64_t offset, size_t length) {
    uint64_t left = offset < size() ? size() - offset : 0;
    std::vector<std::byte> bytes(static_cast<size_t>(std::min<uint64_t>(length, left)));
    auto got = read(offset, bytes.size(), bytes.data());
    if (!got) return got.error();
    bytes.resize(*got);
    return schema::buffer::from_vector(std::move(bytes));
  }
};

/// One page of `list`.
struct list_page {
  std::vector<schema::file_meta> files;
  std::optional<std::string> next;  ///< nil when there are no more
};

/// The store. Every method is safe to call from several threads at once,
/// and several processes may share one store. Methods block on disk I/O.
/// Errors are depot errors: not_found, out_of_range, name_exhausted, busy,
/// io_error (nothing partial is left visible), bad_request (a malformed id).
class store {
 public:
  virtual ~store() = default;

  /// A new, empty staging file.
  virtual schema::expected<std::unique_ptr<staging_file>> create_staging() = 0;

  /// Makes `staged` durable and visible under its content's id, walking the
  /// naming candidates (dedup: same content already stored → refs + 1, no
  /// second copy). Returns only once the file, its metadata and the new
  /// reference survive a crash or power loss. The staged file is consumed
  /// either way. `info.sha256` must be the digest of the staged bytes.
  virtual schema::expected<commit_result> commit(
      std::unique_ptr<staging_file> staged, const commit_info& info) = 0;

  /// Commits several uploads at once, as `commit` does each, sharing their
  /// flushes (group commit). Results in the order of `requests`; each one
  /// succeeds or fails on its own.
  virtual std::vector<schema::expected<commit_result>> commit_batch(
      std::vector<commit_request> requests) {
    std::vector<schema::expected<commit_result>> out;
    for (auto& r : requests) out.push_back(commit(std::move(r.staged), r.info));
    return out;
  }

  /// A group commit in stages, so that one durability barrier serves two
  /// batches: stage(B) writes B's bytes and metadata; barrier() makes them
  /// durable, together with the links of the batch placed before; place(B)
  /// links B into place; after the next barrier(), settle(B) gives B's
  /// results. commit_batch() is exactly these steps for one batch. Each
  /// step takes the outcome of the barrier before it: a failed one fails
  /// (or rolls back) the batch. The default defers everything to settle(),
  /// which calls commit_batch().
  struct group {
    virtual ~group() = default;
    /// Whether this batch needs barrier() between its steps (false once
    /// it flushes file by file, or has nothing left to flush).
    virtual bool needs_barrier() const { return false; }
  };
  virtual std::unique_ptr<group> stage(std::vector<commit_request> requests) {
    auto g = std::make_unique<deferred_group>();
    g->requests = std::move(requests);
    return g;
  }
  virtual caf::error barrier() { return {}; }
  virtual void place(group& g, const caf::error& barrier_failure) {
    (void)g;
    (void)barrier_failure;
  }
  virtual std::vector<schema::expected<commit_result>> settle(
      group& g, const caf::error& barrier_failure) {
    (void)barrier_failure;
    return commit_batch(std::move(static_cast<deferred_group&>(g).requests));
  }

  /// A stored file's metadata.
  virtual schema::expected<schema::file_meta> stat(const std::string& id) = 0;

  /// Opens a stored file for ranged reads (a snapshot: a delete after
  /// this does not cut the reads short).
  virtual schema::expected<std::unique_ptr<object_reader>> open(
      const std::string& id) = 0;

  /// Reads up to `length` bytes at `offset` into `out` (which has room for
  /// `length`): open() then one read.
  schema::expected<read_result> read(const std::string& id, uint64_t offset,
                                     size_t length, std::byte* out) {
    auto r = open(id);
    if (!r) return r.error();
    auto n = (*r)->read(offset, length, out);
    if (!n) return n.error();
    return read_result{(*r)->size(), *n};
  }

  /// Takes one reference away; at zero the file and its metadata are
  /// removed. Returns the references left.
  virtual schema::expected<uint64_t> remove(const std::string& id) = 0;

  /// Stored files with ids greater than `after` in ascending byte order, at
  /// most `limit`; the work done is proportional to the page.
  virtual schema::expected<list_page> list(
      const std::optional<std::string>& after, size_t limit) = 0;

 private:
  struct deferred_group final : group {
    std::vector<commit_request> requests;
  };
};

}  // namespace depot::storage
