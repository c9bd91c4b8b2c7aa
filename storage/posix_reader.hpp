#pragma once

// The POSIX store's object_reader: a stored file open by descriptor, so
// that a delete after opening does not cut the reads short.

#include "storage/file_system.hpp"
#include "storage/store.hpp"

#include <memory>
#include <string>

namespace depot::storage {

/// Reads and views ranges of one open file. One thread at a time.
class posix_reader final : public object_reader {
 public:
  /// Takes over `file`; `path` names it in errors only.
  posix_reader(std::unique_ptr<readable_file> file, std::string path);

  uint64_t size() const override { return file_->size(); }
  schema::expected<size_t> read(uint64_t offset, size_t length,
                                std::byte* out) override;
  /// Mapped where the file system can map, else read into a copy.
  schema::expected<schema::buffer> view(uint64_t offset,
                                        size_t length) override;

 private:
  // How many of `length` bytes at `offset` there are to read.
  schema::expected<size_t> in_range(uint64_t offset, size_t length) const;

  std::unique_ptr<readable_file> file_;
  std::string path_;
};

}  // namespace depot::storage
