#include "storage/posix_store.hpp"

#include <sys/random.h>

#include <msgpack.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <set>
#include <sstream>
#include <thread>

#include "schema/validate.hpp"
#include "storage/io_error.hpp"
#include "storage/naming.hpp"

namespace depot::storage {
namespace {

using schema::errc;
using schema::expected;
using schema::file_meta;
using schema::make_error;

constexpr size_t max_meta_bytes = 4096;
constexpr size_t max_journal_bytes = 64 << 20;
constexpr uint64_t journal_rotate_bytes = 4 << 20;
constexpr uint64_t writeback_step = 8 << 20;
constexpr auto dead_wait_limit = std::chrono::seconds(30);
constexpr auto dead_recover_after = std::chrono::seconds(2);

// Fresh from the kernel on every call: a forked child must not repeat its
// parent's instance ids or generations.
std::string random_hex(size_t digits) {
  static constexpr char hex[] = "0123456789abcdef";
  unsigned char bytes[32];
  size_t n = std::min(sizeof bytes, (digits + 1) / 2);
  if (::getrandom(bytes, n, 0) != static_cast<ssize_t>(n))
    throw std::runtime_error("getrandom failed");
  std::string out(digits, '0');
  for (size_t i = 0; i < digits; ++i)
    out[i] = hex[(bytes[i / 2] >> (i % 2 ? 0 : 4)) & 15];
  return out;
}

size_t base62_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<size_t>(c - '0');
  if (c >= 'A' && c <= 'Z') return static_cast<size_t>(c - 'A' + 10);
  return static_cast<size_t>(c - 'a' + 36);
}

bool is_base62_name(const std::string& s, size_t len) {
  return s.size() == len && is_valid_id(s + std::string(id_length - len, '0'));
}

// --- metadata file ----------------------------------------------------------

// What `X.meta` holds: the immutable part of PROTOCOL.md's metadata, plus
// the generation that this incarnation's reference entries carry.
struct stored_meta {
  std::string name;
  uint64_t size = 0;
  std::string sha256;  // hex
  std::string mime;
  uint64_t created = 0;
  std::string gen;
};

std::string encode_meta(const stored_meta& m) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk{buf};
  pk.pack_map(7);
  pk.pack("v");
  pk.pack(uint64_t{1});
  pk.pack("name");
  pk.pack(m.name);
  pk.pack("size");
  pk.pack(m.size);
  pk.pack("sha256");
  pk.pack(m.sha256);
  pk.pack("mime");
  pk.pack(m.mime);
  pk.pack("created");
  pk.pack(m.created);
  pk.pack("gen");
  pk.pack(m.gen);
  return {buf.data(), buf.size()};
}

bool decode_meta(const std::string& bytes, stored_meta* out) {
  try {
    auto limits = msgpack::unpack_limit(16, 16, 1024, 0, 0, 2);
    auto handle = msgpack::unpack(bytes.data(), bytes.size(), nullptr,
                                  nullptr, limits);
    const msgpack::object& obj = handle.get();
    if (obj.type != msgpack::type::MAP) return false;
    int seen = 0;
    for (uint32_t i = 0; i < obj.via.map.size; ++i) {
      const auto& kv = obj.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) return false;
      auto key = kv.key.as<std::string>();
      if (key == "name") out->name = kv.val.as<std::string>(), ++seen;
      else if (key == "size") out->size = kv.val.as<uint64_t>(), ++seen;
      else if (key == "sha256") out->sha256 = kv.val.as<std::string>(), ++seen;
      else if (key == "mime") out->mime = kv.val.as<std::string>(), ++seen;
      else if (key == "created") out->created = kv.val.as<uint64_t>(), ++seen;
      else if (key == "gen") out->gen = kv.val.as<std::string>(), ++seen;
    }
    return seen == 6 && !out->gen.empty();
  } catch (const std::exception&) {
    return false;
  }
}

// --- paths of one id ---------------------------------------------------------

struct object_paths {
  std::string dir;   // ROOT/ab/cd
  std::string rest;  // EFGH1234
  std::string content() const { return dir + "/" + rest; }
  std::string meta() const { return dir + "/" + rest + ".meta"; }
  std::string dead() const { return dir + "/" + rest + ".dead"; }
  std::string ref_prefix(const std::string& gen) const {
    return rest + ".r." + gen + ".";
  }
};

size_t count_refs(const std::vector<std::string>& names,
                  const std::string& prefix) {
  return static_cast<size_t>(
      std::count_if(names.begin(), names.end(), [&](const std::string& n) {
        return n.compare(0, prefix.size(), prefix) == 0;
      }));
}

// --- the store ------------------------------------------------------------------

class posix_store;

class posix_staging final : public staging_file {
 public:
  posix_staging(std::shared_ptr<file_system> fs, std::string path,
                std::unique_ptr<writable_file> file)
      : fs_(std::move(fs)), path_(std::move(path)), file_(std::move(file)) {}

  ~posix_staging() override {
    if (file_) file_->close();
    if (!moved_) fs_->unlink(path_);
  }

  caf::error append(const std::byte* data, size_t size) override {
    if (error_) return error_;
    if (int err = file_->append(data, size)) {
      error_ = io_failure(err, "write", path_);
      return error_;
    }
    size_ += size;
    if (size_ - written_back_ >= writeback_step) {
      file_->start_writeback(written_back_, size_ - written_back_);
      written_back_ = size_;
    }
    return {};
  }

  uint64_t size() const override { return size_; }

