// libFuzzer target: the reply decoder the client library runs on what a
// server sends (a hostile or broken server must not crash a chat server).
// Input: one byte choosing the op the reply answers, then frame 0, then
// optionally a payload frame after the first "\n--\n".

#include "fuzz/frames.hpp"
#include "schema/codec.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace depot::schema;
  static constexpr std::string_view ops[] = {
      "ping", "upload",   "chunk", "upload_status", "abort",
      "stat", "download", "list",  "delete",        "no_such_op"};
  if (size == 0) return 0;
  std::string_view op = ops[data[0] % (sizeof ops / sizeof ops[0])];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto frames = depot::fuzz::split_frames(input);
  auto decoded = decode_reply(frames, op);
  if (auto* r = std::get_if<reply>(&decoded)) {
    if (encode_reply(*r).empty()) __builtin_trap();
  }
  return 0;
}
