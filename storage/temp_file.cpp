#include "storage/temp_file.hpp"

#include "storage/io_error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace depot::storage {
namespace {

constexpr uint64_t writeback_step = 8 << 20;

}  // namespace

temp_file::temp_file(file_system& fs, std::string path)
    : fs_(&fs), path_(std::move(path)) {}

temp_file temp_file::adopt(file_system& fs, std::string path) {
  temp_file t{fs, std::move(path)};
  t.owned_ = true;
  return t;
}

temp_file::temp_file(temp_file&& other) noexcept
    : fs_(other.fs_), path_(std::move(other.path_)), owned_(other.owned_) {
  other.owned_ = false;
}

temp_file::~temp_file() {
  if (owned_) fs_->unlink(path_);
}

caf::error temp_file::write(const std::string& bytes, bool flush) {
  std::unique_ptr<writable_file> f;
  if (int err = fs_->create_exclusive(path_, false, &f))
    return io_failure(err, "create", path_);
  owned_ = true;
  int err = f->append(bytes.data(), bytes.size());
  if (!err && flush) err = f->sync();
  int close_err = f->close();
  if (err || close_err)
    return io_failure(err ? err : close_err, "write", path_);
  return {};
}

int temp_file::move_to(const std::string& to) {
  int err = fs_->rename_exclusive(path_, to);
  if (err == 0) owned_ = false;
  return err;
}

int temp_file::replace(const std::string& to) {
  int err = fs_->rename(path_, to);
  if (err == 0) owned_ = false;
  return err;
}

posix_staging::posix_staging(std::shared_ptr<file_system> fs, std::string path,
                             std::unique_ptr<writable_file> file,
                             bool direct_io)
    : fs_(std::move(fs)),
      temp_(temp_file::adopt(*fs_, std::move(path))),
      file_(std::move(file)),
      cached_only_(!direct_io) {}

posix_staging::~posix_staging() {
  if (file_) file_->close();
}

caf::error posix_staging::fail(int err, const char* op) {
  error_ = io_failure(err, op, path());
  return error_;
}

caf::error posix_staging::append(const std::byte* data, size_t size) {
  if (error_) return error_;
  if (!direct_) {
    size_t cached = size;
    if (!cached_only_ && size_ + size > staging_direct_from)
      cached = static_cast<size_t>(staging_direct_from - size_);
    if (auto err = write_cached(data, cached)) return err;
    data += cached;
    size -= cached;
    if (size == 0) return {};
    start_direct();
    if (!direct_) return write_cached(data, size);
  }
  while (size > 0) {
    size_t n = std::min(size, staging_direct_block - block_used_);
    std::memcpy(block_.get() + block_used_, data, n);
    block_used_ += n;
    size_ += n;
    data += n;
    size -= n;
    if (block_used_ == staging_direct_block) {
      if (auto err = write_block()) return err;
      if (!direct_) return write_cached(data, size);  // refused: see there
    }
  }
  return {};
}

caf::error posix_staging::write_cached(const std::byte* data, size_t size) {
  if (size == 0) return {};
  if (int err = file_->append(data, size)) return fail(err, "write");
  size_ += size;
  if (size_ - written_back_ >= writeback_step) {
    file_->start_writeback(written_back_, size_ - written_back_);
    written_back_ = size_;
  }
  return {};
}

void posix_staging::start_direct() {
  // size_ is staging_direct_from here: aligned, as direct I/O needs.
  void* p = std::aligned_alloc(direct_io_align, staging_direct_block);
  if (!p || file_->set_direct(true) != 0) {
    std::free(p);
    cached_only_ = true;
    return;
  }
  block_.reset(static_cast<std::byte*>(p));
  direct_ = true;
}

caf::error posix_staging::write_block() {
  size_t whole = block_used_ - block_used_ % direct_io_align;
  int err = whole > 0 ? file_->append(block_.get(), whole) : 0;
  if (err == EINVAL) {
    // Some file systems take the flag and refuse the writes (nothing of
    // the block went out, writable_file::append says): through the page
    // cache, then, this block and the rest.
    direct_ = false;
    cached_only_ = true;
    if ((err = file_->set_direct(false)) == 0)
      err = file_->append(block_.get(), block_used_);
    block_.reset();
    block_used_ = 0;
    return err ? fail(err, "write") : caf::error{};
  }
  if (err) return fail(err, "write");
  std::memmove(block_.get(), block_.get() + whole, block_used_ - whole);
  block_used_ -= whole;
  return {};
}

caf::error posix_staging::finish(bool flush) {
  if (error_) return error_;
  if (direct_) {
    // The whole units past the page cache, the tail (not a whole unit)
    // through it.
    if (auto err = write_block()) return err;
    if (direct_) {
      direct_ = false;
      if (int err = file_->set_direct(false)) return fail(err, "write");
      if (int err = file_->append(block_.get(), block_used_))
        return fail(err, "write");
      block_.reset();
      block_used_ = 0;
    }
  }
  if (flush) {
    if (int err = file_->sync()) return fail(err, "fsync");
  }
  if (int err = file_->close()) return fail(err, "close");
  file_.reset();
  return {};
}

}  // namespace depot::storage
