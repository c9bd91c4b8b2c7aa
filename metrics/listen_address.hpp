#pragma once

// The ADDR:PORT of depotd's --metrics: where its HTTP endpoint listens.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace depot::metrics {

/// A numeric address and a port (0: any free one).
struct listen_address {
  std::string host;  ///< "127.0.0.1", "::1", "0.0.0.0", "::" (no brackets)
  uint16_t port = 0;
  /// host:port as a URL's authority (brackets around IPv6).
  std::string authority() const;
};

/// Parses "IPV4:PORT", "[IPV6]:PORT" or "localhost:PORT" (read as
/// 127.0.0.1). Host names are refused: the endpoint binds before anything
/// resolves names. On a syntax error: nullopt, and `*error` says why.
std::optional<listen_address> parse_listen_address(std::string_view text,
                                                   std::string* error);

}  // namespace depot::metrics
