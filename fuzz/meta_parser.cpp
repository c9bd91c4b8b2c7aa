// libFuzzer target: the parser of a POSIX store's `X.meta` files (what
// depotd reads back from disk, and fsck from a damaged one). Anything must
// decode or be refused, never crash; what decodes must encode to bytes that
// decode to the same metadata.

#include "storage/meta_file.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace depot::storage;
  if (size > max_meta_bytes) return 0;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  stored_meta m;
  if (!decode_meta(bytes, &m)) return 0;
  stored_meta again;
  if (!decode_meta(encode_meta(m), &again)) __builtin_trap();
  if (again.name != m.name || again.size != m.size ||
      again.sha256 != m.sha256 || again.mime != m.mime ||
      again.created != m.created || again.gen != m.gen)
    __builtin_trap();
  return 0;
}
