#pragma once

#include "schema/error.hpp"

#include <string>
#include <string_view>

namespace depot::storage {

/// The one place an errno becomes a depot error: io_error with a sentence
/// naming the operation, the path and the system's reason.
caf::error io_failure(int err, std::string_view op, const std::string& path);

}  // namespace depot::storage
