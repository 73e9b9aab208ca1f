#include "ps/parameter_server.h"

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
  auto ps_ptr = ParameterServer::Create({.task_index = 0, .optimizer = "adam", .hyper = {.lr = 0.1f}});
  ParameterServer& ps = **ps_ptr;
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
  auto ps_ptr = ParameterServer::Create({.task_index = 0, .optimizer = "adagrad", .hyper = {.lr = 0.5f}, .initial_accumulator_value = 1.f});
  ParameterServer& ps = **ps_ptr;
  ASSERT_TRUE(ps.Initialize({{"w", F({1}, TensorShape({1}))}}).ok());
  ASSERT_TRUE(ps.Push({{.name = "w", .grad = F({2}, TensorShape({1}))}}, 0).ok());
  EXPECT_NEAR((*ps.Pull({"w"}))[0].flat<float>()[0], 1.f - 0.5f * 2.f / std::sqrt(5.f), 1e-6);
}

// Wide & deep's optimizers: variables under linear/ get FTRL (its two slots,
// its update), those under dnn/ Adagrad, anything else the default; a
// checkpoint holds each variable's own slots and, with no Adam in a scope,
// no beta powers.
TEST(ParameterServerTest, ScopedOptimizersPerVariable) {
  const std::string dir = testing::FreshTempDir("ps_scoped");
  auto ps_ptr = ParameterServer::Create(
      {.task_index = 0, .optimizer = "adam", .hyper = {.lr = 0.1f},
       .scoped_optimizers = {{.scope = "linear/", .optimizer = "ftrl", .hyper = {.lr = 0.5f}, .initial_accumulator_value = 0.1f},
                             {.scope = "dnn/", .optimizer = "adagrad", .hyper = {.lr = 0.5f}, .initial_accumulator_value = 1.f}}});
  ASSERT_TRUE(ps_ptr.ok()) << ps_ptr.status();
  ParameterServer& ps = **ps_ptr;
  ASSERT_TRUE(ps.Initialize({{"linear/w", F({0}, TensorShape({1}))}, {"dnn/w", F({1}, TensorShape({1}))}}).ok());
  ASSERT_TRUE(ps.Push({{.name = "linear/w", .grad = F({2}, TensorShape({1}))},
                       {.name = "dnn/w", .grad = F({2}, TensorShape({1}))}}, 0).ok());
  // FTRL from accum 0.1, linear 0, lr_power -0.5, no l1/l2: accum' = 4.1,
  // linear' = g - (sqrt(4.1) - sqrt(0.1)) / lr * w = 2, w' = -linear' / (sqrt(accum') / lr).
  auto w = ps.Pull({"linear/w", "dnn/w"});
  ASSERT_TRUE(w.ok());
  EXPECT_NEAR((*w)[0].flat<float>()[0], -2.f / (std::sqrt(4.1f) / 0.5f), 1e-6);
  EXPECT_NEAR((*w)[1].flat<float>()[0], 1.f - 0.5f * 2.f / std::sqrt(5.f), 1e-6);  // Adagrad from accum 1
  auto entries = ps.SaveShard(dir + "/model.ckpt-1", 0, 1);
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::vector<std::string> keys;
  for (const auto& e : *entries) keys.push_back(e.first);
  EXPECT_THAT(keys, ::testing::UnorderedElementsAre("global_step", "linear/w", "linear/w/Ftrl", "linear/w/Ftrl_1", "dnn/w",
                                                    "dnn/w/Adagrad"));
  auto bad = ParameterServer::Create({.scoped_optimizers = {{.scope = "x/", .optimizer = "adamw"}}});
  EXPECT_THAT(bad.status().message(), HasSubstr("the optimizer of scope x/: unknown optimizer 'adamw'"));
}

