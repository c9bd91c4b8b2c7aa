#pragma once

// The RADOS store's index: one omap entry per stored file, keyed by its id,
// in one of 62 shard objects named by the id's first character ("i.0" ..
// "i.z"). Everything about a file lives in its one entry (metadata,
// reference count, where its bytes are), so that every change to a file is
// one compare-and-swap on one object, atomic at the OSD: claiming a free id,
// adding or taking a reference, removing the file. Omap keys are sorted, so
// the shards read in order are the ordered `list` without any scan.

#include "storage/meta_file.hpp"

#include <rados/librados.h>

#include <cstdint>
#include <optional>
#include <string>

namespace depot::storage::rados {

/// A file's index entry.
struct entry {
  stored_meta meta;    ///< meta.gen is the token naming its data objects
  uint64_t refs = 0;   ///< live references (>= 1)
  uint64_t stripe = 0; ///< bytes per data object (the last may hold fewer)

  /// Data objects holding the bytes: ceil(size / stripe).
  uint64_t parts() const;
};

/// `e` as the omap value stored (refs and stripe, then encode_meta).
std::string encode_entry(const entry& e);
/// Decodes what encode_entry wrote; false for anything else.
bool decode_entry(const std::string& value, entry* out);

/// The shard object holding id `id`'s entry.
std::string shard_object(const std::string& id);
/// The shard objects in ascending order of the ids they hold.
std::string shard_object_at(size_t index);
inline constexpr size_t shard_count = 62;
/// The index of the shard holding ids starting with `c`.
size_t shard_index(char c);

/// Data object `part` of the file whose entry's token is `token`.
std::string data_object(const std::string& token, uint64_t part);

/// One entry as read: its raw value (what a compare-and-swap compares) and
/// its decoded form.
struct read_entry {
  std::string raw;
  entry decoded;
};

/// Reads id `id`'s entry: nullopt if there is none; -errno on failure, or
/// -EBADMSG for an entry that does not decode.
int get_entry(rados_ioctx_t io, const std::string& id,
              std::optional<read_entry>* out);

class write_op;

/// Adds to `op` (run on shard_object(id)) the claim of free id `id` with
/// `value`.
void add_claim(write_op& op, const std::string& id, const std::string& value);

/// Claims free id `id` with `value`: 0, -ECANCELED if it holds an entry
/// already (nothing changed), or another -errno.
int claim_entry(rados_ioctx_t io, const std::string& id,
                const std::string& value);

/// Replaces `id`'s entry if it still is `old_value`: 0, -ECANCELED if it
/// changed meanwhile (nothing changed), or another -errno.
int swap_entry(rados_ioctx_t io, const std::string& id,
               const std::string& old_value, const std::string& new_value);

/// Removes `id`'s entry if it still is `old_value`; as swap_entry.
int remove_entry(rados_ioctx_t io, const std::string& id,
                 const std::string& old_value);

}  // namespace depot::storage::rados
