// depot: the command-line client of the depot file server.
//
//   depot [--server ENDPOINT]... [--json] [--timeout S]
//         [--curve-server-key FILE --curve-key FILE] COMMAND ...
//     upload FILE... [--name N] [--mime M]   store files, print their ids
//     download ID [-o PATH] [--force]        fetch a file (verified)
//     stat ID                                one file's metadata
//     rm ID                                  take one reference away
//     ls [--limit N] [--all]                 list stored files
//     ping                                   check the server
//     keygen NAME [--role read|write]        write a CURVE key pair
//     stats [--metrics-url URL]              a running depotd's figures
//
// Exit status: 0 success, 1 a failed operation (stderr: "error: CODE:
// message"; CODE "handshake_failed" for a refused CURVE handshake), 2 a
// usage error.

#include "client/cli/output.hpp"
#include "client/cli/progress_bar.hpp"
#include "client/cli/stats.hpp"
#include "client/client.hpp"
#include "transport/curve/certificate.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <httplib.h>
#include <iostream>
#include <malloc.h>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

namespace dc = depot::client;
using depot::cli::display_text;
using depot::cli::human_bytes;
using depot::cli::human_time;
using depot::cli::json_error;
using depot::cli::json_meta;
using depot::cli::json_string;
using depot::cli::list_row;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

struct globals {
  std::vector<std::string> servers;  // one or more: requests spread over them
  bool json = false;
  double timeout_s = 10;
  std::string curve_server_key;  // the server's public certificate
  std::string curve_key;         // this client's secret certificate
};

// Prints a failure: "error: CODE: message" on stderr, and with --json the
// same as an object on stdout.
int fail(const globals& g, const dc::error& e) {
  std::cerr << "error: " << display_text(dc::to_string(e)) << "\n";
  if (e.source == dc::error_source::handshake && g.curve_key.empty())
    std::cerr << "hint: a server started with --curve-secret-key needs "
                 "--curve-server-key FILE and --curve-key FILE (or "
                 "$DEPOT_CURVE_SERVER_KEY and $DEPOT_CURVE_KEY)\n";
  if (g.json) std::cout << json_error(e) << "\n";
  return exit_failure;
}

int usage(const std::string& message) {
  std::cerr << "error: " << message
            << "\nRun with --help for more information.\n";
  return exit_usage;
}

std::optional<dc::connection> connect(const globals& g, int& rc) {
  dc::options o;
  o.endpoints = g.servers;
  o.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(g.timeout_s * 1000));
  o.curve_server_key = g.curve_server_key;
  o.curve_key = g.curve_key;
  auto c = dc::connection::open(o);
  if (!c) {
    rc = fail(g, c.error());
    return std::nullopt;
  }
  return std::move(*c);
}

