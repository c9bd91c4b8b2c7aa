#include "storage/fault_fs.hpp"

#include <cerrno>

namespace depot::storage {
namespace {

class faulty_writable final : public writable_file {
 public:
  faulty_writable(fault_fs* fs, std::string path,
                  std::unique_ptr<writable_file> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  int append(const void* data, size_t size) override {
    if (int err = fs_->check(fs_op::append, path_)) return err;
    return base_->append(data, size);
  }
  void start_writeback(uint64_t offset, uint64_t size) override {
    base_->start_writeback(offset, size);
  }
  int set_direct(bool on) override {
    if (int err = fs_->check(fs_op::direct, path_)) return err;
    return base_->set_direct(on);
  }
  int sync() override {
    if (int err = fs_->check(fs_op::sync, path_)) return err;
    return base_->sync();
  }
  int close() override {
    // The descriptor is released either way, as close(2) does.
    int err = fs_->check(fs_op::close, path_);
    int rc = base_->close();
    return err ? err : rc;
  }

 private:
  fault_fs* fs_;
  std::string path_;
  std::unique_ptr<writable_file> base_;
};

class faulty_readable final : public readable_file {
 public:
  faulty_readable(fault_fs* fs, std::string path,
                  std::unique_ptr<readable_file> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  int read_at(uint64_t offset, size_t size, std::byte* out,
              size_t* got) override {
    if (int err = fs_->check(fs_op::read, path_)) return err;
    return base_->read_at(offset, size, out, got);
  }
  uint64_t size() const override { return base_->size(); }
  int map(uint64_t offset, size_t size,
          std::shared_ptr<const std::byte>* out) override {
    if (int err = fs_->check(fs_op::read, path_)) return err;
    return base_->map(offset, size, out);
  }

 private:
  fault_fs* fs_;
  std::string path_;
  std::unique_ptr<readable_file> base_;
};

}  // namespace

fault_fs::fault_fs(std::shared_ptr<file_system> base)
    : base_(std::move(base)), calls_(static_cast<size_t>(fs_op::lock) + 1) {}

void fault_fs::inject(rule r) {
  std::lock_guard<std::mutex> guard{mutex_};
  rules_.push_back(std::move(r));
}

int fault_fs::calls(fs_op op) const {
  std::lock_guard<std::mutex> guard{mutex_};
  return calls_[static_cast<size_t>(op)];
}

int fault_fs::check(fs_op op, const std::string& path) {
  std::lock_guard<std::mutex> guard{mutex_};
  ++calls_[static_cast<size_t>(op)];
  if (crash_countdown_ == 0) crashed_ = true;
  if (crash_countdown_ > 0) --crash_countdown_;
  if (crashed_) {
    ++injected_;
    return EIO;
  }
  for (auto& r : rules_) {
    if (r.op != op || r.times <= 0) continue;
    if (!r.path_contains.empty() &&
        path.find(r.path_contains) == std::string::npos)
      continue;
    if (r.skip > 0) {
      --r.skip;
      continue;
    }
    --r.times;
    ++injected_;
    return r.error;
  }
  return 0;
}

int fault_fs::create_exclusive(const std::string& path, bool append_mode,
                               std::unique_ptr<writable_file>* out) {
  if (int err = check(fs_op::create, path)) return err;
  std::unique_ptr<writable_file> f;
  if (int err = base_->create_exclusive(path, append_mode, &f)) return err;
  *out = std::make_unique<faulty_writable>(this, path, std::move(f));
  return 0;
}

int fault_fs::open_read(const std::string& path,
                        std::unique_ptr<readable_file>* out) {
  if (int err = check(fs_op::open_read, path)) return err;
  std::unique_ptr<readable_file> f;
  if (int err = base_->open_read(path, &f)) return err;
  *out = std::make_unique<faulty_readable>(this, path, std::move(f));
  return 0;
}

int fault_fs::read_small(const std::string& path, size_t max,
                         std::string* out) {
  if (int err = check(fs_op::read, path)) return err;
  return base_->read_small(path, max, out);
}

int fault_fs::link(const std::string& from, const std::string& to) {
  if (int err = check(fs_op::link, to)) return err;
  return base_->link(from, to);
}

int fault_fs::unlink(const std::string& path) {
  if (int err = check(fs_op::unlink, path)) return err;
  return base_->unlink(path);
}

int fault_fs::mkdir(const std::string& path) {
  if (int err = check(fs_op::mkdir, path)) return err;
  return base_->mkdir(path);
}

int fault_fs::rmdir(const std::string& path) {
  if (int err = check(fs_op::rmdir, path)) return err;
  return base_->rmdir(path);
}

int fault_fs::sync_fs(const std::string& path) {
  if (int err = check(fs_op::sync_fs, path)) return err;
  return base_->sync_fs(path);
}

int fault_fs::sync_dir(const std::string& path) {
  if (int err = check(fs_op::sync_dir, path)) return err;
  return base_->sync_dir(path);
}

int fault_fs::list_dir(const std::string& path, std::vector<std::string>* names,
                       std::vector<std::string>* symlinks) {
  if (int err = check(fs_op::list_dir, path)) return err;
  return base_->list_dir(path, names, symlinks);
}

int fault_fs::stat(const std::string& path, file_status* out) {
  if (int err = check(fs_op::stat, path)) return err;
  return base_->stat(path, out);
}

int fault_fs::rename(const std::string& from, const std::string& to) {
  if (int err = check(fs_op::rename, to)) return err;
  return base_->rename(from, to);
}

int fault_fs::rename_exclusive(const std::string& from, const std::string& to) {
  if (int err = check(fs_op::rename, to)) return err;
  return base_->rename_exclusive(from, to);
}

int fault_fs::try_lock(const std::string& path, bool create,
                       std::unique_ptr<file_lock>* out) {
  if (int err = check(fs_op::lock, path)) return err;
  return base_->try_lock(path, create, out);
}

}  // namespace depot::storage
