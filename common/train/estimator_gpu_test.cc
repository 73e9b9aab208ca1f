// The Estimator on a GPU (EstimatorOptions.gpu): training, checkpoints, resume,
// evaluation, prediction and the frozen export give what the same Estimator
// gives on the CPU.  Built against emulated devices (always runs) and CUDA
// devices (skips without a GPU).
#include <gtest/gtest.h>

#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"
#include "common/gpu/gpu_test_util.h"
#include "common/ops/graph_io.h"
#include "common/train/estimator.h"
#include "common/train/saver.h"
#include "common/train/train_testing.h"

namespace psflow {
namespace {

InputFn Input(int n, uint32_t seed, int64_t batch, bool repeat) { return testing::BlobInput(seed, batch, n, repeat); }

// Momentum: its slots live on the GPU too, and its update is linear in the
// gradient, so summation-order differences between devices stay small
// (Adam's normalized update can turn a rounding difference in a near-zero
// gradient into a full step).
ModelParams Params() {
  ModelParams p;
  p.hidden_units = {12, 8};
  p.n_classes = 3;
  p.optimizer = {.type = "momentum", .hyper = {.lr = 0.05f, .momentum = 0.9f}};
  return p;
}

std::map<std::string, Tensor> CheckpointValues(const std::string& prefix) {
  std::map<std::string, Tensor> out;
  auto reader = BundleReader::Open(Env::Default(), prefix);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  for (const std::string& key : (*reader)->Keys()) {
    auto t = (*reader)->Lookup(key);
    EXPECT_TRUE(t.ok()) << key << ": " << t.status();
    if (t.ok()) out[key] = *t;
  }
  return out;
}

void ExpectSameCheckpoint(const std::string& got, const std::string& want) {
  const auto g = CheckpointValues(got), w = CheckpointValues(want);
  ASSERT_EQ(g.size(), w.size());
  ASSERT_GT(w.size(), 12u);  // kernels, biases, their Momentum slots, global_step
  for (const auto& [key, t] : w) {
    ASSERT_TRUE(g.count(key)) << key;
    EXPECT_TRUE(gpu_test::Near(g.at(key), t, 2e-4, 2e-5)) << key << " in " << got;
  }
}

TEST(EstimatorGpuTest, TrainResumeEvaluateAndPredictMatchTheCpu) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  const std::string cpu_dir = testing::FreshTempDir("est_cpu"), gpu_dir = testing::FreshTempDir("est_gpu");
  Estimator cpu(DnnClassifierFn(), Params(), {.model_dir = cpu_dir, .save_checkpoints_steps = 20, .tf_random_seed = 11});
  Estimator on_gpu(DnnClassifierFn(), Params(),
                   {.model_dir = gpu_dir, .save_checkpoints_steps = 20, .tf_random_seed = 11}, {.gpu = gpu});
  ASSERT_TRUE(cpu.Train(Input(300, 1, 30, true), 30).ok());
  ASSERT_TRUE(on_gpu.Train(Input(300, 1, 30, true), 30).ok());
  // Same seeded start (initialized on the CPU), same steps: same checkpoints.
  for (int step : {0, 20, 30}) ExpectSameCheckpoint(StrCat(gpu_dir, "/model.ckpt-", step), StrCat(cpu_dir, "/model.ckpt-", step));

  // Resume: the GPU Estimator restores (host values moved to the device)
  // and goes on as the CPU one does.
  ASSERT_TRUE(cpu.Train(Input(300, 4, 30, true), 45).ok());
  ASSERT_TRUE(on_gpu.Train(Input(300, 4, 30, true), 45).ok());
  ExpectSameCheckpoint(gpu_dir + "/model.ckpt-45", cpu_dir + "/model.ckpt-45");

  auto ce = cpu.Evaluate(Input(150, 2, 50, false));
  auto ge = on_gpu.Evaluate(Input(150, 2, 50, false));
  ASSERT_TRUE(ce.ok()) << ce.status();
  ASSERT_TRUE(ge.ok()) << ge.status();
  EXPECT_EQ(ge->global_step, 45);
  EXPECT_EQ(ge->checkpoint, gpu_dir + "/model.ckpt-45");
  EXPECT_GT(ce->metrics.at("accuracy"), 0.8f);  // it learned something worth comparing
  for (const auto& [name, v] : ce->metrics) EXPECT_NEAR(ge->metrics.at(name), v, 1e-4) << name;

