#include "common/distributed/parameter_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "common/core/testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor F(std::vector<float> v, TensorShape s) { return Tensor::FromVector<float>(v, s); }

TEST(ParameterServerTest, PushAppliesTheOptimizerAsTheGraphDoes) {
  // Adam, two steps on w = [1, 2] with gradient [0.1, 0.2], lr 0.1: the same
  // numbers as the graph optimizer test.
  ParameterServer ps({.task_index = 0, .optimizer = "adam", .hyper = {.lr = 0.1f}});
  ASSERT_TRUE(ps.Initialize({{"w", F({1, 2}, TensorShape({2}))}}).ok());
  for (int step = 0; step < 2; ++step) {
    auto gs = ps.Push({{.name = "w", .grad = F({0.1f, 0.2f}, TensorShape({2}))}}, step);
    ASSERT_TRUE(gs.ok()) << gs.status();
    EXPECT_EQ(*gs, step + 1);
  }
  auto w = ps.Pull({"w"});
  ASSERT_TRUE(w.ok());
  EXPECT_NEAR((*w)[0].flat<float>()[0], 0.80000054f, 2e-6);
  EXPECT_NEAR((*w)[0].flat<float>()[1], 1.80000027f, 2e-6);
  EXPECT_EQ(ps.Stats()["w"].pushes, 2);
}

TEST(ParameterServerTest, AdagradStartsFromTheConfiguredAccumulator) {
  // accum = 1 + g^2 = 5, w = 1 - lr * g / sqrt(5)
  ParameterServer ps({.task_index = 0, .optimizer = "adagrad", .hyper = {.lr = 0.5f}, .initial_accumulator_value = 1.f});
  ASSERT_TRUE(ps.Initialize({{"w", F({1}, TensorShape({1}))}}).ok());
  ASSERT_TRUE(ps.Push({{.name = "w", .grad = F({2}, TensorShape({1}))}}, 0).ok());
  EXPECT_NEAR((*ps.Pull({"w"}))[0].flat<float>()[0], 1.f - 0.5f * 2.f / std::sqrt(5.f), 1e-6);
}

TEST(ParameterServerTest, SparseRowsAndErrors) {
  ParameterServer ps({.task_index = 1, .optimizer = "sgd", .hyper = {.lr = 1.f}});
  ASSERT_TRUE(ps.Initialize({{"emb", F({1, 1, 2, 2, 3, 3}, TensorShape({3, 2}))}}).ok());
  auto rows = ps.PullRows("emb", Tensor::FromVector<int64_t>({2, 0}, TensorShape({2})));
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->DebugString(), "float [2,2] {3, 3, 1, 1}");
  auto r = ps.Push({{.name = "emb", .grad = F({0.5f, 0.5f}, TensorShape({1, 2})),
                     .rows = Tensor::FromVector<int64_t>({1}, TensorShape({1}))}}, 0);
  EXPECT_EQ(*r, -1);  // not task 0: no global_step here
  EXPECT_EQ((*ps.Pull({"emb"}))[0].DebugString(), "float [3,2] {1, 1, 1.5, 1.5, 3, 3}");
  EXPECT_THAT(ps.Pull({"nope"}).status().message(), HasSubstr("variable nope is not held by ps task 1"));
  EXPECT_THAT(ps.PullRows("emb", Tensor::FromVector<int64_t>({7}, TensorShape({1}))).status().message(),
              HasSubstr("row 7 of emb is out of range"));
  // 8 bytes of row ids per 8-byte row here; a bound on the answer refuses
  // before allocating it.
  auto big = ps.PullRows("emb", Tensor::FromVector<int64_t>({0, 1, 2}, TensorShape({3})), /*max_bytes=*/16);
  EXPECT_TRUE(IsResourceExhaustedError(big.status())) << big.status();
  EXPECT_THAT(big.status().message(), HasSubstr("pulling 3 rows of emb (8 bytes each) would take more than 16 bytes"));
  EXPECT_TRUE(ps.PullRows("emb", Tensor::FromVector<int64_t>({0, 1}, TensorShape({2})), 16).ok());
}