  // Flushes and closes. A failed flush is final: the staged bytes are not
  // trusted again (the kernel may have dropped the dirty pages).
  caf::error finish(bool flush) {
    if (error_) return error_;
    if (flush) {
      if (int err = file_->sync()) return error_ = io_failure(err, "fsync", path_);
    }
    if (int err = file_->close())
      return error_ = io_failure(err, "close", path_);
    file_.reset();
    return {};
  }

  const std::string& path() const { return path_; }

  // Puts the staged bytes at `to` unless it exists (EEXIST, still staged).
  int move_to(const std::string& to) {
    int err = fs_->rename_exclusive(path_, to);
    moved_ = err == 0;
    return err;
  }

 private:
  std::shared_ptr<file_system> fs_;
  std::string path_;
  bool moved_ = false;
  std::unique_ptr<writable_file> file_;
  uint64_t size_ = 0;
  uint64_t written_back_ = 0;
  caf::error error_;
};

class posix_reader final : public object_reader {
 public:
  posix_reader(std::unique_ptr<readable_file> file, std::string path)
      : file_(std::move(file)), path_(std::move(path)) {}

  uint64_t size() const override { return file_->size(); }

  expected<size_t> read(uint64_t offset, size_t length, std::byte* out) override {
    auto want = in_range(offset, length);
    if (!want) return want.error();
    size_t got = 0;
    if (*want > 0) {
      if (int err = file_->read_at(offset, *want, out, &got))
        return io_failure(err, "read", path_);
    }
    return got;
  }

  expected<schema::buffer> view(uint64_t offset, size_t length) override {
    auto want = in_range(offset, length);
    if (!want) return want.error();
    if (*want == 0) return schema::buffer{};
    std::shared_ptr<const std::byte> bytes;
    int err = file_->map(offset, *want, &bytes);
    if (err == 0) return schema::buffer{bytes, bytes.get(), *want};
    if (err != ENOTSUP) return io_failure(err, "map", path_);
    return copy(offset, *want);
  }

 private:
  // How many of `length` bytes at `offset` there are to read.
  expected<size_t> in_range(uint64_t offset, size_t length) const {
    if (offset > size())
      return make_error(errc::out_of_range, "offset " + std::to_string(offset) +
                                                " is past the end (" +
                                                std::to_string(size()) + " bytes)");
    return static_cast<size_t>(std::min<uint64_t>(length, size() - offset));
  }

  std::unique_ptr<readable_file> file_;
  std::string path_;
};

// Removes a temp file when the scope ends.
struct temp_guard {
  temp_guard(file_system* f, std::string p) : fs(f), path(std::move(p)) {}
  temp_guard(const temp_guard&) = delete;
  temp_guard& operator=(const temp_guard&) = delete;
  ~temp_guard() {
    if (!moved) fs->unlink(path);
  }
  // Renames the file to `to` unless it exists (EEXIST, nothing moved).
  int move_to(const std::string& to) {
    int err = fs->rename_exclusive(path, to);
    moved = err == 0;
    return err;
  }

  file_system* fs;
  std::string path;
  bool moved = false;
};

class posix_store final : public store {
 public:
  explicit posix_store(posix_store_options opts)
      : opts_(std::move(opts)),
        fs_(opts_.fs),
        root_(opts_.root),
        staging_root_(root_ + "/.staging"),
        instance_(random_hex(16)),
        instance_dir_(staging_root_ + "/" + instance_),
        synced_l1_(62 * 62),
        synced_l2_(62 * 62 * 62 * 62) {}

  caf::error open();

  expected<std::unique_ptr<staging_file>> create_staging() override;
  expected<commit_result> commit(std::unique_ptr<staging_file> staged,
                                 const commit_info& info) override;
  std::vector<expected<commit_result>> commit_batch(
      std::vector<commit_request> requests) override;
  std::unique_ptr<group> stage(std::vector<commit_request> requests) override;
  caf::error barrier() override;
  void place(group& g, const caf::error& barrier_failure) override;
  std::vector<expected<commit_result>> settle(group& g,
                                              const caf::error& barrier_failure) override;
  expected<file_meta> stat(const std::string& id) override;
  expected<std::unique_ptr<object_reader>> open(const std::string& id) override;
  expected<uint64_t> remove(const std::string& id) override;
  expected<list_page> list(const std::optional<std::string>& after,
                           size_t limit) override;

 private:
  enum class placed { stored, dedup, collision, retry };

  // A placement in progress: its reference exists and its journal entry is
  // open until it is sealed (made durable and acknowledged) or rolled back.
  struct placement {
    placed how = placed::retry;
    std::string id;
    stored_meta meta;  // the incarnation placed into (ours, or a dedup's)
    uint64_t op = 0;
    std::string ref_path;
    file_meta file;    // filled when sealed
  };

  struct batch_item;  // one upload of a group commit
  struct batch;       // a group commit between its stages

  static placement outcome(placed how) {
    placement p;
    p.how = how;
    return p;
  }

  object_paths paths_of(const std::string& id) const {
    return {root_ + "/" + id.substr(0, 2) + "/" + id.substr(2, 2), id.substr(4)};
  }

  std::string next_name(const char* prefix) {
    return instance_dir_ + "/" + prefix + std::to_string(++counter_);
  }

