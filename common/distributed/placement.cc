#include "common/distributed/placement.h"

#include <algorithm>

#include "common/core/strcat.h"

namespace psflow {

Placement::Placement(std::initializer_list<std::pair<const std::string, int>> tasks) {
  for (const auto& [name, task] : tasks) Add(name, TensorShape(), {{.name = name, .task = task}});
}

void Placement::Add(const std::string& name, TensorShape shape, std::vector<VariablePart> parts) {
  vars_[name] = Entry{std::move(shape), std::move(parts)};
}

const std::vector<VariablePart>* Placement::Parts(const std::string& name) const {
  auto it = vars_.find(name);
  return it == vars_.end() ? nullptr : &it->second.parts;
}

const TensorShape& Placement::Shape(const std::string& name) const { return vars_.at(name).shape; }

int Placement::TaskOf(const std::string& name) const {
  const auto* parts = Parts(name);
  return parts == nullptr || parts->empty() ? -1 : parts->front().task;
}

bool Placement::Partitioned(const std::string& name) const {
  const auto* parts = Parts(name);
  return parts != nullptr && !parts->empty() && parts->front().rows >= 0;
}

bool Placement::Dynamic(const std::string& name) const {
  auto it = vars_.find(name);
  return it != vars_.end() && it->second.shape.rank() >= 1 && it->second.shape.dim(0) < 0;
}

namespace {

// How many row parts a variable gets (sizes counted as float32).
int64_t NumParts(const TensorShape& s, int num_ps, const PlacementOptions& o) {
  if (s.rank() < 2 || s.dim(0) < 2) return 1;
  int64_t n = 1;
  if (o.partitions > 0) {
    n = o.partitions;
  } else if (o.min_slice_bytes > 0) {
    const int64_t max_parts = o.max_partitions > 0 ? o.max_partitions : num_ps;
    n = std::min(max_parts, s.num_elements() * 4 / o.min_slice_bytes);
  }
  return std::clamp<int64_t>(n, 1, s.dim(0));
}

}  // namespace

Placement PlaceVariables(const std::map<std::string, TensorShape>& vars, int num_ps, PlacementOptions options) {
  // Every variable or part is one item to place, in name order.
  struct Item {
    std::string var;
    size_t part;
    int64_t elements;
  };
  std::map<std::string, std::vector<VariablePart>> parts;
  std::vector<Item> items;
  Placement p;
  for (const auto& [name, shape] : vars) {
    if (shape.rank() >= 1 && shape.dim(0) < 0) {
      std::vector<VariablePart> every;
      for (int k = 0; k < num_ps; ++k) every.push_back({.name = name, .task = k});
      p.Add(name, shape, std::move(every));
      continue;
    }
    const int64_t n = NumParts(shape, num_ps, options);
    std::vector<VariablePart>& ps = parts[name];
    if (n == 1) {
      ps.push_back({.name = name});
      items.push_back({name, 0, shape.num_elements()});
      continue;
    }
    const int64_t base = shape.dim(0) / n, extra = shape.dim(0) % n;
    const int64_t row_elements = shape.num_elements() / shape.dim(0);
    int64_t begin = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t rows = base + (k < extra ? 1 : 0);
      ps.push_back({.name = StrCat(name, "/part_", k), .row_begin = begin, .rows = rows});
      items.push_back({name, static_cast<size_t>(k), rows * row_elements});
      begin += rows;
    }
  }
  if (options.round_robin) {
    int k = 0;
    for (const Item& it : items) parts[it.var][it.part].task = k++ % num_ps;
  } else {
    std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.elements > b.elements; });
    std::vector<int64_t> load(static_cast<size_t>(num_ps), 0);
    for (const Item& it : items) {
      const int k = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
      parts[it.var][it.part].task = k;
      load[static_cast<size_t>(k)] += std::max<int64_t>(it.elements, 1);
    }
  }
  for (auto& [name, ps] : parts) p.Add(name, vars.at(name), std::move(ps));
  return p;
}

}  // namespace psflow
