// Reads a fuzzed dataset to its end, as a training input would.
#pragma once

#include <memory>

#include "common/data/dataset.h"

namespace psflow::fuzz {

// Every element (at most `limit`) until the end or the first error.
inline void Drain(StatusOr<std::unique_ptr<Dataset>>& ds, int limit = 10000) {
  if (!ds.ok()) return;
  Example e;
  for (int i = 0; i < limit; ++i) {
    auto more = (*ds)->Next(&e);
    if (!more.ok() || !*more) return;
  }
}

}  // namespace psflow::fuzz
