#pragma once

// A strict, independent check of JSON log lines for tests: Python's json
// module (Debian's /usr/bin/python3, not whatever python3 is on PATH) reads
// every line as UTF-8 and as one JSON object, refusing NaN and Infinity,
// duplicate keys, a missing final newline and any line without the keys
// every depot log line has (time as RFC 3339 UTC with microseconds, level,
// thread, msg). What it read comes back typed, so tests compare the values
// the line carries, not its spelling.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace depot::test::json_lines {

/// One value as Python read it: its type ("str", "int", "float", "bool",
/// "NoneType") and, for a str, its UTF-8 bytes; else Python's repr().
struct typed {
  std::string type;
  std::string value;
};

/// One line: its keys and values.
using line = std::map<std::string, typed>;

/// The outcome of a check: `error` empty when every line passed.
struct result {
  std::string error;
  std::vector<line> lines;
};

inline constexpr const char* checker = R"PY(
import json, re, sys
TIME = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$')
LEVELS = {'trace', 'debug', 'info', 'warn', 'error', 'critical'}
def reject(name):
    raise ValueError('not JSON: ' + name)
def unique(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError('duplicate key')
    return dict(pairs)
data = open(sys.argv[1], 'rb').read()
if data and not data.endswith(b'\n'):
    print('ERROR the last line has no newline'); sys.exit(0)
out = []
for n, raw in enumerate(data.split(b'\n')[:-1], 1):
    try:
        obj = json.loads(raw.decode('utf-8'), object_pairs_hook=unique,
                         parse_constant=reject)
        if not isinstance(obj, dict): raise ValueError('not an object')
        if not isinstance(obj.get('time'), str) or not TIME.match(obj['time']):
            raise ValueError('bad time')
        if obj.get('level') not in LEVELS: raise ValueError('bad level')
        if not isinstance(obj.get('msg'), str): raise ValueError('bad msg')
        if type(obj.get('thread')) is not int: raise ValueError('bad thread')
    except Exception as e:
        print('ERROR line %d: %s: %r' % (n, e, raw)); sys.exit(0)
    for k, v in obj.items():
        t = type(v).__name__
        shown = v.encode('utf-8').hex() if t == 'str' else repr(v)
        out.append('%s\t%s\t%s' % (k.encode('utf-8').hex(), t, shown))
    out.append('--')
print('\n'.join(out))
)PY";

inline std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

/// Checks every line of the file at `path`.
inline result check_file(const std::string& path) {
  result r;
  char script[] = "/tmp/depot-json-lines-XXXXXX";
  int fd = ::mkstemp(script);
  if (fd < 0) {
    r.error = "cannot create the checker script";
    return r;
  }
  ::close(fd);
  std::ofstream(script) << checker;
  std::string command =
      std::string{"/usr/bin/python3 "} + script + " '" + path + "' 2>&1";
  std::string output;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    int status = ::pclose(p);
    if (status != 0) r.error = "python3 failed: " + output;
  } else {
    r.error = "cannot run /usr/bin/python3";
  }
  ::unlink(script);
  if (!r.error.empty()) return r;
  if (output.rfind("ERROR", 0) == 0) {
    r.error = output;
    return r;
  }
  std::istringstream in(output);
  std::string text;
  line current;
  while (std::getline(in, text)) {
    if (text == "--") {
      r.lines.push_back(std::move(current));
      current.clear();
      continue;
    }
    auto tab1 = text.find('\t');
    auto tab2 = text.find('\t', tab1 + 1);
    if (tab1 == std::string::npos || tab2 == std::string::npos) continue;
    typed v{text.substr(tab1 + 1, tab2 - tab1 - 1), text.substr(tab2 + 1)};
    if (v.type == "str") v.value = unhex(v.value);
    current[unhex(text.substr(0, tab1))] = v;
  }
  return r;
}

/// Checks every line of `text`.
inline result check_text(const std::string& text) {
  char path[] = "/tmp/depot-json-log-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return {"cannot create a temp file", {}};
  ::close(fd);
  std::ofstream(path, std::ios::binary) << text;
  auto r = check_file(path);
  ::unlink(path);
  return r;
}

/// The string `key` holds in `l`; fails the test if it is not a string.
inline std::string str(const line& l, const std::string& key) {
  auto it = l.find(key);
  if (it == l.end()) {
    ADD_FAILURE() << "no key " << key;
    return "";
  }
  EXPECT_EQ(it->second.type, "str") << key;
  return it->second.value;
}

}  // namespace depot::test::json_lines
