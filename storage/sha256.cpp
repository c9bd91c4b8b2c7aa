#include "storage/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace depot::storage {

struct sha256::impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~impl() { EVP_MD_CTX_free(ctx); }
  void reset() {
    // EVP failures here mean OpenSSL itself is broken: nothing to recover.
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
  }
};

sha256::sha256() : impl_(std::make_unique<impl>()) { impl_->reset(); }
sha256::~sha256() = default;
sha256::sha256(sha256&&) noexcept = default;
sha256& sha256::operator=(sha256&&) noexcept = default;

void sha256::update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(impl_->ctx, data, size);
}

digest sha256::finish() {
  digest out{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, out.data(), &n);
  impl_->reset();
  return out;
}

digest sha256::of(const void* data, size_t size) {
  sha256 h;
  h.update(data, size);
  return h.finish();
}

}  // namespace depot::storage
