#include "metrics/listen_address.hpp"

#include <arpa/inet.h>
#include <charconv>

namespace depot::metrics {

std::string listen_address::authority() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<listen_address> parse_listen_address(std::string_view text,
                                                   std::string* error) {
  auto fail = [error](std::string why) -> std::optional<listen_address> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return fail("expected ADDR:PORT (e.g. 127.0.0.1:9570), got \"" +
                std::string{text} + "\"");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] =
      std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
      value > 65535)
    return fail("bad port \"" + std::string{port} + "\" in \"" +
                std::string{text} + "\" (0-65535; 0 picks a free one)");
  listen_address a;
  a.port = static_cast<uint16_t>(value);
  if (host == "localhost") {
    a.host = "127.0.0.1";
    return a;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    a.host = std::string{host.substr(1, host.size() - 2)};
    in6_addr a6{};
    if (::inet_pton(AF_INET6, a.host.c_str(), &a6) == 1) return a;
    return fail("bad IPv6 address \"" + a.host + "\" in \"" +
                std::string{text} + "\"");
  }
  a.host = std::string{host};
  in_addr a4{};
  if (::inet_pton(AF_INET, a.host.c_str(), &a4) == 1) return a;
  return fail("bad address \"" + a.host + "\" in \"" + std::string{text} +
              "\" (a numeric IPv4 address, [IPv6] or localhost)");
}

}  // namespace depot::metrics