TEST(ParameterServerTest, SparseRowsAndErrors) {
  auto ps_ptr = ParameterServer::Create({.task_index = 1, .optimizer = "sgd", .hyper = {.lr = 1.f}});
  ParameterServer& ps = **ps_ptr;
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
  auto ps_ptr = ParameterServer::Create({.task_index = 0, .optimizer = "momentum", .hyper = {.lr = 1.f, .momentum = 0.f}});
  ParameterServer& ps = **ps_ptr;
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
  auto a_ptr = ParameterServer::Create({.task_index = 0, .optimizer = "adagrad", .hyper = {.lr = 0.1f}});
  ParameterServer& a = **a_ptr;
  auto b_ptr = ParameterServer::Create({.task_index = 1, .optimizer = "adagrad", .hyper = {.lr = 0.1f}});
  ParameterServer& b = **b_ptr;
  ASSERT_TRUE(a.Initialize({{"x", F({1, 2}, TensorShape({2}))}}).ok());
  ASSERT_TRUE(b.Initialize({{"y", F({3}, TensorShape({1}))}}).ok());
  ASSERT_TRUE(a.Push({{.name = "x", .grad = F({1, 1}, TensorShape({2}))}}, 0).ok());
  ASSERT_TRUE(b.Push({{.name = "y", .grad = F({1}, TensorShape({1}))}}, 0, false).ok());
  const std::string prefix = dir + "/model.ckpt-1";
  auto e0 = a.SaveShard(prefix, 0, 2);
  auto e1 = b.SaveShard(prefix, 1, 2);
  ASSERT_TRUE(WriteBundleIndex(Env::Default(), prefix, 2, {*e0, *e1}).ok());
  auto one_ptr = ParameterServer::Create({.task_index = 0, .optimizer = "adagrad", .hyper = {.lr = 0.1f}});
  ParameterServer& one = **one_ptr;
  ASSERT_TRUE(one.Initialize({{"x", F({0, 0}, TensorShape({2}))}, {"y", F({0}, TensorShape({1}))}}).ok());
  auto reader = BundleReader::Open(Env::Default(), prefix);
  ASSERT_TRUE(one.Restore(**reader).ok());
  EXPECT_TRUE((*one.Pull({"x"}))[0].Equals((*a.Pull({"x"}))[0]));
  EXPECT_TRUE((*one.Pull({"y"}))[0].Equals((*b.Pull({"y"}))[0]));
  EXPECT_EQ(one.global_step(), 1);
  EXPECT_TRUE((*reader)->Contains("x/Adagrad"));
}

// A dynamic table saved by one task (100 rows, one id seen per step) and
// restored where the cap allows 40: the 40 most recently seen rows stay
// (on_full: evict), or the restore is refused and changes nothing (error).
TEST(ParameterServerTest, ADynamicTableRestoredOverItsCapKeepsTheNewestRows) {
  const std::string dir = testing::FreshTempDir("restore_cap");
  const std::string name = "t-values";
  auto table = [&](int64_t max_rows, bool evict) {
    auto ps = ParameterServer::Create({.task_index = 0, .optimizer = "sgd", .hyper = {.lr = 0.1f}});
    EXPECT_TRUE((*ps)->Initialize({{name, Tensor(DType::kFloat, TensorShape({0, 2}))}}, {},
                                  {{name, {.dim = 2, .seed = 1, .max_rows = max_rows, .evict_when_full = evict}}})
                    .ok());
    return std::move(ps).value();
  };
  auto saver = table(0, true);
  for (int64_t id = 0; id < 100; ++id) {
    const Tensor ids = Tensor::FromVector<int64_t>({id * 7}, TensorShape({1}));
    const Tensor counts = Tensor::FromVector<int64_t>({1}, TensorShape({1}));
    ASSERT_TRUE(saver->PullDynamicRows(name, ids, &counts, id).ok());
  }
  const std::string prefix = dir + "/model.ckpt-1";
  auto e = saver->SaveShard(prefix, 0, 1);
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_TRUE(WriteBundleIndex(Env::Default(), prefix, 1, {*e}).ok());
  auto reader = BundleReader::Open(Env::Default(), prefix);
  ASSERT_TRUE(reader.ok());

  auto evicting = table(40, true);
  ASSERT_TRUE(evicting->Restore(**reader).ok());
  EXPECT_EQ(evicting->TableStats().at(name).rows, 40);
  for (int64_t id : {59, 60, 99}) {
    auto row = evicting->PullRows(name, Tensor::FromVector<int64_t>({id * 7}, TensorShape({1})));
    ASSERT_TRUE(row.ok());
    EXPECT_EQ(row->flat<float>()[0] != 0.f, id >= 60) << id;  // seen at steps 60..99
  }

  auto strict = table(40, false);
  const Tensor seen = Tensor::FromVector<int64_t>({-1}, TensorShape({1}));
  const Tensor once = Tensor::FromVector<int64_t>({1}, TensorShape({1}));
  ASSERT_TRUE(strict->PullDynamicRows(name, seen, &once, 1).ok());
  const Status st = strict->Restore(**reader);
  EXPECT_TRUE(IsFailedPreconditionError(st)) << st;
  EXPECT_THAT(st.message(), ::testing::HasSubstr("100 rows, more than its max_rows share of 40 (on_full: error)"));
  EXPECT_EQ(strict->TableStats().at(name).rows, 1);  // untouched
}

