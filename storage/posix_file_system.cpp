#include "logging/log.hpp"
#include "storage/file_system.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <mutex>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
    bool some_written = false;
    while (size > 0) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        // EINVAL says nothing was written (see writable_file::append).
        return errno == EINVAL && some_written ? EIO : errno;
      }
      some_written = true;
      p += n;
      size -= static_cast<size_t>(n);
    }
    return 0;
  }

  void start_writeback(uint64_t offset, uint64_t size) override {
    ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(size),
                      SYNC_FILE_RANGE_WRITE);
  }

  int set_direct(bool on) override {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0) return errno;
    flags = on ? flags | O_DIRECT : flags & ~O_DIRECT;
    return errno_of(::fcntl(fd_, F_SETFL, flags));
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

// openat2(2) beneath `dir`: no symlink anywhere, no escape through "..".
// glibc 2.36 has no wrapper.
int open_beneath(int dir, const std::string& rel, uint64_t flags,
                 uint64_t mode) {
  struct open_how how {};
  how.flags = flags;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
  }
}

// Whether the entry `e` of the directory open as `dir` is a symlink: its
// type from the listing, or lstat where the file system gave none.
bool is_symlink(int dir, const struct dirent64& e) {
  if (e.d_type != DT_UNKNOWN) return e.d_type == DT_LNK;
  struct stat st {};
  return ::fstatat(dir, e.d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISLNK(st.st_mode);
}

// A path as an *at call takes it: a directory descriptor (closed here if
// ours) and a name in it.
struct at_path {
  int dir = AT_FDCWD;
  bool owned = false;
  std::string name;
  at_path() = default;
  at_path(const at_path&) = delete;
  at_path& operator=(const at_path&) = delete;
  ~at_path() {
    if (owned) ::close(dir);
  }
};

// Unconfined (`root_` empty), every path is taken as the kernel takes it.
// Confined, a path must be the root or lie beneath it, and everything below
// the root is resolved from a descriptor on it without following any
// symlink: a planted link is ELOOP, a way out EXDEV (both logged).
class posix_fs final : public file_system {
 public:
  using file_system::list_dir;
  posix_fs() = default;
  explicit posix_fs(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }
  ~posix_fs() override {
    if (root_fd_ >= 0) ::close(root_fd_);
  }

  int create_exclusive(const std::string& path, bool append_mode,
                       std::unique_ptr<writable_file>* out) override {
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    if (append_mode) flags |= O_APPEND;
    int fd = open_path(path, flags, 0444);
    if (fd < 0) return refused(errno, path);
    *out = std::make_unique<posix_writable>(fd);
    return 0;
  }

  int open_read(const std::string& path,
                std::unique_ptr<readable_file>* out) override {
    // Reads leave access times alone: a download must not turn into an
    // inode write. O_NOATIME needs us to own the file (we do, unless an
    // operator copied files in as someone else): EPERM means open plainly.
    int fd = open_path(path, O_RDONLY | O_CLOEXEC | O_NOATIME, 0);
    if (fd < 0 && errno == EPERM) fd = open_path(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return refused(errno, path);
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

  // Without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink.
  int link(const std::string& from, const std::string& to) override {
    at_path a, b;
    if (int err = resolve(from, &a)) return err;
    if (int err = resolve(to, &b)) return err;
    return refused(
        errno_of(::linkat(a.dir, a.name.c_str(), b.dir, b.name.c_str(), 0)),
        to);
  }

  int unlink(const std::string& path) override {
    at_path a;
    if (int err = resolve(path, &a)) return err;
    return errno_of(::unlinkat(a.dir, a.name.c_str(), 0));
  }

  int mkdir(const std::string& path) override {
    at_path a;
    if (int err = resolve(path, &a)) return err;
    return errno_of(::mkdirat(a.dir, a.name.c_str(), 0755));
  }

  int rmdir(const std::string& path) override {
    at_path a;
    if (int err = resolve(path, &a)) return err;
    return errno_of(::unlinkat(a.dir, a.name.c_str(), AT_REMOVEDIR));
  }

  int sync_fs(const std::string& path) override {
    int fd = open_path(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return refused(errno, path);
    int err = errno_of(::syncfs(fd));
    ::close(fd);
    return err;
  }

  int sync_dir(const std::string& path) override {
    int fd = open_path(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return refused(errno, path);
    int err = errno_of(::fsync(fd));
    ::close(fd);
    return err;
  }

  int list_dir(const std::string& path, std::vector<std::string>* names,
               std::vector<std::string>* symlinks) override {
    int fd = open_path(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return refused(errno, path);
    names->clear();
    if (symlinks) symlinks->clear();
    // getdents64 into a buffer of our own: readdir() would cost fdopendir's
    // fstat and fcntl too, two more system calls in a listing of four, and
    // every `stat` (and download asking for `meta`) lists a directory.
    alignas(struct dirent64) char buf[16384];
    int err = 0;
    for (;;) {
      ssize_t n = ::getdents64(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) err = errno;
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const struct dirent64*>(buf + at);
        at += e->d_reclen;
        if (std::strcmp(e->d_name, ".") == 0 ||
            std::strcmp(e->d_name, "..") == 0)
          continue;
        names->emplace_back(e->d_name);
        if (symlinks && is_symlink(fd, *e)) symlinks->emplace_back(e->d_name);
      }
    }
    ::close(fd);
    return err;
  }

  int stat(const std::string& path, file_status* out) override {
    at_path a;
    if (int err = resolve(path, &a)) return err;
    struct stat st {};
    if (::fstatat(a.dir, a.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
      return errno;
    out->is_dir = S_ISDIR(st.st_mode);
    out->is_symlink = S_ISLNK(st.st_mode);
    out->is_regular = S_ISREG(st.st_mode);
    out->size = static_cast<uint64_t>(st.st_size);
    out->inode = static_cast<uint64_t>(st.st_ino);
    out->links = static_cast<uint64_t>(st.st_nlink);
    return 0;
  }

  int rename(const std::string& from, const std::string& to) override {
    at_path a, b;
    if (int err = resolve(from, &a)) return err;
    if (int err = resolve(to, &b)) return err;
    return errno_of(::renameat(a.dir, a.name.c_str(), b.dir, b.name.c_str()));
  }

  int rename_exclusive(const std::string& from,
                       const std::string& to) override {
    at_path a, b;
    if (int err = resolve(from, &a)) return err;
    if (int err = resolve(to, &b)) return err;
    int err = errno_of(::renameat2(a.dir, a.name.c_str(), b.dir, b.name.c_str(),
                                   RENAME_NOREPLACE));
    if (err != EINVAL && err != ENOSYS) return err;
    // No RENAME_NOREPLACE here: link(2) refuses an existing name too.
    if ((err = errno_of(
             ::linkat(a.dir, a.name.c_str(), b.dir, b.name.c_str(), 0))))
      return err;
    ::unlinkat(a.dir, a.name.c_str(), 0);
    return 0;
  }

  int try_lock(const std::string& path, bool create,
               std::unique_ptr<file_lock>* out) override {
    // flock needs no write access: an existing lock file may be read-only.
    int fd = open_path(path, O_CLOEXEC | (create ? O_RDWR | O_CREAT : O_RDONLY),
                       0644);
    if (fd < 0) return refused(errno, path);
    if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    *out = std::make_unique<posix_lock>(fd);
    return 0;
  }

 private:
  // `path` relative to the root ("." for the root itself), else EXDEV.
  int relative(const std::string& path, std::string* rel) const {
    if (path == root_) {
      *rel = ".";
      return 0;
    }
    if (path.size() <= root_.size() + 1 ||
        path.compare(0, root_.size(), root_) != 0 || path[root_.size()] != '/')
      return EXDEV;
    *rel = path.substr(root_.size() + 1);
    return 0;
  }

  // The root's descriptor, opened on first use (the store may create the
  // root first). The root itself must not be a symlink.
  int root_fd(int* out) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (root_fd_ < 0) {
      root_fd_ = ::open(root_.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (root_fd_ < 0) return errno;
    }
    *out = root_fd_;
    return 0;
  }

  // open(2) of `path`; confined, no symlink on the way or at the end.
  // Returns the descriptor, or -1 with errno set.
  int open_path(const std::string& path, int flags, mode_t mode) {
    if (root_.empty()) return ::open(path.c_str(), flags, mode);
    std::string rel;
    int err = relative(path, &rel);
    int dir = -1;
    if (!err) err = root_fd(&dir);
    if (err) {
      errno = err;
      return -1;
    }
    if (rel == ".") return ::open(root_.c_str(), flags | O_NOFOLLOW, mode);
    return open_beneath(dir, rel, static_cast<uint64_t>(flags), mode);
  }

  // `path` as a directory descriptor and a name in it. Confined, the
  // directory is opened beneath the root without following symlinks; the
  // name itself is never followed by the *at calls made here.
  int resolve(const std::string& path, at_path* out) {
    if (root_.empty()) {
      out->name = path;
      return 0;
    }
    std::string rel;
    if (int err = relative(path, &rel)) return refused(err, path);
    if (rel == ".") {  // the root itself, by its path
      out->name = root_;
      return 0;
    }
    int root = -1;
    if (int err = root_fd(&root)) return err;
    size_t slash = rel.rfind('/');
    out->name = slash == std::string::npos ? rel : rel.substr(slash + 1);
    if (out->name.empty() || out->name == "." || out->name == "..")
      return refused(EXDEV, path);
    if (slash == std::string::npos) {
      out->dir = root;
      return 0;
    }
    int fd = open_beneath(root, rel.substr(0, slash),
                          O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) return refused(errno, path);
    out->dir = fd;
    out->owned = true;
    return 0;
  }

  // Logs a refusal to follow a symlink or leave the root; returns `err`.
  int refused(int err, const std::string& path) const {
    if (!root_.empty() && (err == ELOOP || err == EXDEV))
      log::error("store: a path crosses a symlink or leaves the root; refused",
                 {{"path", path}, {"root", root_}});
    return err;
  }

  std::string root_;
  std::mutex mutex_;
  int root_fd_ = -1;
};

}  // namespace

std::shared_ptr<file_system> posix_file_system() {
  static auto fs = std::make_shared<posix_fs>();
  return fs;
}

std::shared_ptr<file_system> posix_file_system_beneath(std::string root) {
  return std::make_shared<posix_fs>(std::move(root));
}

}  // namespace depot::storage
