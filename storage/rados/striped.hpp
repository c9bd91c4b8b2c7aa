#pragma once

// A file's bytes in RADOS: data objects of `stripe` bytes each (the last
// may hold fewer) named by the file's token, `d.TOKEN.0`, `d.TOKEN.1`, ...
// No object exceeds the OSD's object size limit whatever the file's size.
// Writes and reads go through librados' asynchronous calls with several
// operations in flight; a range read touches only the objects that hold it.

#include "storage/rados/index.hpp"
#include "storage/rados/leases.hpp"
#include "storage/rados/rados_io.hpp"
#include "storage/store.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace depot::storage::rados {

/// What the RADOS store's parts share; outlives every staging file and
/// reader it made.
struct backend {
  std::shared_ptr<pool> objects;
  std::unique_ptr<lease_keeper> leases;
  uint64_t stripe = 0;        ///< bytes per data object
  uint64_t first_write = 0;   ///< bytes an upload holds before writing
  uint64_t write_window = 0;  ///< bytes one upload has in flight, at most
};

/// The value a lease records under a key: the data objects that may exist
/// and the id whose entry would reference them if they were committed
/// ("-": none yet). The data objects are those of token `data` if given,
/// else of the key itself (an upload's own token).
std::string lease_value(uint64_t parts, const std::string& id,
                        const std::string& data = "");

/// Removes data objects 0..parts-1 of `token` (absent ones are fine), all
/// at once; 0 or the first -errno.
int remove_data(rados_ioctx_t io, const std::string& token, uint64_t parts);

/// An upload's bytes on their way into RADOS, under the instance's lease:
/// up to backend::first_write bytes wait in RAM (a small upload is written
/// whole at stage()); past them, each append is written at once at its
/// offset in its data object, asynchronously, with at most
/// backend::write_window bytes in flight. RAM held: at most first_write
/// bytes, then at most write_window bytes (librados' copies).
class striped_staging final : public staging_file {
 public:
  explicit striped_staging(std::shared_ptr<backend> b);
  /// Not committed: its data objects are removed and its token forgotten.
  ~striped_staging() override;

  caf::error append(const std::byte* data, size_t size) override;
  uint64_t size() const override { return size_; }

  const std::string& token() const { return token_; }
  const backend& owner() const { return *b_; }
  /// Data objects this upload needs.
  uint64_t parts() const;
  /// Starts writing what is buffered (a small upload's bytes). Its lease must
  /// already record every part: stage() records them for the whole batch
  /// in one operation, then flushes and drains every upload.
  caf::error flush();
  /// Waits for every write started: then all its data objects exist.
  caf::error drain();
  /// The data now belongs to a stored file (or was removed by the caller):
  /// the destructor leaves it.
  void release() { released_ = true; }

 private:
  caf::error write(const char* data, size_t size);
  caf::error wait_oldest();

  std::shared_ptr<backend> b_;
  std::string token_;
  std::vector<char> buffer_;       ///< the first bytes, until written
  uint64_t size_ = 0;              ///< bytes appended
  uint64_t written_ = 0;           ///< bytes whose writes started
  uint64_t parts_registered_ = 0;  ///< parts the lease records
  bool noted_ = false;  ///< the lease records the token (see flush())
  struct in_flight {
    std::unique_ptr<completion> done;
    uint64_t part;
    size_t bytes;
  };
  std::deque<in_flight> in_flight_;
  uint64_t in_flight_bytes_ = 0;
  caf::error error_;
  bool released_ = false;
};

/// A stored file open for reading.
class striped_reader final : public object_reader {
 public:
  striped_reader(std::shared_ptr<backend> b, std::string id, std::string token,
                 uint64_t size, uint64_t stripe);
  uint64_t size() const override { return size_; }
  schema::expected<size_t> read(uint64_t offset, size_t length,
                                std::byte* out) override;
  schema::expected<schema::buffer> view(uint64_t offset,
                                        size_t length) override;

 private:
  std::shared_ptr<backend> b_;
  std::string id_, token_;
  uint64_t size_, stripe_;
};

}  // namespace depot::storage::rados
