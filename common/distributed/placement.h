// Where each variable of a job lives on the PS tasks: whole on one task, or
// partitioned by rows into parts spread over them (TensorFlow's names and
// partitioners).  Trainers place the variables the same way from the same
// shapes, so they agree without talking.
//
//   Placement p = PlaceVariables(shapes, /*num_ps=*/2, {.min_slice_bytes = 64 << 20});
//   for (const VariablePart& part : *p.Parts("emb")) ... part.task, part.row_begin ...
//
// Immutable once built: thread-safe for concurrent const use.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/core/hash.h"
#include "common/core/tensor_shape.h"

namespace psflow {

// Where each variable lives.  A variable is whole on one PS task, or
// partitioned by rows into parts "<name>/part_<k>" (TensorFlow's names)
// spread over the tasks; the client splits pushes and assembles pulls.
struct VariablePart {
  std::string name;        // the name on the PS task
  int task = 0;
  int64_t row_begin = 0;   // partitioned: the rows of the full variable this part holds
  int64_t rows = -1;       // -1: the whole variable
};

class Placement {
 public:
  Placement() = default;
  // Whole variables: name -> task.
  Placement(std::initializer_list<std::pair<const std::string, int>> tasks);
  void Add(const std::string& name, TensorShape shape, std::vector<VariablePart> parts);
  // nullptr when `name` is not placed.
  const std::vector<VariablePart>* Parts(const std::string& name) const;
  const TensorShape& Shape(const std::string& name) const;  // REQUIRES Parts(name)
  // The task of a whole variable, or of the first part; -1 when not placed.
  int TaskOf(const std::string& name) const;
  bool Partitioned(const std::string& name) const;
  // A dynamic embedding table (shape [-1, ...]): held by every PS task, the
  // row of id on task DynamicRowTask(id, num_ps).
  bool Dynamic(const std::string& name) const;
  size_t size() const { return vars_.size(); }

 private:
  struct Entry {
    TensorShape shape;
    std::vector<VariablePart> parts;
  };
  std::map<std::string, Entry> vars_;
};

struct PlacementOptions {
  bool round_robin = false;  // default: greedy by bytes
  // Row partitioning of variables of rank >= 2 (kernels, embeddings) as
  // TensorFlow's partitioners do it: `partitions` > 0 splits each into that
  // many parts (fixed_size_partitioner); `min_slice_bytes` > 0 into parts of
  // at least that many bytes, at most `max_partitions` (0: the number of PS
  // tasks) of them (min_max_variable_partitioner).  A part has at least one
  // row; the first (rows % parts) parts get one row more.
  int64_t partitions = 0;
  int64_t min_slice_bytes = 0;
  int64_t max_partitions = 0;
};

// The PS task holding id's row of a dynamic embedding table: a hash of the
// id mod the number of tasks (the high bits of Mix64; each task's own hash
// table uses the low ones).
inline int DynamicRowTask(int64_t id, int num_ps) {
  return static_cast<int>((Mix64(static_cast<uint64_t>(id)) >> 32) % static_cast<uint64_t>(num_ps));
}

// Variables of shape [-1, ...] (dynamic embedding tables) go to every task.
// Greedy by bytes (the largest variable or part to the least loaded task),
// as TensorFlow's GreedyLoadBalancingStrategy; or round-robin in name order.
Placement PlaceVariables(const std::map<std::string, TensorShape>& vars, int num_ps, PlacementOptions options = {});

}  // namespace psflow
