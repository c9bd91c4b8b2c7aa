#include "client/channel.hpp"
#include "transport/curve/certificate.hpp"

#include <string>
#include <utility>

namespace depot::client::detail {

result<std::optional<curve_keys>> read_curve_keys(const options& opts) {
  const bool server = !opts.curve_server_key.empty();
  const bool client = !opts.curve_key.empty();
  if (!server && !client) return std::optional<curve_keys>{};
  if (!server || !client)
    return error{errc::bad_request,
                 server ? "CURVE: the server's public key is given "
                          "(curve_server_key) but not this client's secret "
                          "certificate (curve_key)"
                        : "CURVE: this client's secret certificate is given "
                          "(curve_key) but not the server's public key "
                          "(curve_server_key)",
                 error_source::local};
  std::string why;
  // Any certificate of the server will do: only its public key is used.
  auto server_cert =
      curve::read_certificate(opts.curve_server_key, false, &why);
  if (!server_cert)
    return error{errc::bad_request, "the server's certificate: " + why,
                 error_source::local};
  auto client_cert = curve::read_certificate(opts.curve_key, true, &why);
  if (!client_cert)
    return error{errc::bad_request, "this client's certificate: " + why,
                 error_source::local};
  return std::optional<curve_keys>{curve_keys{
      std::move(server_cert->public_key), std::move(client_cert->public_key),
      std::move(client_cert->secret_key)}};
}

}  // namespace depot::client::detail
