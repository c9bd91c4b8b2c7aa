#pragma once

// depotd's own metrics: every family it exposes that the code updates, with
// their label values resolved to array slots when this is built, so that
// an update is an index and a relaxed atomic add. The transport, the
// actors and the store's commit path reach it through a pointer that is
// null when depotd runs without --metrics (then an update costs a null
// check). Values read at scrape time (tables, budgets, the transport's
// counters, the process) are callback families their owners register
// (transport::server, actors::pipeline, add_process_metrics).
//
// Thread safe: every member function may be called from any thread.

#include "metrics/registry.hpp"
#include "schema/errc.hpp"
#include "schema/messages.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

namespace depot::metrics {

/// Operations as label slots: schema::request_body's alternatives in their
/// order, then `invalid` (a request that could not be decoded).
inline constexpr size_t op_invalid = std::variant_size_v<schema::request_body>;
inline constexpr size_t op_count = op_invalid + 1;
/// Result codes as label slots: 0 is `ok`, then schema::errc's values.
inline constexpr size_t code_count = size_t{schema::errc_count} + 1;

/// The label value of operation slot `op` ("upload", ..., "invalid").
std::string_view op_label(size_t op);
/// The label value of result slot `code` ("ok", "bad_request", ...).
std::string_view code_label(size_t code);

/// Why an upload or download was answered `busy`.
enum class busy_cause : uint8_t {
  max_uploads,     ///< --max-uploads or --max-finished reached
  memory_budget,   ///< --memory-budget in use
  client_uploads,  ///< --max-uploads-per-client reached
  client_memory,   ///< --memory-per-client reached
  window,          ///< chunks sent past an upload's window
  unread_cap,      ///< --unread-cap: the server holds too many unread bytes
  client_unread,   ///< one client's unread download bytes
};
inline constexpr size_t busy_cause_count = 7;
/// The label value of `c` (its enumerator's name).
std::string_view to_string(busy_cause c);

/// Which store operation failed.
enum class storage_op : uint8_t {
  commit,  ///< a commit (bytes, metadata, naming, placing)
  flush,   ///< a durability barrier of a commit batch
  read,    ///< open, read, stat or list
  remove,  ///< delete
};
inline constexpr size_t storage_op_count = 4;
/// The label value of `o` ("commit", "flush", "read", "delete").
std::string_view to_string(storage_op o);

/// The metrics depotd's code updates. Owned by depotd's main; outlives
/// everything that holds a pointer to it.
class server_metrics {
 public:
  /// Registers every family in `reg`, which must outlive this.
  explicit server_metrics(registry& reg);

  /// The registry the families are in (owners add callbacks there).
  registry& reg() const { return reg_; }

  /// Steady-clock nanoseconds: a request's arrival, for reply_queued.
  static int64_t now_ns() noexcept;

  /// A request of `wire_bytes` (frames and ZMTP framing) arrived.
  void request_received(uint64_t wire_bytes) noexcept {
    received_bytes_.inc(wire_bytes);
  }

  /// A reply of `bytes` (its frames) to a request of slot `op` was queued
  /// with result slot `code`; the request arrived at `arrived_ns` (0:
  /// unknown, no duration observed).
  void reply_queued(size_t op, size_t code, int64_t arrived_ns,
                    uint64_t bytes) noexcept;

  /// A `busy` reply for `cause`.
  void busy(busy_cause cause) noexcept {
    busy_[static_cast<size_t>(cause)]->inc();
  }

  /// A store operation `op` failed with an I/O or internal error.
  void storage_error(storage_op op) noexcept {
    storage_errors_[static_cast<size_t>(op)]->inc();
  }

  /// A commit succeeded: was it a dedup, how many candidates collided.
  void committed(bool dedup, uint32_t collisions) noexcept {
    if (dedup) dedup_hits_.inc();
    if (collisions) collisions_.inc(collisions);
  }

  /// A commit batch of `files` uploads was staged.
  void batch(size_t files) noexcept { batch_files_.observe(files); }

  /// A durability barrier (syncfs or the store's flush) took `ns`.
  void flushed(int64_t ns) noexcept {
    flush_seconds_.observe(ns > 0 ? static_cast<uint64_t>(ns) : 0);
  }

 private:
  registry& reg_;
  std::array<std::array<counter*, code_count>, op_count> requests_{};
  std::array<histogram*, op_count> durations_{};
  std::array<counter*, busy_cause_count> busy_{};
  std::array<counter*, storage_op_count> storage_errors_{};
  counter& received_bytes_;
  counter& sent_bytes_;
  counter& dedup_hits_;
  counter& collisions_;
  histogram& batch_files_;
  histogram& flush_seconds_;
};

/// Adds the process' own metrics, read from /proc/self at each scrape:
/// process_resident_memory_bytes, process_virtual_memory_bytes,
/// process_open_fds, process_max_fds, process_cpu_seconds_total,
/// process_start_time_seconds (the names every Prometheus client library
/// uses, so that stock dashboards work).
void add_process_metrics(registry& reg);

}  // namespace depot::metrics
