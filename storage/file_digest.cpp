#include "storage/file_digest.hpp"

#include <memory>

namespace depot::storage {

int digest_of_file(file_system& fs, const std::string& path,
                   std::vector<std::byte>* buffer, digest* out, uint64_t* size,
                   const std::function<void(size_t)>& on_read) {
  std::unique_ptr<readable_file> f;
  if (int err = fs.open_read(path, &f)) return err;
  sha256 h;
  uint64_t offset = 0;
  for (;;) {
    size_t got = 0;
    if (int err = f->read_at(offset, buffer->size(), buffer->data(), &got))
      return err;
    if (got == 0) break;
    h.update(buffer->data(), got);
    offset += got;
    if (on_read) on_read(got);
  }
  *out = h.finish();
  *size = offset;
  return 0;
}

}  // namespace depot::storage
