#pragma once

// A minimal JSON parser for checking the CLI's --json output in tests:
// objects, arrays, strings (with \" \\ \n \t \uXXXX for ASCII), unsigned
// integers, true, false, null. Throws std::runtime_error on anything else.

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace depot::test::json {

struct value;
using object = std::map<std::string, value>;
using array = std::vector<value>;

struct value {
  std::variant<std::nullptr_t, bool, uint64_t, std::string,
               std::shared_ptr<array>, std::shared_ptr<object>>
      v;

  bool is_null() const { return std::holds_alternative<std::nullptr_t>(v); }
  bool boolean() const { return std::get<bool>(v); }
  uint64_t number() const { return std::get<uint64_t>(v); }
  const std::string& str() const { return std::get<std::string>(v); }
  const array& arr() const { return *std::get<std::shared_ptr<array>>(v); }
  const object& obj() const { return *std::get<std::shared_ptr<object>>(v); }
  const value& operator[](const std::string& key) const {
    auto it = obj().find(key);
    if (it == obj().end()) throw std::runtime_error("no key " + key);
    return it->second;
  }
  bool has(const std::string& key) const { return obj().count(key) > 0; }
};

class parser {
 public:
  explicit parser(std::string_view text) : s_(text) {}

  value parse_document() {
    value v = parse();
    skip();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("json: " + what + " at " + std::to_string(i_));
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' ||
                              s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected ") + c);
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("bad escape");
      char e = s_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) fail("bad \\u");
          unsigned cp = std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16);
          i_ += 4;
          if (cp >= 0x80) fail("non-ASCII \\u unsupported here");
          out += static_cast<char>(cp);
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }

  value parse() {
    skip();
    if (i_ >= s_.size()) fail("unexpected end");
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      auto o = std::make_shared<object>();
      if (!eat('}')) {
        do {
          skip();
          std::string k = parse_string();
          expect(':');
          if (!o->emplace(k, parse()).second) fail("duplicate key " + k);
        } while (eat(','));
        expect('}');
      }
      return value{o};
    }
    if (c == '[') {
      ++i_;
      auto a = std::make_shared<array>();
      if (!eat(']')) {
        do a->push_back(parse());
        while (eat(','));
        expect(']');
      }
      return value{a};
    }
    if (c == '"') return value{parse_string()};
    if (word("true")) return value{true};
    if (word("false")) return value{false};
    if (word("null")) return value{nullptr};
    if (c >= '0' && c <= '9') {
      uint64_t n = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
        n = n * 10 + (s_[i_++] - '0');
      return value{n};
    }
    fail("unexpected character");
  }

  std::string_view s_;
  size_t i_ = 0;
};

inline value parse(std::string_view text) {
  return parser{text}.parse_document();
}

}  // namespace depot::test::json
