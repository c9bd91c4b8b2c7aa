// libFuzzer target: the parser of a POSIX store instance's journal files,
// which recovery reads after a crash (torn, truncated or garbage lines
// included). Anything must parse without crashing, and every operation it
// reports open must name a well-formed id.

#include "schema/validate.hpp"
#include "storage/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace depot::storage;
  std::string text(reinterpret_cast<const char*>(data), size);
  std::map<uint64_t, unfinished_op> open;
  parse_journal(text, &open);
  for (auto& [op, u] : open)
    if (!depot::schema::is_file_id(u.id)) __builtin_trap();
  return 0;
}