  // The staged bytes and metadata are renamed into place where they are
  // used last, else linked (and removed with their temp names later).
  expected<placement> place(const std::string& id, posix_staging& data,
                            temp_guard& meta_temp, const stored_meta& m);
  expected<placement> claim(const std::string& id, posix_staging& data,
                            temp_guard& meta_temp, const stored_meta& m);
  expected<placement> join(const std::string& id, posix_staging& data,
                           const std::string& meta_temp, const stored_meta& existing);
  expected<std::pair<uint64_t, std::string>> add_ref(const std::string& id,
                                                     const std::string& gen,
                                                     const std::string& link_from);
  void roll_back(const placement& pl);
  caf::error write_small(const std::string& path, const std::string& bytes, bool flush);
  caf::error ensure_dirs(const std::string& id);
  caf::error sync_new_dirs(const std::string& id, bool already_flushed);
  caf::error collect(const std::string& id, const std::string& dead_owner);
  caf::error wait_while_dying(const object_paths& p);
  int read_meta(const object_paths& p, stored_meta* out);
  file_meta to_file_meta(const std::string& id, const stored_meta& m,
                         size_t refs) const;
  expected<file_meta> stat_in(const std::string& id,
                              const std::vector<std::string>& names);

  // The journal of operations in flight: "B op id ref" when one starts,
  // "E op" once the store is consistent again. A dead instance's open
  // operations are rolled back by whoever recovers it.
  uint64_t journal_begin(const std::string& id, const std::string& ref);
  caf::error journal_end(uint64_t op);
  expected<file_meta> describe(const std::string& id, const stored_meta& m);
  caf::error open_journal();
  void recover_dead_instances();
  void recover_instance(const std::string& name);

  posix_store_options opts_;
  std::shared_ptr<file_system> fs_;
  std::string root_;
  std::string staging_root_;
  std::string instance_;
  std::string instance_dir_;
  std::unique_ptr<file_lock> lock_;
  std::atomic<uint64_t> counter_{0};

  std::mutex journal_mutex_;
  std::unique_ptr<writable_file> journal_;
  uint64_t journal_index_ = 0;
  uint64_t journal_bytes_ = 0;
  std::map<uint64_t, std::string> open_ops_;  // op -> its "B" line

  std::mutex dirs_mutex_;
  std::vector<bool> synced_l1_;  // ROOT/ab known durable
  std::vector<bool> synced_l2_;  // ROOT/ab/cd known durable
  std::mutex recover_mutex_;

  // Ids this store claimed fresh and has not settled yet, and whether one
  // of its own uploads joined the claim meanwhile (any batch, any lane).
  // A claim nobody joined has one reference, ours: known without listing
  // its directory.
  std::mutex claims_mutex_;
  std::map<std::string, bool> fresh_claims_;

  void note_placed(const placement& pl) {
    std::lock_guard<std::mutex> guard{claims_mutex_};
    if (pl.how == placed::stored) {
      fresh_claims_[pl.id] = false;
    } else if (auto c = fresh_claims_.find(pl.id); c != fresh_claims_.end()) {
      c->second = true;
    }
  }
  // Whether the fresh claim of `id` is still ours alone; forgets it.
  bool settle_claim(const std::string& id) {
    std::lock_guard<std::mutex> guard{claims_mutex_};
    auto c = fresh_claims_.find(id);
    if (c == fresh_claims_.end()) return false;
    bool joined = c->second;
    fresh_claims_.erase(c);
    return !joined;
  }
};

caf::error posix_store::open() {
  file_status st;
  int err = fs_->stat(root_, &st);
  if (err == ENOENT) {
    err = fs_->mkdir(root_);
    if (err && err != EEXIST) return io_failure(err, "mkdir", root_);
    err = fs_->stat(root_, &st);
  }
  if (err) return io_failure(err, "stat", root_);
  if (st.is_symlink)
    return make_error(errc::io_error,
                      "store root " + root_ + " is a symlink; refusing it");
  if (!st.is_dir)
    return make_error(errc::io_error,
                      "store root " + root_ + " is not a directory");
  err = fs_->mkdir(staging_root_);
  if (err && err != EEXIST) return io_failure(err, "mkdir", staging_root_);
  // The instance directory appears under its name already locked, so that
  // no recoverer ever takes a live instance for a dead one.
  std::string forming = instance_dir_ + ".tmp";
  if ((err = fs_->mkdir(forming))) return io_failure(err, "mkdir", forming);
  if ((err = fs_->try_lock(forming + "/lock", true, &lock_)))
    return io_failure(err, "lock", forming + "/lock");
  if ((err = fs_->rename(forming, instance_dir_)))
    return io_failure(err, "rename", forming);
  if (auto e = open_journal()) return e;
  recover_dead_instances();
  return {};
}

caf::error posix_store::open_journal() {
  std::string path = instance_dir_ + "/journal." + std::to_string(++journal_index_);
  std::unique_ptr<writable_file> file;
  if (int err = fs_->create_exclusive(path, true, &file))
    return io_failure(err, "create", path);
  // Carry the operations still open into the new journal, then drop the old.
  std::string carried;
  for (auto& [op, line] : open_ops_) carried += line;
  if (!carried.empty()) {
    if (int err = file->append(carried.data(), carried.size())) {
      fs_->unlink(path);
      return io_failure(err, "write", path);
    }
  }
  if (journal_) {
    journal_->close();
    fs_->unlink(instance_dir_ + "/journal." + std::to_string(journal_index_ - 1));
  }
  journal_ = std::move(file);
  journal_bytes_ = carried.size();
  return {};
}

