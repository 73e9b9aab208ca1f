#include "ps/ps_service.h"
#include "worker/trainer.h"
#include "chief/chief.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "common/checkpoint/checkpoint_state.h"
#include "common/core/testing.h"
#include "common/data/tfrecord.h"
#include "common/proto/example.pb.h"
#include "common/ops/ops.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/train/feature_column.h"
#include "common/train/layers.h"
#include "common/train/train_testing.h"
#include "worker/trainer_testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

using testing::Blobs;
using testing::Input;
using testing::Job;

TEST(TrainerTest, ChiefAndTwoWorkersTrainAsynchronouslyAndCheckpoint) {
  const std::string dir = testing::FreshTempDir("job");
  Job job;
  TrainerOptions base{.run = {.model_dir = dir, .save_checkpoints_steps = 500, .log_step_count_steps = 500, .tf_random_seed = 1},
                      .train_steps = 1500, .wait_log_secs = 0.2};
  StatusOr<TrainerResult> chief = InvalidArgumentError("not run"), w0 = chief, w1 = chief;
  std::thread workers[2];
  for (int i = 0; i < 2; ++i) {
    workers[i] = std::thread([&, i] {
      TrainerOptions o = base;
      o.task = StrCat("worker:", i);
      (i == 0 ? w0 : w1) = Trainer(o, DnnClassifierFn(), job.params, job.Client(o.task)).Run(Input(10 + i));
    });
  }
  TrainerOptions co = base;
  co.task = "chief:0";
  Chief role;
  chief = Trainer(co, DnnClassifierFn(), job.params, job.Client(co.task)).Run(Input(1), &role);
  for (auto& t : workers) t.join();
  ASSERT_TRUE(chief.ok()) << chief.status();
  ASSERT_TRUE(w0.ok()) << w0.status();
  ASSERT_TRUE(w1.ok()) << w1.status();
  EXPECT_GE(chief->global_step, 1500);
  EXPECT_GT(w0->local_steps, 0);
  EXPECT_GT(w1->local_steps, 0);
  EXPECT_EQ(chief->local_steps + w0->local_steps + w1->local_steps, job.ps[0]->global_step());
  // The loss over a fixed set falls between the first and the last checkpoint.
  InputFn eval = []() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(Blobs(300, 99)));
    return Batch(std::move(ds), 100);
  };
  Estimator est(DnnClassifierFn(), job.params, {.model_dir = dir});
  auto at_start = est.Evaluate(eval, std::nullopt, dir + "/model.ckpt-0");
  auto at_end = est.Evaluate(eval, std::nullopt, role.last_checkpoint());
  ASSERT_TRUE(at_start.ok() && at_end.ok()) << at_start.status() << at_end.status();
  EXPECT_LT(at_end->metrics["loss"], at_start->metrics["loss"]);
  EXPECT_GT(at_end->metrics["accuracy"], 0.9f);
  // Checkpoint files: two data shards, an index, a meta graph, the state file.
  const std::string last = role.last_checkpoint();
  EXPECT_EQ(**LatestCheckpoint(Env::Default(), dir), last);
  EXPECT_TRUE(Env::Default()->FileExists(last + ".data-00000-of-00002"));
  EXPECT_TRUE(Env::Default()->FileExists(last + ".data-00001-of-00002"));
  EXPECT_TRUE(Env::Default()->FileExists(last + ".meta"));
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt-0.index"));
  // The start checkpoint is written before the workers may push: it holds step 0.
  auto start = BundleReader::Open(Env::Default(), dir + "/model.ckpt-0");
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_EQ((*start)->Lookup("global_step")->flat<int64_t>()[0], 0);
  auto reader = BundleReader::Open(Env::Default(), last);
  EXPECT_TRUE((*reader)->Contains("dnn/hiddenlayer_0/kernel/Adam_1"));
  EXPECT_TRUE((*reader)->Contains("beta1_power"));
  // Asynchronous workers may push while the chief saves: the snapshot's step
  // is at least the one the chief read before saving.
  const int64_t saved = (*reader)->Lookup("global_step")->flat<int64_t>()[0];
  EXPECT_GE(saved, chief->global_step);
  EXPECT_LE(saved, chief->global_step + 2);

  // A new job on the same model_dir resumes from the saved global_step.
  Job again;
  TrainerOptions co2 = co;
  co2.train_steps = saved + 20;
  Chief role2;
  auto resumed = Trainer(co2, DnnClassifierFn(), again.params, again.Client("chief:0")).Run(Input(2), &role2);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->global_step, saved + 20);
  EXPECT_EQ(resumed->local_steps, 20);

  // A changed model (16 -> 8 hidden units) is refused, naming the variables and shapes.
  Job changed({.hidden = {8}});
  Chief role3;
  auto refused = Trainer(co2, DnnClassifierFn(), changed.params, changed.Client("chief:0")).Run(Input(3), &role3);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsCheckpointMismatch(refused.status())) << refused.status();
  EXPECT_TRUE(role3.failed_on_checkpoint());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("tensor_name = dnn/hiddenlayer_0/kernel; shape in model [8,8] does not match the shape stored in checkpoint: [8,16]"));
  EXPECT_THAT(refused.status().message(), HasSubstr("dnn/hiddenlayer_0/kernel/Adam"));
}

