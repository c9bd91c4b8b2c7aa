// libFuzzer target: the parser of CURVE certificate files (ZPL), which
// depotd reads from --curve-clients and the client from its key options.
// Anything must parse or be refused with a reason, never crash; what parses
// must write out (certificate_text) as text that parses to the same keys
// and metadata.

#include "transport/curve/certificate.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace depot::curve;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto cert = parse_certificate(text, &error);
  if (!cert) {
    if (error.empty()) __builtin_trap();
    return 0;
  }
  // ZPL has no escapes: a value holding both quote characters cannot be
  // written back (only read, unquoted).
  for (const auto& [name, value] : cert->metadata)
    if (value.find('"') != std::string::npos &&
        value.find('\'') != std::string::npos)
      return 0;
  auto again = parse_certificate(certificate_text(*cert, true), &error);
  if (!again || again->public_key != cert->public_key ||
      again->secret_key != cert->secret_key ||
      again->metadata != cert->metadata)
    __builtin_trap();
  return 0;
}
