#include "storage/rados/rados_io.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace depot::storage::rados {

caf::error rados_failure(int err, std::string_view op,
                         const std::string& object) {
  std::string text{"RADOS "};
  text += op;
  text += ' ';
  text += object;
  text += ": ";
  text += err == -ETIMEDOUT ? "timed out (is the cluster reachable?)"
                            : std::strerror(err < 0 ? -err : err);
  return schema::make_error(schema::errc::io_error, std::move(text));
}

namespace {

// Sets `option` to `value` if it still has librados' default `fallback`
// (a value set with rados_conf_set would override the conf file's).
void set_if_default(rados_t cluster, const char* option, double fallback,
                    const char* value) {
  char current[64] = {};
  if (rados_conf_get(cluster, option, current, sizeof current) != 0) return;
  if (std::strtod(current, nullptr) == fallback)
    rados_conf_set(cluster, option, value);
}

}  // namespace

schema::expected<std::shared_ptr<pool>> pool::connect(
    const std::string& conf, const std::string& id,
    const std::string& pool_name, const std::string& ns) {
  std::shared_ptr<pool> p{new pool};
  p->where_ = pool_name + (ns.empty() ? "" : "/" + ns);
  auto fail = [&](int err, const std::string& what) {
    return schema::make_error(
        schema::errc::io_error,
        "Ceph RADOS: " + what + ": " + std::strerror(err < 0 ? -err : err));
  };
  std::string user = "client." + id;
  if (int r = rados_create2(&p->cluster_, "ceph", user.c_str(), 0); r < 0)
    return fail(r, "cannot create a handle for " + user);
  if (int r = rados_conf_read_file(p->cluster_,
                                   conf.empty() ? nullptr : conf.c_str());
      r < 0 && !conf.empty())
    return fail(r, "cannot read the configuration " + conf);
  rados_conf_parse_env(p->cluster_, nullptr);
  // What depot relies on, where the conf file and $CEPH_ARGS left
  // librados' defaults: an operation that cannot reach its OSD or monitor
  // fails (io_error) rather than hang, and an unreachable cluster is
  // reported at start within seconds, not five minutes.
  set_if_default(p->cluster_, "rados_osd_op_timeout", 0, "30");
  set_if_default(p->cluster_, "rados_mon_op_timeout", 0, "30");
  set_if_default(p->cluster_, "client_mount_timeout", 300, "15");
  if (int r = rados_connect(p->cluster_); r < 0) {
    rados_shutdown(p->cluster_);
    p->cluster_ = nullptr;
    return fail(
        r, "cannot connect as " + user + (conf.empty() ? "" : " with " + conf));
  }
  if (int r = rados_ioctx_create(p->cluster_, pool_name.c_str(), &p->io_);
      r < 0)
    return fail(r, "cannot open pool " + pool_name);
  rados_ioctx_set_namespace(p->io_, ns.c_str());
  return p;
}

pool::~pool() {
  if (io_) rados_ioctx_destroy(io_);
  if (cluster_) rados_shutdown(cluster_);
}

completion::completion() {
  if (rados_aio_create_completion2(nullptr, nullptr, &c_) < 0) c_ = nullptr;
}

// librados frees a released completion only once its operation is done;
// the caller waits for every operation it started before its buffers go.
completion::~completion() {
  if (c_) rados_aio_release(c_);
}

int completion::wait() {
  if (!c_) return -ENOMEM;
  rados_aio_wait_for_complete(c_);
  return rados_aio_get_return_value(c_);
}

write_op::write_op() : op_(rados_create_write_op()) {}

write_op::~write_op() {
  if (op_) rados_release_write_op(op_);
}

void write_op::create(bool exclusive) {
  rados_write_op_create(
      op_, exclusive ? LIBRADOS_CREATE_EXCLUSIVE : LIBRADOS_CREATE_IDEMPOTENT,
      nullptr);
}

void write_op::omap_cmp_eq(const std::string& key, const std::string& value) {
  auto& k = kept_.emplace_back(key);
  auto& v = kept_.emplace_back(value);
  rados_write_op_omap_cmp2(op_, k.data(), LIBRADOS_CMPXATTR_OP_EQ, v.data(),
                           k.size(), v.size(), &cmp_result_);
}

void write_op::omap_set(const std::string& key, const std::string& value) {
  omap_set(std::map<std::string, std::string>{{key, value}});
}