uint64_t posix_store::journal_begin(const std::string& id,
                                    const std::string& ref) {
  uint64_t op = ++counter_;
  std::string line =
      "B " + std::to_string(op) + " " + id + " " + (ref.empty() ? "-" : ref) + "\n";
  std::lock_guard<std::mutex> guard{journal_mutex_};
  // A journal that cannot be written only weakens crash recovery (a crash
  // could then leak one reference); the operation itself goes on.
  if (journal_ && journal_->append(line.data(), line.size()) != 0)
    spdlog::warn("store: cannot append to the journal of {}", instance_dir_);
  journal_bytes_ += line.size();
  open_ops_.emplace(op, std::move(line));
  return op;
}

caf::error posix_store::journal_end(uint64_t op) {
  std::string line = "E " + std::to_string(op) + "\n";
  std::lock_guard<std::mutex> guard{journal_mutex_};
  // Unrecorded, the end would be undone by whoever recovers this instance
  // after a crash: the caller must not report success then.
  if (!journal_) return make_error(errc::io_error, "the store journal is lost");
  if (int err = journal_->append(line.data(), line.size()))
    return io_failure(err, "write", instance_dir_ + "/journal");
  open_ops_.erase(op);
  journal_bytes_ += line.size();
  if (journal_bytes_ > journal_rotate_bytes) {
    if (auto err = open_journal())
      spdlog::warn("store: journal rotation failed: {}", schema::message_of(err));
  }
  return {};
}

expected<file_meta> posix_store::describe(const std::string& id,
                                          const stored_meta& m) {
  auto p = paths_of(id);
  std::vector<std::string> names;
  if (int err = fs_->list_dir(p.dir, &names)) return io_failure(err, "list", p.dir);
  return to_file_meta(id, m, count_refs(names, p.ref_prefix(m.gen)));
}

void posix_store::recover_dead_instances() {
  std::lock_guard<std::mutex> guard{recover_mutex_};
  std::vector<std::string> names;
  if (fs_->list_dir(staging_root_, &names) != 0) return;
  for (auto& name : names)
    if (name != instance_) recover_instance(name);
}

void posix_store::recover_instance(const std::string& name) {
  std::string dir = staging_root_ + "/" + name;
  std::unique_ptr<file_lock> lock;
  // Alive, still forming, or already recovered by someone else: not ours.
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) return;
  if (fs_->try_lock(dir + "/lock", false, &lock) != 0) return;
  std::vector<std::string> files;
  if (fs_->list_dir(dir, &files) != 0) return;
  // Replay every journal: operations begun and never ended are rolled back.
  std::map<uint64_t, std::pair<std::string, std::string>> open;
  for (auto& f : files) {
    if (f.rfind("journal.", 0) != 0) continue;
    std::string text;
    if (fs_->read_small(dir + "/" + f, max_journal_bytes, &text) != 0) continue;
    std::istringstream in{text};
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields{line};
      std::string kind, id, ref;
      uint64_t op = 0;
      fields >> kind >> op;
      if (kind == "B" && (fields >> id >> ref) && is_valid_id(id))
        open[op] = {id, ref};
      else if (kind == "E")
        open.erase(op);
    }
  }
  size_t rolled_back = 0;
  bool clean = true;
  for (auto& [op, entry] : open) {
    auto& [id, ref] = entry;
    auto p = paths_of(id);
    if (ref != "-" && ref.rfind(p.rest + ".r.", 0) == 0) {
      int err = fs_->unlink(p.dir + "/" + ref);
      if (err && err != ENOENT) clean = false;
    }
    if (auto err = collect(id, name)) {
      spdlog::warn("store: recovery of {} for dead instance {}: {}", id, name,
                   schema::message_of(err));
      clean = false;
    }
    ++rolled_back;
  }
  if (!clean) {
    spdlog::warn("store: recovery of dead instance {} incomplete; will retry",
                 name);
    return;
  }
  size_t removed = 0;
  for (auto& f : files) {
    if (f == "lock") continue;
    if (fs_->unlink(dir + "/" + f) == 0) ++removed;
  }
  fs_->unlink(dir + "/lock");
  fs_->rmdir(dir);
  spdlog::warn(
      "store: recovered dead instance {}: rolled back {} unfinished "
      "operation(s), removed {} staging file(s)",
      name, rolled_back, removed);
}

// ROOT/ab and ROOT/ab/cd as indexes into the synced_ bitmaps.
std::pair<size_t, size_t> shard_indexes(const std::string& id) {
  size_t i1 = base62_value(id[0]) * 62 + base62_value(id[1]);
  size_t i2 = i1 * 62 * 62 + base62_value(id[2]) * 62 + base62_value(id[3]);
  return {i1, i2};
}

// Shard directories are never removed, so one known durable needs no mkdir.
caf::error posix_store::ensure_dirs(const std::string& id) {
  auto [i1, i2] = shard_indexes(id);
  bool l1_known;
  {
    std::lock_guard<std::mutex> guard{dirs_mutex_};
    if (synced_l2_[i2]) return {};
    l1_known = synced_l1_[i1];
  }
  auto make = [this](const std::string& dir) -> caf::error {
    int err = fs_->mkdir(dir);
    if (err && err != EEXIST) return io_failure(err, "mkdir", dir);
    return {};
  };
  std::string l1 = root_ + "/" + id.substr(0, 2);
  if (!l1_known) {
    if (auto err = make(l1)) return err;
  }
  return make(l1 + "/" + id.substr(2, 2));
}

