#pragma once

// How the codec fuzz targets turn one input into ZeroMQ frames: frame 0 (a
// msgpack header), then, after the first "\n--\n", a payload frame.

#include "schema/buffer.hpp"

#include <string_view>
#include <vector>

namespace depot::fuzz {

inline std::vector<schema::buffer> split_frames(std::string_view input) {
  std::vector<schema::buffer> frames;
  auto cut = input.find("\n--\n");
  frames.push_back(schema::buffer::copy_of(input.substr(0, cut)));
  if (cut != std::string_view::npos)
    frames.push_back(schema::buffer::copy_of(input.substr(cut + 4)));
  return frames;
}

}  // namespace depot::fuzz
