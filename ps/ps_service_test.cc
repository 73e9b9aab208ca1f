#include "ps/ps_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "common/core/testing.h"
#include "common/distributed/ps_client.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor F(std::vector<float> v, TensorShape s) { return Tensor::FromVector<float>(v, s); }

// An in-process cluster of `n` PS tasks on the fake transport.
struct Cluster {
  rpc::FakeTransport transport;
  std::vector<std::unique_ptr<ParameterServer>> ps;
  std::vector<std::unique_ptr<PsService>> services;
  std::vector<std::unique_ptr<rpc::RpcServer>> servers;
  std::vector<std::string> addresses;

  explicit Cluster(int n, const std::string& optimizer = "sgd") {
    for (int k = 0; k < n; ++k) {
      ps.push_back(std::move(ParameterServer::Create({k, optimizer, {.lr = 0.5f}})).value());
      services.push_back(std::make_unique<PsService>(ps.back().get()));
      auto s = transport.Listen({.port = 0, .token = "t", .task = StrCat("ps:", k)}, services.back()->Handler());
      CHECK_OK(s.status());
      addresses.push_back(StrCat("127.0.0.1:", (*s)->port()));
      servers.push_back(std::move(s).value());
    }
  }
  PsClient Client(const Placement& p, int64_t timeout_ms = 5000, int max_attempts = 5) {
    std::vector<std::unique_ptr<rpc::Channel>> chans;
    for (const auto& a : addresses) chans.push_back(transport.Connect({.address = a, .token = "t", .task = "worker:0"}));
    return PsClient(std::move(chans), p, timeout_ms, max_attempts);
  }
};

std::map<std::string, Tensor> Model() {
  return {{"big", F(std::vector<float>(100, 1.f), TensorShape({10, 10}))},
          {"mid", F(std::vector<float>(20, 1.f), TensorShape({20}))},
          {"small", F({1, 1}, TensorShape({2}))}};
}

TEST(PlacementTest, GreedyByBytesAndRoundRobin) {
  std::map<std::string, TensorShape> vars = {{"a", TensorShape({100})}, {"b", TensorShape({60})},
                                             {"c", TensorShape({50})}, {"d", TensorShape({5})}};
  Placement g = PlaceVariables(vars, 2);
  EXPECT_EQ(g.TaskOf("a"), 0);
  EXPECT_EQ(g.TaskOf("b"), 1);
  EXPECT_EQ(g.TaskOf("c"), 1);  // 60 + 50 = 110 vs 100 + 0
  EXPECT_EQ(g.TaskOf("d"), 0);
  EXPECT_FALSE(g.Partitioned("a"));
  Placement r = PlaceVariables(vars, 3, {.round_robin = true});
  EXPECT_EQ(r.TaskOf("a"), 0);
  EXPECT_EQ(r.TaskOf("d"), 0);
  EXPECT_EQ(r.TaskOf("b"), 1);
}

TEST(PlacementTest, PartitionsLargeVariablesByRowsAsTensorFlowNamesThem) {
  std::map<std::string, TensorShape> vars = {{"emb", TensorShape({10, 4})}, {"bias", TensorShape({4})},
                                             {"kernel", TensorShape({4, 2})}};
  // Fixed count: every variable of rank >= 2 in 3 parts; the first 10 % 3 parts get a row more.
  Placement p = PlaceVariables(vars, 3, {.partitions = 3});
  ASSERT_TRUE(p.Partitioned("emb"));
  const auto& parts = *p.Parts("emb");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "emb/part_0");
  EXPECT_EQ(parts[2].name, "emb/part_2");
  EXPECT_EQ(parts[0].rows, 4);
  EXPECT_EQ(parts[1].row_begin, 4);
  EXPECT_EQ(parts[1].rows, 3);
  EXPECT_EQ(parts[2].row_begin, 7);
  std::set<int> tasks = {parts[0].task, parts[1].task, parts[2].task};
  EXPECT_EQ(tasks.size(), 3u);  // greedy spreads the parts
  EXPECT_FALSE(p.Partitioned("bias"));
  EXPECT_EQ(p.Parts("kernel")->size(), 3u);
  // Minimum slice size: 160 bytes / 64 = 2 parts (capped by max_partitions = 3 PS tasks); the 32-byte kernel stays whole.
  Placement m = PlaceVariables(vars, 3, {.min_slice_bytes = 64});
  EXPECT_EQ(m.Parts("emb")->size(), 2u);
  EXPECT_FALSE(m.Partitioned("kernel"));
  EXPECT_EQ(PlaceVariables(vars, 3, {.min_slice_bytes = 8, .max_partitions = 5}).Parts("emb")->size(), 5u);
  EXPECT_EQ(PlaceVariables(vars, 2, {.partitions = 50}).Parts("emb")->size(), 10u);  // at least one row each
}

