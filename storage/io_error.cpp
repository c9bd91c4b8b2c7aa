#include "storage/io_error.hpp"

#include <cstring>

namespace depot::storage {

caf::error io_failure(int err, std::string_view op, const std::string& path) {
  std::string text{op};
  text += ' ';
  text += path;
  text += ": ";
  text += std::strerror(err);
  return schema::make_error(schema::errc::io_error, std::move(text));
}

}  // namespace depot::storage
