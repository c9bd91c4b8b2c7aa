#pragma once

// CURVE keys for tests: a server certificate and client certificates laid
// out as depotd takes them (--curve-secret-key FILE --curve-clients DIR), in
// a temp dir of their own, and the socket setup of a client holding a key.

#include "testkit/temp_dir.hpp"
#include "testkit/wire.hpp"
#include "transport/curve/certificate.hpp"

#include <map>
#include <string>
#include <vector>

namespace depot::test {

/// A server key pair and the admitted clients. See the file comment.
class curve_keys {
 public:
  /// Makes the server's certificate and an empty clients directory.
  curve_keys();

  /// Makes a client key pair named `name` (metadata role `role` unless
  /// empty) and admits it: its public certificate goes into clients_dir().
  const curve::certificate& add_client(const std::string& name,
                                       const std::string& role = "");

  /// Takes `name`'s public certificate out of clients_dir() (a SIGHUP to
  /// depotd then refuses it). Its key pair stays known here.
  void remove_client(const std::string& name);

  /// A key pair that was never admitted.
  static curve::certificate stranger();

  /// depotd's flags for these keys.
  std::vector<std::string> flags() const;

  /// The server's secret certificate file.
  std::string server_secret_file() const;
  /// The directory of admitted clients' public certificates.
  std::string clients_dir() const;
  /// The server's key pair.
  const curve::certificate& server() const { return server_; }
  /// The key pair of client `name` (added before).
  const curve::certificate& client(const std::string& name) const;

  /// Socket setup for a CURVE client holding `client` that expects this
  /// server's public key.
  socket_setup as(const curve::certificate& client) const;
  /// as(client(name)).
  socket_setup as(const std::string& name) const { return as(client(name)); }

 private:
  temp_dir dir_;
  curve::certificate server_;
  std::map<std::string, curve::certificate> clients_;
};

/// Socket setup for a CURVE client with key pair `client` that expects the
/// server key `server_public` (Z85).
socket_setup curve_client(const std::string& server_public,
                          const curve::certificate& client);

}  // namespace depot::test
