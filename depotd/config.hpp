#pragma once

// Where depotd's settings come from, strongest first:
//   1. the command line                 --chunk-max 1048576
//   2. the environment                  DEPOTD_CHUNK_MAX=1048576
//   3. the file of --config (TOML/INI)  chunk-max = 1048576   (or chunk_max)
//   4. the flag's default (options.hpp)
// Every source goes through the same flag table and checks, so a value means
// the same wherever it is written. An error names where the bad value came
// from: the file's line and key, the environment variable, or the flag. A key
// the file does not know, or a DEPOTD_ variable naming no flag, is an error
// too: a typo never passes silently as a default.

#include "depotd/options.hpp"

#include <optional>
#include <string>
#include <vector>

namespace depotd {

/// One flag's effective value and where it came from.
struct setting {
  std::string key;     ///< the flag without its dashes: "chunk-max"
  std::string value;   ///< as a config file writes it: 5, "x", ["a", "b"]
  std::string source;  ///< "default", "command line", "DEPOTD_CHUNK_MAX",
                       ///< or "FILE:LINE"
  bool set = true;     ///< false: no value and no default (e.g. a pool)
};

/// The settings of one start (or one SIGHUP).
struct configuration {
  options o;
  std::string file;            ///< --config's file; empty: none
  bool print = false;          ///< --print-config
  std::vector<setting> table;  ///< every flag, in --help's order

  /// The effective configuration as a config file that --config reads back,
  /// each line commented with its source.
  std::string text() const;

  /// The setting of `key` ("log-level"), or null.
  const setting* find(const std::string& key) const;
  setting* find(const std::string& key);
};

/// What resolve() found: a configuration, or the text to print and the exit
/// status (0 after --help, 2 for a bad setting).
struct resolution {
  std::optional<configuration> config;
  int exit_code = 0;
  std::string text;  ///< --help's text, or the error
};

/// Reads the command line `args` (without the program name), the DEPOTD_*
/// environment and the file of --config (or $DEPOTD_CONFIG).
resolution resolve(const std::vector<std::string>& args);

}  // namespace depotd