void write_op::omap_set(const std::map<std::string, std::string>& kv) {
  std::vector<const char*> keys, vals;
  std::vector<size_t> key_lens, val_lens;
  for (auto& [k, v] : kv) {
    keys.push_back(kept_.emplace_back(k).data());
    key_lens.push_back(k.size());
    vals.push_back(kept_.emplace_back(v).data());
    val_lens.push_back(v.size());
  }
  rados_write_op_omap_set2(op_, keys.data(), vals.data(), key_lens.data(),
                           val_lens.data(), keys.size());
}

void write_op::omap_rm(const std::vector<std::string>& keys) {
  std::vector<const char*> ks;
  std::vector<size_t> lens;
  for (auto& k : keys) {
    ks.push_back(kept_.emplace_back(k).data());
    lens.push_back(k.size());
  }
  rados_write_op_omap_rm_keys2(op_, ks.data(), lens.data(), ks.size());
}

void write_op::setxattr(const char* name, const std::string& value) {
  auto& v = kept_.emplace_back(value);
  rados_write_op_setxattr(op_, name, v.data(), v.size());
}

void write_op::cmpxattr_eq(const char* name, const std::string& value) {
  auto& v = kept_.emplace_back(value);
  rados_write_op_cmpxattr(op_, name, LIBRADOS_CMPXATTR_OP_EQ, v.data(),
                          v.size());
}

void write_op::remove() { rados_write_op_remove(op_); }

int write_op::operate(rados_ioctx_t io, const std::string& oid) {
  return rados_write_op_operate(op_, io, oid.c_str(), nullptr, 0);
}

int write_op::start(rados_ioctx_t io, const std::string& oid, completion& c) {
  return rados_aio_write_op_operate(op_, io, c.get(), oid.c_str(), nullptr, 0);
}

namespace {

class read_op {
 public:
  read_op() : op_(rados_create_read_op()) {}
  ~read_op() {
    if (iter_) rados_omap_get_end(iter_);
    if (op_) rados_release_read_op(op_);
  }
  read_op(const read_op&) = delete;
  read_op& operator=(const read_op&) = delete;

  // Runs the op on `oid` and collects the omap values it read.
  int run(rados_ioctx_t io, const std::string& oid, omap_page* out) {
    int r = rados_read_op_operate(op_, io, oid.c_str(), 0);
    if (r == -ENOENT) return 0;
    if (r < 0) return r;
    if (prval_ < 0) return prval_;
    out->more = more_ != 0;
    for (;;) {
      char* key = nullptr;
      char* val = nullptr;
      size_t key_len = 0, val_len = 0;
      if (int e = rados_omap_get_next2(iter_, &key, &val, &key_len, &val_len);
          e < 0)
        return e;
      if (!key) return 0;
      out->values.emplace(std::string(key, key_len),
                          std::string(val ? val : "", val ? val_len : 0));
    }
  }

  rados_read_op_t op_ = nullptr;
  rados_omap_iter_t iter_ = nullptr;
  unsigned char more_ = 0;
  int prval_ = 0;
};

}  // namespace

int omap_get(rados_ioctx_t io, const std::string& oid,
             const std::vector<std::string>& keys, omap_page* out) {
  std::vector<const char*> ks;
  std::vector<size_t> lens;
  for (auto& k : keys) {
    ks.push_back(k.data());
    lens.push_back(k.size());
  }
  read_op op;
  rados_read_op_omap_get_vals_by_keys2(op.op_, ks.data(), ks.size(),
                                       lens.data(), &op.iter_, &op.prval_);
  return op.run(io, oid, out);
}

int omap_range(rados_ioctx_t io, const std::string& oid,
               const std::string& after, uint64_t max, omap_page* out) {
  read_op op;
  rados_read_op_omap_get_vals2(op.op_, after.c_str(), "", max, &op.iter_,
                               &op.more_, &op.prval_);
  return op.run(io, oid, out);
}

int xattrs_get(rados_ioctx_t io, const std::string& oid,
               std::map<std::string, std::string>* out) {
  rados_xattrs_iter_t it = nullptr;
  if (int r = rados_getxattrs(io, oid.c_str(), &it); r < 0) return r;
  for (;;) {
    const char* name = nullptr;
    const char* val = nullptr;
    size_t len = 0;
    if (int r = rados_getxattrs_next(it, &name, &val, &len); r < 0) {
      rados_getxattrs_end(it);
      return r;
    }
    if (!name) break;
    (*out)[name] = std::string(val, len);
  }
  rados_getxattrs_end(it);
  return 0;
}

}  // namespace depot::storage::rados
