#include "actors/upload_table.hpp"

namespace depot::actors {

schema::reply_body finished_upload::chunk_reply(const std::string& token,
                                                uint64_t seq) const {
  if (seq == last_seq) return completion;  // a retried last chunk
  if (seq > last_seq)
    return schema::error_reply{schema::errc::out_of_order, "the upload is complete",
                               last_seq + 1};
  // A retry of an earlier chunk: acknowledged again as before, where that
  // ack is still known.
  for (auto& [s, total] : acked)
    if (s == seq) return schema::chunk_reply{token, seq, total};
  return schema::chunk_reply{token, seq, received};
}

schema::reply_body finished_upload::status_reply(const std::string& token) const {
  std::optional<schema::file_meta> file;
  if (auto* done = std::get_if<schema::chunk_done_reply>(&completion)) file = done->file;
  return schema::upload_status_reply{token, last_seq + 1, received, std::move(file)};
}

upload_table::upload_table(size_t max_active, size_t max_finished,
                           std::chrono::milliseconds linger,
                           std::function<time_point()> now)
    : max_active_(max_active),
      max_finished_(max_finished),
      linger_(linger),
      now_(std::move(now)) {}

void upload_table::purge(time_point now) {
  while (!expiry_.empty() && expiry_.front().first <= now) {
    auto i = map_.find(expiry_.front().second);
    if (i != map_.end() && i->second.record && i->second.expires <= now) map_.erase(i);
    expiry_.pop_front();
  }
}

bool upload_table::insert(const std::string& token, caf::actor a) {
  std::lock_guard<std::mutex> guard{mutex_};
  purge(now_());
  if (active_ >= max_active_ || expiry_.size() >= max_finished_) return false;
  if (!map_.emplace(token, entry{std::move(a), nullptr, {}}).second) return false;
  ++active_;
  return true;
}

upload_table::found upload_table::find(const std::string& token) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = map_.find(token);
  if (i == map_.end()) return {};
  if (i->second.record) {
    if (i->second.expires <= now_()) return {};
    return {caf::actor{}, i->second.record};
  }
  return {i->second.actor, nullptr};
}

void upload_table::finish(const std::string& token, const caf::actor_addr& a,
                          std::shared_ptr<const finished_upload> record) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = map_.find(token);
  if (i == map_.end() || !i->second.actor || i->second.actor.address() != a) return;
  auto now = now_();
  purge(now);
  i->second.actor = caf::actor{};
  i->second.record = std::move(record);
  i->second.expires = now + linger_;
  expiry_.emplace_back(i->second.expires, token);
  --active_;
}

void upload_table::withdraw(const std::string& token, const caf::actor_addr& a) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = map_.find(token);
  if (i == map_.end() || !i->second.actor || i->second.actor.address() != a) return;
  map_.erase(i);
  --active_;
}

size_t upload_table::active() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return active_;
}

size_t upload_table::finished() {
  std::lock_guard<std::mutex> guard{mutex_};
  purge(now_());
  return expiry_.size();
}

std::vector<caf::actor> upload_table::all() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<caf::actor> out;
  for (auto& [token, e] : map_)
    if (e.actor) out.push_back(e.actor);
  return out;
}

}  // namespace depot::actors