// Synchronous: every step aggregates 2 of the 3 trainers' pushes; the third
// is a backup whose late gradients are dropped.  A worker that stops early
// does not stall the others.
TEST(TrainerTest, SynchronousWithABackupWorkerAndAWorkerThatLeaves) {
  const std::string dir = testing::FreshTempDir("sync");
  Job job({.replicas_to_aggregate = 2});
  std::atomic<bool> leave{false};
  TrainerOptions base{.run = {.model_dir = dir, .save_checkpoints_steps = 1000, .log_step_count_steps = 100, .tf_random_seed = 1},
                      .train_steps = 200, .wait_log_secs = 0.2, .sync = true, .sync_wait_secs = 10};
  StatusOr<TrainerResult> w0 = InvalidArgumentError("not run"), w1 = w0;
  std::thread t0([&] {
    TrainerOptions o = base;
    o.task = "worker:0";
    w0 = Trainer(o, DnnClassifierFn(), job.params, job.Client(o.task)).Run(Input(10));
  });
  std::thread t1([&] {
    TrainerOptions o = base;
    o.task = "worker:1";
    o.stop = &leave;  // leaves the job half way
    w1 = Trainer(o, DnnClassifierFn(), job.params, job.Client(o.task)).Run(Input(11));
  });
  std::thread leaver([&] {
    while (job.ps[0]->global_step() < 100) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    leave = true;
  });
  TrainerOptions co = base;
  co.task = "chief:0";
  Chief role;
  auto chief = Trainer(co, DnnClassifierFn(), job.params, job.Client(co.task)).Run(Input(1), &role);
  t0.join();
  t1.join();
  leaver.join();
  ASSERT_TRUE(chief.ok()) << chief.status();
  ASSERT_TRUE(w0.ok()) << w0.status();
  ASSERT_TRUE(w1.ok()) << w1.status();
  EXPECT_EQ(job.ps[0]->global_step(), 200);
  // Each applied step used exactly 2 pushes; the rest were stale and dropped.
  const int64_t pushes = chief->local_steps + w0->local_steps + w1->local_steps;
  EXPECT_EQ(pushes, 2 * 200 + job.ps[0]->stale_pushes_dropped());
  EXPECT_LT(w1->local_steps, chief->local_steps);  // it left
  EXPECT_EQ(chief->sync_timeouts + w0->sync_timeouts, 0);  // two replicas were always there
}

// Early stopping: the evaluator's RequestStop reaches the trainers through
// PS task 0's Push answers; the chief ends with a final checkpoint.
TEST(TrainerTest, EarlyStoppingRequestEndsTheJobWithAFinalCheckpoint) {
  const std::string dir = testing::FreshTempDir("early");
  Job job;
  TrainerOptions base{.run = {.model_dir = dir, .save_checkpoints_steps = 100000, .log_step_count_steps = 1000, .tf_random_seed = 1},
                      .train_steps = 1000000, .wait_log_secs = 0.2};
  StatusOr<TrainerResult> worker = InvalidArgumentError("not run");
  std::thread w([&] {
    TrainerOptions o = base;
    o.task = "worker:0";
    worker = Trainer(o, DnnClassifierFn(), job.params, job.Client(o.task)).Run(Input(10));
  });
  std::thread evaluator([&] {
    while (job.ps[0]->global_step() < 300) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK_OK(job.Client("evaluator:0")->RequestStop());
  });
  TrainerOptions co = base;
  co.task = "chief:0";
  Chief role;
  auto chief = Trainer(co, DnnClassifierFn(), job.params, job.Client(co.task)).Run(Input(1), &role);
  w.join();
  evaluator.join();
  ASSERT_TRUE(chief.ok()) << chief.status();
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_TRUE(chief->stopped_early);
  EXPECT_TRUE(worker->stopped_early);
  EXPECT_GE(chief->global_step, 300);
  EXPECT_LT(chief->global_step, 100000);
  EXPECT_EQ(**LatestCheckpoint(Env::Default(), dir), role.last_checkpoint());
  EXPECT_EQ(role.last_checkpoint(), dir + "/model.ckpt-" + std::to_string(chief->global_step));
}

