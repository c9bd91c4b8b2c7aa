#include "depotd/config.hpp"

#include "schema/validate.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

extern char** environ;

namespace depotd {
namespace {

constexpr const char* about =
    "depotd: the depot file server (speaks docs/protocol.md over a ZeroMQ "
    "ROUTER)";

constexpr const char* env_prefix = "DEPOTD_";

// The flag table plus the two options about the configuration itself.
void build(CLI::App& app, options& o, std::string& file, bool& print) {
  add_flags(app, o);
  app.add_option("--config", file,
                 "settings file, TOML or INI: one flag per line without its "
                 "dashes (chunk-max = 1048576); flags and DEPOTD_<FLAG> "
                 "environment variables win over it ($DEPOTD_CONFIG)");
  app.add_flag("--print-config", print,
               "print the effective settings as a config file, each with "
               "where it came from, and exit");
}

// Options that are not settings: never from the environment or a file.
bool is_setting(const std::string& key) {
  return key != "help" && key != "config" && key != "print-config";
}

std::string key_of(const CLI::Option& opt) { return opt.get_single_name(); }

bool is_flag(const CLI::Option& opt) { return opt.get_expected_max() == 0; }
bool is_list(const CLI::Option& opt) { return opt.get_expected_max() > 1; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string{s.substr(b, e - b)};
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

// Levenshtein distance, for "did you mean".
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const CLI::App& app, const std::string& key) {
  std::string best;
  size_t best_d = 3;  // at most two edits away
  for (const CLI::Option* opt : app.get_options()) {
    std::string k = key_of(*opt);
    if (!is_setting(k)) continue;
    if (size_t d = distance(key, k); d < best_d) best_d = d, best = k;
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

// A value as a TOML file writes it.
std::string toml_value(const std::string& v) {
  bool number = !v.empty() && v.size() < 20;
  for (size_t i = 0; i < v.size(); ++i)
    number = number && (std::isdigit(static_cast<unsigned char>(v[i])) ||
                        (i == 0 && v[i] == '-' && v.size() > 1));
  if (number || v == "true" || v == "false") return v;
  // A JSON string is a TOML basic string: the same quotes and escapes.
  return depot::schema::json_string(v);
}

std::string toml_list(const std::vector<std::string>& vs) {
  std::string out = "[";
  for (const std::string& v : vs)
    out += (out.size() > 1 ? ", " : "") + toml_value(v);
  return out + "]";
}

// CLI11 writes a list's default as "[a,b]".
std::vector<std::string> default_list(std::string s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']')
    s = s.substr(1, s.size() - 2);
  return split_list(s);
}

setting effective(const CLI::Option& opt, const std::string& source) {
  setting s{key_of(opt), "", source, true};
  if (is_flag(opt)) {
    s.value =
        opt.count() > 0
            ? (opt.as<bool>() ? "true" : "false")
            : (opt.get_default_str().empty() ? "false" : opt.get_default_str());
  } else if (opt.count() > 0) {
    s.value = is_list(opt) ? toml_list(opt.results())
                           : toml_value(opt.results().back());
  } else if (is_list(opt)) {
    s.value = toml_list(default_list(opt.get_default_str()));
  } else if (!opt.get_default_str().empty()) {
    s.value = toml_value(opt.get_default_str());
  } else {
    s.set = false;
  }
  return s;
}

// The key a CLI11 error message is about: the one it starts with
// ("--window: ..."), else the longest --key it names.
std::string key_in(const CLI::App& app, const std::string& message) {
  if (message.rfind("--", 0) == 0) {
    std::string key = message.substr(2, message.find(':') - 2);
    if (app.get_option_no_throw("--" + key)) return key;
  }
  std::string best;
  for (const CLI::Option* opt : app.get_options()) {
    std::string k = key_of(*opt);
    std::string flag = "--" + k;
    for (size_t at = message.find(flag); at != std::string::npos;
         at = message.find(flag, at + 1)) {
      size_t end = at + flag.size();
      bool whole = end == message.size() ||
                   !(std::isalnum(static_cast<unsigned char>(message[end])) ||
                     message[end] == '-');
      if (whole && k.size() > best.size()) best = k;
    }
  }
  return best;
}

resolution failure(std::string message) {
  return {std::nullopt, 2,
          "depotd: " + message + "\nRun with --help for more information.\n"};
}

// One line of the file: where each key's value came from.
struct file_line {
  size_t number = 0;  ///< 1-based; 0: not found
  std::string text;
};

// Reads the --config file into extra arguments for the keys that no stronger
// source set. Returns an error message, or empty.
std::string read_file(const CLI::App& app, const std::string& path,
                      const std::set<std::string>& taken,
                      std::vector<std::string>& args,
                      std::map<std::string, std::string>& sources) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return "--config " + path + ": " + std::strerror(errno);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  std::vector<std::string> lines;
  {
    std::istringstream ls{text};
    for (std::string l; std::getline(ls, l);) lines.push_back(l);
  }
  std::vector<CLI::ConfigItem> items;
  try {
    std::istringstream is{text};
    items = CLI::ConfigTOML{}.from_config(is);
  } catch (const std::exception& e) {
    return path + ": " + e.what();
  }
  // Items come in file order: each is found on a line after the previous.
  size_t cursor = 0;
  auto locate = [&](auto&& matches) -> file_line {
    for (size_t i = cursor; i < lines.size(); ++i) {
      std::string t = trim(lines[i]);
      if (t.empty() || t[0] == '#' || t[0] == ';') continue;
      if (matches(t)) {
        cursor = i + 1;
        return {i + 1, t};
      }
    }
    return {};
  };
  auto at = [&](const file_line& l) {
    return path + (l.number ? ":" + std::to_string(l.number) : "") + ": ";
  };
  std::map<std::string, size_t> seen;
  for (const CLI::ConfigItem& item : items) {
    if (!item.parents.empty()) {
      if (item.name != "++") continue;
      file_line l = locate([](const std::string& t) { return t[0] == '['; });
      return at(l) + "sections are not used: " + l.text +
             " (write every key at the top level)";
    }
    file_line l = locate([&](const std::string& t) {
      return t.compare(0, item.name.size(), item.name) == 0;
    });
    std::string after = l.number ? trim(l.text.substr(item.name.size())) : "=";
    if (after.empty() || (after[0] != '=' && after[0] != ':'))
      return at(l) + "expected `key = value`, found: " + l.text;
    std::string key = item.name;
    std::replace(key.begin(), key.end(), '_', '-');
    const CLI::Option* opt = app.get_option_no_throw("--" + key);
    if (!opt || !is_setting(key))
      return at(l) +
             (opt ? "'" + key + "' cannot be set in a config file"
                  : "unknown key '" + item.name + "'" + suggestion(app, key));
    if (auto [it, fresh] = seen.emplace(key, l.number); !fresh)
      return at(l) + "key '" + key + "' set twice (first on line " +
             std::to_string(it->second) + ")";
    for (const std::string& v : item.inputs)
      if (!v.empty() && (v[0] == '"' || v[0] == '\''))
        return at(l) + "key '" + key + "': unterminated string " + v;
    if (!is_list(*opt) && item.inputs.size() != 1) {
      // CLI11 joins a key written twice into one item with two values.
      file_line again = locate([&](const std::string& t) {
        return t.compare(0, item.name.size(), item.name) == 0;
      });
      if (again.number)
        return at(again) + "key '" + key + "' set twice (first on line " +
               std::to_string(l.number) + ")";
      return at(l) + "key '" + key + "' takes one value, not a list";
    }
    if (taken.count(key)) continue;  // a flag or DEPOTD_ variable wins
    for (const std::string& v : item.inputs)
      args.push_back("--" + key + "=" + v);
    sources[key] = path + ":" + std::to_string(l.number);
  }
  return {};
}

}  // namespace

std::string configuration::text() const {
  std::string out =
      "# depotd's effective configuration (depotd --print-config); "
      "`depotd --config FILE` reads it back.\n";
  if (!file.empty()) out += "# config file: " + file + "\n";
  for (const setting& s : table) {
    if (s.set)
      out += s.key + " = " + s.value + "  # " + s.source + "\n";
    else
      out += "# " + s.key + " =  (not set)\n";
  }
  return out;
}

const setting* configuration::find(const std::string& key) const {
  for (const setting& s : table)
    if (s.key == key) return &s;
  return nullptr;
}

setting* configuration::find(const std::string& key) {
  return const_cast<setting*>(std::as_const(*this).find(key));
}

resolution resolve(const std::vector<std::string>& args) {
  // First the command line alone: --help, its own errors, what it sets.
  std::set<std::string> taken;
  std::string file;
  {
    options scratch;
    bool print = false;
    CLI::App first{about};
    build(first, scratch, file, print);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      first.parse(reversed);
    } catch (const CLI::CallForHelp&) {
      return {std::nullopt, 0, first.help()};
    } catch (const CLI::ParseError& e) {
      return failure(e.what());
    }
    for (const CLI::Option* opt : first.get_options())
      if (opt->count() > 0) taken.insert(key_of(*opt));
  }

