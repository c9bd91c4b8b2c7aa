#pragma once

// Where a POSIX store keeps what (see posix_store.hpp for the whole
// layout): the paths of one id, the shard directories above it, and the
// names of reference entries. Pure functions, safe from any thread; every
// `id` taken here must be a well-formed id (schema::is_file_id).

#include <cstddef>
#include <string>
#include <vector>

namespace depot::storage {

/// The entries of id `abcdEFGH1234` under ROOT/ab/cd.
struct object_paths {
  std::string dir;   ///< ROOT/ab/cd
  std::string rest;  ///< EFGH1234: the id without its shard digits
  /// The bytes.
  std::string content() const { return dir + "/" + rest; }
  /// The metadata: written first, the claim on the id.
  std::string meta() const { return dir + "/" + rest + ".meta"; }
  /// Present while a delete of the last reference is deciding.
  std::string dead() const { return dir + "/" + rest + ".dead"; }
  /// The name every reference entry of generation `gen` starts with.
  std::string ref_prefix(const std::string& gen) const {
    return rest + ".r." + gen + ".";
  }
};

/// Digits of an id that name its two shard directories (2 + 2).
inline constexpr size_t shard_digits = 4;

/// The paths of `id` in the store at `root`.
object_paths paths_of(const std::string& root, const std::string& id);

/// ROOT/ab, the first-level shard directory of `id`.
std::string l1_dir(const std::string& root, const std::string& id);

/// The shard directories of an id numbered densely: ROOT/ab as l1 in
/// [0, 62^2), ROOT/ab/cd as l2 in [0, 62^4).
struct shard_index {
  size_t l1;  ///< ROOT/ab
  size_t l2;  ///< ROOT/ab/cd
};
/// How many ROOT/ab directories there can be.
inline constexpr size_t l1_shards = size_t{62} * 62;
/// How many ROOT/ab/cd directories there can be.
inline constexpr size_t l2_shards = l1_shards * l1_shards;
/// The shard directories of `id`, numbered.
shard_index shard_of(const std::string& id);

/// True when `name` is `length` characters that may appear in an id: a
/// shard directory (2) or an object's bytes (8) rather than anything else.
bool is_id_part(const std::string& name, size_t length);

/// The names in `names` that start with `prefix`.
std::vector<std::string> with_prefix(const std::vector<std::string>& names,
                                     const std::string& prefix);

/// How many names in `names` start with `prefix`.
size_t count_prefixed(const std::vector<std::string>& names,
                      const std::string& prefix);

/// `digits` random lowercase hex digits (at most 64), fresh from the kernel
/// on every call so that a forked child never repeats its parent's: the
/// names of instances and generations. Throws only if the kernel refuses.
std::string random_hex(size_t digits);

}  // namespace depot::storage
