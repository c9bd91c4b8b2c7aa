#include "transport/curve/key_ring.hpp"

#include "transport/curve/certificate.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <memory>
#include <sys/stat.h>

namespace depot::curve {
namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// The regular files of `dir` (sorted), or an error naming it.
std::optional<std::vector<std::string>> certificate_files(
    const std::string& dir, std::string* error,
    std::vector<std::string>* notes) {
  std::unique_ptr<DIR, int (*)(DIR*)> d{::opendir(dir.c_str()), ::closedir};
  if (!d) {
    *error = "cannot read the client keys directory " + dir + ": " +
             std::strerror(errno);
    return std::nullopt;
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      if (notes) notes->push_back(path + ": not a regular file; skipped");
      continue;
    }
    if (ends_with(name, "_secret")) {
      if (notes)
        notes->push_back(path +
                         ": a secret certificate; skipped (the server needs "
                         "only public ones, NAME.key)");
      continue;
    }
    names.push_back(std::move(path));
  }
  if (errno != 0) {
    *error = "cannot read the client keys directory " + dir + ": " +
             std::strerror(errno);
    return std::nullopt;
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string base_name(const std::string& path) {
  std::string name = path.substr(path.rfind('/') + 1);
  if (ends_with(name, ".key")) name.resize(name.size() - 4);
  return name;
}

}  // namespace

std::string_view to_string(role r) {
  return r == role::read ? "read" : "write";
}

std::optional<key_ring> key_ring::load(const std::string& dir,
                                       std::string* error,
                                       std::vector<std::string>* notes) {
  auto files = certificate_files(dir, error, notes);
  if (!files) return std::nullopt;
  key_ring ring;
  for (const std::string& path : *files) {
    auto cert = read_certificate(path, false, error);
    if (!cert) return std::nullopt;
    client_key key{cert->public_key, base_name(path), role::write, path};
    if (auto n = cert->metadata.find("name");
        n != cert->metadata.end() && !n->second.empty())
      key.name = n->second;
    if (auto r = cert->metadata.find("role"); r != cert->metadata.end()) {
      if (r->second == "read") {
        key.role = role::read;
      } else if (r->second != "write") {
        *error = path + ": role \"" + r->second +
                 "\" is neither \"read\" nor \"write\"";
        return std::nullopt;
      }
    }
    auto [it, fresh] = ring.keys_.emplace(key.public_key, key);
    if (!fresh) {
      *error = path + ": the same public key as " + it->second.file;
      return std::nullopt;
    }
  }
  return ring;
}

const client_key* key_ring::find(std::string_view public_z85) const {
  auto it = keys_.find(public_z85);
  return it == keys_.end() ? nullptr : &it->second;
}

key_ring_change compare(const key_ring& before, const key_ring& after) {
  key_ring_change change;
  for (const auto& [key, client] : after.keys()) {
    const client_key* old = before.find(key);
    if (!old)
      change.added.push_back(client);
    else if (old->role != client.role)
      change.role_changed.push_back(client);
  }
  for (const auto& [key, client] : before.keys())
    if (!after.find(key)) change.removed.push_back(client);
  return change;
}

}  // namespace depot::curve
