#pragma once

// Thin owners of librados' C handles (the C API: stable, and reads land in
// our own buffers), and the one place a RADOS errno becomes a depot error.
// Every handle here is safe to use from several threads at once where
// librados says so (the I/O context is); operations and completions belong
// to one thread.

#include "schema/error.hpp"

#include <rados/librados.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace depot::storage::rados {

/// io_error naming the operation, the object and librados' reason (`err`
/// is a negative errno, as librados returns them).
caf::error rados_failure(int err, std::string_view op,
                         const std::string& object);

/// A connected cluster handle and an I/O context on one pool and
/// namespace. Thread safe.
class pool {
 public:
  /// Connects as client `id` with `conf` (empty: librados' default search
  /// and $CEPH_ARGS), then opens `pool_name` and sets `ns`. The error says
  /// in one line what failed (unreachable cluster, unknown pool).
  static schema::expected<std::shared_ptr<pool>> connect(
      const std::string& conf, const std::string& id,
      const std::string& pool_name, const std::string& ns);
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  rados_ioctx_t io() const { return io_; }
  /// "pool/namespace", for messages.
  const std::string& where() const { return where_; }

 private:
  pool() = default;
  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
  std::string where_;
};

/// An asynchronous operation's completion. Whoever starts an operation
/// waits for it before the buffers it reads into or from go away.
class completion {
 public:
  completion();
  ~completion();
  completion(const completion&) = delete;
  completion& operator=(const completion&) = delete;
  rados_completion_t get() const { return c_; }
  /// Waits until the operation is done; its result (>= 0, or -errno).
  int wait();

 private:
  rados_completion_t c_ = nullptr;
};

/// A compound write operation: every step applies, or none (atomic at the
/// OSD that holds the object).
class write_op {
 public:
  write_op();
  ~write_op();
  write_op(const write_op&) = delete;
  write_op& operator=(const write_op&) = delete;
  rados_write_op_t get() const { return op_; }

  void create(bool exclusive);
  void omap_cmp_eq(const std::string& key, const std::string& value);
  void omap_set(const std::string& key, const std::string& value);
  void omap_set(const std::map<std::string, std::string>& kv);
  void omap_rm(const std::vector<std::string>& keys);
  void setxattr(const char* name, const std::string& value);
  void cmpxattr_eq(const char* name, const std::string& value);
  void remove();

  /// Runs it on `oid` and waits; 0 or -errno (-ECANCELED: a comparison
  /// failed and nothing applied).
  int operate(rados_ioctx_t io, const std::string& oid);
  /// Starts it on `oid`; `c` tells when it is done. The operation must
  /// outlive the completion's wait.
  int start(rados_ioctx_t io, const std::string& oid, completion& c);

 private:
  rados_write_op_t op_ = nullptr;
  int cmp_result_ = 0;
  // Values handed to librados by pointer stay alive until the op is done.
  std::deque<std::string> kept_;
};

/// Omap values of one object read by key or by range (sorted by key).
struct omap_page {
  std::map<std::string, std::string> values;
  bool more = false;  ///< the range read stopped at its maximum
};

/// Reads the values of `keys` on `oid`. An absent object reads as empty
/// (-ENOENT is not an error here); other failures are -errno.
int omap_get(rados_ioctx_t io, const std::string& oid,
             const std::vector<std::string>& keys, omap_page* out);

/// Reads up to `max` values on `oid` with keys after `after` (all keys when
/// empty), sorted. An absent object reads as empty.
int omap_range(rados_ioctx_t io, const std::string& oid,
               const std::string& after, uint64_t max, omap_page* out);

/// Reads every xattr of `oid`; -ENOENT if it is absent.
int xattrs_get(rados_ioctx_t io, const std::string& oid,
               std::map<std::string, std::string>* out);

}  // namespace depot::storage::rados
