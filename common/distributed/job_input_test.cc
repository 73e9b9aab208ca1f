#include "common/distributed/job_input.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/core/testing.h"
#include "common/distributed/job_model.h"
#include "common/data/tfrecord.h"
#include "common/proto/example.pb.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

TEST(JobInputTest, CsvFilesArePackedIntoXAndLabel) {
  const std::string dir = testing::FreshTempDir("csv");
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), dir + "/a.csv", "f1,label,f2\n1.5,2,3\n4,0,5\n").ok());
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), dir + "/b.csv", "f1,label,f2\n6,1,7\n").ok());
  auto job = ParseJobConfig(StrCat("data: {train: {format: csv, files: [", dir, "/a.csv, ", dir, "/b.csv]}, batch_size: 2}\n",
                                   "run: {model_dir: /tmp/x, train_steps: 1}"), "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  auto ds = OpenInput(job->data.train);
  ASSERT_TRUE(ds.ok()) << ds.status();
  Example e;
  std::vector<std::string> rows;
  while (*(*ds)->Next(&e)) rows.push_back(e.at("x").DebugString() + " " + e.at("label").DebugString());
  EXPECT_THAT(rows, ::testing::ElementsAre("float [2] {1.5, 3} int64 [] {2}", "float [2] {4, 5} int64 [] {0}",
                                           "float [2] {6, 7} int64 [] {1}"));
  // Shard 1 of 2 gets the second row; batched.
  auto shard = TrainInput(*job, 1, 2)();
  ASSERT_TRUE(shard.ok());
  ASSERT_TRUE(*(*shard)->Next(&e));
  EXPECT_EQ(e.at("x").shape(), TensorShape({2, 2}));
  EXPECT_EQ(e.at("x").flat<float>()[0], 4.f);  // only row 2 repeats
  // A missing label column is named.
  InputSpec bad = job->data.train;
  bad.label = "class";
  EXPECT_THAT(OpenInput(bad).status().message(), HasSubstr("has no label column 'class' (columns: f1, label, f2)"));
}

// Declared CSV columns keep their own dtype (categorical ids and strings for
// feature columns), empty fields are missing values, and a model with
// feature columns trains on them.
TEST(JobInputTest, CsvCategoricalColumnsFeedFeatureColumns) {
  const std::string dir = testing::FreshTempDir("csv_cat");
  std::string text = "I1,C1,site,label\n";
  for (int i = 0; i < 40; ++i) {
    text += StrCat(i % 5, ",", i % 3 == 0 ? std::string() : StrCat(i % 7), ",", i % 4 == 0 ? "" : (i % 2 ? "news" : "shop"),
                   ",", (i % 7) % 2, "\n");
  }
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), dir + "/t.csv", text).ok());
  const std::string yaml = StrCat(
      "model: {type: linear_classifier, n_classes: 2, optimizer: {type: ftrl, learning_rate: 0.5},\n"
      "        feature_columns: [{type: numeric_column, key: I1}, {type: categorical_column_with_identity, key: C1, num_buckets: 7},\n"
      "                          {type: categorical_column_with_vocabulary_list, key: site, vocabulary_list: [news, shop]}]}\n"
      "data: {train: {format: csv, files: [", dir, "/t.csv], features: {C1: {dtype: int64}, site: {dtype: string}}}, batch_size: 8}\n"
      "run: {model_dir: ", dir, "/model, train_steps: 1}");
  auto job = ParseJobConfig(yaml, "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  auto ds = OpenInput(job->data.train);
  ASSERT_TRUE(ds.ok()) << ds.status();
  Example e;
  ASSERT_TRUE(*(*ds)->Next(&e));  // row 0: C1 and site empty
  EXPECT_EQ(e.at("I1").DebugString(), "float [1] {0}");
  EXPECT_EQ(e.at("C1").DebugString(), "int64 [1] {-1}");
  EXPECT_EQ(e.at("site").dtype(), DType::kString);
  EXPECT_EQ(e.at("site").flat<std::string>()[0], "");
  EXPECT_EQ(e.at("label").DebugString(), "int64 [] {0}");
  ASSERT_TRUE(*(*ds)->Next(&e));  // row 1
  EXPECT_EQ(e.at("C1").DebugString(), "int64 [1] {1}");
  EXPECT_EQ(e.at("site").flat<std::string>()[0], "news");
  // The canned model reads them through its feature columns.
  auto fn = CannedModelFn("linear_classifier");
  ASSERT_TRUE(fn.ok());
  Estimator est(*fn, ParamsFrom(job->model), {.model_dir = dir + "/model", .tf_random_seed = 1});
  InputFn input = [&]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto d, OpenInput(job->data.train));
    return Batch(Repeat(std::move(d)), 8);
  };
  ASSERT_TRUE(est.Train(input, 60).ok());
  InputFn once = [&]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto d, OpenInput(job->data.train));
    return Batch(std::move(d), 8);
  };
  auto r = est.Evaluate(once);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->metrics["auc"], 0.95f);  // the label is C1's parity

  auto bad = ParseJobConfig(yaml, "job.yaml", {"data.train.features={C1: {dtype: int64, var_len: true}}"});
  EXPECT_THAT(bad.status().message(), HasSubstr("a csv column holds one value per row"));
  auto unknown = ParseJobConfig(yaml, "job.yaml", {"data.train.features={C9: {dtype: int64}}"});
  ASSERT_TRUE(unknown.ok());
  EXPECT_THAT(OpenInput(unknown->data.train).status().message(), HasSubstr("names C9, which is not a column of"));
}

TEST(JobInputTest, TfrecordExamplesWithTheLabelRenamed) {
  const std::string path = testing::FreshTempDir("tfr") + "/train.tfrecord";
  auto w = TFRecordWriter::Open(Env::Default(), path);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 3; ++i) {
    tensorflow::Example ex;
    auto& f = *ex.mutable_features()->mutable_feature();
    for (int k = 0; k < 4; ++k) f["pixels"].mutable_float_list()->add_value(static_cast<float>(i * 4 + k));
    f["y"].mutable_int64_list()->add_value(i);
    ASSERT_TRUE((*w)->Write(ex.SerializeAsString()).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  auto job = ParseJobConfig(StrCat("data: {eval: {format: tfrecord, files: [", path,
                                   "], label: y, features: {pixels: {dtype: float, shape: [4]}, y: {dtype: int64}}}, batch_size: 2}\n",
                                   "run: {model_dir: /tmp/x, train_steps: 1}"), "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  auto ds = EvalInput(*job)();
  ASSERT_TRUE(ds.ok()) << ds.status();
  Example e;
  ASSERT_TRUE(*(*ds)->Next(&e));
  EXPECT_EQ(e.at("pixels").shape(), TensorShape({2, 4}));
  EXPECT_EQ(e.at("label").DebugString(), "int64 [2] {0, 1}");
  ASSERT_TRUE(*(*ds)->Next(&e));
  EXPECT_EQ(e.at("label").DebugString(), "int64 [1] {2}");  // one pass: the remainder
  EXPECT_FALSE(*(*ds)->Next(&e));
  auto no_label = ParseJobConfig(StrCat("data: {train: {format: tfrecord, files: [", path, "], features: {x: {dtype: float}}}}\n",
                                        "run: {model_dir: /tmp/x, train_steps: 1}"), "job.yaml");
  EXPECT_THAT(no_label.status().message(), HasSubstr("data.train.features: a tfrecord input needs a features map that includes the label 'label'"));
}

}  // namespace
}  // namespace psflow