std::string last_part(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// --- upload
// --------------------------------------------------------------------

int cmd_upload(const globals& g, const std::vector<std::string>& files,
               const std::string& name, const std::string& mime) {
  if (!name.empty() && files.size() > 1)
    return usage("--name applies to one FILE only");
  int rc = 0;
  auto conn = connect(g, rc);
  if (!conn) return rc;
  std::string json = "[";
  for (const std::string& path : files) {
    bool from_stdin = path == "-";
    dc::upload_options uo;
    uo.name = !name.empty() ? name : from_stdin ? "stdin" : last_part(path);
    uo.mime = mime;
    depot::cli::progress_bar bar{display_text(uo.name), true};
    uo.on_progress = bar.callback();
    auto up = conn->upload_file(from_stdin ? "/dev/stdin" : path, uo);
    bar.clear();
    if (json.size() > 1) json += ",";
    if (!up) {
      rc = exit_failure;
      std::cerr << "error: " << display_text(path) << ": "
                << display_text(dc::to_string(up.error())) << "\n";
      std::string e = json_error(up.error());
      json += "{\"path\":" + json_string(path) + "," + e.substr(1);
      continue;
    }
    json += "{\"path\":" + json_string(path) +
            ",\"file\":" + json_meta(up->file) +
            ",\"dedup\":" + (up->dedup ? "true" : "false") + "}";
    if (!g.json)
      std::cout << display_text(up->file.id) << "  "
                << display_text(up->file.name) << "  "
                << human_bytes(up->file.size) << "  "
                << display_text(up->file.mime)
                << (up->dedup ? "  (already stored)" : "") << "\n";
  }
  if (g.json) std::cout << json << "]\n";
  return rc;
}

// --- download
// ------------------------------------------------------------------

// A stored name as a local file name: never "", "." or "..".
std::string local_name(const dc::file_meta& m) {
  if (m.name.empty() || m.name == "." || m.name == "..") return m.id;
  return m.name;
}

int cmd_download(const globals& g, const std::string& id,
                 const std::string& out, bool force) {
  int rc = 0;
  auto conn = connect(g, rc);
  if (!conn) return rc;
  if (out == "-") {
    // The bytes are the output: no summary, and no JSON on stdout.
    depot::cli::progress_bar bar{id, true};
    dc::download_options o;
    o.on_progress = bar.callback();
    auto got = conn->download(id, std::cout, o);
    bar.clear();
    if (!got) {
      std::cerr << "error: " << display_text(dc::to_string(got.error()))
                << "\n";
      return exit_failure;
    }
    return 0;
  }
  auto meta = conn->stat(id);
  if (!meta) return fail(g, meta.error());
  std::string path = out.empty() ? local_name(*meta) : out;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    path = (std::filesystem::path(path) / local_name(*meta)).string();
  if (!force && std::filesystem::exists(path, ec))
    return fail(
        g, {dc::errc::io_error, path + " exists; use --force to replace it",
            dc::error_source::local});
  depot::cli::progress_bar bar{display_text(meta->name), true};
  dc::download_options o;
  o.overwrite = force;
  o.on_progress = bar.callback();
  auto got = conn->download_file(id, path, o);
  bar.clear();
  if (!got) return fail(g, got.error());
  if (g.json)
    std::cout << "{\"path\":" << json_string(path)
              << ",\"file\":" << json_meta(*got) << "}\n";
  else
    std::cout << display_text(path) << "  " << human_bytes(got->size)
              << "  sha256 verified\n";
  return 0;
}

// --- stat, rm, ls, ping ------------------------------------------------------

int cmd_stat(const globals& g, const std::string& id) {
  int rc = 0;
  auto conn = connect(g, rc);
  if (!conn) return rc;
  auto m = conn->stat(id);
  if (!m) return fail(g, m.error());
  if (g.json) {
    std::cout << json_meta(*m) << "\n";
    return 0;
  }
  std::cout << "id       " << display_text(m->id) << "\n"
            << "name     " << display_text(m->name) << "\n"
            << "size     " << m->size << " (" << human_bytes(m->size) << ")\n"
            << "sha256   " << display_text(m->sha256) << "\n"
            << "mime     " << display_text(m->mime) << "\n"
            << "created  " << human_time(m->created) << " UTC\n"
            << "refs     " << m->refs << "\n";
  return 0;
}

int cmd_rm(const globals& g, const std::string& id) {
  int rc = 0;
  auto conn = connect(g, rc);
  if (!conn) return rc;
  auto refs = conn->remove(id);
  if (!refs) return fail(g, refs.error());
  if (g.json)
    std::cout << "{\"id\":" << json_string(id) << ",\"refs\":" << *refs
              << "}\n";
  else if (*refs == 0)
    std::cout << "deleted " << id << "\n";
  else
    std::cout << "removed one reference to " << id << "; " << *refs
              << " left, the file stays\n";
  return 0;
}

void print_row(const dc::file_meta& m) {
  std::printf("%s\n", list_row(m).c_str());
}

int cmd_ls(const globals& g, uint64_t limit, bool all) {
  int rc = 0;
  auto conn = connect(g, rc);
  if (!conn) return rc;
  std::vector<dc::file_meta> files;
  std::optional<std::string> next;
  if (all) {
    for (auto& f : conn->list(limit)) {
      if (!f) return fail(g, f.error());
      files.push_back(std::move(*f));
    }
  } else {
    auto p = conn->list_page(std::nullopt, limit);
    if (!p) return fail(g, p.error());
    files = std::move(p->files);
    next = std::move(p->next);
  }
  if (g.json) {
    std::string out = "{\"files\":[";
    for (size_t i = 0; i < files.size(); ++i)
      out += (i ? "," : "") + json_meta(files[i]);
    out +=
        "],\"next\":" + (next ? json_string(*next) : std::string{"null"}) + "}";
    std::cout << out << "\n";
    return 0;
  }
  if (!files.empty())
    std::printf("%-12s  %10s  %-19s  %-24s  %s\n", "ID", "SIZE",
                "CREATED (UTC)", "MIME", "NAME");
  for (const auto& m : files) print_row(m);
  std::fflush(stdout);
  if (next)
    std::cerr << "(more files after " << *next
              << ": use --all, or a larger --limit)\n";
  return 0;
}

int cmd_ping(const globals& g) {
  int rc = 0;
  auto conn = connect(g, rc);
  if (!conn) return rc;
  auto p = conn->ping();
  if (!p) return fail(g, p.error());
  if (g.json) {
    std::cout << "{\"endpoint\":" << json_string(p->endpoint)
              << ",\"version\":" << p->version
              << ",\"server\":" << json_string(p->server)
              << ",\"chunk_max\":" << p->chunk_max
              << ",\"round_trip_us\":" << p->round_trip.count() << "}\n";
  } else {
    std::printf("%s at %s: protocol %llu, chunk_max %s, round trip %.2f ms\n",
                display_text(p->server).c_str(), p->endpoint.c_str(),
                static_cast<unsigned long long>(p->version),
                human_bytes(p->chunk_max).c_str(),
                p->round_trip.count() / 1000.0);
  }
  return 0;
}

// --- keygen
// -------------------------------------------------------------------

// --- stats
// --------------------------------------------------------------------

constexpr const char* default_metrics_url = "http://127.0.0.1:9570";

// GET `path` of `base` (http://HOST:PORT); the body, or an error naming
// the URL and what went wrong.
std::optional<std::string> http_get(const std::string& base,
                                    const std::string& path, double timeout_s,
                                    std::string& error, int* status = nullptr) {
  httplib::Client c(base);
  if (!c.is_valid()) {
    error = "bad --metrics-url " + base + " (http://HOST:PORT)";
    return std::nullopt;
  }
  auto t = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  c.set_connection_timeout(t);
  c.set_read_timeout(t);
  auto r = c.Get(path.c_str());
  if (!r) {
    error = "cannot reach " + base + path + " (" +
            httplib::to_string(r.error()) +
            " error): is depotd running with --metrics?";
    return std::nullopt;
  }
  if (status) *status = r->status;
  if (!status && r->status != 200) {
    error = base + path + " answered HTTP " + std::to_string(r->status);
    return std::nullopt;
  }
  return r->body;
}

int stats_failure(const std::string& message) {
  std::cerr << "error: " << display_text(message) << "\n";
  return exit_failure;
}

int cmd_stats(const globals& g, std::string url, double interval_s) {
  // The URL names the server; a path other than /metrics is kept.
  std::string path = "/metrics";
  if (size_t scheme = url.find("://"); scheme != std::string::npos)
    if (size_t slash = url.find('/', scheme + 3); slash != std::string::npos) {
      path = url.substr(slash);
      url.resize(slash);
    }
  if (url.rfind("http://", 0) != 0)
    return usage("--metrics-url must start with http:// (got " + url + ")");
  std::string error;
  auto scrape = [&]() -> std::optional<std::vector<depot::cli::metric_sample>> {
    auto body = http_get(url, path, g.timeout_s, error);
    if (!body) return std::nullopt;
    auto parsed = depot::cli::parse_metrics(*body, &error);
    if (!parsed)
      error = url + path + ": not the Prometheus text format: " + error;
    return parsed;
  };
  std::optional<std::vector<depot::cli::metric_sample>> before;
  if (interval_s > 0) {
    before = scrape();
    if (!before) return stats_failure(error);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(static_cast<int64_t>(interval_s * 1000)));
  }
  auto now = scrape();
  if (!now) return stats_failure(error);
  int status = 0;
  auto ready = http_get(url, "/readyz", g.timeout_s, error, &status);
  std::string why = !ready ? "no /readyz" : status == 200 ? "ok" : *ready;
  while (!why.empty() && why.back() == '\n') why.pop_back();
  auto wall = std::chrono::duration<double>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  std::cout << depot::cli::render_stats(*now, before ? &*before : nullptr,
                                        interval_s, url, why, wall);
  return 0;
}

