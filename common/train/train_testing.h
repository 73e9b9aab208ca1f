// Test data for the trainer and Estimator tests: three Gaussian blobs in 8 dimensions
// (class c is high on features k with k % 3 == c), easy enough that a small
// dnn_classifier reaches over 90% accuracy in a few hundred steps.
#pragma once

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/core/env.h"
#include "common/data/dataset.h"
#include "common/data/tfrecord.h"
#include "common/proto/event.pb.h"
#include "common/train/estimator.h"

namespace psflow::testing {

inline Example Blobs(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.7f);
  Tensor x(DType::kFloat, TensorShape({n, 8}));
  Tensor y(DType::kInt32, TensorShape({n}));
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    y.flat<int32_t>()[static_cast<size_t>(i)] = c;
    for (int k = 0; k < 8; ++k) x.flat<float>()[static_cast<size_t>(i * 8 + k)] = (k % 3 == c ? 1.f : -0.5f) + noise(rng);
  }
  return {{"x", x}, {"label", y}};
}

// n blobs from `seed` in batches; repeat: shuffled and repeated (training).
inline InputFn BlobInput(uint32_t seed, int64_t batch = 32, int n = 600, bool repeat = true) {
  return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(Blobs(n, seed)));
    if (repeat) ds = Repeat(Shuffle(std::move(ds), n, seed));
    return Batch(std::move(ds), batch);
  };
}

// Every event of the events files in `dir`, in file order.
inline std::vector<tensorflow::Event> ReadEvents(const std::string& dir) {
  std::vector<tensorflow::Event> out;
  auto children = Env::Default()->GetChildren(dir);
  EXPECT_TRUE(children.ok());
  for (const std::string& c : *children) {
    if (c.find("tfevents") == std::string::npos) continue;
    auto r = TFRecordReader::Open(Env::Default(), JoinPath(dir, c));
    EXPECT_TRUE(r.ok()) << r.status();
    std::string rec;
    while (true) {
      auto more = (*r)->Next(&rec);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      tensorflow::Event e;
      EXPECT_TRUE(e.ParseFromString(rec));
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace psflow::testing
