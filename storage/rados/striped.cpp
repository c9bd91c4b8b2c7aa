#include "storage/rados/striped.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace depot::storage::rados {

std::string lease_value(uint64_t parts, const std::string& id,
                        const std::string& data) {
  return std::to_string(parts) + ' ' + (id.empty() ? "-" : id) +
         (data.empty() ? "" : " " + data);
}

int remove_data(rados_ioctx_t io, const std::string& token, uint64_t parts) {
  // At most this many removals in flight at once.
  constexpr uint64_t window = 32;
  int first_error = 0;
  for (uint64_t base = 0; base < parts; base += window) {
    uint64_t n = std::min(window, parts - base);
    std::vector<completion> done(n);
    std::vector<int> started(n, 0);
    for (uint64_t i = 0; i < n; ++i)
      started[i] = rados_aio_remove(io, data_object(token, base + i).c_str(),
                                    done[i].get());
    for (uint64_t i = 0; i < n; ++i) {
      int r = started[i] < 0 ? started[i] : done[i].wait();
      if (r < 0 && r != -ENOENT && first_error == 0) first_error = r;
    }
  }
  return first_error;
}

striped_staging::striped_staging(std::shared_ptr<backend> b)
    : b_(std::move(b)), token_(b_->leases->new_token()) {}

striped_staging::~striped_staging() {
  for (auto& f : in_flight_) f.done->wait();
  // The batch notes the token even for an upload of no parts (an empty
  // file): the token must be forgotten then too.
  if (released_ || (parts_registered_ == 0 && !noted_)) return;
  uint64_t parts_touched = (written_ + b_->stripe - 1) / b_->stripe;
  if (remove_data(b_->objects->io(), token_, parts_touched) == 0)
    b_->leases->forget({token_});
  // else: the lease keeps the token, and its recoverer (this instance at
  // close, or another) removes the rest.
}

uint64_t striped_staging::parts() const {
  return (size_ + b_->stripe - 1) / b_->stripe;
}

// The first bytes wait in RAM: an upload that stays small is written whole
// at stage(), whose one lease update records the whole batch. Past them,
// bytes go out as they come.
caf::error striped_staging::append(const std::byte* data, size_t size) {
  if (error_) return error_;
  const char* bytes = reinterpret_cast<const char*>(data);
  size_ += size;
  if (written_ == 0 && buffer_.size() + size <= b_->first_write) {
    buffer_.insert(buffer_.end(), bytes, bytes + size);
    return {};
  }
  if (!buffer_.empty()) {
    auto first = std::move(buffer_);
    buffer_.clear();
    if (auto err = write(first.data(), first.size())) return error_ = err;
  }
  if (auto err = write(bytes, size)) return error_ = err;
  return {};
}

// Writes at the end of what was written, object by object, with at most
// b_->write_window bytes in flight (at least one write).
caf::error striped_staging::write(const char* data, size_t size) {
  // Nothing is written under a lease this instance no longer holds: its
  // recoverer may have removed what was, and would never see the rest.
  if (auto err = b_->leases->holds(token_)) return err;
  while (size > 0) {
    uint64_t part = written_ / b_->stripe;
    uint64_t offset = written_ % b_->stripe;
    size_t n =
        static_cast<size_t>(std::min<uint64_t>(size, b_->stripe - offset));
    // The lease records a part before it is written, 16 parts at a time.
    if (part >= parts_registered_) {
      uint64_t upto = part + 16;
      if (auto err = b_->leases->note({{token_, lease_value(upto, "")}}))
        return err;
      parts_registered_ = upto;
    }
    while (!in_flight_.empty() && in_flight_bytes_ + n > b_->write_window)
      if (auto err = wait_oldest()) return err;
    auto done = std::make_unique<completion>();
    // librados copies the bytes: they are the caller's again on return.
    int r =
        rados_aio_write(b_->objects->io(), data_object(token_, part).c_str(),
                        done->get(), data, n, offset);
    if (r < 0) return rados_failure(r, "write", data_object(token_, part));
    written_ += n;
    in_flight_bytes_ += n;
    in_flight_.push_back({std::move(done), part, n});
    data += n;
    size -= n;
  }
  return {};
}

caf::error striped_staging::wait_oldest() {
  auto f = std::move(in_flight_.front());
  in_flight_.pop_front();
  in_flight_bytes_ -= f.bytes;
  if (int r = f.done->wait(); r < 0)
    return rados_failure(r, "write", data_object(token_, f.part));
  return {};
}

caf::error striped_staging::flush() {
  if (error_) return error_;
  // stage() recorded every part under the lease already.
  parts_registered_ = std::max(parts_registered_, parts());
  noted_ = true;
  if (!buffer_.empty()) {
    auto first = std::move(buffer_);
    buffer_.clear();
    if (auto err = write(first.data(), first.size())) return error_ = err;
  }
  return {};
}

caf::error striped_staging::drain() {
  if (error_) return error_;
  while (!in_flight_.empty())
    if (auto err = wait_oldest()) return error_ = err;
  return {};
}

striped_reader::striped_reader(std::shared_ptr<backend> b, std::string id,
                               std::string token, uint64_t size,
                               uint64_t stripe)
    : b_(std::move(b)),
      id_(std::move(id)),
      token_(std::move(token)),
      size_(size),
      stripe_(stripe) {}

schema::expected<size_t> striped_reader::read(uint64_t offset, size_t length,
                                              std::byte* out) {
  if (offset > size_)
    return schema::make_error(schema::errc::out_of_range,
                              "offset " + std::to_string(offset) +
                                  " is past the end (size " +
                                  std::to_string(size_) + ")");
  uint64_t end = std::min<uint64_t>(size_, offset + length);
  if (end == offset) return size_t{0};
  // One read per data object the range touches, all in flight at once.
  uint64_t first = offset / stripe_, last = (end - 1) / stripe_;
  std::vector<completion> done(last - first + 1);
  std::vector<int> started(done.size(), 0);
  std::vector<size_t> want(done.size(), 0);
  for (uint64_t p = first; p <= last; ++p) {
    uint64_t from = std::max(offset, p * stripe_);
    uint64_t to = std::min(end, (p + 1) * stripe_);
    size_t i = p - first;
    want[i] = static_cast<size_t>(to - from);
    started[i] = rados_aio_read(b_->objects->io(),
                                data_object(token_, p).c_str(), done[i].get(),
                                reinterpret_cast<char*>(out + (from - offset)),
                                want[i], from - p * stripe_);
  }
  caf::error err;
  for (size_t i = 0; i < done.size(); ++i) {
    int r = started[i] < 0 ? started[i] : done[i].wait();
    if (err) continue;
    std::string object = data_object(token_, first + i);
    if (r == -ENOENT)
      err = schema::make_error(schema::errc::not_found,
                               "no file " + id_ + " (deleted)");
    else if (r < 0)
      err = rados_failure(r, "read", object);
    else if (static_cast<size_t>(r) != want[i])
      err = rados_failure(-EIO, "read (object shorter than its file says)",
                          object);
  }
  if (err) return err;
  return static_cast<size_t>(end - offset);
}

schema::expected<schema::buffer> striped_reader::view(uint64_t offset,
                                                      size_t length) {
  return copy(offset, length);
}

}  // namespace depot::storage::rados
