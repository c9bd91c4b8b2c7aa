#include "metrics/registry.hpp"

#include <algorithm>
#include <stdexcept>

namespace depot::metrics {
namespace {

bool valid_name(std::string_view n, bool colons) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '_' || (colons && c == ':');
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

}  // namespace

histogram::histogram(std::vector<uint64_t> bounds, uint64_t divisor)
    : bounds_(std::move(bounds)),
      divisor_(divisor == 0 ? 1 : divisor),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 1; i < bounds_.size(); ++i)
    if (bounds_[i] <= bounds_[i - 1])
      throw std::invalid_argument("histogram bounds must increase");
  for (size_t i = 0; i <= bounds_.size(); ++i)
    counts_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(uint64_t v) noexcept {
  // A dozen or two bounds: a linear scan is as fast as a binary search and
  // touches one cache line or two.
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<uint64_t> histogram::powers_of_two(uint64_t max) {
  std::vector<uint64_t> b;
  for (uint64_t v = 1; v <= max && v != 0; v *= 2) b.push_back(v);
  return b;
}

std::vector<uint64_t> histogram::latency_ns() {
  constexpr uint64_t us = 1000;
  return {50 * us,      100 * us,     250 * us,    500 * us,     1000 * us,
          2500 * us,    5000 * us,    10000 * us,  25000 * us,   50000 * us,
          100000 * us,  250000 * us,  500000 * us, 1000000 * us, 2500000 * us,
          5000000 * us, 10000000 * us};
}

std::string_view to_string(metric_type t) {
  switch (t) {
    case metric_type::counter:
      return "counter";
    case metric_type::gauge:
      return "gauge";
    case metric_type::histogram:
      return "histogram";
  }
  return "untyped";
}

family::family(std::string name, std::string help, metric_type type,
               std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      labels_(std::move(label_names)) {
  if (!valid_name(name_, true))
    throw std::invalid_argument("invalid metric name: " + name_);
  for (const std::string& l : labels_)
    if (!valid_name(l, false) || l.rfind("__", 0) == 0 ||
        (type_ == metric_type::histogram && l == "le"))
      throw std::invalid_argument("invalid label name for " + name_ + ": " + l);
}

void family::check_arity(const std::vector<std::string>& values) const {
  if (values.size() != labels_.size())
    throw std::invalid_argument("wrong number of label values for " + name_);
}

template <>
void metric_family<counter>::collect(sample_sink& out) const {
  for (const child& c : children_)
    out.value(c.labels, static_cast<double>(c.metric->value()));
}

template <>
void metric_family<gauge>::collect(sample_sink& out) const {
  for (const child& c : children_)
    out.value(c.labels, static_cast<double>(c.metric->value()));
}

template <>
void metric_family<histogram>::collect(sample_sink& out) const {
  for (const child& c : children_) out.distribution(c.labels, *c.metric);
}

callback_family::callback_family(std::string name, std::string help,
                                 metric_type type,
                                 std::vector<std::string> label_names,
                                 reader read)
    : family(std::move(name), std::move(help), type, std::move(label_names)),
      read_(std::move(read)) {}

void callback_family::collect(sample_sink& out) const {
  if (read_) read_(out);
}

template <class F>
F& registry::add(std::unique_ptr<F> f) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& g : families_)
    if (g->name() == f->name())
      throw std::invalid_argument("metric registered twice: " + f->name());
  F& ref = *f;
  families_.push_back(std::move(f));
  return ref;
}

metric_family<counter>& registry::add_counters(
    std::string name, std::string help, std::vector<std::string> labels) {
  return add(std::make_unique<metric_family<counter>>(
      std::move(name), std::move(help), metric_type::counter,
      std::move(labels)));
}

metric_family<gauge>& registry::add_gauges(std::string name, std::string help,
                                           std::vector<std::string> labels) {
  return add(std::make_unique<metric_family<gauge>>(
      std::move(name), std::move(help), metric_type::gauge, std::move(labels)));
}

metric_family<histogram>& registry::add_histograms(
    std::string name, std::string help, std::vector<std::string> labels) {
  return add(std::make_unique<metric_family<histogram>>(
      std::move(name), std::move(help), metric_type::histogram,
      std::move(labels)));
}

callback_family& registry::add_callback(std::string name, std::string help,
                                        metric_type type,
                                        std::vector<std::string> labels,
                                        callback_family::reader read) {
  return add(std::make_unique<callback_family>(std::move(name), std::move(help),
                                               type, std::move(labels),
                                               std::move(read)));
}

void registry::remove(const std::string& name) {
  std::unique_ptr<family> gone;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto i = families_.begin(); i != families_.end(); ++i)
    if ((*i)->name() == name) {
      gone = std::move(*i);
      families_.erase(i);
      return;
    }
}

void registry::for_each(const std::function<void(const family&)>& f) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& g : families_) f(*g);
}

registration& registration::operator=(registration&& o) noexcept {
  if (this != &o) {
    clear();
    reg_ = std::exchange(o.reg_, nullptr);
    names_ = std::move(o.names_);
  }
  return *this;
}

void registration::add_callback(std::string name, std::string help,
                                metric_type type,
                                std::vector<std::string> labels,
                                callback_family::reader read) {
  if (!reg_) return;
  names_.push_back(name);
  reg_->add_callback(std::move(name), std::move(help), type, std::move(labels),
                     std::move(read));
}

void registration::clear() {
  if (reg_)
    for (const std::string& n : names_) reg_->remove(n);
  names_.clear();
}

}  // namespace depot::metrics
