#include "bench/rados_ceilings.hpp"

#include "bench/wire.hpp"
#include "storage/rados/rados_io.hpp"
#include "testkit/content.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <rados/librados.h>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace depot::bench {
namespace {

namespace rados = storage::rados;

constexpr size_t small_size = 4096;

std::string big_name(uint64_t i) { return "bench-big-" + std::to_string(i); }
std::string small_name(uint64_t i) {
  return "bench-small-" + std::to_string(i);
}

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::runtime_error("librados " + what + ": " + std::strerror(-err));
}

// Runs operations 0..n-1 with up to `in_flight` outstanding, waiting for
// the oldest first, starting no new one after `cap_s` seconds (0: no cap).
// `start(i, completion)` starts operation i (0 or -errno). Returns the
// operations done and the time they took.
template <class Start>
measure pipeline(uint64_t n, unsigned in_flight, double cap_s, const char* what,
                 Start start) {
  std::deque<std::pair<uint64_t, std::unique_ptr<rados::completion>>> q;
  const auto t0 = steady::now();
  uint64_t next = 0, done = 0;
  for (;;) {
    while (next < n && q.size() < in_flight &&
           (cap_s <= 0 || seconds_since(t0) < cap_s)) {
      auto c = std::make_unique<rados::completion>();
      if (int r = start(next, *c); r < 0) {
        // Whatever was started reads or writes buffers of the caller.
        for (auto& [i, pending] : q) pending->wait();
        fail(r, std::string(what) + " " + std::to_string(next));
      }
      q.emplace_back(next++, std::move(c));
    }
    if (q.empty()) break;
    auto [i, c] = std::move(q.front());
    q.pop_front();
    if (int r = c->wait(); r < 0) {
      for (auto& [j, pending] : q) pending->wait();
      fail(r, std::string(what) + " " + std::to_string(i));
    }
    ++done;
    if (stop_requested) {
      for (auto& [j, pending] : q) pending->wait();
      check_stop();
    }
  }
  return {static_cast<double>(done), seconds_since(t0)};
}

}  // namespace

rados_target::rados_target(const std::string& conf, const std::string& id,
                           const std::string& pool, const std::string& ns) {
  auto p = rados::pool::connect(conf, id, pool, ns);
  if (!p) throw std::runtime_error(caf::to_string(p.error()));
  pool_ = std::move(*p);
}

rados_target::~rados_target() = default;

measure rados_target::write_bulk(const std::vector<std::byte>& block,
                                 uint64_t total, size_t object_bytes,
                                 unsigned in_flight) {
  const uint64_t n = (total + object_bytes - 1) / object_bytes;
  const size_t slots = block.size() / object_bytes;
  if (slots == 0) throw std::runtime_error("block smaller than an object");
  auto m = pipeline(n, in_flight, 0, "write_full", [&](uint64_t i, auto& c) {
    const size_t len = static_cast<size_t>(
        std::min<uint64_t>(object_bytes, total - i * object_bytes));
    const char* data = reinterpret_cast<const char*>(block.data()) +
                       (i % slots) * object_bytes;
    return rados_aio_write_full(pool_->io(), big_name(i).c_str(), c.get(), data,
                                len);
  });
  m.count = static_cast<double>(total);
  return m;
}

measure rados_target::read_bulk(uint64_t total, size_t object_bytes,
                                size_t piece, unsigned in_flight) {
  const uint64_t n = (total + piece - 1) / piece;
  std::vector<std::vector<char>> buffers(in_flight, std::vector<char>(piece));
  auto m = pipeline(n, in_flight, 0, "read", [&](uint64_t i, auto& c) {
    const uint64_t offset = i * piece;
    const uint64_t object = offset / object_bytes;
    const size_t len = static_cast<size_t>(std::min<uint64_t>(
        {piece, total - offset, (object + 1) * object_bytes - offset}));
    return rados_aio_read(pool_->io(), big_name(object).c_str(), c.get(),
                          buffers[i % in_flight].data(), len,
                          offset - object * object_bytes);
  });
  m.count = static_cast<double>(total);
  return m;
}

measure rados_target::write_small(unsigned in_flight, uint64_t count,
                                  double cap_s) {
  test::rng r;
  const uint64_t nonce = r.next();
  std::vector<std::vector<std::byte>> buffers;
  for (unsigned i = 0; i < in_flight; ++i)
    buffers.push_back(test::random_block(small_size, r));
  auto m = pipeline(
      count, in_flight, cap_s, "write_full 4 KiB", [&](uint64_t i, auto& c) {
        auto& b = buffers[i % in_flight];
        test::stamp(b.data(), nonce, i);
        return rados_aio_write_full(pool_->io(), small_name(i).c_str(), c.get(),
                                    reinterpret_cast<const char*>(b.data()),
                                    small_size);
      });
  small_written_ = static_cast<uint64_t>(m.count);
  return m;
}

measure rados_target::read_small(unsigned in_flight, uint64_t count,
                                 double cap_s) {
  if (small_written_ == 0)
    throw std::runtime_error("no 4 KiB objects written to read");
  std::vector<std::vector<char>> buffers(in_flight,
                                         std::vector<char>(small_size));
  return pipeline(
      count, in_flight, cap_s, "read 4 KiB", [&](uint64_t i, auto& c) {
        return rados_aio_read(pool_->io(),
                              small_name(i % small_written_).c_str(), c.get(),
                              buffers[i % in_flight].data(), small_size, 0);
      });
}

uint64_t rados_target::remove_all() {
  // Listed first, removed after: no removal runs under an open listing.
  std::vector<std::string> names;
  rados_list_ctx_t list = nullptr;
  if (int r = rados_nobjects_list_open(pool_->io(), &list); r < 0)
    fail(r, "list " + pool_->where());
  for (;;) {
    const char* entry = nullptr;
    int r = rados_nobjects_list_next(list, &entry, nullptr, nullptr);
    if (r == -ENOENT) break;
    if (r < 0) {
      rados_nobjects_list_close(list);
      fail(r, "list " + pool_->where());
    }
    names.emplace_back(entry);
  }
  rados_nobjects_list_close(list);
  pipeline(names.size(), 64, 0, "remove", [&](uint64_t i, auto& c) {
    return rados_aio_remove(pool_->io(), names[i].c_str(), c.get());
  });
  return names.size();
}

}  // namespace depot::bench
