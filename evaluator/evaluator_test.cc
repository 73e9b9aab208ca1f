#include "evaluator/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/core/testing.h"
#include "common/summary/event_writer.h"
#include "common/train/saved_model.h"

namespace psflow {
namespace {

// Two well-separated classes in 4 features.
InputFn TwoClasses(int64_t batch, bool repeat) {
  return [batch, repeat]() -> StatusOr<std::unique_ptr<Dataset>> {
    const int n = 256;
    Tensor x(DType::kFloat, TensorShape({n, 4}));
    Tensor y(DType::kInt32, TensorShape({n}));
    for (int i = 0; i < n; ++i) {
      const int c = i % 2;
      y.flat<int32_t>()[static_cast<size_t>(i)] = c;
      for (int k = 0; k < 4; ++k) {
        x.flat<float>()[static_cast<size_t>(i * 4 + k)] = (c == 0 ? -1.f : 1.f) * static_cast<float>((i * 7 + k) % 5 + 1) / 5.f;
      }
    }
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices({{"x", x}, {"label", y}}));
    if (repeat) ds = Repeat(std::move(ds));
    return Batch(std::move(ds), batch);
  };
}

ModelParams SmallDnn() {
  ModelParams params;
  params.hidden_units = {8};
  params.n_classes = 2;
  params.optimizer = {.type = "sgd", .hyper = {.lr = 0.05f}};
  return params;
}

TEST(EvaluatorTest, EveryCheckpointEarlyStoppingBestExportAndRestartSkips) {
  const std::string dir = testing::FreshTempDir("eval_job");
  const ModelParams params = SmallDnn();
  Estimator est(DnnClassifierFn(), params, {.model_dir = dir, .save_checkpoints_steps = 50, .tf_random_seed = 3});
  ASSERT_TRUE(est.Train(TwoClasses(16, true), 200).ok());  // checkpoints 0, 50, ..., 200

  // "Improvement" means a lower accuracy here, so a learning model never
  // improves: early stopping fires after `patience` evaluations.
  int stop_requests = 0;
  EvaluatorOptions o{.model_dir = dir, .train_steps = 200,
                     .eval = {.start_delay_secs = 0, .throttle_secs = 0, .every_checkpoint = true,
                              .early_stopping_metric = "accuracy", .early_stopping_higher_is_better = false,
                              .early_stopping_patience = 2, .best_metric = "loss"},
                     .poll_secs = 0.05,
                     .request_stop = [&] { ++stop_requests; return OkStatus(); }};
  auto r = Evaluator(DnnClassifierFn(), params, TwoClasses(64, false), o).Run();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->evaluations, 5);  // every checkpoint, oldest first
  EXPECT_EQ(r->last_global_step, 200);
  EXPECT_EQ(stop_requests, 1);
  EXPECT_TRUE(r->stopped_early);
  EXPECT_GT(r->last_metrics.at("accuracy"), 0.9f);
  std::ifstream jsonl(dir + "/eval/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(jsonl, line)) {
    EXPECT_THAT(line, ::testing::HasSubstr("\"accuracy\": "));
    ++lines;
  }
  EXPECT_EQ(lines, 5);
  auto scalars = ReadScalars(Env::Default(), dir + "/eval");
  ASSERT_TRUE(scalars.ok()) << scalars.status();
  ASSERT_EQ(scalars->at("loss").size(), 5u);
  EXPECT_EQ(scalars->at("loss").front().first, 0);
  EXPECT_LT(scalars->at("loss").back().second, scalars->at("loss").front().second);
  // The best (lowest-loss) checkpoint is exported as a graph that runs alone.
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/export/best/frozen_graph.pb"));
  std::ifstream best(dir + "/export/best/best.json");
  std::string best_json((std::istreambuf_iterator<char>(best)), std::istreambuf_iterator<char>());
  EXPECT_THAT(best_json, ::testing::HasSubstr("\"metric\": \"loss\""));
  EXPECT_THAT(best_json, ::testing::HasSubstr("probabilities"));
  // ... and as a SavedModel in its own export/best/<unix seconds>/, which
  // psflow loads and runs (TensorFlow's tools: tests/interop/tf_graph_interop.py).
  const size_t at = best_json.find("\"saved_model\": \"");
  ASSERT_NE(at, std::string::npos) << best_json;
  const size_t from = at + 16, to = best_json.find('"', from);
  const std::string saved = best_json.substr(from, to - from);
  EXPECT_THAT(saved, ::testing::StartsWith(dir + "/export/best/"));
  auto loaded = LoadSavedModel(Env::Default(), saved);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(loaded->inputs.count("x"));
  EXPECT_TRUE(loaded->outputs.count("probabilities") && loaded->outputs.count("classes"));

