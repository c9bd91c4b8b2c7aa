#include "metrics/server_metrics.hpp"

#include "schema/codec.hpp"

#include <chrono>
#include <string>
#include <utility>

namespace depot::metrics {
namespace {

template <size_t... I>
std::array<std::string_view, op_count> op_names(std::index_sequence<I...>) {
  return {schema::op_name(schema::request_body{std::in_place_index<I>})...,
          "invalid"};
}

const std::array<std::string_view, op_count>& op_labels() {
  static const auto names = op_names(
      std::make_index_sequence<std::variant_size_v<schema::request_body>>{});
  return names;
}

}  // namespace

std::string_view op_label(size_t op) {
  return op < op_count ? op_labels()[op] : "invalid";
}

std::string_view code_label(size_t code) {
  if (code == 0) return "ok";
  return schema::to_string(static_cast<schema::errc>(code));
}

std::string_view to_string(busy_cause c) {
  switch (c) {
    case busy_cause::max_uploads:
      return "max_uploads";
    case busy_cause::memory_budget:
      return "memory_budget";
    case busy_cause::client_uploads:
      return "client_uploads";
    case busy_cause::client_memory:
      return "client_memory";
    case busy_cause::window:
      return "window";
    case busy_cause::unread_cap:
      return "unread_cap";
    case busy_cause::client_unread:
      return "client_unread";
  }
  return "unknown";
}

std::string_view to_string(storage_op o) {
  switch (o) {
    case storage_op::commit:
      return "commit";
    case storage_op::flush:
      return "flush";
    case storage_op::read:
      return "read";
    case storage_op::remove:
      return "delete";
  }
  return "unknown";
}

server_metrics::server_metrics(registry& reg)
    : reg_(reg),
      received_bytes_(
          reg.add_counters("depot_received_bytes_total",
                           "Bytes of requests received, as on the wire "
                           "(frames and ZMTP framing, CURVE's overhead "
                           "included).")
              .add({})),
      sent_bytes_(reg.add_counters("depot_sent_bytes_total",
                                   "Bytes of replies queued for clients (their "
                                   "frames: headers and payloads).")
                      .add({})),
      dedup_hits_(reg.add_counters("depot_dedup_hits_total",
                                   "Uploads whose content was already stored "
                                   "(a reference added, no bytes kept).")
                      .add({})),
      collisions_(reg.add_counters("depot_naming_collisions_total",
                                   "Naming candidates passed over because "
                                   "other content held the id.")
                      .add({})),
      batch_files_(
          reg.add_histograms("depot_commit_batch_files",
                             "Uploads per commit batch (one group commit); the "
                             "count is the number of batches.")
              .add({}, histogram::powers_of_two(256))),
      flush_seconds_(
          reg.add_histograms("depot_commit_flush_seconds",
                             "Time of each durability barrier a commit batch "
                             "waits for (syncfs on the POSIX store).")
              .add({}, histogram::latency_ns(), 1000000000)) {
  auto& requests = reg.add_counters(
      "depot_requests_total",
      "Requests answered, by operation and result code (ok, or the error "
      "code of docs/protocol.md).",
      {"op", "code"});
  auto& durations = reg.add_histograms(
      "depot_request_duration_seconds",
      "Time from a request's arrival on the I/O thread to its reply being "
      "queued, by operation.",
      {"op"});
  for (size_t op = 0; op < op_count; ++op) {
    std::string o{op_label(op)};
    for (size_t code = 0; code < code_count; ++code)
      requests_[op][code] = &requests.add({o, std::string{code_label(code)}});
    durations_[op] =
        &durations.add({o}, histogram::latency_ns(), uint64_t{1000000000});
  }
  auto& busy = reg.add_counters("depot_busy_total",
                                "Requests answered busy, by cause.", {"cause"});
  for (size_t c = 0; c < busy_cause_count; ++c)
    busy_[c] = &busy.add({std::string{to_string(static_cast<busy_cause>(c))}});
  auto& errors = reg.add_counters(
      "depot_storage_errors_total",
      "Store operations that failed with io_error or internal, by operation.",
      {"op"});
  for (size_t o = 0; o < storage_op_count; ++o)
    storage_errors_[o] =
        &errors.add({std::string{to_string(static_cast<storage_op>(o))}});
}

int64_t server_metrics::now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void server_metrics::reply_queued(size_t op, size_t code, int64_t arrived_ns,
                                  uint64_t bytes) noexcept {
  if (op >= op_count) op = op_invalid;
  if (code >= code_count) code = static_cast<size_t>(schema::errc::internal);
  requests_[op][code]->inc();
  sent_bytes_.inc(bytes);
  if (arrived_ns > 0) {
    int64_t d = now_ns() - arrived_ns;
    durations_[op]->observe(d > 0 ? static_cast<uint64_t>(d) : 0);
  }
}

}  // namespace depot::metrics