// An embedding model: two id features looked up in one table of 100,000
// rows x 8, concatenated, a dense layer to 3 classes.  The class is a
// function of id "a"; "b" is noise.
constexpr int64_t kVocab = 100000, kDim = 8;

ModelFn TwoLookupFn() {
  return [](const Scope& s, const Features& f, Output labels, Mode mode, const ModelParams& p) -> StatusOr<EstimatorSpec> {
    ASSIGN_OR_RETURN(Output ea, layers::Embedding(s, f.at("a"), kVocab, kDim, "emb"));
    const Variable* table = s.graph()->FindVariable("emb/embeddings");
    Output eb = ops::Gather(s, table->value, f.at("b"), "lookup_b");
    ASSIGN_OR_RETURN(Output logits, layers::Dense(s, ops::Concat(s, {ea, eb}, 1), 3));
    return ClassifierHead(s, logits, labels, mode, p);
  };
}

// 300 ids of "a" spread over the table (class = k % 3), "b" anywhere.
Example TwoLookupData(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor a(DType::kInt64, TensorShape({n})), b(DType::kInt64, TensorShape({n}));
  Tensor y(DType::kInt32, TensorShape({n}));
  for (int i = 0; i < n; ++i) {
    const int64_t k = static_cast<int64_t>(rng() % 300);
    a.flat<int64_t>()[static_cast<size_t>(i)] = k * 331 % kVocab;
    b.flat<int64_t>()[static_cast<size_t>(i)] = static_cast<int64_t>(rng() % kVocab);
    y.flat<int32_t>()[static_cast<size_t>(i)] = static_cast<int32_t>(k % 3);
  }
  return {{"a", a}, {"b", b}, {"label", y}};
}

InputFn TwoLookupInput(uint32_t seed, int n, bool repeat) {
  return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(TwoLookupData(n, seed)));
    if (repeat) ds = Repeat(std::move(ds));
    return Batch(std::move(ds), 32);
  };
}

// The table is never pulled whole: each step pulls the batch's unique rows
// (from both PS tasks: the table is partitioned) and pushes their summed
// gradients row-sparse; the model still learns and checkpoints.
TEST(TrainerTest, EmbeddingTablePulledByRowsAndPushedRowSparse) {
  const std::string dir = testing::FreshTempDir("rows");
  Job job({.hidden = {}, .optimizer = "adagrad", .lr = 0.5f, .model_fn = TwoLookupFn(), .sample = TwoLookupData(4, 0)});
  TrainerOptions o{.run = {.model_dir = dir, .save_checkpoints_steps = 100000, .log_step_count_steps = 100, .tf_random_seed = 1},
                   .task = "chief:0", .train_steps = 400};
  Chief role;
  auto r = Trainer(o, TwoLookupFn(), job.params, job.Client(o.task, {.partitions = 2})).Run(TwoLookupInput(1, 3000, true), &role);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->local_steps, 400);
  // At most 64 unique rows a step (two lookups of a batch of 32); "b" is
  // uniform over 100,000 ids, so well over 32 of them are distinct.
  EXPECT_LE(r->rows_pulled, 64 * 400);
  EXPECT_GT(r->rows_pulled, 32 * 400);
  const int64_t table_bytes = kVocab * kDim * 4;
  const int64_t dense_bytes = (2 * kDim * 3 + 3) * 4;  // the logits layer
  EXPECT_LE(r->bytes_pulled, r->rows_pulled * kDim * 4 + 400 * dense_bytes);
  EXPECT_LE(r->bytes_pushed, r->rows_pulled * (kDim * 4 + 8) + 400 * dense_bytes);
  // What left the PS tasks for the table: its pulled rows, never the table
  // (the chief's start and end checkpoints read it in place).
  int64_t table_out = 0, parts = 0;
  for (const auto& ps : job.ps) {
    for (const auto& [name, st] : ps->Stats()) {
      if (name.rfind("emb/embeddings/part_", 0) != 0) continue;
      ++parts;
      table_out += st.bytes_out;
      EXPECT_GT(st.pushes, 0) << name;
    }
  }
  EXPECT_EQ(parts, 2);
  EXPECT_EQ(table_out, r->rows_pulled * kDim * 4);
  EXPECT_LT(table_out, table_bytes);  // 400 steps moved less than one whole table
  // It learned: the final checkpoint classifies held-out ids.
  Estimator est(TwoLookupFn(), job.params, {.model_dir = dir});
  auto at_start = est.Evaluate(TwoLookupInput(7, 600, false), std::nullopt, dir + "/model.ckpt-0");
  auto at_end = est.Evaluate(TwoLookupInput(7, 600, false), std::nullopt, role.last_checkpoint());
  ASSERT_TRUE(at_start.ok() && at_end.ok()) << at_start.status() << at_end.status();
  EXPECT_LT(at_end->metrics["loss"], 0.5f * at_start->metrics["loss"]);
  EXPECT_GT(at_end->metrics["accuracy"], 0.9f);
}

