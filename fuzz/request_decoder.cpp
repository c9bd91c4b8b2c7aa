// libFuzzer target: the request decoder depotd runs on every message a
// client sends. Input: frame 0 (the msgpack header), optionally followed by
// a payload frame after the first "\n--\n" (a chunk's bytes). Whatever it
// is, decoding must not crash, hang or allocate without bound; what decodes
// must encode again, and what fails must still give a reply that encodes.

#include "fuzz/frames.hpp"
#include "schema/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace depot::schema;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto frames = depot::fuzz::split_frames(input);
  auto decoded = decode_request(frames);
  if (auto* r = std::get_if<request>(&decoded)) {
    auto again = encode_request(*r);
    if (again.empty()) __builtin_trap();
  } else {
    auto reply = failure_reply(std::get<decode_failure>(decoded));
    if (encode_reply(reply).empty()) __builtin_trap();
  }
  return 0;
}
