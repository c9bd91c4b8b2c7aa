#include "storage/naming.hpp"

#include "schema/validate.hpp"

namespace depot::storage {
namespace {

__extension__ using u128 = unsigned __int128;

constexpr char alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

}  // namespace

std::string candidate_id(const digest& d, uint32_t k,
                         std::optional<unsigned> bits) {
  digest h = d;
  if (k > 0) {
    uint8_t in[36];
    std::copy(d.begin(), d.end(), in);
    in[32] = static_cast<uint8_t>(k >> 24);
    in[33] = static_cast<uint8_t>(k >> 16);
    in[34] = static_cast<uint8_t>(k >> 8);
    in[35] = static_cast<uint8_t>(k);
    h = sha256::of(in, sizeof in);
  }
  u128 n = 0;
  for (size_t i = 0; i < 16; ++i) n = (n << 8) | h[i];
  if (bits && *bits < 128) n &= (u128{1} << *bits) - 1;
  u128 modulus = 1;
  for (size_t i = 0; i < id_length; ++i) modulus *= 62;
  n %= modulus;
  std::string id(id_length, '0');
  for (size_t i = id_length; i-- > 0;) {
    id[i] = alphabet[static_cast<size_t>(n % 62)];
    n /= 62;
  }
  return id;
}

bool is_valid_id(std::string_view id) { return schema::is_file_id(id); }

}  // namespace depot::storage
