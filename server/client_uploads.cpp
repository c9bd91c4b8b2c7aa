#include "server/client_uploads.hpp"

namespace depot::server {

// One upload's charge: given back to the account it was taken from when the
// assembler lets go of it, however the upload ended.
struct client_uploads::held {
  held(std::shared_ptr<state> s, std::string client, uint64_t bytes)
      : s(std::move(s)), client(std::move(client)), bytes(bytes) {}
  held(const held&) = delete;
  held& operator=(const held&) = delete;
  ~held() {
    std::lock_guard<std::mutex> guard{s->mutex};
    auto i = s->accounts.find(client);
    if (i == s->accounts.end()) return;  // cannot happen: charged in begin()
    i->second.uploads -= 1;
    i->second.bytes -= bytes;
    if (i->second.uploads == 0) s->accounts.erase(i);
  }
  std::shared_ptr<state> s;
  std::string client;
  uint64_t bytes;
};

client_uploads::result client_uploads::begin(const std::string& client,
                                             uint64_t bytes) {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto i = state_->accounts.find(client);
  account now = i == state_->accounts.end() ? account{} : i->second;
  if (now.uploads >= max_uploads_) return {nullptr, refusal::uploads};
  if (bytes > max_bytes_ || now.bytes > max_bytes_ - bytes)
    return {nullptr, refusal::memory};
  auto& a = state_->accounts[client];
  a.uploads += 1;
  a.bytes += bytes;
  return {std::make_shared<held>(state_, client, bytes), refusal::none};
}

uint64_t client_uploads::uploads(const std::string& client) const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto i = state_->accounts.find(client);
  return i == state_->accounts.end() ? 0 : i->second.uploads;
}

uint64_t client_uploads::reserved(const std::string& client) const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  auto i = state_->accounts.find(client);
  return i == state_->accounts.end() ? 0 : i->second.bytes;
}

size_t client_uploads::clients() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->accounts.size();
}

}  // namespace depot::server
