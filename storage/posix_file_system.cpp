#include "storage/file_system.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace depot::storage {
namespace {

// 0 for a call that succeeded, else the errno it left.
int errno_of(int rc) { return rc < 0 ? errno : 0; }

class posix_writable final : public writable_file {
 public:
  explicit posix_writable(int fd) : fd_(fd) {}
  ~posix_writable() override { close(); }

  int append(const void* data, size_t size) override {
    auto p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      p += n;
      size -= static_cast<size_t>(n);
    }
    return 0;
  }

  void start_writeback(uint64_t offset, uint64_t size) override {
    ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(size),
                      SYNC_FILE_RANGE_WRITE);
  }

  int sync() override { return errno_of(::fdatasync(fd_)); }

  int close() override {
    if (fd_ < 0) return EBADF;
    int rc = ::close(fd_);
    fd_ = -1;
    return rc < 0 && errno != EINTR ? errno : 0;
  }

 private:
  int fd_;
};

class posix_readable final : public readable_file {
 public:
  posix_readable(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~posix_readable() override { ::close(fd_); }

  int read_at(uint64_t offset, size_t size, std::byte* out,
              size_t* got) override {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd_, out + done, size - done,
                          static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    *got = done;
    return 0;
  }

  uint64_t size() const override { return size_; }

  int map(uint64_t offset, size_t size,
          std::shared_ptr<const std::byte>* out) override {
    static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    if (size == 0 || offset + size > size_) return EINVAL;
    const uint64_t start = offset & ~(page - 1);
    const size_t length = static_cast<size_t>(offset - start) + size;
    void* p = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_,
                     static_cast<off_t>(start));
    // ENOMEM: past vm.max_map_count (one mapping per range in flight).
    if (p == MAP_FAILED)
      return errno == ENODEV || errno == ENOMEM ? ENOTSUP : errno;
    // MADV_POPULATE_READ (Linux 5.14) reports what a fault would: EFAULT
    // past the end, EIO, ENOMEM. Older kernels say EINVAL.
    if (::madvise(p, length, MADV_POPULATE_READ) != 0) {
      int err = errno;
      ::munmap(p, length);
      return err == EINVAL ? ENOTSUP : err == EFAULT ? EIO : err;
    }
    std::shared_ptr<void> mapping{p,
                                  [length](void* q) { ::munmap(q, length); }};
    *out = {mapping, static_cast<const std::byte*>(p) + (offset - start)};
    return 0;
  }

 private:
  int fd_;
  uint64_t size_;
};

class posix_lock final : public file_lock {
 public:
  explicit posix_lock(int fd) : fd_(fd) {}
  ~posix_lock() override { ::close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

class posix_fs final : public file_system {
 public:
  int create_exclusive(const std::string& path, bool append_mode,
                       std::unique_ptr<writable_file>* out) override {
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    if (append_mode) flags |= O_APPEND;
    int fd = ::open(path.c_str(), flags, 0444);
    if (fd < 0) return errno;
    *out = std::make_unique<posix_writable>(fd);
    return 0;
  }

  int open_read(const std::string& path,
                std::unique_ptr<readable_file>* out) override {
    // Reads leave access times alone: a download must not turn into an
    // inode write. O_NOATIME needs us to own the file (we do, unless an
    // operator copied files in as someone else): EPERM means open plainly.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM)
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat st {};
    if (::fstat(fd, &st) < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    *out =
        std::make_unique<posix_readable>(fd, static_cast<uint64_t>(st.st_size));
    return 0;
  }

  int read_small(const std::string& path, size_t max,
                 std::string* out) override {
    std::unique_ptr<readable_file> f;
    if (int err = open_read(path, &f)) return err;
    if (f->size() > max) return EFBIG;
    out->resize(f->size());
    size_t got = 0;
    if (int err = f->read_at(0, out->size(),
                             reinterpret_cast<std::byte*>(out->data()), &got))
      return err;
    out->resize(got);
    return 0;
  }

  int link(const std::string& from, const std::string& to) override {
    return errno_of(::link(from.c_str(), to.c_str()));
  }

  int unlink(const std::string& path) override {
    return errno_of(::unlink(path.c_str()));
  }

  int mkdir(const std::string& path) override {
    return errno_of(::mkdir(path.c_str(), 0755));
  }

  int rmdir(const std::string& path) override {
    return errno_of(::rmdir(path.c_str()));
  }

  int sync_fs(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = errno_of(::syncfs(fd));
    ::close(fd);
    return err;
  }

  int sync_dir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = errno_of(::fsync(fd));
    ::close(fd);
    return err;
  }

  int list_dir(const std::string& path,
               std::vector<std::string>* names) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return errno;
    names->clear();
    errno = 0;
    while (struct dirent* e = ::readdir(dir)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        names->emplace_back(e->d_name);
    }
    int err = errno;
    ::closedir(dir);
    return err;
  }

  int stat(const std::string& path, file_status* out) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0) return errno;
    out->is_dir = S_ISDIR(st.st_mode);
    out->is_symlink = S_ISLNK(st.st_mode);
    out->size = static_cast<uint64_t>(st.st_size);
    return 0;
  }

  int rename(const std::string& from, const std::string& to) override {
    return errno_of(::rename(from.c_str(), to.c_str()));
  }

  int rename_exclusive(const std::string& from,
                       const std::string& to) override {
    int err = errno_of(::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                                   RENAME_NOREPLACE));
    if (err != EINVAL && err != ENOSYS) return err;
    // No RENAME_NOREPLACE here: link(2) refuses an existing name too.
    if ((err = errno_of(::link(from.c_str(), to.c_str())))) return err;
    ::unlink(from.c_str());
    return 0;
  }

  int try_lock(const std::string& path, bool create,
               std::unique_ptr<file_lock>* out) override {
    int fd =
        ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
    if (fd < 0) return errno;
    if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    *out = std::make_unique<posix_lock>(fd);
    return 0;
  }
};

}  // namespace

std::shared_ptr<file_system> posix_file_system() {
  static auto fs = std::make_shared<posix_fs>();
  return fs;
}

}  // namespace depot::storage
