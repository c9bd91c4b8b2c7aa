#include "storage/store.hpp"

#include <algorithm>

namespace depot::storage {

schema::expected<schema::buffer> object_reader::copy(uint64_t offset,
                                                     size_t length) {
  uint64_t left = offset < size() ? size() - offset : 0;
  std::vector<std::byte> bytes(
      static_cast<size_t>(std::min<uint64_t>(length, left)));
  auto got = read(offset, bytes.size(), bytes.data());
  if (!got) return got.error();
  bytes.resize(*got);
  return schema::buffer::from_vector(std::move(bytes));
}

commit_results store::commit_batch(std::vector<commit_request> requests) {
  auto batch = stage(std::move(requests));
  batch->place(batch->needs_barrier() ? barrier() : caf::error{});
  return batch->settle(batch->needs_barrier() ? barrier() : caf::error{});
}

schema::expected<commit_result> store::commit(
    std::unique_ptr<staging_file> staged, const commit_info& info) {
  std::vector<commit_request> one;
  one.push_back({std::move(staged), info});
  return std::move(commit_batch(std::move(one)).front());
}

schema::expected<read_result> store::read(const std::string& id,
                                          uint64_t offset, size_t length,
                                          std::byte* out) {
  auto r = open(id);
  if (!r) return r.error();
  auto n = (*r)->read(offset, length, out);
  if (!n) return n.error();
  return read_result{(*r)->size(), *n};
}

}  // namespace depot::storage
