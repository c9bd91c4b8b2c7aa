#pragma once

// The content-addressed object store: what depot keeps. actors/ program
// against this interface only; storage/posix_store.hpp implements it on a
// POSIX file system, and any other backend (an object store such as Ceph
// RADOS) implements the same virtual methods and nothing else: the
// non-virtual helpers below are written once on top of them.

#include "schema/error.hpp"
#include "schema/messages.hpp"
#include "storage/sha256.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace depot::storage {

/// An upload's bytes on their way into the store, held where no id names
/// them yet. Created by one store's create_staging() and consumed by that
/// store's stage(); destroying it uncommitted discards the bytes. One thread
/// at a time.
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
  /// Naming candidates passed over because other content held them.
  uint32_t collisions = 0;
};

/// One upload of a batch commit.
struct commit_request {
  std::unique_ptr<staging_file> staged;  ///< from the same store
  commit_info info;
};

/// One result per request of a batch, in the order of the requests.
using commit_results = std::vector<schema::expected<commit_result>>;

/// The outcome of a ranged read.
struct read_result {
  uint64_t file_size = 0;  ///< the whole file's size
  size_t bytes = 0;        ///< bytes written to the caller's buffer
};

/// A stored file open for reading: a snapshot, which a later delete does not
/// cut short. One thread at a time; it may outlive its store.
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
  /// The same range as a shared immutable buffer, without a copy where the
  /// backend can lend its bytes (a mapping), else copied; same errors.
  virtual schema::expected<schema::buffer> view(uint64_t offset,
                                                size_t length) = 0;
  /// The same range read into a buffer of its own (one read()): for small
  /// ranges, which are cheaper copied than lent.
  schema::expected<schema::buffer> copy(uint64_t offset, size_t length);
};

/// One page of `list`.
struct list_page {
  std::vector<schema::file_meta> files;
  std::optional<std::string> next;  ///< nil when there are no more
};

/// A batch of uploads between the steps of a group commit (see
/// store::stage). Owns the batch's staging files. Used by one thread at a
/// time, each step at most once and in order; it must not outlive its store.
/// Every result it gives is final: nothing is retried behind the caller. A
/// step taken without the barrier needs_barrier() asked for fails its
/// uploads (internal) rather than acknowledge what may not be durable.
class staged_batch {
 public:
  virtual ~staged_batch() = default;

  /// Whether the caller must run store::barrier() before the next step
  /// (place, then settle). False when the batch makes itself durable
  /// (it flushes file by file, or the backend's writes are durable when
  /// they return) or has nothing left to make durable.
  virtual bool needs_barrier() const = 0;

  /// Puts each upload in place under its content's id, walking the naming
  /// candidates (same content already stored: one more reference, no second
  /// copy). Nothing is acknowledged yet. `barrier_failure` is the error of
  /// the barrier run since stage(), or none (no barrier was needed, or it
  /// succeeded); a failure fails every upload and places nothing.
  virtual void place(const caf::error& barrier_failure) = 0;

  /// The batch's results, in the order of its requests: each upload is
  /// either stored, durable and visible (the file, its metadata and the new
  /// reference survive a crash or power loss) or failed with nothing of it
  /// left visible. `barrier_failure` is the error of the barrier run since
  /// place(), or none; a failure rolls back every placed upload.
  virtual commit_results settle(const caf::error& barrier_failure) = 0;
};

/// The store. Every method is safe to call from several threads at once,
/// and several processes may share one store. Methods block on I/O.
/// Errors are depot errors: not_found, out_of_range, name_exhausted, busy,
/// io_error (nothing partial is left visible), bad_request (a malformed id),
/// internal (a caller broke a contract stated here).
class store {
 public:
  virtual ~store() = default;

  /// A new, empty staging file.
  virtual schema::expected<std::unique_ptr<staging_file>> create_staging() = 0;

  /// First step of a group commit, which lets one durability barrier serve
  /// two batches: stage(B) writes B's bytes and metadata; barrier() makes
  /// them durable, together with the placements of the batch placed before;
  /// B->place() puts B in place; after the next barrier(), B->settle() gives
  /// B's results. commit_batch() below is exactly these steps for one batch.
  /// Never null; an upload that fails here (e.g. a staging file of another
  /// store: internal) fails in settle()'s results, the others go on.
  virtual std::unique_ptr<staged_batch> stage(
      std::vector<commit_request> requests) = 0;

  /// Makes durable everything every batch of this store wrote before the
  /// call began (see stage). Returns the error that the next step of those
  /// batches must be given. A no-op for a backend whose writes are durable
  /// when they return (its batches then never need it).
  virtual caf::error barrier() = 0;

  /// Commits a batch: stage(), then place() and settle() each after a
  /// barrier() when the batch needs one. Results in the order of
  /// `requests`; each one succeeds or fails on its own. Returns only once
  /// every stored upload is durable. Written once here for every backend.
  commit_results commit_batch(std::vector<commit_request> requests);

  /// Commits one upload as commit_batch() does. `staged` is consumed either
  /// way; `info.sha256` must be the digest of the staged bytes.
  schema::expected<commit_result> commit(std::unique_ptr<staging_file> staged,
                                         const commit_info& info);

  /// A stored file's metadata.
  virtual schema::expected<schema::file_meta> stat(const std::string& id) = 0;

  /// Opens a stored file for ranged reads (a snapshot: a delete after
  /// this does not cut the reads short).
  virtual schema::expected<std::unique_ptr<object_reader>> open(
      const std::string& id) = 0;

  /// Reads up to `length` bytes at `offset` into `out` (which has room for
  /// `length`): open() then one read.
  schema::expected<read_result> read(const std::string& id, uint64_t offset,
                                     size_t length, std::byte* out);

  /// Takes one reference away, durably; at zero the file and its metadata
  /// are removed. Returns the references left.
  virtual schema::expected<uint64_t> remove(const std::string& id) = 0;

  /// Stored files with ids greater than `after` in ascending byte order, at
  /// most `limit`; the work done is proportional to the page.
  virtual schema::expected<list_page> list(
      const std::optional<std::string>& after, size_t limit) = 0;
};

}  // namespace depot::storage
