#include "storage/layout.hpp"

#include "schema/validate.hpp"
#include "storage/naming.hpp"

#include <algorithm>
#include <stdexcept>
#include <sys/random.h>

namespace depot::storage {

object_paths paths_of(const std::string& root, const std::string& id) {
  return {root + "/" + id.substr(0, 2) + "/" + id.substr(2, 2),
          id.substr(shard_digits)};
}

std::string l1_dir(const std::string& root, const std::string& id) {
  return root + "/" + id.substr(0, 2);
}

shard_index shard_of(const std::string& id) {
  auto digit = [&](size_t i) {
    return static_cast<size_t>(base62_value(id[i]));
  };
  size_t l1 = digit(0) * 62 + digit(1);
  size_t l2 = l1 * l1_shards + digit(2) * 62 + digit(3);
  return {l1, l2};
}

bool is_id_part(const std::string& name, size_t length) {
  return name.size() == length &&
         std::all_of(name.begin(), name.end(), schema::is_file_id_char);
}

std::vector<std::string> with_prefix(const std::vector<std::string>& names,
                                     const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& n : names)
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(n);
  return out;
}

size_t count_prefixed(const std::vector<std::string>& names,
                      const std::string& prefix) {
  return static_cast<size_t>(
      std::count_if(names.begin(), names.end(), [&](const std::string& n) {
        return n.compare(0, prefix.size(), prefix) == 0;
      }));
}

std::string random_hex(size_t digits) {
  uint8_t bytes[32];
  size_t n = std::min(sizeof bytes, (digits + 1) / 2);
  if (::getrandom(bytes, n, 0) != static_cast<ssize_t>(n))
    throw std::runtime_error("getrandom failed");
  return schema::to_hex(bytes, n).substr(0, digits);
}

}  // namespace depot::storage