TEST(PsServiceTest, PartitionedVariablesPullPushSaveAndRestoreWhateverThePartitioning) {
  Cluster c(2, "adam");
  std::vector<float> emb_init(10 * 3);
  for (size_t i = 0; i < emb_init.size(); ++i) emb_init[i] = static_cast<float>(i);
  const std::map<std::string, Tensor> init = {{"emb", F(emb_init, TensorShape({10, 3}))}, {"b", F({0, 0, 0}, TensorShape({3}))}};
  const std::map<std::string, TensorShape> shapes = {{"emb", TensorShape({10, 3})}, {"b", TensorShape({3})}};
  PsClient client = c.Client(PlaceVariables(shapes, 2, {.partitions = 2}));
  ASSERT_TRUE(client.Initialize(init).ok());
  // Each task holds one part, under TensorFlow's part names.
  EXPECT_EQ(c.ps[0]->Stats().count("emb/part_0") + c.ps[1]->Stats().count("emb/part_0"), 1u);
  EXPECT_EQ(c.ps[0]->Stats().count("emb/part_1") + c.ps[1]->Stats().count("emb/part_1"), 1u);
  auto whole = client.Pull({"emb"});
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_TRUE(whole->at("emb").Equals(init.at("emb")));
  // Rows from both parts, in the asked order.
  auto rows = client.PullRows("emb", Tensor::FromVector<int64_t>({7, 1, 9}, TensorShape({3})));
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->DebugString(), "float [3,3] {21, 22, 23, 3, 4, 5, 27, 28, 29}");
  auto outside = client.PullRows("emb", Tensor::FromVector<int64_t>({10}, TensorShape({1})));
  EXPECT_THAT(outside.status().message(), ::testing::HasSubstr("row 10 of emb is out of range [0, 10)"));
  // A training step's pull: whole "b", rows of "emb" from one part only, and
  // an empty row pull (still [0, 3] floats): one message per task.
  auto all = client.PullAll({"b"}, {{.name = "emb", .rows = Tensor::FromVector<int64_t>({2, 2, 0}, TensorShape({3}))},
                                    {.name = "emb", .rows = Tensor(DType::kInt64, TensorShape({0}))}});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->whole.at("b").Equals(init.at("b")));
  ASSERT_EQ(all->rows.size(), 2u);
  EXPECT_EQ(all->rows[0].DebugString(), "float [3,3] {6, 7, 8, 6, 7, 8, 0, 1, 2}");
  EXPECT_EQ(all->rows[1].DebugString(), "float [0,3] {}");
  EXPECT_EQ(all->bytes, static_cast<int64_t>(init.at("b").TotalBytes()) + 9 * 4);
  // A sparse push touching rows 1 and 8 (one per part) and a dense push.
  PushItem sparse{.name = "emb", .grad = F({1, 1, 1, -1, -1, -1}, TensorShape({2, 3})),
                  .rows = Tensor::FromVector<int64_t>({1, 8}, TensorShape({2}))};
  ASSERT_TRUE(client.PushItems({sparse}, 0).ok());
  ASSERT_TRUE(client.Push({{"emb", F(std::vector<float>(30, 0.5f), TensorShape({10, 3}))}}, 1).ok());
  auto after = client.Pull({"emb"});
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->at("emb").flat<float>()[3], 3.f);   // row 1 went down twice
  EXPECT_GT(after->at("emb").flat<float>()[24], 24.f - 0.01f);  // row 8: up, then down: about where it was
  EXPECT_LT(after->at("emb").flat<float>()[0], 0.f);   // row 0: the dense push only
  // The checkpoint holds "emb" and its slots as slices of the full shape.
  const std::string prefix = testing::FreshTempDir("partitioned") + "/model.ckpt-2";
  auto entries = client.Save(prefix);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_TRUE(WriteBundleIndex(Env::Default(), prefix, 2, *entries).ok());
  auto reader = BundleReader::Open(Env::Default(), prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_THAT((*reader)->Keys(), ::testing::ElementsAre("b", "b/Adam", "b/Adam_1", "beta1_power", "beta2_power", "emb",
                                                        "emb/Adam", "emb/Adam_1", "global_step"));
  auto info = (*reader)->GetInfo("emb/Adam");
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->partitioned);
  EXPECT_EQ(info->shape, TensorShape({10, 3}));
  EXPECT_TRUE((*reader)->Lookup("emb")->Equals(after->at("emb")));
  // Restored unpartitioned on one task, and in 3 parts on 3 tasks.
  for (int n : {1, 3}) {
    Cluster other(n, "adam");
    PsClient oc = other.Client(PlaceVariables(shapes, n, {.partitions = n == 1 ? 0 : 3}));
    ASSERT_TRUE(oc.Initialize(init).ok());
    ASSERT_TRUE(oc.Restore(prefix).ok()) << n;
    EXPECT_TRUE(oc.Pull({"emb"})->at("emb").Equals(after->at("emb"))) << n;
    // The slots came back too: a new save equals the old one.
    const std::string again = testing::FreshTempDir("again") + "/model.ckpt-2";
    auto e2 = oc.Save(again);
    ASSERT_TRUE(e2.ok());
    ASSERT_TRUE(WriteBundleIndex(Env::Default(), again, n, *e2).ok());
    auto r2 = BundleReader::Open(Env::Default(), again);
    EXPECT_TRUE((*r2)->Lookup("emb/Adam_1")->Equals(*(*reader)->Lookup("emb/Adam_1"))) << n;
  }
}

