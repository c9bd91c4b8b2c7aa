#include "storage/staging_area.hpp"

#include "storage/io_error.hpp"
#include "storage/layout.hpp"

namespace depot::storage {

schema::expected<std::unique_ptr<staging_area>> staging_area::open(
    file_system& fs, const std::string& staging_root) {
  std::string instance = random_hex(16);
  std::string dir = staging_root + "/" + instance;
  std::string forming = dir + ".tmp";
  std::unique_ptr<file_lock> lock;
  if (int err = fs.mkdir(forming)) return io_failure(err, "mkdir", forming);
  if (int err = fs.try_lock(forming + "/lock", true, &lock))
    return io_failure(err, "lock", forming + "/lock");
  if (int err = fs.rename(forming, dir))
    return io_failure(err, "rename", forming);
  return std::unique_ptr<staging_area>{
      new staging_area(std::move(instance), std::move(dir), std::move(lock))};
}

}  // namespace depot::storage