TEST(ParameterServerTest, AnUnknownOptimizerIsAnErrorAtStart) {
  auto ps = ParameterServer::Create({.optimizer = "adamw"});
  ASSERT_FALSE(ps.ok());
  EXPECT_TRUE(IsInvalidArgumentError(ps.status()));
  EXPECT_THAT(ps.status().message(), HasSubstr("unknown optimizer 'adamw'; choose sgd, momentum"));
  EXPECT_FALSE(ParameterServer::Create({.optimizer = "sgd", .replicas_to_aggregate = -1}).ok());
  EXPECT_TRUE(ParameterServer::Create({.optimizer = "gradient_descent"}).ok());
}

// Pushes whose gradients do not fit their variables, in async and sync mode:
// refused with the variable's name, and nothing of the push is applied.
// (Sync aggregation used to sum such gradients as doubles: int32 or string
// pushes overran memory.)
TEST(ParameterServerTest, BadPushesChangeNothing) {
  for (int64_t replicas : {0, 1}) {
    auto created = ParameterServer::Create({.task_index = 0, .optimizer = "sgd", .hyper = {.lr = 1.f},
                                            .replicas_to_aggregate = replicas});
    ASSERT_TRUE(created.ok());
    ParameterServer& ps = **created;
    ASSERT_TRUE(ps.Initialize({{"a", F({1, 2}, TensorShape({2}))}, {"emb", F({1, 1, 2, 2}, TensorShape({2, 2}))}}).ok());
    const PushItem good{.name = "a", .grad = F({1, 1}, TensorShape({2}))};
    Tensor strings(DType::kString, TensorShape({2}));
    const struct {
      PushItem bad;
      std::string message;
    } cases[] = {
        {{.name = "a", .grad = Tensor::FromVector<int32_t>({1, 1}, TensorShape({2}))}, "push to a (nothing of this push was applied): push: gradient dtype"},
        {{.name = "a", .grad = strings}, "push to a"},
        {{.name = "a", .grad = F({1, 1, 1}, TensorShape({3}))}, "gradient shape [3] differs from variable shape [2]"},
        {{.name = "emb", .grad = F({1, 1}, TensorShape({1, 2})), .rows = Tensor::FromVector<int64_t>({2}, TensorShape({1}))},
         "push to emb (nothing of this push was applied): push: row 2 is out of range [0, 2)"},
        {{.name = "emb", .grad = F({1, 1}, TensorShape({1, 2})), .rows = Tensor::FromVector<int32_t>({0}, TensorShape({1}))},
         "indices must be an int64 vector"},
        {{.name = "emb", .grad = F({1, 1, 1}, TensorShape({1, 3})), .rows = Tensor::FromVector<int64_t>({0}, TensorShape({1}))},
         "does not match variable"},
        {{.name = "nope", .grad = F({1}, TensorShape({1}))}, "variable nope is not held"},
    };
    for (const auto& c : cases) {
      auto r = ps.Push({good, c.bad}, 0);
      ASSERT_FALSE(r.ok()) << c.message;
      EXPECT_THAT(r.status().message(), HasSubstr(c.message));
      EXPECT_EQ((*ps.Pull({"a"}))[0].DebugString(), "float [2] {1, 2}") << "replicas " << replicas << ": " << c.message;
      EXPECT_EQ((*ps.Pull({"emb"}))[0].DebugString(), "float [2,2] {1, 1, 2, 2}");
    }
    EXPECT_EQ(ps.global_step(), 0);
    // A good push still goes through (sync: one replica makes a step).
    ASSERT_TRUE(ps.Push({good}, 0).ok());
    EXPECT_EQ((*ps.Pull({"a"}))[0].DebugString(), "float [2] {0, 1}");
  }
}

}  // namespace
}  // namespace psflow
