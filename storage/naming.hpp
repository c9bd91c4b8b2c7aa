#pragma once

#include "storage/sha256.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace depot::storage {

/// Length of a file id: 12 base-62 digits.
inline constexpr size_t id_length = 12;

/// The id of naming candidate `k` for content digest `d`, exactly as
/// PROTOCOL.md's Naming section: H0 = D, Hk = SHA-256(D || k as u32 BE);
/// N = first 16 bytes of Hk (big-endian u128), taken mod 2^bits when `bits`
/// is set (testing only; 1..128), then mod 62^12 in base 62 with 0-9A-Za-z.
std::string candidate_id(const digest& d, uint32_t k,
                         std::optional<unsigned> bits = std::nullopt);

/// True when `id` is exactly 12 characters of [0-9A-Za-z]; no path is ever
/// built from an id that fails this.
bool is_valid_id(std::string_view id);

}  // namespace depot::storage
