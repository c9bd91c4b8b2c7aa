#pragma once

// Bytes of download replies clients have not taken yet: read from disk and
// handed to the transport, but not yet written to the client's connection.
// ZeroMQ bounds a peer's outbound queue in messages only (10,000), so a
// client that pipelines download requests and never reads the replies could
// otherwise make depotd hold 10,000 × chunk_max bytes (10 GiB) for it.
//
// Two bounds, both answered `busy` (a small reply) until the client reads:
// - per client: at most `per_client` bytes (one range is always allowed
//   when nothing is unread);
// - overall: below `cap` bytes of all clients together, only the per-client
//   bound applies. Past it, a client gets a range only if it then holds at
//   most its fair share (`cap` divided among the clients holding bytes) and
//   at most a light client's `per_client / 8` (8 ranges at 64 ranges per
//   client: the client library's default depth), and the total stays within
//   `cap` + `cap / 4` (the headroom); or if it holds nothing at all (one
//   range). So the clients holding the most are refused first, and a client
//   that reads its replies keeps a few ranges in flight. The total never passes
//   `cap` + `cap / 4` by more than one range per client holding bytes.
//
// Clients are named by a string (server/client_id.hpp). Thread safe.

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace depot::server {

class unread_quota {
 public:
  /// `per_client` bytes per client, and the overall `cap` (none by default).
  explicit unread_quota(uint64_t per_client,
                        uint64_t cap = std::numeric_limits<uint64_t>::max())
      : per_client_(per_client), cap_(cap) {}

  /// Why charge() refused, or none.
  enum class refusal { none, per_client, overall };

  /// Charges `n` bytes to `client`. Returns a handle that gives them back
  /// when its last copy goes (keep it with the payload:
  /// schema::buffer::keeping), or null if a bound refuses: then `*why` (if
  /// given) says which.
  std::shared_ptr<const void> charge(const std::string& client, uint64_t n,
                                     refusal* why = nullptr);

  /// Bytes charged to `client` and not given back yet.
  uint64_t unread(const std::string& client) const;

  /// Bytes charged to all clients and not given back yet.
  uint64_t total() const { return shared_->total.load(); }

  /// Charges not given back yet: download replies handed to the transport
  /// and not yet written to their clients (or dropped).
  uint64_t ranges() const {
    return shared_->ranges.load(std::memory_order_relaxed);
  }

  /// Clients with bytes charged.
  size_t clients() const;

  /// What a client may hold past the cap (if within its fair share).
  uint64_t light() const { return per_client_ / 8; }

  /// Bytes past the cap that light clients may add together.
  uint64_t headroom() const { return cap_ / 4; }

 private:
  // Outlives the quota while charges are alive (a payload may be freed by
  // ZeroMQ after the pipeline is gone).
  struct totals {
    std::atomic<uint64_t> total{0};
    std::atomic<uint64_t> holding{0};  // accounts with bytes > 0
    std::atomic<uint64_t> ranges{0};   // charges alive
  };
  struct account {
    std::shared_ptr<totals> shared;
    std::atomic<uint64_t> bytes{0};
  };
  struct charged;

  uint64_t per_client_;
  uint64_t cap_;
  std::shared_ptr<totals> shared_ = std::make_shared<totals>();
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<account>> accounts_;
  size_t swept_at_ = 64;  // sweep expired accounts when the map passes this
};

}  // namespace depot::server
