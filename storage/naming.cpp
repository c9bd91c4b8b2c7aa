#include "storage/naming.hpp"

#include "schema/validate.hpp"

#include <algorithm>
#include <array>

namespace depot::storage {
namespace {

__extension__ using u128 = unsigned __int128;

constexpr size_t radix = sizeof base62_alphabet - 1;
static_assert(radix == 62);

constexpr std::array<int8_t, 256> inverse_of_alphabet() {
  std::array<int8_t, 256> values{};
  for (auto& v : values) v = -1;
  for (size_t i = 0; i < radix; ++i)
    values[static_cast<unsigned char>(base62_alphabet[i])] =
        static_cast<int8_t>(i);
  return values;
}

constexpr auto base62_values = inverse_of_alphabet();

}  // namespace

int base62_value(char c) {
  return base62_values[static_cast<unsigned char>(c)];
}

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
  for (size_t i = 0; i < schema::file_id_length; ++i) modulus *= radix;
  n %= modulus;
  std::string id(schema::file_id_length, '0');
  for (size_t i = schema::file_id_length; i-- > 0;) {
    id[i] = base62_alphabet[static_cast<size_t>(n % radix)];
    n /= radix;
  }
  return id;
}

}  // namespace depot::storage
