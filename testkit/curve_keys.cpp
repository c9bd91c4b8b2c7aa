#include "testkit/curve_keys.hpp"

#include <filesystem>
#include <stdexcept>

namespace depot::test {

curve_keys::curve_keys()
    : server_(curve::generate_certificate({{"name", "depotd"}})) {
  std::string error;
  if (!curve::write_certificate_files(dir_ / "server", server_, &error))
    throw std::runtime_error(error);
  std::filesystem::create_directory(clients_dir());
}

const curve::certificate& curve_keys::add_client(const std::string& name,
                                                 const std::string& role) {
  std::map<std::string, std::string> metadata{{"name", name}};
  if (!role.empty()) metadata["role"] = role;
  auto cert = curve::generate_certificate(std::move(metadata));
  std::string error;
  if (!curve::write_certificate_files(clients_dir() + "/" + name, cert, &error))
    throw std::runtime_error(error);
  // The clients directory holds public certificates only.
  std::filesystem::rename(clients_dir() + "/" + name + ".key_secret",
                          dir_ / (name + ".key_secret"));
  return clients_[name] = std::move(cert);
}

void curve_keys::remove_client(const std::string& name) {
  std::filesystem::remove(clients_dir() + "/" + name + ".key");
}

curve::certificate curve_keys::stranger() {
  return curve::generate_certificate({{"name", "stranger"}});
}

std::vector<std::string> curve_keys::flags() const {
  return {"--curve-secret-key", server_secret_file(), "--curve-clients",
          clients_dir()};
}

std::string curve_keys::server_secret_file() const {
  return dir_ / "server.key_secret";
}

std::string curve_keys::clients_dir() const { return dir_ / "clients"; }

const curve::certificate& curve_keys::client(const std::string& name) const {
  return clients_.at(name);
}

socket_setup curve_keys::as(const curve::certificate& client) const {
  return curve_client(server_.public_key, client);
}

socket_setup curve_client(const std::string& server_public,
                          const curve::certificate& client) {
  return [server_public, client](zmq::socket_t& s) {
    s.set(zmq::sockopt::curve_serverkey, server_public);
    s.set(zmq::sockopt::curve_publickey, client.public_key);
    s.set(zmq::sockopt::curve_secretkey, client.secret_key);
  };
}

}  // namespace depot::test