TEST(PsServiceTest, InitializePullPushSaveAndRestoreOnAnotherPsCount) {
  Cluster c(2);
  std::map<std::string, TensorShape> shapes;
  for (const auto& [n, t] : Model()) shapes[n] = t.shape();
  PsClient client = c.Client(PlaceVariables(shapes, 2));
  EXPECT_FALSE(*client.Initialized());
  ASSERT_TRUE(client.Initialize(Model()).ok());
  EXPECT_TRUE(*client.Initialized());
  EXPECT_EQ(c.ps[0]->VariableNames().size() + c.ps[1]->VariableNames().size(), 3u);
  auto step = client.Push({{"mid", F(std::vector<float>(20, 2.f), TensorShape({20}))}, {"small", F({1, 0}, TensorShape({2}))}}, 0);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  auto values = client.Pull({"big", "mid", "small"});
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->at("small").DebugString(), "float [2] {0.5, 1}");
  EXPECT_EQ(values->at("mid").flat<float>()[0], 0.f);
  auto counters = client.Counters();
  ASSERT_TRUE(counters.ok()) << counters.status();
  const int small_task = PlaceVariables(shapes, 2).TaskOf("small");
  EXPECT_EQ((*counters)[static_cast<size_t>(small_task)].at("small").pushes, 1);
  EXPECT_EQ((*counters)[static_cast<size_t>(small_task)].at("small").pulls, 1);
  EXPECT_EQ((*counters)[static_cast<size_t>(small_task)].at("small").bytes_in, 8);
  // Save: both shards written in parallel, one index.
  const std::string prefix = testing::FreshTempDir("save") + "/model.ckpt-1";
  auto parts = client.Save(prefix);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_TRUE(WriteBundleIndex(Env::Default(), prefix, 2, *parts).ok());
  EXPECT_TRUE(Env::Default()->FileExists(prefix + ".data-00001-of-00002"));
  // A one-PS cluster restores the two-PS checkpoint.
  Cluster one(1);
  PsClient c1 = one.Client(PlaceVariables(shapes, 1));
  ASSERT_TRUE(c1.Initialize(Model()).ok());
  ASSERT_TRUE(c1.Restore(prefix).ok());
  EXPECT_EQ(c1.Pull({"small"})->at("small").DebugString(), "float [2] {0.5, 1}");
  EXPECT_EQ(*c1.GlobalStep(), 1);
}

