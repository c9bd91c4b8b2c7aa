#pragma once

// How content is named: the candidate ids of a digest, as docs/protocol.md's
// Naming section defines them. Pure functions, safe from any thread. Whether
// a string is a well-formed id is schema::is_file_id's to say.

#include "storage/sha256.hpp"

#include <optional>
#include <string>

namespace depot::storage {

/// The base-62 digits in order of value: an id is a number written with
/// them, most significant digit first.
inline constexpr char base62_alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The value of base-62 digit `c` (0..61), or -1 if `c` is not one: the
/// inverse of base62_alphabet.
int base62_value(char c);

/// The id of naming candidate `k` for content digest `d`, exactly as
/// docs/protocol.md's Naming section: H0 = D, Hk = SHA-256(D || k as u32
/// BE); N = first 16 bytes of Hk (big-endian u128), taken mod 2^bits when
/// `bits` is set (testing only; 1..128), then mod 62^12 written as 12
/// base-62 digits.
std::string candidate_id(const digest& d, uint32_t k,
                         std::optional<unsigned> bits = std::nullopt);

}  // namespace depot::storage
