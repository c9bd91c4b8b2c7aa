#pragma once

// CURVE certificates in ZeroMQ's file format: the ZPL text that czmq's
// `zcert` and pyzmq's `zmq.auth.create_certificates` write, so keys made by
// those tools work with depot and depot's with them:
//
//   #   ZeroMQ CURVE **Secret** Certificate
//   metadata
//       name = "alice"
//       role = "read"
//   curve
//       public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//       secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//
// A public certificate (NAME.key) has no secret-key; a secret one
// (NAME.key_secret) has both and must be readable by its owner only.
// Standard library only in this header: the client library uses it too.
// Pure functions, except where a function says it touches files.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace depot::curve {

/// A key pair (or a public key alone) with its metadata.
struct certificate {
  std::string public_key;  ///< 40 characters of Z85 (32 bytes)
  std::string secret_key;  ///< 40 characters of Z85, or empty (public only)
  /// The `metadata` section: name = value, e.g. "name", "role".
  std::map<std::string, std::string> metadata;
};

/// Largest certificate file read; real ones are a few hundred bytes.
inline constexpr size_t max_certificate_bytes = 64 * 1024;

/// Parses certificate text. The `curve` section must hold a valid Z85
/// `public-key`; `secret-key`, if present, must be valid and match it.
/// On failure returns nullopt and sets `*error` to a sentence that names the
/// line ("line 7: ..."). Never throws on any input (fuzz/certificate_parser).
std::optional<certificate> parse_certificate(std::string_view text,
                                             std::string* error);

/// The file text of `cert`: with its secret key when `with_secret` (and the
/// certificate has one), else the public certificate.
std::string certificate_text(const certificate& cert, bool with_secret);

/// Reads and parses the certificate in file `path`. `secret`: it must hold a
/// secret key, and the file must not be readable or writable by group or
/// others. On failure returns nullopt and sets `*error` to a sentence that
/// names the file.
std::optional<certificate> read_certificate(const std::string& path,
                                            bool secret, std::string* error);

/// A new key pair (libzmq's zmq_curve_keypair) with `metadata`.
certificate generate_certificate(std::map<std::string, std::string> metadata);

/// Writes `cert` as `base + ".key"` (public, mode 0644) and
/// `base + ".key_secret"` (mode 0600, created so: never readable by others,
/// even for an instant). Refuses to replace an existing file. On failure
/// returns false, sets `*error` naming the file, and leaves no new file.
bool write_certificate_files(const std::string& base, const certificate& cert,
                             std::string* error);

/// True when `key` is 40 characters of Z85 that decode to 32 bytes.
bool is_z85_key(std::string_view key);

}  // namespace depot::curve