// A new shard directory is durable only once its parent is flushed. Each
// process flushes the parents of a shard once, the first time it commits
// there, whoever created it.
caf::error posix_store::sync_new_dirs(const std::string& id, bool already_flushed) {
  auto [i1, i2] = shard_indexes(id);
  bool l1_synced;
  {
    std::lock_guard<std::mutex> guard{dirs_mutex_};
    if (synced_l2_[i2]) return {};
    l1_synced = synced_l1_[i1] || already_flushed;
  }
  std::string l1 = root_ + "/" + id.substr(0, 2);
  if (!l1_synced) {
    if (int err = fs_->sync_dir(root_)) return io_failure(err, "fsync", root_);
  }
  if (!already_flushed) {
    if (int err = fs_->sync_dir(l1)) return io_failure(err, "fsync", l1);
  }
  std::lock_guard<std::mutex> guard{dirs_mutex_};
  synced_l1_[i1] = true;
  synced_l2_[i2] = true;
  return {};
}

int posix_store::read_meta(const object_paths& p, stored_meta* out) {
  std::string bytes;
  if (int err = fs_->read_small(p.meta(), max_meta_bytes, &bytes)) return err;
  return decode_meta(bytes, out) ? 0 : EBADMSG;
}

// Every reply's metadata is built here. Versions before the mime grammar
// stored any bytes as `mime`: those are served as application/octet-stream.
file_meta posix_store::to_file_meta(const std::string& id,
                                    const stored_meta& m, size_t refs) const {
  return {id, m.name, m.size, m.sha256, schema::sanitize_mime(m.mime),
          m.created, refs};
}

expected<std::unique_ptr<staging_file>> posix_store::create_staging() {
  std::string path = next_name("d.");
  std::unique_ptr<writable_file> file;
  if (int err = fs_->create_exclusive(path, false, &file))
    return io_failure(err, "create", path);
  return std::unique_ptr<staging_file>{
      std::make_unique<posix_staging>(fs_, path, std::move(file))};
}

expected<commit_result> posix_store::commit(std::unique_ptr<staging_file> staged,
                                            const commit_info& info) {
  std::vector<commit_request> one;
  one.push_back({std::move(staged), info});
  return std::move(commit_batch(std::move(one)).front());
}

// Group commit: the durability barriers of a whole batch are shared. Each
// upload's bytes and metadata are written (stage), then one barrier makes
// all of them durable; then each is linked into place (place), then a
// second barrier makes all the links durable, and only then is anything
// acknowledged (settle). Small batches use syncfs for a barrier (one
// journal commit for everything); large ones flush file by file, so that a
// small upload never waits for unrelated gigabytes.
struct posix_store::batch_item {
  std::unique_ptr<staging_file> owner;
  posix_staging* staging = nullptr;
  commit_info info;
  stored_meta meta;
  std::optional<temp_guard> meta_temp;
  caf::error err;
  std::optional<placement> placed;
};

std::vector<expected<commit_result>> posix_store::commit_batch(
    std::vector<commit_request> requests) {
  auto g = stage(std::move(requests));
  place(*g, g->needs_barrier() ? barrier() : caf::error{});
  return settle(*g, g->needs_barrier() ? barrier() : caf::error{});
}

caf::error posix_store::barrier() {
  if (int e = fs_->sync_fs(root_)) return io_failure(e, "syncfs", root_);
  return {};
}

struct posix_store::batch final : group {
  std::vector<std::unique_ptr<batch_item>> items;
  bool whole_fs = true;  // barriers by syncfs, else flushes file by file
  bool needs_barrier() const override {
    if (!whole_fs) return false;
    return std::any_of(items.begin(), items.end(),
                       [](auto& it) { return !it->err; });
  }
};

std::unique_ptr<store::group> posix_store::stage(std::vector<commit_request> requests) {
  auto b = std::make_unique<batch>();
  uint64_t total = 0;
  for (auto& r : requests) {
    auto it = std::make_unique<batch_item>();
    it->owner = std::move(r.staged);
    it->info = std::move(r.info);
    it->staging = dynamic_cast<posix_staging*>(it->owner.get());
    if (it->staging == nullptr)
      it->err = make_error(errc::internal, "commit of a foreign staging file");
    else
      total += it->staging->size();
    b->items.push_back(std::move(it));
  }
  b->whole_fs = total <= opts_.group_sync_max_bytes;
  // Bytes and metadata written; flushed now only file by file.
  for (auto& it : b->items) {
    if (it->err) continue;
    if ((it->err = it->staging->finish(!b->whole_fs))) continue;
    it->meta = {it->info.name, it->staging->size(), to_hex(it->info.sha256),
                it->info.mime, it->info.created_ms, random_hex(16)};
    it->meta_temp.emplace(fs_.get(), next_name("m."));
    it->err = write_small(it->meta_temp->path, encode_meta(it->meta), !b->whole_fs);
  }
  return b;
}

// Each into place under its first free (or same-content) candidate, once
// its bytes and metadata are durable.
void posix_store::place(group& g, const caf::error& barrier_failure) {
  auto& b = static_cast<batch&>(g);
  for (auto& it : b.items) {
    if (it->err) continue;
    if (barrier_failure) {
      it->err = barrier_failure;
      continue;
    }
    for (uint32_t k = 0; k < opts_.max_candidates && !it->placed && !it->err; ++k) {
      std::string id = candidate_id(it->info.sha256, k, opts_.id_bits);
      auto r = place(id, *it->staging, *it->meta_temp, it->meta);
      if (!r)
        it->err = r.error();
      else if (r->how != placed::collision)
        it->placed = std::move(*r);
    }
    if (it->placed) note_placed(*it->placed);
    if (!it->placed && !it->err)
      it->err = make_error(errc::name_exhausted,
                           "all " + std::to_string(opts_.max_candidates) +
                               " naming candidates hold other content");
  }
}

