#pragma once

// Lock-free metrics for the Prometheus text format (metrics/exposition.hpp):
// counters, gauges and histograms with fixed buckets, each a few relaxed
// std::atomic, and the registry that names them. Every metric and every
// label value is created at start-up; a request only touches atomics it
// reaches through a pointer resolved then: no lock, no allocation, no
// string lookup per update.
//
// Threads: a metric's update and read functions are safe from any thread,
// lock free. The registry's own functions (adding, removing and walking
// families) take its mutex: they run at start-up, at shutdown and per
// scrape, never per request.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace depot::metrics {

/// The cache line size metrics are aligned to, so that two metrics updated
/// by different threads never share a line (false sharing).
inline constexpr size_t cache_line = 64;

/// A count that only grows. Relaxed atomics: updates from many threads are
/// never lost, and a scrape sees each counter at some recent value.
class alignas(cache_line) counter {
 public:
  /// Adds `n`.
  void inc(uint64_t n = 1) noexcept {
    v_.fetch_add(n, std::memory_order_relaxed);
  }
  /// The count now.
  uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

/// A value that goes up and down.
class alignas(cache_line) gauge {
 public:
  /// Adds `n` (negative: subtracts).
  void add(int64_t n) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  /// Sets it to `n`.
  void set(int64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  /// The value now.
  int64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

/// A distribution of integer observations (nanoseconds, files, bytes) over
/// fixed buckets. It is exposed divided by `divisor` (1e9 turns nanoseconds
/// into the seconds Prometheus names want), so that observing is integer
/// arithmetic only.
class alignas(cache_line) histogram {
 public:
  /// Buckets with these upper bounds (inclusive, strictly increasing, in
  /// observation units), and one more for everything above (+Inf).
  /// Throws std::invalid_argument on bounds that are not increasing.
  histogram(std::vector<uint64_t> bounds, uint64_t divisor = 1);

  /// Counts `v` into its bucket and the sum. Lock free, no allocation.
  void observe(uint64_t v) noexcept;

  /// What a scrape reads: cumulative counts per bound then +Inf (whose
  /// count is the number of observations), and the sum, in units.
  struct snapshot {
    std::vector<uint64_t> cumulative;
    uint64_t sum = 0;
  };
  /// The counts now. The +Inf count is the sum of the buckets read, so
  /// the buckets never exceed it, even while observations go on.
  snapshot read() const;

  /// The bounds given at construction, in units.
  const std::vector<uint64_t>& bounds() const { return bounds_; }
  /// Units per exposed unit.
  uint64_t divisor() const { return divisor_; }

  /// The bucket bounds 1, 2, 4, ... up to and including `max` (a power of
  /// two): e.g. files per batch.
  static std::vector<uint64_t> powers_of_two(uint64_t max);
  /// Durations from 50 µs to 10 s in nanoseconds, roughly 1-2.5-5 per
  /// decade: request and flush durations.
  static std::vector<uint64_t> latency_ns();

 private:
  std::vector<uint64_t> bounds_;
  uint64_t divisor_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  alignas(cache_line) std::atomic<uint64_t> sum_{0};
};

/// The kinds of the text format's `# TYPE` line.
enum class metric_type { counter, gauge, histogram };

/// The `# TYPE` spelling of `t`.
std::string_view to_string(metric_type t);

/// Receives the samples of one family as a scrape writes them out
/// (exposition.hpp implements it).
class sample_sink {
 public:
  virtual ~sample_sink() = default;
  /// One counter or gauge sample of the family, with its label values (in
  /// the order of the family's label names).
  virtual void value(const std::vector<std::string>& label_values,
                     double v) = 0;
  /// One histogram of the family, with its label values.
  virtual void distribution(const std::vector<std::string>& label_values,
                            const histogram& h) = 0;
};

/// A named metric with its label names and any number of children, one per
/// combination of label values.
class family {
 public:
  /// Throws std::invalid_argument on an invalid name or label name (see
  /// registry::add_counters).
  family(std::string name, std::string help, metric_type type,
         std::vector<std::string> label_names);
  virtual ~family() = default;

  /// The metric name (with _total for counters).
  const std::string& name() const { return name_; }
  /// The `# HELP` text, unescaped.
  const std::string& help() const { return help_; }
  /// The `# TYPE`.
  metric_type type() const { return type_; }
  /// The label names, in the order children give their values.
  const std::vector<std::string>& label_names() const { return labels_; }

  /// Writes every child's sample(s) to `out`.
  virtual void collect(sample_sink& out) const = 0;

 protected:
  /// Throws std::invalid_argument unless there is one value per label name.
  void check_arity(const std::vector<std::string>& values) const;

 private:
  std::string name_;
  std::string help_;
  metric_type type_;
  std::vector<std::string> labels_;
};

/// A family of counters, gauges or histograms updated by the code.
/// `Metric` is counter, gauge or histogram.
template <class Metric>
class metric_family final : public family {
 public:
  /// As family's constructor.
  using family::family;

  /// A new child with these label values (one per label name, unique: not
  /// checked). Its address is stable for the family's life.
  template <class... Args>
  Metric& add(std::vector<std::string> label_values, Args&&... args) {
    check_arity(label_values);
    children_.push_back(
        {std::move(label_values),
         std::make_unique<Metric>(std::forward<Args>(args)...)});
    return *children_.back().metric;
  }

  /// Writes every child's value (or histogram).
  void collect(sample_sink& out) const override;

 private:
  struct child {
    std::vector<std::string> labels;
    std::unique_ptr<Metric> metric;
  };
  std::vector<child> children_;
};

template <>
void metric_family<counter>::collect(sample_sink& out) const;
template <>
void metric_family<gauge>::collect(sample_sink& out) const;
template <>
void metric_family<histogram>::collect(sample_sink& out) const;

/// A family whose values are read when scraped (process RSS, a table's
/// size, a transport's counters): `read` emits each child's value through
/// the sink. It runs on the scraping thread and must be thread safe
/// against the code that owns what it reads.
class callback_family final : public family {
 public:
  /// Emits the family's samples into the sink it is given.
  using reader = std::function<void(sample_sink&)>;
  /// A family whose samples `read` emits at each scrape.
  callback_family(std::string name, std::string help, metric_type type,
                  std::vector<std::string> label_names, reader read);
  /// Runs the reader.
  void collect(sample_sink& out) const override;

 private:
  reader read_;
};

/// The families a scrape writes, in the order they were added. Thread safe.
class registry {
 public:
  /// Adds a family of counters; `name` should end in _total. Names must be
  /// valid ([a-zA-Z_:][a-zA-Z0-9_:]*) and unique, label names valid and not
  /// starting with __: otherwise std::invalid_argument.
  metric_family<counter>& add_counters(std::string name, std::string help,
                                       std::vector<std::string> labels = {});
  /// Adds a family of gauges.
  metric_family<gauge>& add_gauges(std::string name, std::string help,
                                   std::vector<std::string> labels = {});
  /// Adds a family of histograms (no label may be `le`).
  metric_family<histogram>& add_histograms(
      std::string name, std::string help, std::vector<std::string> labels = {});
  /// Adds a family read at scrape time.
  callback_family& add_callback(std::string name, std::string help,
                                metric_type type,
                                std::vector<std::string> labels,
                                callback_family::reader read);

  /// Removes (and destroys) the family named `name`, if there is one; a
  /// scrape in progress finishes first.
  void remove(const std::string& name);

  /// Calls `f` on every family, in order, under the registry's mutex.
  void for_each(const std::function<void(const family&)>& f) const;

 private:
  template <class F>
  F& add(std::unique_ptr<F> f);
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<family>> families_;
};

/// Families added on behalf of an owner (a server, a pipeline) whose
/// callbacks read that owner: removed from the registry when this goes,
/// so that no scrape reads an owner that is gone. Movable.
class registration {
 public:
  /// Registers nothing (get() is null; add_callback does nothing).
  registration() = default;
  /// Adds families to `reg`, which outlives this.
  explicit registration(registry* reg) : reg_(reg) {}
  /// Takes over `o`'s families.
  registration(registration&& o) noexcept
      : reg_(std::exchange(o.reg_, nullptr)), names_(std::move(o.names_)) {}
  /// Removes this one's families, then takes over `o`'s.
  registration& operator=(registration&& o) noexcept;
  /// Removes its families.
  ~registration() { clear(); }

  /// The registry (null when default constructed).
  registry* get() const { return reg_; }
  /// Adds a callback family to the registry, to be removed with this.
  void add_callback(std::string name, std::string help, metric_type type,
                    std::vector<std::string> labels,
                    callback_family::reader read);
  /// Removes every family added through this now.
  void clear();

 private:
  registry* reg_ = nullptr;
  std::vector<std::string> names_;
};

}  // namespace depot::metrics
