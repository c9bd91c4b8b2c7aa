#include "schema/messages.hpp"

namespace depot::schema {

reply error_from(std::optional<uint64_t> rid, const caf::error& err) {
  return {rid, error_reply{code_of(err), message_of(err), std::nullopt}};
}

}  // namespace depot::schema
