#include "storage/rados/leases.hpp"

#include "logging/log.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <random>

namespace depot::storage::rados {

namespace {

constexpr const char* registry_object = "leases";
constexpr const char* reclaim_prefix = "reclaim:";

std::string lease_object(const std::string& instance) {
  return "lease." + instance;
}

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string random_instance() {
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd();
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(v));
  return text;
}

}  // namespace

lease_keeper::lease_keeper(std::shared_ptr<pool> p,
                           std::chrono::milliseconds duration,
                           reclaim_fn reclaim)
    : pool_(std::move(p)), duration_(duration), reclaim_(std::move(reclaim)) {}

schema::expected<std::unique_ptr<lease_keeper>> lease_keeper::start(
    std::shared_ptr<pool> p, std::chrono::milliseconds duration,
    reclaim_fn reclaim) {
  std::unique_ptr<lease_keeper> k{
      new lease_keeper(std::move(p), duration, std::move(reclaim))};
  if (auto err = k->take_new_lease()) return err;
  k->recover_expired();
  // spdlog makes its registry on first use: made here, before the thread
  // that logs from now on (uninstrumented, its lazy start looks raced).
  spdlog::default_logger_raw();
  k->thread_ = std::thread{[raw = k.get()] { raw->run(); }};
  return k;
}

caf::error lease_keeper::take_new_lease() {
  std::string instance = random_instance();
  auto io = pool_->io();
  write_op lease;
  lease.create(true);
  lease.setxattr("owner", instance);
  lease.setxattr("expires", std::to_string(now_ms() + duration_.count()));
  if (int r = lease.operate(io, lease_object(instance)); r < 0)
    return rados_failure(r, "create lease", lease_object(instance));
  write_op reg;
  reg.create(false);
  reg.omap_set(instance, "");
  if (int r = reg.operate(io, registry_object); r < 0)
    return rados_failure(r, "register lease", registry_object);
  std::lock_guard<std::mutex> lock{mutex_};
  instance_ = instance;
  renewed_ = std::chrono::steady_clock::now();
  return {};
}

std::string lease_keeper::current_instance() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return instance_;
}

std::string lease_keeper::new_token() {
  std::lock_guard<std::mutex> lock{mutex_};
  return instance_ + "-" + std::to_string(next_token_++);
}

caf::error lease_keeper::note(
    const std::map<std::string, std::string>& values) {
  if (values.empty()) return {};
  std::string instance = current_instance();
  write_op op;
  op.cmpxattr_eq("owner", instance);
  op.omap_set(values);
  if (int r = op.operate(pool_->io(), lease_object(instance)); r < 0)
    return rados_failure(r, "record staging under lease",
                         lease_object(instance));
  return {};
}

caf::error lease_keeper::forget(const std::vector<std::string>& tokens) {
  if (tokens.empty()) return {};
  // Under the current lease: a token noted under a lease since lost is its
  // recoverer's to forget.
  std::string instance = current_instance();
  write_op op;
  op.cmpxattr_eq("owner", instance);
  op.omap_rm(tokens);
  if (int r = op.operate(pool_->io(), lease_object(instance));
      r < 0 && r != -ECANCELED && r != -ENOENT)
    return rados_failure(r, "forget staging under lease",
                         lease_object(instance));
  return {};
}

caf::error lease_keeper::holds(const std::string& token) const {
  std::lock_guard<std::mutex> lock{mutex_};
  if (token.compare(0, instance_.size() + 1, instance_ + "-") != 0)
    return schema::make_error(
        schema::errc::io_error,
        "this server's RADOS lease was lost (it stalled longer than the "
        "lease); begin the upload again");
  if (std::chrono::steady_clock::now() - renewed_ > duration_ / 2)
    return schema::make_error(
        schema::errc::io_error,
        "this server cannot renew its RADOS lease (is the cluster "
        "reachable?)");
  return {};
}

