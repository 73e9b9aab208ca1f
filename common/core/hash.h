// Integer hashing for hash tables and id routing.
//
//   const uint64_t h = Mix64(id);          // every input bit moves every output bit
//   const int task = static_cast<int>((h >> 32) % num_ps);
//
// Mix64 is the 64-bit finalizer of MurmurHash3 (a bijection on uint64_t):
// sequential or strided ids spread evenly over the low and the high bits.
// Thread-safe (pure functions).
#pragma once

#include <cstdint>

namespace psflow {

constexpr uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

}  // namespace psflow
