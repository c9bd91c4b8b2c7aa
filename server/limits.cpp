#include "server/limits.hpp"

#include <algorithm>

namespace depot::server {

uint64_t upload_reservation(const limits& lim, std::optional<uint64_t> size) {
  // RAM mode holds up to ram_threshold; streaming mode holds a window of
  // chunks on their way to disk. At the switch to streaming, the RAM part
  // is still on its way to disk while a window of new chunks arrives.
  uint64_t most = lim.ram_threshold + lim.window * lim.chunk_max +
                  lim.chunk_max + lim.store_staging_bytes;
  return size ? std::min(*size, most) : most;
}

}  // namespace depot::server