// The links made durable (by the barrier before, or here file by file);
// only then is anything acknowledged.
std::vector<expected<commit_result>> posix_store::settle(
    group& g, const caf::error& barrier_failure) {
  auto& b = static_cast<batch&>(g);
  for (auto& it : b.items) {
    if (!it->placed) continue;
    auto& pl = *it->placed;
    bool alone = pl.how == placed::stored && settle_claim(pl.id);
    caf::error err = b.whole_fs ? barrier_failure : caf::error{};
    if (!err && !b.whole_fs) {
      auto p = paths_of(pl.id);
      if (int e = fs_->sync_dir(p.dir)) err = io_failure(e, "fsync", p.dir);
    }
    if (!err) err = sync_new_dirs(pl.id, b.whole_fs);
    expected<file_meta> file = err     ? expected<file_meta>{err}
                               : alone ? to_file_meta(pl.id, pl.meta, 1)
                                       : describe(pl.id, pl.meta);
    // Past journal_end a crash leaves the file stored: only then is it
    // ours to acknowledge.
    if (file) err = journal_end(pl.op);
    if (!file) err = file.error();
    if (err) {
      roll_back(pl);
      it->err = err;
      it->placed.reset();
      continue;
    }
    pl.file = std::move(*file);
  }
  std::vector<expected<commit_result>> out;
  for (auto& it : b.items) {
    if (it->err)
      out.emplace_back(it->err);
    else
      out.emplace_back(commit_result{std::move(it->placed->file),
                                     it->placed->how == placed::dedup});
  }
  return out;
}

caf::error posix_store::write_small(const std::string& path, const std::string& bytes,
                                    bool flush) {
  std::unique_ptr<writable_file> f;
  if (int err = fs_->create_exclusive(path, false, &f)) return io_failure(err, "create", path);
  int err = f->append(bytes.data(), bytes.size());
  if (!err && flush) err = f->sync();
  int close_err = f->close();
  if (err || close_err) return io_failure(err ? err : close_err, "write", path);
  return {};
}

void posix_store::roll_back(const placement& pl) {
  int unlink_err = fs_->unlink(pl.ref_path);
  auto collected = collect(pl.id, "");
  // Still inconsistent: the journal entry stays open for recovery.
  if ((unlink_err == 0 || unlink_err == ENOENT) && !collected) journal_end(pl.op);
}

expected<posix_store::placement> posix_store::place(const std::string& id,
                                                    posix_staging& data,
                                                    temp_guard& meta_temp,
                                                    const stored_meta& m) {
  // The candidate is tried again when it changed under us (deleted between
  // our look and our claim); each retry means another process made
  // progress, so this ends in practice; the bound is a safety net.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    auto r = claim(id, data, meta_temp, m);
    if (!r || r->how != placed::retry) return r;
  }
  return make_error(errc::busy, "id " + id + " keeps changing; retry");
}

// A reference is a name, not a file: a hard link to our metadata temp
// file, so taking one allocates no inode (a third fewer per stored file).
expected<std::pair<uint64_t, std::string>> posix_store::add_ref(
    const std::string& id, const std::string& gen, const std::string& link_from) {
  auto p = paths_of(id);
  std::string ref_path =
      p.dir + "/" + p.ref_prefix(gen) + instance_ + "-" + std::to_string(++counter_);
  uint64_t op = journal_begin(id, ref_path.substr(p.dir.size() + 1));
  if (int err = fs_->link(link_from, ref_path)) {
    journal_end(op);
    return io_failure(err, "link", ref_path);
  }
  return std::make_pair(op, ref_path);
}

expected<posix_store::placement> posix_store::claim(const std::string& id,
                                                    posix_staging& data,
                                                    temp_guard& meta_temp,
                                                    const stored_meta& m) {
  if (auto err = ensure_dirs(id)) return err;
  auto p = paths_of(id);
  // Our reference exists before our claim, so that nobody ever sees this
  // incarnation with no references while we are still working on it.
  auto ref = add_ref(id, m.gen, meta_temp.path);
  if (!ref) return ref.error();
  placement pl{placed::stored, id, m, ref->first, ref->second, {}};
  int err = meta_temp.move_to(p.meta());
  if (err == 0) {
    // The id is ours. Content ⇒ metadata always holds: the bytes go last.
    err = data.move_to(p.content());
    if (err && err != EEXIST) {
      roll_back(pl);
      return io_failure(err, "rename", p.content());
    }
    return pl;
  }
  if (err != EEXIST) {
    roll_back(pl);
    return io_failure(err, "rename", p.meta());
  }
  // Someone holds the id; our reference carries a generation that never
  // became visible, so it counts for nothing and just goes.
  err = fs_->unlink(pl.ref_path);
  if (err && err != ENOENT) return io_failure(err, "unlink", pl.ref_path);
  journal_end(pl.op);
  stored_meta existing;
  err = read_meta(p, &existing);
  if (err == ENOENT) return outcome(placed::retry);  // deleted meanwhile
  if (err) return io_failure(err, "read", p.meta());
  if (existing.sha256 != m.sha256) return outcome(placed::collision);
  return join(id, data, meta_temp.path, existing);
}