TEST(PsServiceTest, LostMessagesAreRetriedAndEveryPushIsAppliedOnce) {
  Cluster c(2);
  std::map<std::string, TensorShape> shapes;
  for (const auto& [n, t] : Model()) shapes[n] = t.shape();
  const Placement placement = PlaceVariables(shapes, 2);
  PsClient client = c.Client(placement, /*timeout_ms=*/100, /*max_attempts=*/20);
  ASSERT_TRUE(client.Initialize(Model()).ok());
  c.transport.SetDropRate(0.2);  // requests and answers: a push whose answer is lost has landed
  c.transport.SetDelayMs(2);
  int pulls_ok = 0;
  for (int i = 0; i < 10; ++i) pulls_ok += client.Pull({"big", "mid", "small"}).ok();
  EXPECT_EQ(pulls_ok, 10);  // idempotent: retried until they get through
  const int64_t small_task = placement.Parts("small")->front().task;
  int pushes_ok = 0;
  for (int i = 0; i < 20; ++i) pushes_ok += client.Push({{"small", F({1, 1}, TensorShape({2}))}}, i).ok();
  EXPECT_EQ(pushes_ok, 20);  // retried too (each carries a push_id)...
  EXPECT_GT(c.transport.dropped(), 0);
  // ... and applied once each, whatever was lost on the way.
  EXPECT_EQ(c.ps[static_cast<size_t>(small_task)]->Stats()["small"].pushes, 20);
  EXPECT_EQ(c.ps[0]->global_step(), 20);
  c.transport.SetDropRate(1.0);
  PsClient few = c.Client(placement, /*timeout_ms=*/100, /*max_attempts=*/3);
  auto push = few.Push({{"small", F({1, 1}, TensorShape({2}))}}, 0);
  EXPECT_TRUE(IsDeadlineExceededError(push.status())) << push.status();  // a bounded number of attempts
  EXPECT_THAT(push.status().message(), HasSubstr("call Push from worker:0"));
}

TEST(PsServiceTest, RequestsFromARestartedTasksOldIncarnationAreAborted) {
  Cluster c(1);
  auto connect = [&](uint64_t incarnation) {
    std::vector<std::unique_ptr<rpc::Channel>> chans;
    chans.push_back(c.transport.Connect({.address = c.addresses[0], .token = "t", .task = "worker:1", .incarnation = incarnation}));
    return PsClient(std::move(chans), {{"small", 0}});
  };
  PsClient old_life = connect(111);
  ASSERT_TRUE(old_life.Initialize({{"small", F({1, 1}, TensorShape({2}))}}).ok());
  PsClient new_life = connect(222);  // the worker restarted
  ASSERT_TRUE(new_life.Pull({"small"}).ok());
  auto stale = old_life.Push({{"small", F({1, 1}, TensorShape({2}))}}, 0);
  EXPECT_TRUE(IsAbortedError(stale.status())) << stale.status();
  EXPECT_THAT(stale.status().message(), HasSubstr("earlier incarnation of worker:1"));
  EXPECT_EQ(c.ps[0]->Stats()["small"].pushes, 0);  // nothing applied
  EXPECT_TRUE(new_life.Push({{"small", F({1, 1}, TensorShape({2}))}}, 0).ok());
}

