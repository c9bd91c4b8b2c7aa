#include "storage/fsck_object.hpp"

#include "storage/naming.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace depot::storage {
namespace {

constexpr size_t rest_length = 8;  // an id less its shard digits
constexpr size_t hash_buffer_bytes = size_t{1} << 20;

// `REST.r.GEN.TOKEN` with GEN and TOKEN not empty, GEN without a dot.
bool is_ref_suffix(const std::string& suffix) {
  if (suffix.compare(0, 3, ".r.") != 0) return false;
  size_t dot = suffix.find('.', 3);
  return dot != std::string::npos && dot > 3 && dot + 1 < suffix.size();
}

std::string ref_gen(const std::string& ref) {
  size_t start = rest_length + 3;
  return ref.substr(start, ref.find('.', start) - start);
}

std::string short_hex(const std::string& hex) { return hex.substr(0, 16); }

}  // namespace

void group_entries(const std::vector<std::string>& names,
                   std::map<std::string, object_entries>* objects,
                   std::vector<std::string>* strays) {
  for (auto& n : names) {
    std::string rest = n.substr(0, rest_length);
    if (!is_id_part(rest, rest_length)) {
      strays->push_back(n);
      continue;
    }
    std::string suffix = n.substr(rest_length);
    auto& e = (*objects)[rest];
    if (suffix.empty())
      e.bytes = true;
    else if (suffix == ".meta")
      e.meta = true;
    else if (suffix == ".dead")
      e.dead = true;
    else if (is_ref_suffix(suffix))
      e.refs.push_back(n);
    else
      strays->push_back(n);
  }
  // A REST that only strays started names no object.
  for (auto it = objects->begin(); it != objects->end();) {
    auto& e = it->second;
    if (!e.bytes && !e.meta && !e.dead && e.refs.empty())
      it = objects->erase(it);
    else
      ++it;
  }
}

object_examiner::object_examiner(file_system& fs, const std::string& root,
                                 const fsck_options& options,
                                 fsck_instances& instances, fsck_report& counts)
    : fs_(&fs),
      root_(root),
      options_(&options),
      instances_(&instances),
      counts_(&counts),
      buffer_(hash_buffer_bytes) {}

std::string object_examiner::rel(const std::string& path) const {
  return path.substr(root_.size() + 1);
}

void object_examiner::add(object_check& c, fsck_kind kind,
                          const std::string& path, std::string detail) {
  fsck_finding f;
  f.kind = kind;
  f.id = c.id;
  f.path = rel(path);
  f.detail = std::move(detail);
  c.findings.push_back(std::move(f));
}

object_check object_examiner::examine(const std::string& id,
                                      const std::vector<std::string>& names,
                                      const object_check* before) {
  object_check c;
  c.id = id;
  auto p = paths_of(root_, id);
  std::vector<std::string> mine, strays;
  for (auto n = std::lower_bound(names.begin(), names.end(), p.rest);
       n != names.end() && n->compare(0, p.rest.size(), p.rest) == 0; ++n)
    mine.push_back(*n);
  std::map<std::string, object_entries> grouped;
  group_entries(mine, &grouped, &strays);
  c.entries = grouped[p.rest];
  auto& e = c.entries;
  if (e.dead) {
    std::string owner;
    int err = fs_->read_small(p.dead(), 64, &owner);
    if (err == 0 && instances_->alive(owner)) {
      c.in_flight = true;  // a live delete is deciding
      return c;
    }
    if (err != ENOENT) {
      add(c, fsck_kind::stale_tombstone, p.dead(),
          err ? std::string{"delete marker unreadable: "} + std::strerror(err)
              : "delete marker of instance " + owner + ", which is not alive");
      c.tombstone = true;
    }
  }
  if (e.meta) {
    fs_->stat(p.meta(), &c.meta_st);
    std::string bytes;
    int err = fs_->read_small(p.meta(), max_meta_bytes, &bytes);
    if (err == ENOENT) {
      e.meta = false;
    } else if (err) {
      add(c, fsck_kind::bad_meta, p.meta(),
          std::string{"metadata unreadable: "} + std::strerror(err));
    } else if (!decode_meta(bytes, &c.meta)) {
      add(c, fsck_kind::bad_meta, p.meta(), "metadata does not decode");
    } else {
      c.meta_ok = true;
    }
    if (e.meta && !c.meta_ok) {
      c.quarantine = true;
      return c;
    }
  }
  if (!e.meta) {
    if (e.bytes) {
      fs_->stat(p.content(), &c.bytes_st);
      add(c, fsck_kind::orphan_bytes, p.content(),
          std::to_string(c.bytes_st.size) + " bytes without metadata");
      c.quarantine = true;
    } else if (!e.refs.empty()) {
      add(c, fsck_kind::bad_refs, p.dir + "/" + e.refs.front(),
          std::to_string(e.refs.size()) +
              " reference entries without metadata or bytes");
      c.quarantine = true;
    }
    return c;
  }
  check_bytes(c, p, before);
  if (!c.quarantine) check_refs(c, p);
  return c;
}

