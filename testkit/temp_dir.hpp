#pragma once

#include <string>

namespace depot::test {

/// A fresh directory, removed with everything in it (read-only files and
/// directories too) on destruction unless `keep`. Throws std::runtime_error
/// if it cannot be made. Not copyable.
class temp_dir {
 public:
  /// `base`/`prefix`-XXXXXX; an empty `base` is $TMPDIR, or /tmp.
  explicit temp_dir(const std::string& base = {},
                    const std::string& prefix = "depot-test",
                    bool keep = false);
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The directory, without a trailing slash.
  const std::string& path() const { return path_; }

  /// `path()/name`.
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }

 private:
  std::string path_;
  bool keep_;
};

}  // namespace depot::test