  // A restarted evaluator skips what metrics.jsonl lists and returns at once.
  auto again = Evaluator(DnnClassifierFn(), params, TwoClasses(64, false), o).Run();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->evaluations, 0);
}

// The state file names model.ckpt-100, whose files are gone: the evaluator
// evaluates model.ckpt-50, the newest complete one it lists (it used to wait
// for model.ckpt-100 forever).
TEST(EvaluatorTest, AMissingLatestCheckpointGivesWayToTheNewestCompleteOne) {
  const std::string dir = testing::FreshTempDir("eval_missing");
  const ModelParams params = SmallDnn();
  Estimator est(DnnClassifierFn(), params, {.model_dir = dir, .save_checkpoints_steps = 50, .tf_random_seed = 3});
  ASSERT_TRUE(est.Train(TwoClasses(16, true), 100).ok());  // checkpoints 0, 50, 100
  for (const char* f : {"index", "data-00000-of-00001", "meta"}) {
    ASSERT_TRUE(Env::Default()->DeleteFile(dir + "/model.ckpt-100." + f).ok());
  }
  std::atomic<bool> stop{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 300 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  EvaluatorOptions o{.model_dir = dir, .train_steps = 50,
                     .eval = {.start_delay_secs = 0, .throttle_secs = 0},
                     .stop = &stop, .poll_secs = 0.05};
  auto r = Evaluator(DnnClassifierFn(), params, TwoClasses(64, false), o).Run();
  stop = true;
  watchdog.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->evaluations, 1);
  EXPECT_EQ(r->last_global_step, 50);
}

// Started after training: the start delay (an hour here) ends as soon as
// the final checkpoint is seen, and only that one is evaluated.
TEST(EvaluatorTest, TheStartDelayEndsWhenTheFinalCheckpointIsThere) {
  const std::string dir = testing::FreshTempDir("eval_delay");
  const ModelParams params = SmallDnn();
  Estimator est(DnnClassifierFn(), params, {.model_dir = dir, .save_checkpoints_steps = 50, .tf_random_seed = 3});
  ASSERT_TRUE(est.Train(TwoClasses(16, true), 100).ok());
  std::atomic<bool> stop{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 300 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  EvaluatorOptions o{.model_dir = dir, .train_steps = 100,
                     .eval = {.start_delay_secs = 3600, .throttle_secs = 3600},
                     .stop = &stop, .poll_secs = 0.05};
  auto r = Evaluator(DnnClassifierFn(), params, TwoClasses(64, false), o).Run();
  const bool timed_out = stop.exchange(true);
  watchdog.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(timed_out) << "the evaluator waited out its start delay";
  EXPECT_EQ(r->evaluations, 1);
  EXPECT_EQ(r->last_global_step, 100);
}

// The chief died before its final checkpoint: the evaluator gives up after
// eval.timeout_secs without a new one, saying what it waited for (it used to
// wait forever).
TEST(EvaluatorTest, GivesUpWhenNoNewCheckpointComes) {
  const std::string dir = testing::FreshTempDir("eval_timeout");
  const ModelParams params = SmallDnn();
  Estimator est(DnnClassifierFn(), params, {.model_dir = dir, .save_checkpoints_steps = 50, .tf_random_seed = 3});
  ASSERT_TRUE(est.Train(TwoClasses(16, true), 50).ok());  // checkpoints 0 and 50 of a 100-step job
  std::atomic<bool> stop{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 300 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  EvaluatorOptions o{.model_dir = dir, .train_steps = 100,
                     .eval = {.start_delay_secs = 0, .throttle_secs = 0, .timeout_secs = 0.5},
                     .stop = &stop, .poll_secs = 0.05};
  auto r = Evaluator(DnnClassifierFn(), params, TwoClasses(64, false), o).Run();
  stop = true;
  watchdog.join();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDeadlineExceededError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("(eval.timeout_secs) for a new checkpoint in " + dir +
                                                         " (the final one is at global_step 100; the last evaluated is at step 50)"));
}

}  // namespace
}  // namespace psflow
