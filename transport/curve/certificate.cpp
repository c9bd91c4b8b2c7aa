#include "transport/curve/certificate.hpp"

#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace depot::curve {
namespace {

constexpr size_t key_bytes = 32;
constexpr size_t z85_key_chars = 40;

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

// ZPL names (rfc.zeromq.org/spec/4): letters, digits and $-_@.&+/
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || std::strchr("$-_@.&+/", c) != nullptr;
}

// One "name [= value]" line of ZPL, indentation already removed.
struct zpl_line {
  std::string name;
  std::optional<std::string> value;
};

std::optional<zpl_line> parse_line(std::string_view s, std::string* why) {
  size_t i = 0;
  while (i < s.size() && s[i] != 0 && is_name_char(s[i])) ++i;
  if (i == 0) {
    *why = "expected a name";
    return std::nullopt;
  }
  zpl_line out{std::string{s.substr(0, i)}, std::nullopt};
  auto skip_blanks = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  skip_blanks();
  if (i == s.size() || s[i] == '#') return out;
  if (s[i] != '=') {
    *why = "expected '=' after the name";
    return std::nullopt;
  }
  ++i;
  skip_blanks();
  if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
    char quote = s[i++];
    size_t end = s.find(quote, i);
    if (end == std::string_view::npos) {
      *why = "a quoted value is not closed";
      return std::nullopt;
    }
    out.value = std::string{s.substr(i, end - i)};
    i = end + 1;
    skip_blanks();
    if (i < s.size() && s[i] != '#') {
      *why = "text after the closing quote";
      return std::nullopt;
    }
    return out;
  }
  size_t start = i;
  while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '#') ++i;
  out.value = std::string{s.substr(start, i - start)};
  skip_blanks();
  if (i < s.size() && s[i] != '#') {
    *why = "an unquoted value holds a space";
    return std::nullopt;
  }
  return out;
}

bool decode_key(std::string_view z85, std::array<uint8_t, key_bytes>* out) {
  if (z85.size() != z85_key_chars) return false;
  char text[z85_key_chars + 1];
  std::memcpy(text, z85.data(), z85_key_chars);
  text[z85_key_chars] = '\0';
  return zmq_z85_decode(out->data(), text) != nullptr;
}

std::optional<certificate> parse_error(std::string* error, size_t line,
                                       const std::string& why) {
  fail(error, "line " + std::to_string(line) + ": " + why);
  return std::nullopt;
}

// Writes all of `text` to a file created at `path` with `mode`, durably.
bool write_new_file(const std::string& path, const std::string& text,
                    mode_t mode, std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return fail(error, "cannot create " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  int err = done == text.size() ? 0 : errno;
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  ::close(fd);
  if (err == 0) return true;
  ::unlink(path.c_str());
  return fail(error, "cannot write " + path + ": " + std::strerror(err));
}

}  // namespace

bool is_z85_key(std::string_view key) {
  std::array<uint8_t, key_bytes> bytes;
  return decode_key(key, &bytes);
}

std::optional<certificate> parse_certificate(std::string_view text,
                                             std::string* error) {
  if (text.size() > max_certificate_bytes)
    return parse_error(error, 1, "larger than a certificate can be");
  certificate cert;
  std::string section;  // the depth-0 name above the current line
  bool has_public = false;
  bool has_secret = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    size_t eol = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, eol == std::string_view::npos ? std::string_view::npos
                                                       : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t indent = 0;
    while (indent < line.size() && line[indent] == ' ') ++indent;
    std::string_view rest = line.substr(indent);
    if (rest.empty() || rest[0] == '#') continue;
    if (rest[0] == '\t')
      return parse_error(error, line_no, "a tab in the indentation");
    if (indent % 4 != 0)
      return parse_error(error, line_no,
                         "indentation is not a multiple of 4 spaces");
    std::string why;
    auto parsed = parse_line(rest, &why);
    if (!parsed) return parse_error(error, line_no, why);
    size_t depth = indent / 4;
    if (depth == 0) {
      section = parsed->name;
      continue;
    }
    if (section.empty())
      return parse_error(error, line_no, "an indented line without a section");
    if (depth > 1) continue;  // deeper nesting: nothing depot reads
    const std::string& name = parsed->name;
    std::string value = parsed->value.value_or("");
    if (section == "metadata") {
      if (!cert.metadata.emplace(name, std::move(value)).second)
        return parse_error(error, line_no, "metadata '" + name + "' twice");
    } else if (section == "curve" &&
               (name == "public-key" || name == "secret-key")) {
      bool& seen = name == "public-key" ? has_public : has_secret;
      if (seen) return parse_error(error, line_no, name + " twice");
      seen = true;
      if (!is_z85_key(value))
        return parse_error(error, line_no,
                           name + " is not a 40-character Z85 key");
      (name == "public-key" ? cert.public_key : cert.secret_key) = value;
    }
  }
  if (!has_public) {
    fail(error, "no curve public-key");
    return std::nullopt;
  }
  if (has_secret) {
    char derived[z85_key_chars + 1];
    if (zmq_curve_public(derived, cert.secret_key.c_str()) != 0 ||
        cert.public_key != derived) {
      fail(error, "the secret-key does not belong to the public-key");
      return std::nullopt;
    }
  }
  return cert;
}

