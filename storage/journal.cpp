#include "storage/journal.hpp"

#include "logging/log.hpp"
#include "schema/validate.hpp"
#include "storage/io_error.hpp"

#include <sstream>

namespace depot::storage {
namespace {

constexpr size_t max_journal_bytes = 64 << 20;
constexpr uint64_t rotate_bytes = 4 << 20;

}  // namespace

schema::expected<std::unique_ptr<journal>> journal::open(file_system& fs,
                                                         std::string dir) {
  std::unique_ptr<journal> j{new journal(fs, std::move(dir))};
  if (auto err = j->rotate()) return err;
  return j;
}

caf::error journal::rotate() {
  std::string path = dir_ + "/journal." + std::to_string(index_ + 1);
  std::unique_ptr<writable_file> file;
  if (int err = fs_->create_exclusive(path, true, &file))
    return io_failure(err, "create", path);
  std::string carried;
  for (auto& [op, line] : open_ops_) carried += line;
  if (!carried.empty()) {
    if (int err = file->append(carried.data(), carried.size())) {
      fs_->unlink(path);
      return io_failure(err, "write", path);
    }
  }
  if (file_) {
    file_->close();
    fs_->unlink(dir_ + "/journal." + std::to_string(index_));
  }
  ++index_;
  file_ = std::move(file);
  bytes_ = carried.size();
  return {};
}

uint64_t journal::begin(const std::string& id, const std::string& ref) {
  std::lock_guard<std::mutex> guard{mutex_};
  uint64_t op = ++last_op_;
  std::string line = "B " + std::to_string(op) + " " + id + " " +
                     (ref.empty() ? "-" : ref) + "\n";
  if (file_ && file_->append(line.data(), line.size()) != 0)
    log::warn("store: cannot append to the journal", {{"path", dir_}});
  bytes_ += line.size();
  open_ops_.emplace(op, std::move(line));
  return op;
}

caf::error journal::end(uint64_t op) {
  std::string line = "E " + std::to_string(op) + "\n";
  std::lock_guard<std::mutex> guard{mutex_};
  if (!file_)
    return schema::make_error(schema::errc::io_error,
                              "the store journal is lost");
  if (int err = file_->append(line.data(), line.size()))
    return io_failure(err, "write", dir_ + "/journal");
  open_ops_.erase(op);
  bytes_ += line.size();
  if (bytes_ > rotate_bytes) {
    if (auto err = rotate())
      log::warn("store: journal rotation failed",
                {{"path", dir_}, {"error", schema::message_of(err)}});
  }
  return {};
}

bool journal::retire() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (!open_ops_.empty() || !file_) return false;
  file_->close();
  file_.reset();
  return fs_->unlink(dir_ + "/journal." + std::to_string(index_)) == 0;
}

void parse_journal(const std::string& text,
                   std::map<uint64_t, unfinished_op>* open) {
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields{line};
    std::string kind, id, ref;
    uint64_t op = 0;
    fields >> kind >> op;
    if (kind == "B" && (fields >> id >> ref) && schema::is_file_id(id))
      (*open)[op] = {id, ref};
    else if (kind == "E")
      open->erase(op);
  }
}

std::vector<unfinished_op> unfinished_ops(
    file_system& fs, const std::string& dir,
    const std::vector<std::string>& files) {
  std::map<uint64_t, unfinished_op> open;
  for (auto& f : files) {
    if (f.rfind("journal.", 0) != 0) continue;
    std::string text;
    if (fs.read_small(dir + "/" + f, max_journal_bytes, &text) != 0) continue;
    parse_journal(text, &open);
  }
  std::vector<unfinished_op> out;
  for (auto& [op, entry] : open) out.push_back(std::move(entry));
  return out;
}

}  // namespace depot::storage
