#include "metrics/http/service.hpp"

namespace depot::metrics {

std::string service::start(const listen_address& where) {
  if (!metrics_) {
    metrics_.emplace(reg);
    add_process_metrics(reg);
  }
  endpoint_.emplace(reg, ready);
  std::string err = endpoint_->start(where);
  if (!err.empty()) {
    endpoint_.reset();
    return err;
  }
  where_ = where;
  where_.port = endpoint_->port();
  return {};
}

std::string service::url() const {
  return endpoint_ ? "http://" + where_.authority() : std::string{};
}

void service::stop() {
  if (endpoint_) endpoint_->stop();
}

}  // namespace depot::metrics
