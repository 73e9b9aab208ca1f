#include "ps/sync_aggregator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor F(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::FromVector<float>(std::move(v), TensorShape({n}));
}

TEST(SyncAggregatorTest, AveragesDenseAndScalesSparseOnceAllReplicasPushed) {
  SyncAggregator agg(2);
  const Tensor rows = Tensor::FromVector<int64_t>({3}, TensorShape({1}));
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({2, 4})}, {.name = "emb", .grad = F({6}), .rows = rows}}, 0),
            SyncAggregator::kPending);
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({4, 8})}, {.name = "emb", .grad = F({10}), .rows = rows}}, 0),
            SyncAggregator::kComplete);
  auto mean = agg.TakeMean();
  ASSERT_TRUE(mean.ok()) << mean.status();
  EXPECT_EQ(agg.step(), 1);  // the next step is aggregated now
  std::map<std::string, std::vector<std::string>> got;
  for (const PushItem& g : mean->items) got[g.name].push_back(g.grad.DebugString());
  EXPECT_EQ(got["w"], (std::vector<std::string>{"float [2] {3, 6}"}));                       // the mean
  EXPECT_EQ(got["emb"], (std::vector<std::string>{"float [1] {3}", "float [1] {5}"}));       // each / 2
  EXPECT_EQ(mean->received["w"].pushes, 2);
  EXPECT_EQ(mean->received["w"].bytes_in, 16);
}

TEST(SyncAggregatorTest, OlderStepsAreStaleAndARestoreMovesTheStep) {
  SyncAggregator agg(1);
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({1})}}, 0), SyncAggregator::kComplete);
  ASSERT_TRUE(agg.TakeMean().ok());
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({1})}}, 0), SyncAggregator::kStale);  // a backup worker, late
  agg.Reset(40);
  EXPECT_EQ(agg.step(), 40);
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({1})}}, 39), SyncAggregator::kStale);
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({1})}}, 40), SyncAggregator::kComplete);
}

TEST(SyncAggregatorTest, DisagreeingShapesAreAnErrorAndTheStepStartsOver) {
  SyncAggregator agg(2);
  agg.Add({{.name = "w", .grad = F({1, 2})}}, 0);
  agg.Add({{.name = "w", .grad = F({1, 2, 3})}}, 0);
  auto mean = agg.TakeMean();
  EXPECT_TRUE(IsInvalidArgumentError(mean.status())) << mean.status();
  EXPECT_THAT(mean.status().message(), HasSubstr("pushes for w disagree"));
  EXPECT_EQ(agg.step(), 0);  // not applied: the same step again, from nothing
  EXPECT_EQ(agg.Add({{.name = "w", .grad = F({1, 2})}}, 0), SyncAggregator::kPending);
}

}  // namespace
}  // namespace psflow
