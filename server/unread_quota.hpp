#pragma once

// Bytes of download replies each client has not taken yet: read from disk
// and handed to the transport, but not yet written to the client's
// connection. ZeroMQ bounds a peer's outbound queue in messages only
// (10,000), so a client that pipelines download requests and never reads
// the replies could otherwise make depotd hold 10,000 × chunk_max bytes
// (10 GiB) for it. Past its quota a client's downloads are answered `busy`
// (a small reply) until it reads. Thread safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace depot::server {

class unread_quota {
 public:
  /// `per_client` bytes per client; a single range is always allowed.
  explicit unread_quota(uint64_t per_client) : per_client_(per_client) {}

  /// Charges `n` bytes to `client` (a routing id). Returns a handle that
  /// gives them back when its last copy goes (keep it with the payload:
  /// schema::buffer::keeping), or null if `client` would pass its quota.
  std::shared_ptr<const void> charge(const std::string& client, uint64_t n);

  /// Bytes charged to `client` and not given back yet.
  uint64_t unread(const std::string& client) const;

  /// Clients with bytes charged.
  size_t clients() const;

 private:
  struct account {
    std::atomic<uint64_t> bytes{0};
  };
  struct charged;

  uint64_t per_client_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<account>> accounts_;
  size_t swept_at_ = 64;  // sweep expired accounts when the map passes this
};

}  // namespace depot::server