expected<posix_store::placement> posix_store::join(const std::string& id,
                                                   posix_staging& data,
                                                   const std::string& meta_temp,
                                                   const stored_meta& existing) {
  auto p = paths_of(id);
  auto ref = add_ref(id, existing.gen, meta_temp);
  if (!ref) return ref.error();
  placement pl{placed::dedup, id, existing, ref->first, ref->second, {}};
  // A deleter of the last reference creates `.dead` and then counts
  // references; we created our reference and now look for `.dead`. One of
  // us sees the other. If the deleter went first, wait for its decision.
  if (auto err = wait_while_dying(p)) {
    roll_back(pl);
    return err;
  }
  stored_meta now;
  int err = read_meta(p, &now);
  if (err == ENOENT || (err == 0 && now.gen != existing.gen)) {
    roll_back(pl);
    return outcome(placed::retry);
  }
  if (err) {
    roll_back(pl);
    return io_failure(err, "read", p.meta());
  }
  // The claimer may not have linked the bytes yet; ours are the same.
  err = data.move_to(p.content());
  if (err && err != EEXIST) {
    roll_back(pl);
    return io_failure(err, "rename", p.content());
  }
  return pl;
}

caf::error posix_store::wait_while_dying(const object_paths& p) {
  auto start = std::chrono::steady_clock::now();
  bool recovered = false;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    file_status st;
    int err = fs_->stat(p.dead(), &st);
    if (err == ENOENT) return {};
    if (err) return io_failure(err, "stat", p.dead());
    auto waited = std::chrono::steady_clock::now() - start;
    if (!recovered && waited > dead_recover_after) {
      recover_dead_instances();  // the deleter may have died
      recovered = true;
    }
    if (waited > dead_wait_limit)
      return make_error(errc::busy, "a delete of this content is stuck; retry");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(50000));
  }
}

// Removes the incarnation at `id` if no reference is left, deciding against
// concurrent joiners through `.dead` (see join). `dead_owner` names a dead
// instance whose `.dead` marker we may take over.
caf::error posix_store::collect(const std::string& id,
                                const std::string& dead_owner) {
  auto p = paths_of(id);
  auto drop_orphan_marker = [&] {
    std::string owner;
    if (!dead_owner.empty() && fs_->read_small(p.dead(), 64, &owner) == 0 &&
        owner == dead_owner)
      fs_->unlink(p.dead());
  };
  stored_meta m;
  int err = read_meta(p, &m);
  if (err == ENOENT) {
    drop_orphan_marker();
    return {};
  }
  if (err) return io_failure(err, "read", p.meta());
  std::vector<std::string> names;
  if ((err = fs_->list_dir(p.dir, &names))) return io_failure(err, "list", p.dir);
  if (count_refs(names, p.ref_prefix(m.gen)) > 0) {
    drop_orphan_marker();
    return {};
  }
  {
    // The marker names its owner from the instant it exists: written aside,
    // then linked into place.
    temp_guard marker{fs_.get(), next_name("x.")};
    std::unique_ptr<writable_file> f;
    if ((err = fs_->create_exclusive(marker.path, false, &f))) {
      auto failure = io_failure(err, "create", marker.path);
      marker.path.clear();
      return failure;
    }
    err = f->append(instance_.data(), instance_.size());
    int close_err = f->close();
    if (err || close_err)
      return io_failure(err ? err : close_err, "write", marker.path);
    err = fs_->link(marker.path, p.dead());
    if (err == EEXIST) {
      std::string owner;
      if (dead_owner.empty() || fs_->read_small(p.dead(), 64, &owner) != 0 ||
          owner != dead_owner)
        return {};  // another live deleter decides
    } else if (err) {
      return io_failure(err, "link", p.dead());
    }
  }
  if ((err = fs_->list_dir(p.dir, &names))) {
    fs_->unlink(p.dead());
    return io_failure(err, "list", p.dir);
  }
  if (count_refs(names, p.ref_prefix(m.gen)) > 0) {
    fs_->unlink(p.dead());  // a joiner came in time: the file lives on
    return {};
  }
  // Bytes first, metadata last: content ⇒ metadata holds throughout.
  err = fs_->unlink(p.content());
  if (err && err != ENOENT) return io_failure(err, "unlink", p.content());
  err = fs_->unlink(p.meta());
  if (err && err != ENOENT) return io_failure(err, "unlink", p.meta());
  err = fs_->sync_dir(p.dir);
  fs_->unlink(p.dead());
  if (err) return io_failure(err, "fsync", p.dir);
  return {};
}

expected<file_meta> posix_store::stat_in(const std::string& id,
                                         const std::vector<std::string>& names) {
  auto p = paths_of(id);
  stored_meta m;
  int err = read_meta(p, &m);
  if (err == ENOENT) return make_error(errc::not_found, "no file " + id);
  if (err) return io_failure(err, "read", p.meta());
  if (std::find(names.begin(), names.end(), p.rest) == names.end())
    return make_error(errc::not_found, "no file " + id);
  size_t refs = count_refs(names, p.ref_prefix(m.gen));
  if (refs == 0) return make_error(errc::not_found, "no file " + id);
  return to_file_meta(id, m, refs);
}