TEST(ParameterServerTest, SnapshotsAreConsistentUnderConcurrentPushes) {
  ParameterServer ps({.task_index = 0, .optimizer = "momentum", .hyper = {.lr = 1.f, .momentum = 0.f}});
  // w and its momentum slot move together: with momentum 0, slot == last gradient,
  // and every push adds the same constant to every element.
  ASSERT_TRUE(ps.Initialize({{"w", F(std::vector<float>(1 << 16, 0.f), TensorShape({1 << 16}))}}).ok());
  const std::string dir = testing::FreshTempDir("snap");
  std::atomic<bool> stop{false};
  std::thread pusher([&] {
    std::vector<float> ones(1 << 16, -1.f);
    Tensor g = F(ones, TensorShape({1 << 16}));
    for (int i = 0; !stop; ++i) ASSERT_TRUE(ps.Push({{.name = "w", .grad = g}}, i).ok());
  });
  for (int k = 0; k < 20; ++k) {
    auto e = ps.SaveShard(StrCat(dir, "/ckpt-", k), 0, 1);
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_TRUE(WriteBundleIndex(Env::Default(), StrCat(dir, "/ckpt-", k), 1, {*e}).ok());
    auto r = BundleReader::Open(Env::Default(), StrCat(dir, "/ckpt-", k));
    Tensor w = *(*r)->Lookup("w");
    const float first = w.flat<float>()[0];
    for (float x : w.flat<float>()) ASSERT_EQ(x, first) << "a torn snapshot";
  }
  stop = true;
  pusher.join();
}

TEST(ParameterServerTest, RestoresFromACheckpointWrittenByAnotherPsCount) {
  const std::string dir = testing::FreshTempDir("restore");
  // Two PS tasks save a model; one PS task restores all of it.
  ParameterServer a({.task_index = 0, .optimizer = "adagrad", .hyper = {.lr = 0.1f}});
  ParameterServer b({.task_index = 1, .optimizer = "adagrad", .hyper = {.lr = 0.1f}});
  ASSERT_TRUE(a.Initialize({{"x", F({1, 2}, TensorShape({2}))}}).ok());
  ASSERT_TRUE(b.Initialize({{"y", F({3}, TensorShape({1}))}}).ok());
  ASSERT_TRUE(a.Push({{.name = "x", .grad = F({1, 1}, TensorShape({2}))}}, 0).ok());
  ASSERT_TRUE(b.Push({{.name = "y", .grad = F({1}, TensorShape({1}))}}, 0, false).ok());
  const std::string prefix = dir + "/model.ckpt-1";
  auto e0 = a.SaveShard(prefix, 0, 2);
  auto e1 = b.SaveShard(prefix, 1, 2);
  ASSERT_TRUE(WriteBundleIndex(Env::Default(), prefix, 2, {*e0, *e1}).ok());
  ParameterServer one({.task_index = 0, .optimizer = "adagrad", .hyper = {.lr = 0.1f}});
  ASSERT_TRUE(one.Initialize({{"x", F({0, 0}, TensorShape({2}))}, {"y", F({0}, TensorShape({1}))}}).ok());
  auto reader = BundleReader::Open(Env::Default(), prefix);
  ASSERT_TRUE(one.Restore(**reader).ok());
  EXPECT_TRUE((*one.Pull({"x"}))[0].Equals((*a.Pull({"x"}))[0]));
  EXPECT_TRUE((*one.Pull({"y"}))[0].Equals((*b.Pull({"y"}))[0]));
  EXPECT_EQ(one.global_step(), 1);
  EXPECT_TRUE((*reader)->Contains("x/Adagrad"));
}

}  // namespace
}  // namespace psflow
