// Dynamic embedding tables (categorical_column_with_embedding) in a
// parameter-server job: rows created on the PS tasks as ids come, counted,
// admitted, evicted, checkpointed in DeepRec's layout, restored onto another
// number of PS tasks, and evaluated locally from the checkpoint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "chief/chief.h"
#include "common/checkpoint/restore.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/testing.h"
#include "common/ops/graph_io.h"
#include "common/summary/event_writer.h"
#include "common/train/feature_column.h"
#include "worker/trainer_testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;
using testing::Job;

constexpr int kUsers = 400;
constexpr char kEmbedding[] = "dnn/input_from_feature_columns/input_layer/user_embedding/embedding_weights";
constexpr char kLinear[] = "linear/linear_model/user/weights";

// User k's id: a scattered int64 (negative for about half), never -1.
int64_t UserId(int64_t k) { return static_cast<int64_t>(static_cast<uint64_t>(k + 1) * 0x9E3779B97F4A7C15ull); }

// A user-memorizing part (odd users) and-ed with the numeric feature, or one
// of C2's ids.  `users` draws the user index.
Example UserData(int n, uint32_t seed, int users = kUsers) {
  std::mt19937 rng(seed);
  Tensor i1(DType::kFloat, TensorShape({n, 1})), user(DType::kInt64, TensorShape({n, 1})),
      c2(DType::kInt64, TensorShape({n, 1})), y(DType::kInt64, TensorShape({n}));
  for (int i = 0; i < n; ++i) {
    const int64_t k = static_cast<int64_t>(rng() % static_cast<uint32_t>(users)), b = static_cast<int64_t>(rng() % 40);
    const float x = static_cast<float>(static_cast<int>(rng() % 200) - 100) / 50.f;
    i1.flat<float>()[static_cast<size_t>(i)] = x;
    user.flat<int64_t>()[static_cast<size_t>(i)] = UserId(k);
    c2.flat<int64_t>()[static_cast<size_t>(i)] = b;
    y.flat<int64_t>()[static_cast<size_t>(i)] = (k % 2 == 1 && x > -1.f) || b % 4 == 0 ? 1 : 0;
  }
  return {{"I1", i1}, {"user", user}, {"C2", c2}, {"label", y}};
}

InputFn UserInput(uint32_t seed, int n, bool repeat, int users = kUsers) {
  return [=]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(UserData(n, seed, users)));
    if (repeat) ds = Repeat(std::move(ds));
    return Batch(std::move(ds), 64);
  };
}

testing::JobOptions WideDeep(int num_ps, int64_t dim, FeatureColumnSpec user) {
  user.type = "categorical_column_with_embedding";
  user.key = "user";
  auto cols = ResolveFeatureColumns({{.type = "numeric_column", .key = "I1"},
                                     user,
                                     {.type = "categorical_column_with_identity", .key = "C2", .num_buckets = 40},
                                     {.type = "embedding_column", .source = "user", .dimension = dim},
                                     {.type = "embedding_column", .source = "C2", .dimension = 4}});
  CHECK_OK(cols.status());
  return {.hidden = {16}, .num_ps = num_ps, .optimizer = "adam", .model_fn = DnnLinearCombinedClassifierFn(),
          .sample = UserData(4, 0), .n_classes = 2, .feature_columns = *cols,
          .linear_feature_columns = {"user", "C2"}, .dnn_feature_columns = {"I1", "user_embedding", "C2_embedding"},
          .scoped_optimizers = {{"linear/", {.type = "ftrl", .hyper = {.lr = 0.2f}}},
                                {"dnn/", {.type = "adagrad", .hyper = {.lr = 0.1f}}}}};
}

TrainerOptions Options(const std::string& dir, int64_t steps) {
  return {.run = {.model_dir = dir, .save_checkpoints_steps = 100000, .log_step_count_steps = 100, .tf_random_seed = 1},
          .task = "chief:0", .train_steps = steps};
}