std::string certificate_text(const certificate& cert, bool with_secret) {
  with_secret = with_secret && !cert.secret_key.empty();
  char date[32] = "";
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  if (gmtime_r(&now, &utc)) std::strftime(date, sizeof date, "%Y-%m-%d", &utc);
  std::string out =
      std::string{"#   ****  Generated on "} + date + " by depot  ****\n";
  if (with_secret)
    out +=
        "#   ZeroMQ CURVE **Secret** Certificate\n"
        "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
        "permissions.\n\n";
  else
    out +=
        "#   ZeroMQ CURVE Public Certificate\n"
        "#   Exchange securely, or use a secure mechanism to verify the "
        "contents\n"
        "#   of this file after exchange.\n\n";
  out += "metadata\n";
  for (const auto& [name, value] : cert.metadata) {
    // ZPL has no escapes: a value holding '"' is written in single quotes.
    char quote = value.find('"') == std::string::npos ? '"' : '\'';
    out += "    " + name + " = " + quote + value + quote + "\n";
  }
  out += "curve\n    public-key = \"" + cert.public_key + "\"\n";
  if (with_secret) out += "    secret-key = \"" + cert.secret_key + "\"\n";
  return out;
}

std::optional<certificate> read_certificate(const std::string& path,
                                            bool secret, std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(error, "cannot open " + path + ": " + std::strerror(errno));
    return std::nullopt;
  }
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0)
    why = std::string{"cannot stat it: "} + std::strerror(errno);
  else if (!S_ISREG(st.st_mode))
    why = "not a regular file";
  else if (static_cast<uint64_t>(st.st_size) > max_certificate_bytes)
    why = "larger than a certificate can be";
  else if (secret && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o",
                  static_cast<unsigned>(st.st_mode & 07777));
    why =
        std::string{
            "a secret key readable or writable by group or others "
            "(mode "} +
        mode + "); chmod 600 it";
  }
  std::string text;
  if (why.empty()) {
    text.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::read(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) why = std::string{"cannot read it: "} + std::strerror(errno);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    text.resize(done);
  }
  ::close(fd);
  std::optional<certificate> cert;
  if (why.empty()) {
    cert = parse_certificate(text, &why);
    if (cert && secret && cert->secret_key.empty()) {
      cert.reset();
      why =
          "a public certificate where a secret one is needed (no curve "
          "secret-key)";
    }
  }
  if (!cert) fail(error, path + ": " + why);
  return cert;
}

certificate generate_certificate(std::map<std::string, std::string> metadata) {
  char pub[z85_key_chars + 1];
  char sec[z85_key_chars + 1];
  // Fails only without CURVE support, which depot's libzmq has.
  if (zmq_curve_keypair(pub, sec) != 0) return {};
  return certificate{pub, sec, std::move(metadata)};
}

bool write_certificate_files(const std::string& base, const certificate& cert,
                             std::string* error) {
  const std::string pub = base + ".key";
  const std::string sec = base + ".key_secret";
  if (!write_new_file(pub, certificate_text(cert, false), 0644, error))
    return false;
  if (!write_new_file(sec, certificate_text(cert, true), 0600, error)) {
    ::unlink(pub.c_str());
    return false;
  }
  return true;
}

}  // namespace depot::curve
