#include "storage/staging_area.hpp"

#include "storage/io_error.hpp"
#include "storage/layout.hpp"
#include "storage/temp_file.hpp"

namespace depot::storage {

schema::expected<std::unique_ptr<staging_area>> staging_area::open(
    file_system& fs, const std::string& staging_root) {
  std::string instance = random_hex(16);
  std::string dir = staging_root + "/" + instance;
  std::string forming = dir + ".tmp";
  std::unique_ptr<file_lock> lock;
  if (int err = fs.mkdir(forming)) return io_failure(err, "mkdir", forming);
  // The lock file holds the instance's name: the `.dead` markers of its
  // deletes are links to it, so that marking needs no new space.
  {
    temp_file owner{fs, forming + "/lock"};
    if (auto err = owner.write(instance, false)) return err;
    owner.release();
  }
  if (int err = fs.try_lock(forming + "/lock", false, &lock))
    return io_failure(err, "lock", forming + "/lock");
  if (int err = fs.rename(forming, dir))
    return io_failure(err, "rename", forming);
  return std::unique_ptr<staging_area>{
      new staging_area(std::move(instance), std::move(dir), std::move(lock))};
}

}  // namespace depot::storage
