// Base-128 varints (protobuf's and TensorFlow's encoding of unsigned
// integers, 7 bits a byte, low bits first), as the checkpoint format's string
// tensors and psflow's wire frames use them.
//
//   std::string s;  PutVarint64(&s, 300);           // "\xac\x02"
//   std::string_view in = s;  uint64_t v;
//   if (!GetVarint64(&in, &v)) ... corrupt ...      // v == 300, `in` advanced
//
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace psflow {

inline void PutVarint64(std::string* dst, uint64_t v) {
  while (v >= 0x80) {
    dst->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  dst->push_back(static_cast<char>(v));
}

// Reads one varint from the front of `*src` and advances it.  False (and
// `*src` left partly consumed) when the bytes end first or the varint is
// longer than the 10 bytes a 64-bit value needs.
inline bool GetVarint64(std::string_view* src, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !src->empty(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>((*src)[0]);
    src->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

}  // namespace psflow
