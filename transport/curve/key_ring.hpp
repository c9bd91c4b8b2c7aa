#pragma once

// The client keys a CURVE server admits: the public certificates in one
// directory (depotd --curve-clients DIR), each with a role. Immutable once
// loaded; a reload (SIGHUP) loads a new ring and swaps it in whole.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::curve {

/// What a client may do: `read` (download, stat, list, ping) or `write`
/// (everything). A certificate's metadata says `role = "read"`; no role is
/// `write`.
enum class role : uint8_t { read, write };

/// "read" or "write".
std::string_view to_string(role r);

/// One admitted client.
struct client_key {
  std::string public_key;  ///< Z85, 40 characters: ZAP's User-Id for it
  std::string name;        ///< metadata `name`, else the file's name
  curve::role role = role::write;
  std::string file;  ///< the certificate file it came from
};

/// The admitted keys, by public key. Safe to share between threads (const).
class key_ring {
 public:
  /// Loads every certificate in `dir`: each regular file whose name does not
  /// start with '.' and does not end in "_secret" (those are skipped and
  /// named in `*notes`). A file that is not a valid public certificate, a
  /// role other than read or write, the same key in two files, or an
  /// unreadable `dir` is an error naming the file (nullopt, `*error` set).
  static std::optional<key_ring> load(const std::string& dir,
                                      std::string* error,
                                      std::vector<std::string>* notes);

  /// The client with public key `public_z85`, or null.
  const client_key* find(std::string_view public_z85) const;

  /// All admitted clients, by public key.
  const std::map<std::string, client_key, std::less<>>& keys() const {
    return keys_;
  }

 private:
  std::map<std::string, client_key, std::less<>> keys_;
};

/// How `after` differs from `before`: keys added, removed, and those whose
/// role changed (as they are in `after`).
struct key_ring_change {
  std::vector<client_key> added;
  std::vector<client_key> removed;
  std::vector<client_key> role_changed;
};
key_ring_change compare(const key_ring& before, const key_ring& after);

}  // namespace depot::curve