// embedding_column over a VarLen feature (1 to 3 ids an example, all of its
// class), trained on 2 PS tasks: the table is pulled by rows through the
// Unique + Gather + SparseSegmentMean lookup, and the model learns.
std::string WriteVarLenIds(const std::string& dir, int n, uint32_t seed) {
  const std::string path = dir + "/ids.tfrecord";
  auto w = TFRecordWriter::Open(Env::Default(), path);
  CHECK_OK(w.status());
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    tensorflow::Example ex;
    auto& f = *ex.mutable_features()->mutable_feature();
    const int64_t c = static_cast<int64_t>(rng() % 3);
    const int k = 1 + static_cast<int>(rng() % 3);
    for (int j = 0; j < k; ++j) f["ids"].mutable_int64_list()->add_value((c + 3 * static_cast<int64_t>(rng() % 100)) * 97 % kVocab);
    f["label"].mutable_int64_list()->add_value(c);
    CHECK_OK((*w)->Write(ex.SerializeAsString()));
  }
  CHECK_OK((*w)->Close());
  return path;
}

ModelFn VarLenEmbeddingFn() {
  return [](const Scope& s, const Features& f, Output labels, Mode mode, const ModelParams& p) -> StatusOr<EstimatorSpec> {
    ASSIGN_OR_RETURN(Output e, layers::EmbeddingColumn(s, f, "ids", kVocab, kDim, "mean"));
    ASSIGN_OR_RETURN(Output logits, layers::Dense(s, e, 3));
    return ClassifierHead(s, logits, labels, mode, p);
  };
}

InputFn VarLenInput(const std::string& path, bool repeat) {
  return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, TFRecordExampleDataset({path}, {{"ids", {.dtype = DType::kInt64, .var_len = true}},
                                                              {"label", {.dtype = DType::kInt64, .shape = TensorShape({})}}}));
    if (repeat) ds = Repeat(std::move(ds));
    return Batch(std::move(ds), 32);
  };
}

TEST(TrainerTest, EmbeddingColumnOverVarLenIdsTrainsByRows) {
  const std::string dir = testing::FreshTempDir("varlen_emb");
  const std::string train = WriteVarLenIds(dir, 2000, 1);
  Example sample;
  {
    auto in = VarLenInput(train, false)();
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_TRUE(*(*in)->Next(&sample));
  }
  Job job({.hidden = {}, .optimizer = "adagrad", .lr = 0.5f, .model_fn = VarLenEmbeddingFn(), .sample = sample});
  TrainerOptions o{.run = {.model_dir = dir + "/model", .save_checkpoints_steps = 100000, .log_step_count_steps = 100,
                           .tf_random_seed = 1},
                   .task = "chief:0", .train_steps = 300};
  Chief role;
  auto r = Trainer(o, VarLenEmbeddingFn(), job.params, job.Client(o.task, {.partitions = 2})).Run(VarLenInput(train, true), &role);
  ASSERT_TRUE(r.ok()) << r.status();
  // At most the batch's ids (3 an example), and the pool has 300 ids.
  EXPECT_GT(r->rows_pulled, 0);
  EXPECT_LE(r->rows_pulled, 300 * r->local_steps);
  int64_t table_out = 0;
  for (const auto& ps : job.ps) {
    for (const auto& [name, st] : ps->Stats()) {
      if (name.rfind("ids_embedding/embedding_weights/part_", 0) == 0) table_out += st.bytes_out;
    }
  }
  EXPECT_EQ(table_out, r->rows_pulled * kDim * 4);
  const std::string eval = WriteVarLenIds(testing::FreshTempDir("varlen_eval"), 600, 9);
  Estimator est(VarLenEmbeddingFn(), job.params, {.model_dir = dir + "/model"});
  auto at_start = est.Evaluate(VarLenInput(eval, false), std::nullopt, dir + "/model/model.ckpt-0");
  auto at_end = est.Evaluate(VarLenInput(eval, false), std::nullopt, role.last_checkpoint());
  ASSERT_TRUE(at_start.ok() && at_end.ok()) << at_start.status() << at_end.status();
  EXPECT_LT(at_end->metrics["loss"], 0.5f * at_start->metrics["loss"]);
  EXPECT_GT(at_end->metrics["accuracy"], 0.9f);
}

