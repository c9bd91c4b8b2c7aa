#include "testkit/temp_dir.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <stdlib.h>

namespace depot::test {

temp_dir::temp_dir(const std::string& base, const std::string& prefix,
                   bool keep)
    : keep_(keep) {
  std::string dir = base;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir = tmp && *tmp ? tmp : "/tmp";
  }
  std::string pattern = dir + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot create a temp dir under " + dir);
  path_ = pattern;
}

temp_dir::~temp_dir() {
  if (keep_) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  // Stored files are read-only; make everything removable first.
  for (auto it = fs::recursive_directory_iterator(path_, ec);
       !ec && it != fs::recursive_directory_iterator(); ++it)
    fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add,
                    ec);
  fs::remove_all(path_, ec);
}

}  // namespace depot::test