  configuration c;
  bool print = false;
  std::string file_again;
  CLI::App app{about};
  build(app, c.o, file_again, print);

  // Then the environment: DEPOTD_<FLAG>, for flags not on the command line.
  std::vector<std::string> all = args;
  std::map<std::string, std::string> sources;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry{*e};
    if (entry.rfind(env_prefix, 0) != 0) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name{entry.substr(0, eq)};
    std::string value{entry.substr(eq + 1)};
    std::string key;
    for (char ch : name.substr(std::strlen(env_prefix)))
      key +=
          ch == '_'
              ? '-'
              : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (key == "config") {
      if (!taken.count(key)) file = value;
      continue;
    }
    const CLI::Option* opt = app.get_option_no_throw("--" + key);
    if (!opt || !is_setting(key))
      return failure("environment variable " + name + " names no depotd flag" +
                     suggestion(app, key));
    if (taken.count(key)) continue;  // the command line wins
    if (is_list(*opt))
      for (const std::string& v : split_list(value))
        all.push_back("--" + key + "=" + v);
    else
      all.push_back("--" + key + "=" + value);
    sources[key] = name;
  }
  for (const auto& [key, name] : sources) taken.insert(key);

  // Then the file, for what neither set.
  if (!file.empty()) {
    if (std::string err = read_file(app, file, taken, all, sources);
        !err.empty())
      return failure(err);
  }

  // One parse of everything through the flag table, then its rules.
  std::vector<std::string> reversed(all.rbegin(), all.rend());
  try {
    app.parse(reversed);
    check_flags(app, c.o);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    std::string key = key_in(app, message);
    auto it = sources.find(key);
    if (it == sources.end()) return failure(message);
    if (it->second.rfind(env_prefix, 0) == 0)
      return failure("environment variable " + it->second + ": " + message);
    return failure(it->second + ": key '" + key + "': " + message);
  }
  c.file = file;
  c.print = print;
  for (const CLI::Option* opt : app.get_options()) {
    std::string key = key_of(*opt);
    if (!is_setting(key)) continue;
    auto it = sources.find(key);
    c.table.push_back(effective(*opt, it != sources.end() ? it->second
                                      : opt->count() > 0  ? "command line"
                                                          : "default"));
  }
  return {std::move(c), 0, {}};
}

}  // namespace depotd
