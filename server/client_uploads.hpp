#pragma once

// What each client holds of the upload limits: uploads in progress and bytes
// of the memory budget reserved for them. Without a bound per client, one
// client could hold every upload slot (--max-uploads) or all the upload
// memory (--memory-budget), and every other client would get `busy`.
//
// A session charges the client (transport::peer::client()) that begins an
// upload; the upload's assembler keeps the returned hold and drops it when
// the upload ends (completed, aborted, expired, failed or shut down). Uploads
// are bound to tokens, not connections: whoever continues an upload, and
// from whichever connection, it stays charged to the client that began it,
// and is given back to that same account. Thread safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace depot::server {

class client_uploads {
 public:
  /// At most `max_uploads` uploads in progress and `max_bytes` reserved
  /// per client.
  client_uploads(uint64_t max_uploads, uint64_t max_bytes)
      : max_uploads_(max_uploads), max_bytes_(max_bytes) {}

  /// Why begin() refused, or none.
  enum class refusal { none, uploads, memory };

  /// What begin() returns: a hold that gives the upload and its bytes back
  /// to the client's account when its last copy goes, or null and why not.
  struct result {
    std::shared_ptr<const void> hold;
    refusal refused = refusal::none;
  };

  /// Charges one upload reserving `bytes` to `client`; refused (nothing
  /// charged) if the client would pass either bound.
  result begin(const std::string& client, uint64_t bytes);

  /// Uploads in progress charged to `client`.
  uint64_t uploads(const std::string& client) const;

  /// Bytes reserved by `client`'s uploads in progress.
  uint64_t reserved(const std::string& client) const;

  /// Clients with an upload in progress.
  size_t clients() const;

  /// The bounds given at construction.
  uint64_t max_uploads() const { return max_uploads_; }
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  struct account {
    uint64_t uploads = 0;
    uint64_t bytes = 0;
  };
  struct state {
    std::mutex mutex;
    std::unordered_map<std::string, account> accounts;  // only nonzero ones
  };
  struct held;

  uint64_t max_uploads_;
  uint64_t max_bytes_;
  // Shared with the holds: an assembler may outlive the pipeline.
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

}  // namespace depot::server
