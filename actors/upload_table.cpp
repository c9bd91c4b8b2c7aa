#include "actors/upload_table.hpp"

namespace depot::actors {

schema::reply_body finished_upload::chunk_reply(const std::string& token,
                                                uint64_t seq) const {
  if (seq == last_seq) return completion;  // a retried last chunk
  if (seq > last_seq)
    return schema::error_reply{schema::errc::out_of_order,
                               "the upload is complete", last_seq + 1};
  // A retry of an earlier chunk: acknowledged again as before, where that
  // ack is still known.
  return schema::chunk_reply{token, seq, acked_total(acked, seq, received)};
}

schema::reply_body finished_upload::status_reply(
    const std::string& token) const {
  std::optional<schema::file_meta> file;
  if (auto* done = std::get_if<schema::chunk_done_reply>(&completion))
    file = done->file;
  return schema::upload_status_reply{token, last_seq + 1, received,
                                     std::move(file)};
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
    finished_.erase(finished_.find(*expiry_.front().second));
    expiry_.pop_front();
  }
}

bool upload_table::insert(const std::string& token, caf::actor a) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto now = now_();
  purge(now);
  if (active_.size() >= max_active_ || finished_.size() >= max_finished_)
    return false;
  if (finished_.count(token)) return false;
  return active_.emplace(token, in_progress{std::move(a), now}).second;
}

upload_table::found upload_table::find(const std::string& token) {
  found out;
  out.finished =
      deliver(token, [&](const caf::actor& a) { out.actor = a; }).second;
  return out;
}

std::vector<caf::actor> upload_table::idle(std::chrono::milliseconds idle) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto now = now_();
  purge(now);
  std::vector<caf::actor> out;
  for (auto& [token, u] : active_)
    if (now - u.last_request >= idle) out.push_back(u.actor);
  return out;
}

void upload_table::finish(const std::string& token, const caf::actor_addr& a,
                          std::shared_ptr<const finished_upload> record) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = active_.find(token);
  if (i == active_.end() || i->second.actor.address() != a) return;
  active_.erase(i);
  auto now = now_();
  purge(now);
  auto [j, added] =
      finished_.emplace(token, done{std::move(record), now + linger_});
  if (added) expiry_.emplace_back(j->second.expires, &j->first);
}

void upload_table::withdraw(const std::string& token,
                            const caf::actor_addr& a) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = active_.find(token);
  if (i != active_.end() && i->second.actor.address() == a) active_.erase(i);
}

size_t upload_table::active() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return active_.size();
}

size_t upload_table::finished() {
  std::lock_guard<std::mutex> guard{mutex_};
  purge(now_());
  return finished_.size();
}

std::vector<caf::actor> upload_table::all() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<caf::actor> out;
  for (auto& [token, u] : active_) out.push_back(u.actor);
  return out;
}

}  // namespace depot::actors