void object_examiner::check_bytes(object_check& c, const object_paths& p,
                                  const object_check* before) {
  auto corrupt = [&](std::string detail) {
    add(c, fsck_kind::corrupt, p.content(), std::move(detail));
    c.quarantine = true;
  };
  const stored_meta& m = c.meta;
  int err = c.entries.bytes ? fs_->stat(p.content(), &c.bytes_st) : ENOENT;
  if (err == ENOENT) {
    add(c, fsck_kind::missing_bytes, p.meta(),
        "metadata (" + std::to_string(m.size) + " bytes, sha256 " +
            short_hex(m.sha256) + "...) and " +
            std::to_string(c.entries.refs.size()) +
            " reference entries without bytes");
    c.quarantine = true;
    return;
  }
  if (err) return corrupt(std::string{"cannot stat: "} + std::strerror(err));
  if (!c.bytes_st.is_regular)
    return corrupt(c.bytes_st.is_symlink
                       ? "a symlink (never followed), not the bytes"
                       : "not a regular file");
  uint64_t size = c.bytes_st.size;
  if (before && before->content && before->bytes_st.inode == c.bytes_st.inode &&
      before->bytes_st.size == size) {
    c.content = before->content;
  } else {
    c.content = hash(p.content(), &size, &err);
    if (!c.content)
      return corrupt(std::string{"cannot read: "} + std::strerror(err));
  }
  if (size != m.size)
    return corrupt("size mismatch (stored " + std::to_string(size) +
                   " bytes, metadata says " + std::to_string(m.size) + ")");
  std::string hex = to_hex(*c.content);
  if (hex != m.sha256)
    return corrupt("sha256 mismatch (stored " + std::to_string(size) +
                   " bytes hash " + short_hex(hex) + "..., metadata says " +
                   short_hex(m.sha256) + "...)");
  for (uint32_t k = 0; k < options_->max_candidates; ++k)
    if (candidate_id(*c.content, k, options_->id_bits) == c.id) return;
  add(c, fsck_kind::misnamed, p.content(),
      "not one of the first " + std::to_string(options_->max_candidates) +
          " naming candidates of its content (sha256 " + short_hex(hex) +
          "..., first candidate " +
          candidate_id(*c.content, 0, options_->id_bits) + ")");
  c.quarantine = true;
}

void object_examiner::check_refs(object_check& c, const object_paths& p) {
  std::string prefix = p.ref_prefix(c.meta.gen);
  size_t current = 0;
  for (auto& ref : c.entries.refs) {
    std::string path = p.dir + "/" + ref;
    if (ref.compare(0, prefix.size(), prefix) != 0) {
      add(c, fsck_kind::bad_refs, path,
          "reference entry of generation " + ref_gen(ref) +
              ", not the metadata's " + c.meta.gen +
              ": never counted, never collected");
      c.drop_refs.push_back(ref);
      continue;
    }
    file_status st;
    int err = fs_->stat(path, &st);
    if (err == ENOENT) continue;  // deleted meanwhile
    ++current;
    bool holds_meta = false;
    if (err == 0 && st.is_regular) {
      std::string bytes;
      stored_meta m;
      holds_meta = st.inode == c.meta_st.inode ||
                   (fs_->read_small(path, max_meta_bytes, &bytes) == 0 &&
                    decode_meta(bytes, &m) && m.sha256 == c.meta.sha256 &&
                    m.size == c.meta.size);
    }
    if (!holds_meta) {
      add(c, fsck_kind::bad_refs, path,
          "counted as a reference, but not a link to metadata of this "
          "content");
      c.relink_refs.push_back(ref);
    }
  }
  if (current == 0) {
    add(c, fsck_kind::bad_refs, p.meta(),
        "no reference entry of generation " + c.meta.gen +
            ": stat and list cannot see it");
    c.quarantine = true;
  }
}

std::optional<digest> object_examiner::hash(const std::string& path,
                                            uint64_t* size, int* err) {
  std::unique_ptr<readable_file> f;
  if ((*err = fs_->open_read(path, &f))) return std::nullopt;
  sha256 h;
  uint64_t offset = 0;
  for (;;) {
    size_t got = 0;
    if ((*err = f->read_at(offset, buffer_.size(), buffer_.data(), &got)))
      return std::nullopt;
    if (got == 0) break;
    h.update(buffer_.data(), got);
    offset += got;
    counts_->bytes += got;
    if (options_->progress)
      options_->progress({counts_->objects, counts_->bytes});
  }
  ++counts_->objects;
  if (options_->progress)
    options_->progress({counts_->objects, counts_->bytes});
  *size = offset;
  return h.finish();
}

}  // namespace depot::storage