// Why `name` cannot be a certificate's metadata name, or nullopt.
std::optional<std::string> bad_key_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..")
    return "NAME must end in a file name (e.g. keys/alice)";
  for (unsigned char c : name) {
    if (c == '"' || c == '\'')
      return "the name '" + display_text(name) + "' holds a quote";
    if (c < 0x20 || c == 0x7f)
      return "the name '" + display_text(name) + "' holds a control character";
  }
  return std::nullopt;
}

int cmd_keygen(const globals& g, const std::string& base,
               const std::string& role) {
  std::string name = std::filesystem::path(base).filename().string();
  if (auto problem = bad_key_name(name)) return usage(*problem);
  std::map<std::string, std::string> metadata{{"name", name}};
  if (!role.empty()) metadata["role"] = role;
  depot::curve::certificate cert =
      depot::curve::generate_certificate(std::move(metadata));
  if (cert.public_key.empty())
    return fail(g, {dc::errc::internal,
                    "cannot make a key pair: this libzmq has no CURVE",
                    dc::error_source::local});
  std::string why;
  if (!depot::curve::write_certificate_files(base, cert, &why))
    return fail(g, {dc::errc::io_error, why, dc::error_source::local});
  const std::string pub = base + ".key";
  const std::string sec = base + ".key_secret";
  if (g.json) {
    std::cout << "{\"public\":" << json_string(pub)
              << ",\"secret\":" << json_string(sec)
              << ",\"public_key\":" << json_string(cert.public_key)
              << ",\"name\":" << json_string(name)
              << ",\"role\":" << json_string(role.empty() ? "write" : role)
              << "}\n";
    return 0;
  }
  std::cout << "public certificate  " << display_text(pub)
            << "  (give it to the server's --curve-clients directory)\n"
            << "secret certificate  " << display_text(sec)
            << "  (mode 0600: keep it to this client)\n"
            << "public key          " << cert.public_key << "\n";
  return 0;
}