expected<file_meta> posix_store::stat(const std::string& id) {
  if (!is_valid_id(id)) return make_error(errc::bad_request, "malformed file id");
  auto p = paths_of(id);
  std::vector<std::string> names;
  int err = fs_->list_dir(p.dir, &names);
  if (err == ENOENT) return make_error(errc::not_found, "no file " + id);
  if (err) return io_failure(err, "list", p.dir);
  return stat_in(id, names);
}

expected<std::unique_ptr<object_reader>> posix_store::open(const std::string& id) {
  if (!is_valid_id(id)) return make_error(errc::bad_request, "malformed file id");
  auto p = paths_of(id);
  std::unique_ptr<readable_file> f;
  int err = fs_->open_read(p.content(), &f);
  if (err == ENOENT || err == ENOTDIR) return make_error(errc::not_found, "no file " + id);
  if (err) return io_failure(err, "open", p.content());
  return std::unique_ptr<object_reader>{
      std::make_unique<posix_reader>(std::move(f), p.content())};
}

expected<uint64_t> posix_store::remove(const std::string& id) {
  if (!is_valid_id(id)) return make_error(errc::bad_request, "malformed file id");
  auto p = paths_of(id);
  for (;;) {
    std::vector<std::string> names;
    int err = fs_->list_dir(p.dir, &names);
    if (err == ENOENT) return make_error(errc::not_found, "no file " + id);
    if (err) return io_failure(err, "list", p.dir);
    stored_meta m;
    err = read_meta(p, &m);
    if (err == ENOENT) return make_error(errc::not_found, "no file " + id);
    if (err) return io_failure(err, "read", p.meta());
    if (std::find(names.begin(), names.end(), p.rest) == names.end())
      return make_error(errc::not_found, "no file " + id);
    std::string prefix = p.ref_prefix(m.gen);
    std::vector<std::string> refs;
    for (auto& n : names)
      if (n.compare(0, prefix.size(), prefix) == 0) refs.push_back(n);
    if (refs.empty()) return make_error(errc::not_found, "no file " + id);
    uint64_t op = journal_begin(id, "-");
    bool removed = false;
    for (auto& r : refs) {
      err = fs_->unlink(p.dir + "/" + r);
      if (err == 0) {
        removed = true;
        break;
      }
      if (err != ENOENT) {
        journal_end(op);
        return io_failure(err, "unlink", p.dir + "/" + r);
      }
    }
    if (!removed) {  // every one we saw was taken by concurrent deletes
      journal_end(op);
      continue;
    }
    // The delete is answered only once it is durable.
    if ((err = fs_->sync_dir(p.dir))) return io_failure(err, "fsync", p.dir);
    if ((err = fs_->list_dir(p.dir, &names))) return io_failure(err, "list", p.dir);
    size_t left = count_refs(names, prefix);
    if (left == 0) {
      if (auto e = collect(id, "")) return e;  // journal entry stays open
    }
    journal_end(op);
    return left;
  }
}

expected<list_page> posix_store::list(const std::optional<std::string>& after,
                                      size_t limit) {
  if (after && !is_valid_id(*after))
    return make_error(errc::bad_request, "malformed file id in after");
  list_page page;
  std::string from = after ? *after : std::string{};
  // Shard directories are walked in byte order, skipping whole shards
  // before `after`; we look one file ahead to know whether there are more.
  auto sorted_dir = [&](const std::string& path, size_t len,
                        std::vector<std::string>* out) -> caf::error {
    int err = fs_->list_dir(path, out);
    if (err == ENOENT) {
      out->clear();
      return {};
    }
    if (err) return io_failure(err, "list", path);
    out->erase(std::remove_if(out->begin(), out->end(),
                              [&](const std::string& n) {
                                return !is_base62_name(n, len);
                              }),
               out->end());
    std::sort(out->begin(), out->end());
    return {};
  };
  std::vector<std::string> l1s, l2s, names;
  if (auto err = sorted_dir(root_, 2, &l1s)) return err;
  for (auto& a : l1s) {
    if (!from.empty() && a < from.substr(0, 2)) continue;
    if (auto err = sorted_dir(root_ + "/" + a, 2, &l2s)) return err;
    for (auto& b : l2s) {
      std::string shard = a + b;
      if (!from.empty() && shard < from.substr(0, 4)) continue;
      std::string dir = root_ + "/" + a + "/" + b;
      int err = fs_->list_dir(dir, &names);
      if (err == ENOENT) continue;
      if (err) return io_failure(err, "list", dir);
      std::vector<std::string> ids;
      for (auto& n : names)
        if (is_base62_name(n, id_length - 4) && shard + n > from)
          ids.push_back(shard + n);
      std::sort(ids.begin(), ids.end());
      for (auto& id : ids) {
        auto meta = stat_in(id, names);
        if (!meta) {
          if (schema::code_of(meta.error()) == errc::not_found) continue;
          return meta.error();
        }
        if (page.files.size() == limit) {
          page.next = page.files.back().id;
          return page;
        }
        page.files.push_back(std::move(*meta));
      }
    }
  }
  return page;
}

}  // namespace

expected<std::shared_ptr<store>> open_posix_store(posix_store_options options) {
  if (!options.fs) options.fs = posix_file_system();
  if (options.max_candidates < 16)
    return make_error(errc::internal, "max_candidates must be at least 16");
  if (options.id_bits && (*options.id_bits < 1 || *options.id_bits > 128))
    return make_error(errc::internal, "id_bits must be within 1..128");
  auto s = std::make_shared<posix_store>(std::move(options));
  if (auto err = s->open()) return err;
  return std::shared_ptr<store>{std::move(s)};
}

}  // namespace depot::storage
