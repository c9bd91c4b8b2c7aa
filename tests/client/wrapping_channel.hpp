#pragma once

// A test channel around a real one: every call goes to the channel inside
// unless a subclass overrides it, to count, lose, strip or corrupt what
// passes.

#include "client/channel.hpp"

#include <memory>
#include <optional>
#include <utility>

namespace depot::test {

class wrapping_channel : public client::detail::channel {
 public:
  using frames = client::detail::frames;
  using clock = client::detail::clock;

  explicit wrapping_channel(std::unique_ptr<channel> inner)
      : inner_(std::move(inner)) {}

  client::result<void> open() override { return inner_->open(); }
  client::result<void> send(const frames& message,
                            clock::time_point deadline) override {
    return inner_->send(message, deadline);
  }
  client::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    return inner_->receive(deadline);
  }
  void* zmq_socket() override { return inner_->zmq_socket(); }
  void* monitor_socket() override { return inner_->monitor_socket(); }
  std::optional<client::error> handshake_failure() override {
    return inner_->handshake_failure();
  }

 protected:
  std::unique_ptr<channel> inner_;
};

}  // namespace depot::test
