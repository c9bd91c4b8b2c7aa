#include "storage/rados/index.hpp"

#include "storage/naming.hpp"
#include "storage/rados/rados_io.hpp"

#include <cerrno>
#include <charconv>

namespace depot::storage::rados {

uint64_t entry::parts() const {
  return stripe == 0 ? 0 : (meta.size + stripe - 1) / stripe;
}

// "REFS STRIPE\n" then the msgpack metadata: the counters stay readable
// with `rados listomapvals`, and the whole value is what a swap compares.
std::string encode_entry(const entry& e) {
  return std::to_string(e.refs) + ' ' + std::to_string(e.stripe) + '\n' +
         encode_meta(e.meta);
}

namespace {

bool parse_u64(const char*& p, const char* end, char stop, uint64_t* out) {
  auto [next, ec] = std::from_chars(p, end, *out);
  if (ec != std::errc{} || next == end || *next != stop) return false;
  p = next + 1;
  return true;
}

}  // namespace

bool decode_entry(const std::string& value, entry* out) {
  const char* p = value.data();
  const char* end = p + value.size();
  if (!parse_u64(p, end, ' ', &out->refs) ||
      !parse_u64(p, end, '\n', &out->stripe))
    return false;
  // out->meta is not decoded yet (it may hold an earlier entry's): a stripe
  // of 0 is checked below, against this entry's size.
  if (out->refs == 0) return false;
  if (!decode_meta(std::string(p, end), &out->meta)) return false;
  return out->stripe != 0 || out->meta.size == 0;
}

size_t shard_index(char c) {
  int v = base62_value(c);
  return v < 0 ? 0 : static_cast<size_t>(v);
}

std::string shard_object_at(size_t index) {
  return std::string("i.") + base62_alphabet[index];
}

std::string shard_object(const std::string& id) {
  return shard_object_at(id.empty() ? 0 : shard_index(id[0]));
}

std::string data_object(const std::string& token, uint64_t part) {
  return "d." + token + "." + std::to_string(part);
}

int get_entry(rados_ioctx_t io, const std::string& id,
              std::optional<read_entry>* out) {
  omap_page page;
  if (int r = omap_get(io, shard_object(id), {id}, &page); r < 0) return r;
  auto it = page.values.find(id);
  if (it == page.values.end()) {
    out->reset();
    return 0;
  }
  read_entry e;
  e.raw = std::move(it->second);
  if (!decode_entry(e.raw, &e.decoded)) return -EBADMSG;
  *out = std::move(e);
  return 0;
}

// An absent omap key compares equal to the empty value: the claim is "the
// key is empty", made on a shard object that the same operation creates if
// it does not exist yet.
void add_claim(write_op& op, const std::string& id, const std::string& value) {
  op.create(false);
  op.omap_cmp_eq(id, "");
  op.omap_set(id, value);
}

int claim_entry(rados_ioctx_t io, const std::string& id,
                const std::string& value) {
  write_op op;
  add_claim(op, id, value);
  return op.operate(io, shard_object(id));
}

int swap_entry(rados_ioctx_t io, const std::string& id,
               const std::string& old_value, const std::string& new_value) {
  write_op op;
  op.omap_cmp_eq(id, old_value);
  op.omap_set(id, new_value);
  return op.operate(io, shard_object(id));
}

int remove_entry(rados_ioctx_t io, const std::string& id,
                 const std::string& old_value) {
  write_op op;
  op.omap_cmp_eq(id, old_value);
  op.omap_rm({id});
  return op.operate(io, shard_object(id));
}

}  // namespace depot::storage::rados
