#pragma once

// The SHA-256 of a stored file, read through a file_system with a caller's
// buffer (bounded memory whatever the file's size).

#include "storage/file_system.hpp"
#include "storage/sha256.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace depot::storage {

/// Hashes the file at `path` reading `buffer->size()` bytes at a time (a
/// non-empty buffer) and sets `*out` and `*size`. `on_read`, if set, is told
/// each read's byte count. Returns 0, or the errno of the open or a read.
int digest_of_file(file_system& fs, const std::string& path,
                   std::vector<std::byte>* buffer, digest* out, uint64_t* size,
                   const std::function<void(size_t)>& on_read = {});

}  // namespace depot::storage