// Wide & deep data: a float I1, an id C1 of 5,000 and a second id C2; the
// click is a rule over C1's and C2's parities and I1's sign that a linear
// model over the ids and their cross can learn.
Example WideDeepData(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor i1(DType::kFloat, TensorShape({n, 1})), c1(DType::kInt64, TensorShape({n, 1})), c2(DType::kInt64, TensorShape({n, 1}));
  Tensor y(DType::kInt64, TensorShape({n}));
  for (int i = 0; i < n; ++i) {
    // 500 of C1's 5,000 ids, spread over the table: each is seen often
    // enough in a short test to learn its weight.
    const int64_t a = static_cast<int64_t>(rng() % 500) * 10 + 7, b = static_cast<int64_t>(rng() % 40);
    const float x = static_cast<float>(static_cast<int>(rng() % 200) - 100) / 50.f;
    i1.flat<float>()[static_cast<size_t>(i)] = x;
    c1.flat<int64_t>()[static_cast<size_t>(i)] = a;
    c2.flat<int64_t>()[static_cast<size_t>(i)] = b;
    // An id-memorizing part (the parity of a / 10) and-ed with the numeric
    // feature (the DNN's), or one of C2's ids (the linear part's).
    y.flat<int64_t>()[static_cast<size_t>(i)] = ((a / 10) % 2 == 1 && x > -1.f) || b % 4 == 0 ? 1 : 0;
  }
  return {{"I1", i1}, {"C1", c1}, {"C2", c2}, {"label", y}};
}

InputFn WideDeepInput(uint32_t seed, int n, bool repeat) {
  return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(WideDeepData(n, seed)));
    if (repeat) ds = Repeat(std::move(ds));
    return Batch(std::move(ds), 64);
  };
}

