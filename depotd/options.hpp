#pragma once

// depotd's settings: the struct every flag sets, and the flag table (CLI11)
// binding each flag to its member. A member's initializer is its flag's
// default: `depotd --help` and `depotd --print-config` print it from there,
// and nothing else repeats it. The same table reads the command line, the
// DEPOTD_<FLAG> environment variables and the --config file (config.hpp).

#include "actors/pipeline.hpp"
#include "server/limits.hpp"
#include "storage/posix_store.hpp"
#include "storage/rados/rados_store.hpp"
#include "transport/server.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace depotd {

/// Everything depotd's flags set.
struct options {
  options() { store.root = "./data"; }

  depot::server::limits lim;
  std::string store_kind = "posix";
  depot::storage::posix_store_options store;
  depot::storage::rados_store_options rados;
  depot::transport::server_options transport;
  depot::actors::pipeline_options pipeline;
  size_t threads = 0;  ///< 0: CAF's default, max(cores, 4)
  std::string log_level = "info";
  /// text or json (logging/log.hpp)
  std::string log_format = "text";
  std::string curve_secret_key;  ///< the server's secret certificate
  std::string curve_clients;     ///< directory of admitted client keys
  bool insecure = false;         ///< NULL security on a public address
  std::string metrics;           ///< --metrics ADDR:PORT; empty: off
};

/// Whole seconds of `d`, for flags given in seconds.
uint64_t seconds_of(std::chrono::milliseconds d);

/// Adds every flag of depotd's server to `app`, each bound to its member of
/// `o` (which must outlive `app`).
void add_flags(CLI::App& app, options& o);

/// The rules between flags, once `app` has parsed into `o`: fills in
/// defaults that depend on other flags and throws CLI::ValidationError
/// naming the flag at fault.
void check_flags(const CLI::App& app, options& o);

}  // namespace depotd