// "a,b,c" as {"a", "b", "c"} ($DEPOT_SERVER's list of servers).
std::vector<std::string> split_servers(const std::string& list) {
  std::vector<std::string> out;
  size_t from = 0;
  while (true) {
    size_t comma = list.find(',', from);
    out.push_back(list.substr(from, comma - from));
    if (comma == std::string::npos) return out;
    from = comma + 1;
  }
}

// Makes glibc keep freed blocks of up to 32 MiB in the heap instead of
// handing them back to the kernel. Every download range arrives as a ZeroMQ
// frame of up to chunk_max bytes, freed once written; a frame in memory the
// kernel took back faults its pages in again (~13 us a page on our VMs).
// glibc's adaptive thresholds usually keep such frames, but not always: a
// 1 GiB download took 2.9k-4.1k page faults with this and 5.3k-30.5k without
// (uploads: 5.2k either way). Call first thing in main(), before any thread.
void keep_freed_frames_in_heap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_frames_in_heap();

  globals g;
  const char* env = std::getenv("DEPOT_SERVER");
  g.servers = split_servers(env && *env ? env : dc::default_endpoint);

  CLI::App app{"depot: store and fetch files on a depot server"};
  app.require_subcommand(1);
  app.fallthrough();
  std::vector<std::string> servers;
  app.add_option("-s,--server", servers,
                 "server endpoint; repeat it (or separate with commas) for "
                 "several servers of one store (default: $DEPOT_SERVER, "
                 "comma-separated, else " +
                     std::string{dc::default_endpoint} + ")")
      ->delimiter(',');
  app.add_flag("--json", g.json, "print JSON on stdout, for scripts");
  app.add_option("--timeout", g.timeout_s, "seconds to wait for each reply")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  std::string curve_server_key, curve_key;
  app.add_option("--curve-server-key", curve_server_key,
                 "CURVE: the server's public certificate file (default: "
                 "$DEPOT_CURVE_SERVER_KEY); with --curve-key");
  app.add_option("--curve-key", curve_key,
                 "CURVE: this client's secret certificate file, mode 0600 "
                 "(default: $DEPOT_CURVE_KEY); with --curve-server-key");

  auto* up = app.add_subcommand("upload", "store files and print their ids");
  std::vector<std::string> up_files;
  std::string up_name, up_mime;
  up->add_option("FILE", up_files, "files to store; - reads standard input")
      ->required();
  up->add_option(
      "--name", up_name,
      "name on the server (default: the file's own name; one FILE only)");
  up->add_option("--mime", up_mime,
                 "content type (default: the server detects it)");

  auto* down =
      app.add_subcommand("download", "fetch a file by id, verified by SHA-256");
  std::string down_id, down_out;
  bool down_force = false;
  down->add_option("ID", down_id, "the file's id")->required();
  down->add_option(
      "-o,--output", down_out,
      "file or directory to write to (default: the stored name, here); "
      "- for standard output");
  down->add_flag("-f,--force", down_force, "replace an existing file");

  auto* st = app.add_subcommand("stat", "show one file's metadata");
  std::string stat_id;
  st->add_option("ID", stat_id, "the file's id")->required();

  auto* rm = app.add_subcommand(
      "rm", "take one reference away; the file is deleted with its last one");
  std::string rm_id;
  rm->add_option("ID", rm_id, "the file's id")->required();

  auto* ls = app.add_subcommand("ls", "list stored files, in id order");
  uint64_t ls_limit = 100;
  bool ls_all = false;
  ls->add_option("--limit", ls_limit, "files per page (1 to 1000)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000}));
  ls->add_flag("--all", ls_all, "every file, page after page");

  auto* ping = app.add_subcommand("ping", "check that the server answers");

  auto* keygen = app.add_subcommand(
      "keygen",
      "write a CURVE key pair: NAME.key (public, for the server's "
      "--curve-clients directory) and NAME.key_secret (mode 0600)");
  std::string keygen_name, keygen_role;
  keygen->add_option("NAME", keygen_name, "path and name of the key files")
      ->required();
  keygen
      ->add_option("--role", keygen_role,
                   "what the server lets the key do: read (download, stat, "
                   "ls, ping) or write (everything; the default)")
      ->check(CLI::IsMember({"read", "write"}));

  auto* stats = app.add_subcommand(
      "stats", "show a running depotd's figures, from its --metrics endpoint");
  const char* env_metrics = std::getenv("DEPOT_METRICS_URL");
  std::string stats_url =
      env_metrics && *env_metrics ? env_metrics : default_metrics_url;
  double stats_interval = 1;
  stats
      ->add_option("--metrics-url", stats_url,
                   "depotd's --metrics address as a URL (default: "
                   "$DEPOT_METRICS_URL, else " +
                       std::string{default_metrics_url} + ")")
      ->capture_default_str();
  stats
      ->add_option("--interval", stats_interval,
                   "seconds between two scrapes, for rates and recent "
                   "percentiles (0: one scrape; averages since the start)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }
  if (!servers.empty()) g.servers = std::move(servers);
  for (const std::string& s : g.servers)
    if (s.empty()) return usage("an empty server endpoint");
  // A flag wins over its variable, each on its own.
  const char* env_server_key = std::getenv("DEPOT_CURVE_SERVER_KEY");
  const char* env_key = std::getenv("DEPOT_CURVE_KEY");
  g.curve_server_key = !curve_server_key.empty() ? curve_server_key
                       : env_server_key          ? env_server_key
                                                 : "";
  g.curve_key = !curve_key.empty() ? curve_key : env_key ? env_key : "";

  if (keygen->parsed()) return cmd_keygen(g, keygen_name, keygen_role);
  if (stats->parsed()) return cmd_stats(g, stats_url, stats_interval);
  if (g.curve_server_key.empty() != g.curve_key.empty())
    return usage(g.curve_key.empty()
                     ? "--curve-server-key (or $DEPOT_CURVE_SERVER_KEY) needs "
                       "--curve-key (or $DEPOT_CURVE_KEY): this client's "
                       "secret certificate"
                     : "--curve-key (or $DEPOT_CURVE_KEY) needs "
                       "--curve-server-key (or $DEPOT_CURVE_SERVER_KEY): the "
                       "server's public certificate");

  if (up->parsed()) return cmd_upload(g, up_files, up_name, up_mime);
  if (down->parsed()) return cmd_download(g, down_id, down_out, down_force);
  if (st->parsed()) return cmd_stat(g, stat_id);
  if (rm->parsed()) return cmd_rm(g, rm_id);
  if (ls->parsed()) return cmd_ls(g, ls_limit, ls_all);
  if (ping->parsed()) return cmd_ping(g);
  return usage("no command given");
}