TEST(DynamicEmbeddingTest, TrainsOnTwoPsTasksChecksPointsAndRestoresOnThree) {
  const std::string dir = testing::FreshTempDir("dynamic_wd");
  Job job(WideDeep(2, 8, {}));
  // The table's tensors, DeepRec's names, rows unknown until trained.
  for (const std::string suffix : {"-keys", "-values", "-values/Adagrad", "-freqs", "-versions"}) {
    ASSERT_TRUE(job.shapes.count(kEmbedding + suffix)) << suffix;
    EXPECT_EQ(job.shapes.at(kEmbedding + suffix).dim(0), -1) << suffix;
  }
  EXPECT_TRUE(job.shapes.count(std::string(kLinear) + "-values/Ftrl_1"));
  Chief role;
  const int64_t steps = 600;
  auto r = Trainer(Options(dir, steps), DnnLinearCombinedClassifierFn(), job.params, job.Client("chief:0"))
               .Run(UserInput(1, 20000, true), &role);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->rows_pulled, 0);

  // Every user got a row, on one task or the other, created by the PS tasks.
  int64_t per_task[2] = {job.ps[0]->TableStats().at(std::string(kEmbedding) + "-values").rows,
                         job.ps[1]->TableStats().at(std::string(kEmbedding) + "-values").rows};
  EXPECT_EQ(per_task[0] + per_task[1], kUsers);
  EXPECT_GT(per_task[0], kUsers / 4);
  EXPECT_GT(per_task[1], kUsers / 4);

  // TensorBoard shows the tables' counters, summed over the tasks.
  auto scalars = ReadScalars(Env::Default(), dir);
  ASSERT_TRUE(scalars.ok()) << scalars.status();
  ASSERT_TRUE(scalars->count(std::string("dynamic_tables/") + kEmbedding + "-values/rows"));
  EXPECT_EQ(scalars->at(std::string("dynamic_tables/") + kEmbedding + "-values/rows").back().second, kUsers);
  EXPECT_EQ(scalars->at("dynamic_tables/admissions").back().second, 2 * kUsers);  // the embedding and the linear weights

  // The checkpoint: DeepRec's tensors, each table's rows stacked over the
  // tasks, every occurrence of a user in the 600 batches counted.
  const std::string ckpt = role.last_checkpoint();
  auto reader = BundleReader::Open(Env::Default(), ckpt);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto keys = (*reader)->Lookup(std::string(kEmbedding) + "-keys");
  auto values = (*reader)->Lookup(std::string(kEmbedding) + "-values");
  auto freqs = (*reader)->Lookup(std::string(kEmbedding) + "-freqs");
  auto versions = (*reader)->Lookup(std::string(kEmbedding) + "-versions");
  auto accum = (*reader)->Lookup(std::string(kEmbedding) + "-values/Adagrad");
  ASSERT_TRUE(keys.ok() && values.ok() && freqs.ok() && versions.ok() && accum.ok()) << keys.status() << values.status();
  ASSERT_EQ(keys->num_elements(), kUsers);
  EXPECT_EQ(values->shape(), TensorShape({kUsers, 8}));
  EXPECT_EQ(accum->shape(), TensorShape({kUsers, 8}));
  std::set<int64_t> want, got;
  for (int64_t k = 0; k < kUsers; ++k) want.insert(UserId(k));
  int64_t occurrences = 0;
  for (int64_t i = 0; i < kUsers; ++i) {
    got.insert(keys->flat<int64_t>()[static_cast<size_t>(i)]);
    occurrences += freqs->flat<int64_t>()[static_cast<size_t>(i)];
    EXPECT_LE(versions->flat<int64_t>()[static_cast<size_t>(i)], steps);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(occurrences, steps * 64);
  auto lin = (*reader)->GetInfo(std::string(kLinear) + "-values");
  ASSERT_TRUE(lin.ok());
  EXPECT_EQ(lin->shape, TensorShape({kUsers, 1}));

  // Evaluated from the checkpoint in a local session (DynamicEmbeddingLookup).
  Estimator est(DnnLinearCombinedClassifierFn(), job.params, {.model_dir = dir});
  auto at_start = est.Evaluate(UserInput(9, 4000, false), std::nullopt, dir + "/model.ckpt-0");
  auto at_end = est.Evaluate(UserInput(9, 4000, false), std::nullopt, ckpt);
  ASSERT_TRUE(at_start.ok() && at_end.ok()) << at_start.status() << at_end.status();
  EXPECT_LT(at_end->metrics["loss"], 0.6f * at_start->metrics["loss"]);
  EXPECT_GT(at_end->metrics["auc"], 0.9f);
  // Exported frozen: the tables become constants of the rows kept, and the
  // frozen graph predicts what the checkpoint does.
  const Example batch = UserData(50, 5);
  const std::string pb = dir + "/frozen.pb";
  auto outputs = est.ExportFrozenGraph(batch, ckpt, pb);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  tensorflow::GraphDef frozen;
  ASSERT_TRUE(ReadBinaryProto(Env::Default(), pb, &frozen).ok());
  bool keys_const = false;
  for (const auto& n : frozen.node()) {
    EXPECT_NE(n.op(), "VariableV2") << n.name();
    keys_const |= n.op() == "Const" && n.name() == std::string(kEmbedding) + "-keys";
  }
  EXPECT_TRUE(keys_const);
  Graph g;
  ASSERT_TRUE(ImportGraphDef(frozen, &g).ok());
  Session sess(&g);
  FeedList feeds;
  for (const char* f : {"I1", "user", "C2"}) feeds.emplace_back(*g.GetTensorByName(std::string(f) + ":0"), batch.at(f));
  std::vector<Tensor> served;
  ASSERT_TRUE(sess.Run(feeds, {*g.GetTensorByName("head/logistic:0")}, &served).ok());
  auto predicted = est.Predict([&]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(batch));
    return Batch(std::move(ds), 50);
  }, ckpt);
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  EXPECT_TRUE(served[0].Equals((*predicted)[0].at("logistic")));

  // The local Estimator does not train dynamic tables: it says where they train.
  EXPECT_THAT(std::string(est.Train(UserInput(1, 100, true), steps + 1).message()),
              HasSubstr("trains on parameter servers only"));

  // The same model_dir on three PS tasks: the chief restores each row onto
  // the task its id hashes to, and every lookup answers as before.
  Job three(WideDeep(3, 8, {}));
  Chief role3;
  auto r3 = Trainer(Options(dir, steps), DnnLinearCombinedClassifierFn(), three.params, three.Client("chief:0"))
                .Run(UserInput(1, 20000, true), &role3);
  ASSERT_TRUE(r3.ok()) << r3.status();
  int64_t rows3 = 0;
  for (const auto& p : three.ps) {
    const int64_t n = p->TableStats().at(std::string(kEmbedding) + "-values").rows;
    EXPECT_GT(n, 0);
    rows3 += n;
  }
  EXPECT_EQ(rows3, kUsers);
  auto ps3 = three.Client("worker:0");
  auto pulled = ps3->PullAll({}, {{.name = std::string(kEmbedding) + "-values", .rows = *keys}});
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  ASSERT_EQ(pulled->rows[0].shape(), values->shape());
  for (size_t i = 0; i < static_cast<size_t>(values->num_elements()); ++i) {
    ASSERT_EQ(pulled->rows[0].flat<float>()[i], values->flat<float>()[i]) << i;
  }
  // An id never seen reads as zeros (an uncounted pull creates nothing).
  auto unseen = ps3->PullRows(std::string(kEmbedding) + "-values", Tensor::FromVector<int64_t>({-5}, TensorShape({1})));
  ASSERT_TRUE(unseen.ok()) << unseen.status();
  for (float x : unseen->flat<float>()) EXPECT_EQ(x, 0.f);

  // Another embedding dimension: refused, naming the table.
  Job wide(WideDeep(2, 16, {}));
  Chief role16;
  auto r16 = Trainer(Options(dir, steps + 10), DnnLinearCombinedClassifierFn(), wide.params, wide.Client("chief:0"))
                 .Run(UserInput(1, 20000, true), &role16);
  ASSERT_FALSE(r16.ok());
  EXPECT_TRUE(IsCheckpointMismatch(r16.status())) << r16.status();
  EXPECT_THAT(r16.status().message(), HasSubstr(std::string(kEmbedding) + "-values; shape in model [?,16]"));
}