bool lease_keeper::renew() {
  std::string instance = current_instance();
  write_op op;
  op.cmpxattr_eq("owner", instance);
  op.setxattr("expires", std::to_string(now_ms() + duration_.count()));
  int r = op.operate(pool_->io(), lease_object(instance));
  if (r == 0) {
    std::lock_guard<std::mutex> lock{mutex_};
    renewed_ = std::chrono::steady_clock::now();
    return true;
  }
  if (r == -ECANCELED || r == -ENOENT) {
    log::error(
        "RADOS lease taken over by another depotd (this one stalled longer "
        "than the lease): what it had staged is gone; taking a new lease",
        {{"lease", instance}, {"lease_ms", duration_}});
    if (auto err = take_new_lease())
      log::error("RADOS: cannot take a new lease",
                 {{"error", schema::message_of(err)}});
    return false;
  }
  log::warn(
      "cannot renew RADOS lease",
      {{"lease", instance},
       {"error", schema::message_of(rados_failure(r, "renew", instance))}});
  return false;
}

bool lease_keeper::reclaim_lease(const std::string& object,
                                 const std::string& instance,
                                 const std::string& owner) {
  auto io = pool_->io();
  bool done = true;
  std::string after;
  for (;;) {
    omap_page page;
    if (omap_range(io, object, after, 256, &page) < 0) return false;
    std::vector<std::string> finished;
    for (auto& [token, value] : page.values) {
      if (reclaim_(token, value))
        finished.push_back(token);
      else
        done = false;
      after = token;
    }
    if (!finished.empty()) {
      write_op op;
      op.cmpxattr_eq("owner", owner);
      op.omap_rm(finished);
      if (op.operate(io, object) < 0) return false;
    }
    if (!page.more) break;
  }
  if (!done) return false;
  write_op drop;
  drop.cmpxattr_eq("owner", owner);
  drop.remove();
  if (int r = drop.operate(io, object); r < 0 && r != -ENOENT) return false;
  write_op unreg;
  unreg.omap_rm({instance});
  unreg.operate(io, registry_object);
  return true;
}

size_t lease_keeper::recover_expired() {
  auto io = pool_->io();
  std::string mine = current_instance();
  size_t finished = 0;
  std::string after;
  for (;;) {
    omap_page page;
    if (omap_range(io, registry_object, after, 256, &page) < 0) break;
    for (auto& kv : page.values) {
      const std::string& instance = kv.first;
      after = instance;
      if (instance == mine) continue;
      std::string object = lease_object(instance);
      std::map<std::string, std::string> x;
      int r = xattrs_get(io, object, &x);
      if (r == -ENOENT) {  // dropped, but not unregistered: finish that
        write_op unreg;
        unreg.omap_rm({instance});
        unreg.operate(io, registry_object);
        continue;
      }
      if (r < 0) continue;
      uint64_t expires = 0;
      try {
        expires = std::stoull(x["expires"]);
      } catch (const std::exception&) {
        expires = 0;
      }
      if (expires > now_ms()) continue;
      // Take it over: one recoverer at a time, and the owner (should it
      // come back) finds its lease gone. Expiring again, it falls to the
      // next recoverer if this one dies too.
      std::string owner = reclaim_prefix + mine;
      write_op take;
      take.cmpxattr_eq("owner", x["owner"]);
      take.cmpxattr_eq("expires", x["expires"]);
      take.setxattr("owner", owner);
      take.setxattr("expires", std::to_string(now_ms() + duration_.count()));
      if (take.operate(io, object) < 0) continue;
      log::info("reclaiming what a dead depotd instance left in RADOS",
                {{"lease", instance}});
      if (reclaim_lease(object, instance, owner)) {
        ++finished;
        log::info("reclaimed RADOS lease", {{"lease", instance}});
      } else {
        log::warn("RADOS lease not fully reclaimed yet; retrying later",
                  {{"lease", instance}});
      }
    }
    if (!page.more) break;
  }
  return finished;
}

void lease_keeper::run() {
  auto tick = duration_ / 6;
  int ticks = 0;
  std::unique_lock<std::mutex> lock{mutex_};
  while (!wake_.wait_for(lock, tick, [this] { return stopping_; })) {
    lock.unlock();
    renew();
    if (++ticks % 3 == 0) recover_expired();
    lock.lock();
  }
}

lease_keeper::~lease_keeper() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // A clean close leaves nothing: this instance's own tokens are reclaimed
  // as a recoverer would, and its lease dropped.
  if (!reclaim_lease(lease_object(instance_), instance_, instance_))
    log::warn("RADOS lease left for another depotd to reclaim",
              {{"lease", instance_}});
}

}  // namespace depot::storage::rados
