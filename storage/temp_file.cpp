#include "storage/temp_file.hpp"

#include "storage/io_error.hpp"

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
                             std::unique_ptr<writable_file> file)
    : fs_(std::move(fs)),
      temp_(temp_file::adopt(*fs_, std::move(path))),
      file_(std::move(file)) {}

posix_staging::~posix_staging() {
  if (file_) file_->close();
}

caf::error posix_staging::append(const std::byte* data, size_t size) {
  if (error_) return error_;
  if (int err = file_->append(data, size)) {
    error_ = io_failure(err, "write", path());
    return error_;
  }
  size_ += size;
  if (size_ - written_back_ >= writeback_step) {
    file_->start_writeback(written_back_, size_ - written_back_);
    written_back_ = size_;
  }
  return {};
}

caf::error posix_staging::finish(bool flush) {
  if (error_) return error_;
  if (flush) {
    if (int err = file_->sync())
      return error_ = io_failure(err, "fsync", path());
  }
  if (int err = file_->close())
    return error_ = io_failure(err, "close", path());
  file_.reset();
  return {};
}

}  // namespace depot::storage