// Admission after filter_freq sightings, eviction after steps_to_live, and a
// cap: the PS tasks' counters show each at work.
TEST(DynamicEmbeddingTest, AdmissionEvictionAndTheCapInAJob) {
  const std::string dir = testing::FreshTempDir("dynamic_admit");
  // 20,000 users: most are seen once or twice in 300 batches of 64.
  Job job(WideDeep(2, 4, {.filter_freq = 3, .steps_to_live = 50, .max_rows = 2000}));
  Chief role;
  auto r = Trainer(Options(dir, 300), DnnLinearCombinedClassifierFn(), job.params, job.Client("chief:0"))
               .Run(UserInput(1, 50000, true, 20000), &role);
  ASSERT_TRUE(r.ok()) << r.status();
  DynamicTableStats sum;
  for (const auto& p : job.ps) {
    const DynamicTableStats s = p->TableStats().at(std::string(kEmbedding) + "-values");
    EXPECT_LE(s.rows, 1000);  // each task's share of the cap
    sum += s;
  }
  EXPECT_GT(sum.filtered, 0);
  EXPECT_GT(sum.admissions, 0);
  EXPECT_LT(sum.admissions, 20000);
  EXPECT_GT(sum.candidates, 0);
  EXPECT_GT(sum.evictions, 0);
  EXPECT_GT(sum.dropped_updates, 0);  // gradients of ids not admitted
  // Every admitted id was seen at least filter_freq times.
  auto reader = BundleReader::Open(Env::Default(), role.last_checkpoint());
  ASSERT_TRUE(reader.ok());
  auto freqs = (*reader)->Lookup(std::string(kEmbedding) + "-freqs");
  ASSERT_TRUE(freqs.ok());
  EXPECT_EQ(freqs->num_elements(), sum.rows);
  for (int64_t f : freqs->flat<int64_t>()) EXPECT_GE(f, 3);

  // on_full: error stops the job with a message that says what to change.
  Job strict(WideDeep(2, 4, {.max_rows = 100, .on_full = "error"}));
  Chief role2;
  auto r2 = Trainer(Options(testing::FreshTempDir("dynamic_full"), 300), DnnLinearCombinedClassifierFn(), strict.params,
                    strict.Client("chief:0"))
                .Run(UserInput(1, 50000, true, 20000), &role2);
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(IsResourceExhaustedError(r2.status())) << r2.status();
  EXPECT_THAT(r2.status().message(), HasSubstr("max_rows = 50"));
  EXPECT_THAT(r2.status().message(), HasSubstr("user_embedding/embedding_weights-values"));
}

}  // namespace
}  // namespace psflow
