// The Philox key and counter range of one run of a random op, shared by the
// CPU and GPU kernels so that a node draws the same stream on either.
#pragma once

#include <cstdint>
#include <utility>

#include "common/core/status.h"

namespace psflow {

class OpKernelContext;

// The node's key (seeded from its seed attributes: both zero means a fresh
// random seed) and the first counter of this run's n draws; the node's next
// run starts n counters later, so each run gives new values and a graph run
// again from a fresh session gives the same ones.
StatusOr<std::pair<uint64_t, uint64_t>> PhiloxCounters(OpKernelContext& c, int64_t n);

}  // namespace psflow
