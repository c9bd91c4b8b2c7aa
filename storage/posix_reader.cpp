#include "storage/posix_reader.hpp"

#include "storage/io_error.hpp"

#include <algorithm>
#include <cerrno>

namespace depot::storage {

using schema::errc;
using schema::expected;

posix_reader::posix_reader(std::unique_ptr<readable_file> file,
                           std::string path)
    : file_(std::move(file)), path_(std::move(path)) {}

expected<size_t> posix_reader::read(uint64_t offset, size_t length,
                                    std::byte* out) {
  auto want = in_range(offset, length);
  if (!want) return want.error();
  size_t got = 0;
  if (*want > 0) {
    if (int err = file_->read_at(offset, *want, out, &got))
      return io_failure(err, "read", path_);
  }
  return got;
}

expected<schema::buffer> posix_reader::view(uint64_t offset, size_t length) {
  auto want = in_range(offset, length);
  if (!want) return want.error();
  if (*want == 0) return schema::buffer{};
  std::shared_ptr<const std::byte> bytes;
  int err = file_->map(offset, *want, &bytes);
  if (err == 0) return schema::buffer{bytes, bytes.get(), *want};
  if (err != ENOTSUP) return io_failure(err, "map", path_);
  return copy(offset, *want);
}

expected<size_t> posix_reader::in_range(uint64_t offset, size_t length) const {
  if (offset > size())
    return schema::make_error(
        errc::out_of_range, "offset " + std::to_string(offset) +
                                " is past the end (" + std::to_string(size()) +
                                " bytes)");
  return static_cast<size_t>(std::min<uint64_t>(length, size() - offset));
}

}  // namespace depot::storage