TEST(PsServiceTest, ErrorsComeBackWithTheirCodes) {
  Cluster c(1);
  PsClient client = c.Client({{"x", 0}, {"y", 0}});
  // Before the chief initialized it, a PS task serves nothing (a task
  // restarted alone waits for its restore): Unavailable, worth waiting for.
  auto r = client.Pull({"x"});
  EXPECT_TRUE(IsUnavailableError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("has not been initialized"));
  ASSERT_TRUE(client.Initialize({{"y", F({1, 1}, TensorShape({2}))}}).ok());
  r = client.Pull({"x"});
  EXPECT_TRUE(IsNotFoundError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("x"));
  EXPECT_THAT(client.Pull({"unplaced"}).status().message(), HasSubstr("has no PS placement"));
}

// A synchronous trainer waits for its step without polling: PS task 0
// answers WaitForStep when global_step passes it (a push from another
// trainer here), at early stopping, or at the timeout.
TEST(PsServiceTest, WaitForStepIsAnsweredWhenTheStepPasses) {
  Cluster c(1);
  PsClient client = c.Client(Placement({{"w", 0}}), 30000);
  ASSERT_TRUE(client.Initialize({{"w", F({1}, TensorShape({1}))}}).ok());
  // std::async: a failed ASSERT leaves through the future's destructor, which waits.
  auto answer = std::async(std::launch::async, [&] { return client.WaitForStep(/*after_step=*/0, /*timeout_ms=*/60000); });
  // Not answered before the step moves (the deadline is a minute away).
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  PsClient other = c.Client(Placement({{"w", 0}}));
  ASSERT_TRUE(other.Push({{"w", F({1}, TensorShape({1}))}}, 0).ok());
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto step = answer.get();
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, 1);
  auto value = [](const StatusOr<int64_t>& r) { return r.ok() ? *r : -1; };
  // Already past: at once.  Not past: at the timeout, with the step as it is.
  EXPECT_EQ(value(client.WaitForStep(0, 60000)), 1);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(value(client.WaitForStep(5, 100)), 1);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  // Early stopping answers every waiter.
  auto stop_answer = std::async(std::launch::async, [&] { return client.WaitForStep(5, 60000); });
  ASSERT_TRUE(other.RequestStop().ok());
  ASSERT_EQ(stop_answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(stop_answer.get().ok());
  EXPECT_TRUE(client.stop_requested());
}

// A worker waits for the chief without polling: every PS task answers
// WaitForReady when SetReady reaches it, or at the timeout with "not ready".
TEST(PsServiceTest, WaitForReadyIsAnsweredWhenTheChiefMarksTheTasksReady) {
  Cluster c(2);
  PsClient worker = c.Client(Placement({{"w", 0}, {"v", 1}}), 30000);
  const auto t0 = std::chrono::steady_clock::now();
  auto early = worker.WaitForReady(100);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_FALSE(*early);  // nobody marked them ready: the timeout answers
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  auto answer = std::async(std::launch::async, [&] { return worker.WaitForReady(60000); });
  EXPECT_EQ(answer.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  PsClient chief = c.Client(Placement({{"w", 0}, {"v", 1}}));
  ASSERT_TRUE(chief.Initialize({{"w", F({1}, TensorShape({1}))}, {"v", F({2}, TensorShape({1}))}}).ok());
  ASSERT_TRUE(chief.MarkReady().ok());
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto ready = answer.get();
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_TRUE(*ready);
  auto again = worker.WaitForReady(60000);  // already ready: at once
  EXPECT_TRUE(again.ok() && *again);
  // A PS task that is down: an error naming it, not a hang (the worker backs off and asks again).
  c.servers[1]->Stop();
  auto down = worker.WaitForReady(60000);
  EXPECT_TRUE(IsUnavailableError(down.status())) << down.status();
  EXPECT_THAT(down.status().message(), HasSubstr(c.addresses[1]));
}

}  // namespace
}  // namespace psflow