  auto cp = cpu.Predict(Input(60, 3, 20, false));
  auto gp = on_gpu.Predict(Input(60, 3, 20, false));
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE(gp.ok()) << gp.status();
  ASSERT_EQ(gp->size(), 3u);
  for (size_t b = 0; b < cp->size(); ++b) {
    for (const auto& [name, t] : (*cp)[b]) {
      EXPECT_TRUE((*gp)[b].at(name).device().is_host()) << name;
      EXPECT_TRUE(gpu_test::Near((*gp)[b].at(name), t, 1e-4, 1e-5)) << name << " batch " << b;
    }
  }

}

// After a step on the GPU the variables live there: the Saver and the
// frozen graph copy them back, byte for byte.
TEST(EstimatorGpuTest, SaverAndFreezeReadVariablesFromTheDevice) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  Example batch;
  auto ds = Input(30, 5, 30, false)();
  ASSERT_TRUE(ds.ok());
  ASSERT_TRUE((*ds)->Next(&batch).ok());
  auto m = BuildModelGraph(DnnClassifierFn(), Params(), Mode::kTrain, batch, 7);
  ASSERT_TRUE(m.ok()) << m.status();
  Scope root(m->graph.get());
  Node* init = GlobalVariablesInitializer(root);
  ASSERT_TRUE(root.status().ok());
  Session sess(m->graph.get(), {.gpu = gpu});
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {}, {init}, &out).ok());
  ASSERT_TRUE(sess.Run(FeedsFor(*m, batch), {}, {m->spec.train_op}, &out).ok());
  auto kernel = sess.variables()->Read("dnn/logits/kernel");
  ASSERT_TRUE(kernel.ok());
  ASSERT_FALSE(kernel->device().is_host()) << "the step should leave the variables on " << gpu->Description();
  auto host = kernel->ToHost();
  ASSERT_TRUE(host.ok());

  auto frozen = FreezeGraph(*m->graph, sess.variables(), {m->spec.predictions.at("logits").node->name()});
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  bool found = false;
  for (const auto& n : frozen->node()) {
    if (n.name() != "dnn/logits/kernel") continue;
    found = true;
    EXPECT_EQ(n.op(), "Const");
    auto value = TensorFromProto(n.attr().at("value").tensor());
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_TRUE(value->Equals(*host));
  }
  EXPECT_TRUE(found);

  auto saver = Saver::Create(m->graph.get());
  ASSERT_TRUE(saver.ok()) << saver.status();
  const std::string dir = testing::FreshTempDir("est_saver");
  auto prefix = (*saver)->Save(&sess, dir, 1);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_TRUE(CheckpointValues(*prefix).at("dnn/logits/kernel").Equals(*host));
}

TEST(EstimatorGpuTest, EvaluatesACheckpointWrittenOnTheCpu) {
  PSFLOW_GPU_OR_SKIP(gpu, 0);
  const std::string dir = testing::FreshTempDir("est_mixed");
  Estimator cpu(DnnClassifierFn(), Params(), {.model_dir = dir, .save_checkpoints_steps = 100, .tf_random_seed = 3});
  ASSERT_TRUE(cpu.Train(Input(300, 1, 30, true), 25).ok());
  Estimator on_gpu(DnnClassifierFn(), Params(), {.model_dir = dir, .tf_random_seed = 3}, {.gpu = gpu});
  auto ce = cpu.Evaluate(Input(90, 2, 30, false));
  auto ge = on_gpu.Evaluate(Input(90, 2, 30, false));
  ASSERT_TRUE(ce.ok()) << ce.status();
  ASSERT_TRUE(ge.ok()) << ge.status();
  EXPECT_EQ(ge->global_step, 25);
  for (const auto& [name, v] : ce->metrics) EXPECT_NEAR(ge->metrics.at(name), v, 1e-4) << name;
}

}  // namespace
}  // namespace psflow
