#include "client/local_io.hpp"

#include "storage/sha256.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <istream>
#include <ostream>
#include <random>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace depot::client::detail {
namespace {

constexpr size_t hash_block = 1 << 20;

// read() until `n` bytes or the end; EINTR is retried.
result<size_t> read_fully(int fd, std::byte* dst, size_t n,
                          const std::string& label) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, dst + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "cannot read " + label);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

result<void> write_fully(int fd, const std::byte* data, size_t n,
                         const std::string& label) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "cannot write " + label);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

class file_source final : public source {
 public:
  file_source(int fd, std::string path, bool seekable)
      : fd_(fd), path_(std::move(path)), seekable_(seekable) {}
  ~file_source() override { ::close(fd_); }

  result<size_t> read(std::byte* dst, size_t n) override {
    return read_fully(fd_, dst, n, path_);
  }

  bool rewind() override { return seekable_ && ::lseek(fd_, 0, SEEK_SET) == 0; }

  // Size and digest of a regular file, then back to its start.
  result<void> hash() {
    storage::sha256 h;
    std::vector<std::byte> block(hash_block);
    uint64_t total = 0;
    while (true) {
      auto n = read_fully(fd_, block.data(), block.size(), path_);
      if (!n) return std::move(n).error();
      if (*n == 0) break;
      h.update(block.data(), *n);
      total += *n;
    }
    if (!rewind()) return errno_error(errno, "cannot seek in " + path_);
    size = total;
    sha256 = storage::to_hex(h.finish());
    return {};
  }

 private:
  int fd_;
  std::string path_;
  bool seekable_;
};

class stream_source final : public source {
 public:
  explicit stream_source(std::istream& in) : in_(in) {}

  result<size_t> read(std::byte* dst, size_t n) override {
    if (in_.bad())
      return error{errc::io_error, "the input stream failed",
                   error_source::local};
    if (in_.eof()) return size_t{0};
    in_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (in_.bad())
      return error{errc::io_error, "the input stream failed",
                   error_source::local};
    return static_cast<size_t>(in_.gcount());
  }

  bool rewind() override {
    if (!start_) return false;
    in_.clear();
    in_.seekg(*start_);
    return !in_.fail();
  }

  // If the stream can seek: its remaining size and digest, then back.
  result<void> probe() {
    std::streampos start = in_.tellg();
    if (start == std::streampos(-1)) {
      in_.clear(in_.rdstate() & ~std::ios::failbit);
      return {};
    }
    start_ = start;
    storage::sha256 h;
    std::vector<std::byte> block(hash_block);
    uint64_t total = 0;
    while (true) {
      auto n = read(block.data(), block.size());
      if (!n) return std::move(n).error();
      if (*n == 0) break;
      h.update(block.data(), *n);
      total += *n;
    }
    if (!rewind()) {
      // Reads worked but seeking back does not: treat it as a pipe.
      return error{errc::io_error, "cannot seek back in the input stream",
                   error_source::local};
    }
    size = total;
    sha256 = storage::to_hex(h.finish());
    return {};
  }

 private:
  std::istream& in_;
  std::optional<std::streampos> start_;
};

class file_sink final : public sink {
 public:
  file_sink(int fd, std::string temp, std::string path, bool overwrite)
      : fd_(fd),
        temp_(std::move(temp)),
        path_(std::move(path)),
        overwrite_(overwrite) {}

  ~file_sink() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  result<void> write(const std::byte* data, size_t n) override {
    return write_fully(fd_, data, n, temp_);
  }

  result<void> commit() override {
    if (::fsync(fd_) != 0) return errno_error(errno, "cannot flush " + temp_);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return errno_error(errno, "cannot close " + temp_);
    if (overwrite_) {
      if (::rename(temp_.c_str(), path_.c_str()) != 0)
        return errno_error(errno, "cannot rename " + temp_ + " to " + path_);
    } else {
      // link() refuses an existing target: no check-then-replace race.
      if (::link(temp_.c_str(), path_.c_str()) != 0)
        return errno_error(errno, "cannot create " + path_);
      ::unlink(temp_.c_str());
    }
    committed_ = true;
    // The rename is durable once the directory is flushed too.
    std::string dir = directory_of(path_);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return {};
  }

  static std::string directory_of(const std::string& path) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
  }

 private:
  int fd_;
  std::string temp_;
  std::string path_;
  bool overwrite_;
  bool committed_ = false;
};

class stream_sink final : public sink {
 public:
  explicit stream_sink(std::ostream& out) : out_(out) {}

  result<void> write(const std::byte* data, size_t n) override {
    out_.write(reinterpret_cast<const char*>(data),
               static_cast<std::streamsize>(n));
    if (!out_)
      return error{errc::io_error, "the output stream failed",
                   error_source::local};
    return {};
  }

  result<void> commit() override {
    out_.flush();
    if (!out_)
      return error{errc::io_error, "the output stream failed",
                   error_source::local};
    return {};
  }

 private:
  std::ostream& out_;
};

std::string random_suffix() {
  static constexpr char digits[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::string out(6, '0');
  for (char& c : out) c = digits[rd() % 62];
  return out;
}

}  // namespace

error errno_error(int err, const std::string& what) {
  return {errc::io_error, what + ": " + std::strerror(err),
          error_source::local};
}

result<std::unique_ptr<source>> open_file_source(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(errno, "cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_error(err, "cannot stat " + path);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return errno_error(EISDIR, "cannot upload " + path);
  }
  bool regular = S_ISREG(st.st_mode);
  auto src = std::make_unique<file_source>(fd, path, regular);
  if (regular) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (auto hashed = src->hash(); !hashed) return std::move(hashed).error();
  }
  return std::unique_ptr<source>{std::move(src)};
}

result<std::unique_ptr<source>> open_stream_source(std::istream& in) {
  auto src = std::make_unique<stream_source>(in);
  if (auto probed = src->probe(); !probed) return std::move(probed).error();
  return std::unique_ptr<source>{std::move(src)};
}

result<std::unique_ptr<sink>> open_file_sink(const std::string& path,
                                             bool overwrite) {
  if (!overwrite && ::access(path.c_str(), F_OK) == 0)
    return errno_error(EEXIST, "cannot create " + path);
  // O_EXCL with a random name, not mkstemp: the file gets the usual
  // 0666 & ~umask mode instead of mkstemp's 0600.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string temp = path + ".depot-tmp-" + random_suffix();
    int fd =
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0)
      return std::unique_ptr<sink>{
          std::make_unique<file_sink>(fd, temp, path, overwrite)};
    if (errno != EEXIST) return errno_error(errno, "cannot create " + temp);
  }
  return errno_error(EEXIST, "cannot create a temp file beside " + path);
}

std::unique_ptr<sink> make_stream_sink(std::ostream& out) {
  return std::make_unique<stream_sink>(out);
}

}  // namespace depot::client::detail