// dnn_linear_combined_classifier on 2 PS tasks: TensorFlow's variable names
// and per-scope optimizers (FTRL slots on linear/, Adagrad on dnn/), every
// id-keyed table (the linear weights of C1 and of the cross, the
// embedding) pulled by rows, and a model that learns the rule.
TEST(TrainerTest, WideAndDeepTrainsWithPerScopeOptimizersAndRowPulls) {
  const std::string dir = testing::FreshTempDir("wide_deep");
  auto cols = ResolveFeatureColumns({{.type = "numeric_column", .key = "I1"},
                                     {.type = "categorical_column_with_identity", .key = "C1", .num_buckets = 5000},
                                     {.type = "categorical_column_with_identity", .key = "C2", .num_buckets = 40},
                                     {.type = "crossed_column", .keys = {"C1", "C2"}, .hash_bucket_size = 20000},
                                     {.type = "embedding_column", .source = "C1", .dimension = 8},
                                     {.type = "embedding_column", .source = "C2", .dimension = 4}});
  ASSERT_TRUE(cols.ok()) << cols.status();
  const std::vector<std::pair<std::string, OptimizerConfig>> scoped = {
      {"linear/", {.type = "ftrl", .hyper = {.lr = 0.2f}}}, {"dnn/", {.type = "adagrad", .hyper = {.lr = 0.1f}}}};
  const ModelFn fn = DnnLinearCombinedClassifierFn();
  Job job({.hidden = {16}, .optimizer = "adam", .model_fn = fn, .sample = WideDeepData(4, 0), .n_classes = 2,
           .feature_columns = *cols, .linear_feature_columns = {"C1", "C2", "C1_X_C2"},
           .dnn_feature_columns = {"I1", "C1_embedding", "C2_embedding"}, .scoped_optimizers = scoped});
  for (const char* name : {"linear/linear_model/C1/weights", "linear/linear_model/C1/weights/Ftrl_1",
                           "linear/linear_model/C1_X_C2/weights/Ftrl", "linear/linear_model/bias_weights/Ftrl",
                           "dnn/input_from_feature_columns/input_layer/C1_embedding/embedding_weights/Adagrad",
                           "dnn/hiddenlayer_0/kernel/Adagrad", "dnn/logits/kernel", "global_step"}) {
    EXPECT_TRUE(job.shapes.count(name)) << name;
  }
  EXPECT_EQ(job.shapes.at("dnn/logits/kernel").dim(1), 1);  // the binary head's one logit
  EXPECT_FALSE(job.shapes.count("beta1_power"));             // no variable uses Adam
  TrainerOptions o{.run = {.model_dir = dir, .save_checkpoints_steps = 100000, .log_step_count_steps = 100,
                           .tf_random_seed = 1},
                   .task = "chief:0", .train_steps = 600};
  Chief role;
  auto r = Trainer(o, fn, job.params, job.Client(o.task, {.partitions = 2})).Run(WideDeepInput(1, 20000, true), &role);
  ASSERT_TRUE(r.ok()) << r.status();
  // Rows of C1's weights, the cross's and the embedding: at most 3 x 64 a
  // step, plus C2's small tables; never the 5,000-row tables.
  EXPECT_GT(r->rows_pulled, 0);
  EXPECT_LE(r->rows_pulled, (3 * 64 + 2 * 40) * r->local_steps);
  // The PS tasks hold FTRL's two slots for the linear weights.
  bool ftrl = false;
  for (const auto& ps : job.ps) {
    for (const std::string& name : ps->VariableNames()) ftrl |= name.rfind("linear/linear_model/C1_X_C2/weights", 0) == 0;
  }
  EXPECT_TRUE(ftrl);
  Estimator est(fn, job.params, {.model_dir = dir});
  auto at_start = est.Evaluate(WideDeepInput(9, 4000, false), std::nullopt, dir + "/model.ckpt-0");
  auto at_end = est.Evaluate(WideDeepInput(9, 4000, false), std::nullopt, role.last_checkpoint());
  ASSERT_TRUE(at_start.ok() && at_end.ok()) << at_start.status() << at_end.status();
  EXPECT_LT(at_end->metrics["loss"], 0.6f * at_start->metrics["loss"]);
  EXPECT_GT(at_end->metrics["auc"], 0.9f);
  // The checkpoint holds exactly the slots the local graph makes.
  auto reader = BundleReader::Open(Env::Default(), role.last_checkpoint());
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->Contains("linear/linear_model/C1/weights/Ftrl"));
  EXPECT_TRUE((*reader)->Contains("dnn/input_from_feature_columns/input_layer/C1_embedding/embedding_weights/Adagrad"));
}

// Ids outside the table are refused before anything is pulled, naming the table.
TEST(TrainerTest, AnIdOutsideTheTableIsAClearError) {
  Job job({.hidden = {}, .optimizer = "adagrad", .model_fn = TwoLookupFn(), .sample = TwoLookupData(4, 0)});
  Example bad = TwoLookupData(32, 3);
  bad["b"].flat<int64_t>()[5] = kVocab + 12;
  InputFn input = [bad]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(bad));
    return Batch(std::move(ds), 32);
  };
  TrainerOptions o{.run = {.model_dir = testing::FreshTempDir("badid"), .save_checkpoints_steps = 100000},
                   .task = "chief:0", .train_steps = 10};
  Chief role;
  auto r = Trainer(o, TwoLookupFn(), job.params, job.Client(o.task)).Run(input, &role);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("row 100012 of emb/embeddings is out of range [0, 100000)"));
}

TEST(TrainerTest, AWorkerWithoutAChiefGivesUpWithAClearMessage) {
  Job job;
  TrainerOptions o{.run = {.model_dir = "/unused"}, .task = "worker:0", .train_steps = 10, .wait_log_secs = 0.1,
                   .ready_timeout_secs = 0.5};
  auto r = Trainer(o, DnnClassifierFn(), job.params, job.Client(o.task)).Run(Input(1));
  EXPECT_TRUE(IsDeadlineExceededError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("is the chief running?"));
}

}  // namespace
}  // namespace psflow
