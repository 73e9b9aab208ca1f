#include "common/cluster/job_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow {
namespace {

using ::testing::HasSubstr;

constexpr char kJob[] = R"(cluster:
  ps: ["127.0.0.1:2222", "127.0.0.1:2223"]
  chief: ["127.0.0.1:2224"]
  worker: ["127.0.0.1:2225"]
model:
  type: dnn_classifier
  hidden_units: [64, 32]
  optimizer: {type: momentum, learning_rate: 0.1, momentum: 0.8}
data:
  train: {format: idx, images: a.gz, labels: b.gz}
  batch_size: 32
run:
  model_dir: /tmp/m
  train_steps: 1000
  save_checkpoints_steps: 100
  sync: {replicas_to_aggregate: 1, total_num_replicas: 2}
eval:
  steps: null
)";

TEST(JobConfigTest, ParsesEveryKeyWithDefaults) {
  auto job = ParseJobConfig(kJob, "job.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->cluster.ps.size(), 2u);
  EXPECT_EQ(job->model.hidden_units, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(job->model.n_classes, 10);  // default
  EXPECT_EQ(job->model.optimizer.type, "momentum");
  EXPECT_FLOAT_EQ(job->model.optimizer.momentum, 0.8f);
  EXPECT_EQ(job->data.batch_size, 32);
  EXPECT_EQ(*job->run.save_checkpoints_steps, 100);
  EXPECT_FALSE(job->run.save_checkpoints_secs.has_value());
  EXPECT_EQ(job->run.sync->total_num_replicas, 2);
  EXPECT_EQ(job->run.keep_checkpoint_max, 5);
  EXPECT_FALSE(job->eval.steps.has_value());
  EXPECT_EQ(job->eval.throttle_secs, 600);
}

TEST(JobConfigTest, PlacementAndWarmStart) {
  auto job = ParseJobConfig(kJob, "job.yaml",
                            {"run.placement={strategy: round_robin, min_slice_bytes: 262144}",
                             "run.warm_start={from: /old/model_dir, vars: 'dnn/.*', prev_names: {dnn/logits/kernel: old/kernel}}"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->run.placement.strategy, "round_robin");
  EXPECT_EQ(job->run.placement.min_slice_bytes, 262144);
  EXPECT_EQ(job->run.warm_start->from, "/old/model_dir");
  EXPECT_EQ(job->run.warm_start->prev_names.at("dnn/logits/kernel"), "old/kernel");
  EXPECT_FALSE(ParseJobConfig(kJob, "job.yaml")->run.warm_start.has_value());
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.placement.strategy=random"}).status().message(),
              HasSubstr("run.placement.strategy: must be greedy or round_robin"));
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.placement={partitions: 2, min_slice_bytes: 9}"}).status().message(),
              HasSubstr("set partitions or min_slice_bytes, not both"));
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.warm_start={vars: x}"}).status().message(),
              HasSubstr("run.warm_start.from: is required"));
}

TEST(JobConfigTest, TaskDevices) {
  auto job = ParseJobConfig(kJob, "job.yaml");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->run.device, "auto");  // default
  EXPECT_EQ(TaskDeviceSpec(job->run, {"worker", 0}).kind, DeviceSpec::kAuto);
  auto set = ParseJobConfig(kJob, "job.yaml",
                            {"run.device=cpu", "run.gpus=[0, 1]", "run.task_devices={\"worker:1\": gpu:3, chief: cpu}"});
  ASSERT_TRUE(set.ok()) << set.status();
  const DeviceSpec w0 = TaskDeviceSpec(set->run, {"worker", 0});  // run.gpus
  EXPECT_EQ(w0.kind, DeviceSpec::kGpus);
  EXPECT_EQ(w0.gpus, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(TaskDeviceSpec(set->run, {"worker", 1}).gpus, (std::vector<int64_t>{3}));
  EXPECT_EQ(TaskDeviceSpec(set->run, {"chief", 0}).kind, DeviceSpec::kCpu);
  EXPECT_EQ(TaskDeviceSpec(set->run, {"evaluator", 0}).gpus, (std::vector<int64_t>{0}));  // one GPU of run.gpus
  EXPECT_EQ(GpusForTask(*set, {"worker", 0}), 2);
  EXPECT_EQ(GpusForTask(*set, {"worker", 1}), 1);  // its own entry, gpu:3
  EXPECT_EQ(GpusForTask(*set, {"chief", 0}), 0);   // cpu
  EXPECT_EQ(GpusForTask(*set, {"evaluator", 0}), 1);
  EXPECT_EQ(GpusForTask(*set, {"ps", 0}), 0);
  EXPECT_EQ(TaskDeviceSource(set->run, {"worker", 1}), "run.task_devices[\"worker:1\"]");
  EXPECT_EQ(TaskDeviceSource(set->run, {"chief", 0}), "run.task_devices[\"chief\"]");
  EXPECT_EQ(TaskDeviceSource(set->run, {"evaluator", 0}), "run.gpus");
  EXPECT_EQ(TaskDeviceSource(job->run, {"worker", 0}), "run.device");
  auto ev = ParseJobConfig(kJob, "job.yaml", {"run.task_devices={evaluator: gpu:2}"});
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(TaskDeviceSpec(ev->run, {"evaluator", 0}).gpus, (std::vector<int64_t>{2}));
  EXPECT_EQ(GpusForTask(*ev, {"evaluator", 0}), 1);
  EXPECT_EQ(GpusForTask(*ev, {"worker", 0}), 0);  // auto: the launcher asks for none
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.task_devices={evaluator: \"gpu:0,1\"}"}).status().message(),
              HasSubstr("names several GPUs; the evaluator runs on one"));
  EXPECT_EQ(ParseDeviceSpec("gpu:2,0")->gpus, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(ParseDeviceSpec("gpu")->gpus, (std::vector<int64_t>{0}));
  for (const char* bad : {"gpu:", "gpu:x", "tpu", "gpu:1,1", "gpu:-1", "GPU:0"}) EXPECT_FALSE(ParseDeviceSpec(bad).ok()) << bad;
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.device=gpu0"}).status().message(),
              HasSubstr("run.device: 'gpu0' is not auto, cpu or gpu:N"));
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.gpus=[1, 1]"}).status().message(),
              HasSubstr("run.gpus: needs distinct GPU indices"));
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"run.task_devices={ps: gpu:0}"}).status().message(),
              HasSubstr("run.task_devices: 'ps' is not chief, worker, evaluator"));
}

TEST(JobConfigTest, OverridesApplyBeforeValidation) {
  auto job = ParseJobConfig(kJob, "job.yaml",
                            {"run.train_steps=5", "model.hidden_units=[8]", "eval.steps=3", "model.optimizer.type=adam"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->run.train_steps, 5);
  EXPECT_EQ(job->model.hidden_units, std::vector<int64_t>{8});
  EXPECT_EQ(*job->eval.steps, 3);
  EXPECT_EQ(job->model.optimizer.type, "adam");
  auto bad = ParseJobConfig(kJob, "job.yaml", {"run.train_steps=many"});
  EXPECT_THAT(bad.status().message(), HasSubstr("job.yaml (--set run.train_steps): run.train_steps: expected an integer, got 'many'"));
  EXPECT_THAT(ParseJobConfig(kJob, "job.yaml", {"nonsense"}).status().message(), HasSubstr("key.path=value"));
}

// Keys that are lists or mappings (found by fuzz/job_config_fuzz: yaml-cpp
// threw out of the loader and ended the task) are errors naming the line;
// the recorded job (model_dir/job.yaml) keeps --set overrides, drops the token.
TEST(JobConfigTest, NonScalarKeysAreErrorsAndTheRecordHasNoToken) {
  auto list_key = ParseJobConfig("cluster: {[ps, chief]: 1}\n", "job.yaml");
  EXPECT_TRUE(IsInvalidArgumentError(list_key.status())) << list_key.status();
  EXPECT_THAT(list_key.status().message(), HasSubstr("job.yaml:1: cluster: has a key that is not a name"));
  auto job = ParseJobConfig(kJob, "job.yaml", {"run.train_steps=7", "run.token=s3cret"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->run.token, "s3cret");
  EXPECT_EQ(job->resolved_yaml.find("s3cret"), std::string::npos);
  auto again = ParseJobConfig(job->resolved_yaml, "recorded.yaml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->run.train_steps, 7);
  EXPECT_EQ(again->model.hidden_units, job->model.hidden_units);
  EXPECT_TRUE(again->run.token.empty());
}

struct BadCase {
  std::string override_or_text;
  std::string message;
};

TEST(JobConfigTest, VarLenFeatures) {
  auto job = ParseJobConfig(kJob, "job.yaml",
                            {"data.train={format: tfrecord, files: [a.tfrecord], features: {ids: {dtype: int64, var_len: true}, "
                             "x: {dtype: float, shape: [4]}, label: {dtype: int64}}}"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(job->data.train.features.at("ids").var_len);
  EXPECT_TRUE(job->data.train.features.at("ids").shape.empty());
  EXPECT_FALSE(job->data.train.features.at("x").var_len);
}

constexpr char kColumns[] = R"(model:
  type: dnn_linear_combined_classifier
  n_classes: 2
  feature_columns:
    - {type: numeric_column, key: [I1, I2]}
    - {type: bucketized_column, source_column: I1, boundaries: [0, 10]}
    - {type: categorical_column_with_hash_bucket, key: [C1, C2], hash_bucket_size: 100, dtype: int64}
    - {type: crossed_column, keys: [C2, C1], hash_bucket_size: 1000}
    - {type: embedding_column, categorical_column: [C1, C2], dimension: 4, combiner: sqrtn}
  linear_feature_columns: [C1, C2, C1_X_C2, I1_bucketized]
  dnn_feature_columns: [I2, C1_embedding, C2_embedding]
run: {model_dir: /tmp/m, train_steps: 10}
)";

// model.feature_columns: a list-valued key declares a column per entry, the
// default names are TensorFlow's, and wide & deep gets TensorFlow's
// optimizers for its two scopes unless the job names others.
TEST(JobConfigTest, FeatureColumnsAndWideAndDeepOptimizers) {
  auto job = ParseJobConfig(kColumns, "wd.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  std::vector<std::string> names;
  for (const FeatureColumnSpec& c : job->model.feature_columns) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"I1", "I2", "I1_bucketized", "C1", "C2", "C1_X_C2", "C1_embedding",
                                             "C2_embedding"}));
  EXPECT_EQ(job->model.feature_columns[6].source, "C1");
  EXPECT_EQ(job->model.feature_columns[6].combiner, "sqrtn");
  EXPECT_EQ(job->model.feature_columns[4].dtype, "int64");
  auto scoped = ScopedOptimizers(job->model);
  ASSERT_EQ(scoped.size(), 2u);
  EXPECT_EQ(scoped[0].first, "linear/");
  EXPECT_EQ(scoped[0].second.type, "ftrl");
  EXPECT_FLOAT_EQ(scoped[0].second.learning_rate, 0.2f);  // min(0.2, 1/sqrt(4))
  EXPECT_EQ(scoped[1].first, "dnn/");
  EXPECT_EQ(scoped[1].second.type, "adagrad");
  EXPECT_FLOAT_EQ(scoped[1].second.learning_rate, 0.05f);
  auto mine = ParseJobConfig(kColumns, "wd.yaml", {"model.dnn_optimizer={type: adam, learning_rate: 0.001}"});
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(ScopedOptimizers(mine->model)[1].second.type, "adam");
  EXPECT_TRUE(ScopedOptimizers(ParseJobConfig("run: {model_dir: /m, train_steps: 1}", "d.yaml")->model).empty());

  const BadCase bad[] = {
      {"model.feature_columns=[{type: numeric_colum, key: a}]", "unknown type 'numeric_colum'; choose bucketized_column"},
      {"model.feature_columns=[{type: embedding_column, categorical_column: C9, dimension: 2}]",
       "'C9' is not a column declared before it"},
      {"model.feature_columns=[{type: numeric_column, key: a}, {type: embedding_column, categorical_column: a, dimension: 2}]",
       "categorical_column 'a' is a numeric_column, not a categorical column"},
      {"model.feature_columns=[{type: categorical_column_with_identity, key: a}]", "set num_buckets > 0"},
      {"model.feature_columns=[{type: numeric_column, key: a}, {type: numeric_column, key: a}]", "a second column named 'a'"},
      {"model.feature_columns=[{type: numeric_column, key: a, colour: red}]", "model.feature_columns[0].colour: unknown key"},
      {"model.linear_feature_columns=[C1, C3]", "model.linear_feature_columns: 'C3' is not a feature column"},
      {"model.dnn_feature_columns=[]", "model.dnn_feature_columns: is required for dnn_linear_combined_classifier"},
      {"model.dnn_optimizer={learning_rate: 0.1}", "model.dnn_optimizer.type: is required"},
      {"model.feature_columns=[{type: categorical_column_with_embedding, key: u, on_full: drop}]",
       "on_full 'drop' is not evict or error"},
      {"model.feature_columns=[{type: categorical_column_with_embedding, key: u, steps_to_live: -1}]",
       "filter_freq, steps_to_live and max_rows must be >= 0"},
      {"model.feature_columns=[{type: categorical_column_with_embedding, key: u}, {type: indicator_column, "
       "categorical_column: u}]",
       "'u' has no fixed number of buckets to indicate; use an embedding_column"},
  };
  for (const auto& c : bad) {
    auto r = ParseJobConfig(kColumns, "wd.yaml", {c.override_or_text});
    ASSERT_FALSE(r.ok()) << c.override_or_text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message)) << c.override_or_text;
  }
  // The column's own line, in the file.
  std::string text = kColumns;
  text.replace(text.find("dimension: 4"), 12, "dimension: 0");
  EXPECT_THAT(ParseJobConfig(text, "wd.yaml").status().message(),
              HasSubstr("wd.yaml:9: model.feature_columns: feature column 6 (embedding_column C1_embedding): set dimension > 0"));
}

// DeepRec's categorical_column_with_embedding: ids without a vocabulary,
// and the dynamic tables' admission, eviction and cap.
TEST(JobConfigTest, DynamicEmbeddingColumns) {
  auto job = ParseJobConfig(kColumns, "wd.yaml",
                            {"model.feature_columns=[{type: numeric_column, key: I1}, "
                             "{type: categorical_column_with_embedding, key: [user, item], filter_freq: 3, "
                             "steps_to_live: 5000, max_rows: 1000000, on_full: error}, "
                             "{type: embedding_column, categorical_column: [user, item], dimension: 16}]",
                             "model.linear_feature_columns=[user, item]",
                             "model.dnn_feature_columns=[I1, user_embedding, item_embedding]"});
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->model.feature_columns.size(), 5u);
  const FeatureColumnSpec& user = job->model.feature_columns[1];
  EXPECT_EQ(user.name, "user");
  EXPECT_TRUE(IsDynamicColumn(user));
  EXPECT_EQ(user.filter_freq, 3);
  EXPECT_EQ(user.steps_to_live, 5000);
  EXPECT_EQ(user.max_rows, 1000000);
  EXPECT_EQ(user.on_full, "error");
  EXPECT_EQ(job->model.feature_columns[4].name, "item_embedding");
  EXPECT_EQ(job->model.feature_columns[4].source, "item");
}

TEST(JobConfigTest, ErrorsNameFileLineAndKey) {
  const BadCase cases[] = {
      {"run.trian_steps=5", "run.trian_steps: unknown key; known keys here:"},
      {"model.hidden_units=[64, -1]", "model.hidden_units: every entry must be > 0"},
      {"model.optimizer.type=adamw", "unknown optimizer 'adamw'"},
      {"run.save_checkpoints_secs=60", "not both"},
      // RunConfig's rules, with the key and its source.
      {"run.log_step_count_steps=0", "(--set run.log_step_count_steps): run.log_step_count_steps: must be > 0"},
      {"run.save_summary_steps=-1", "run.save_summary_steps: must be >= 0"},
      {"run.profile_steps=-5", "run.profile_steps: must be >= 0"},
      {"run.intra_op_threads=-1", "run.intra_op_threads: must be between 0"},
      {"run.intra_op_threads=two", "run.intra_op_threads"},
      {"data.train.format=parquet", "data.train.format: must be idx, csv or tfrecord"},
      {"data.train={format: tfrecord, files: [a.tfrecord], features: {ids: {dtype: int64, var_len: true, shape: [3]}, "
       "label: {dtype: int64}}}",
       "data.train.features.ids.shape: a var_len feature has no fixed shape"},
      {"data.train={format: tfrecord, files: [a.tfrecord], features: {label: {dtype: int64, var_len: true}}}",
       "data.train.features.label.var_len: the label has one value per example"},
      {"model.type=resnet", "unknown model type 'resnet'"},
      {"run.sync={replicas_to_aggregate: 3, total_num_replicas: 2}", "replicas_to_aggregate <= total_num_replicas"},
      {"cluster.chief=[]", "exactly one chief"},
      {"cluster.worker=[\"127.0.0.1:2222\"]", "used by two tasks"},
      {"cluster.ps=[\"nohost\"]", "must be host:port"},
      // A port that does not fit 16 bits would wrap (67758 is 2222 + 65536).
      {"cluster.ps=[\"127.0.0.1:2222\", \"127.0.0.1:67758\"]",
       "cluster.ps[1] (task ps:1): port 67758 of address '127.0.0.1:67758' is outside 1..65535"},
      {"cluster.worker=[\"127.0.0.1:0\"]", "cluster.worker[0] (task worker:0): port 0 of address"},
      {"cluster.worker=[\"127.0.0.1:123456789\"]", "must be host:port with a port number in 1..65535"},
  };
  for (const auto& c : cases) {
    auto job = ParseJobConfig(kJob, "job.yaml", {c.override_or_text});
    ASSERT_FALSE(job.ok()) << c.override_or_text;
    EXPECT_THAT(job.status().message(), HasSubstr(c.message)) << c.override_or_text;
  }
  // Line numbers come from the file.
  auto typo = ParseJobConfig(std::string(kJob) + "extra: 1\n", "job.yaml");
  EXPECT_THAT(typo.status().message(), HasSubstr("job.yaml:19: extra: unknown key"));
  auto type = ParseJobConfig(R"(run:
  model_dir: /tmp/m
  train_steps: [1]
)", "t.yaml");
  EXPECT_THAT(type.status().message(), HasSubstr("t.yaml:3: run.train_steps: expected an integer"));
  EXPECT_THAT(ParseJobConfig("run: {train_steps: 5}", "m.yaml").status().message(), HasSubstr("run.model_dir: is required"));
  EXPECT_THAT(ParseJobConfig("a: [", "broken.yaml").status().message(), HasSubstr("broken.yaml:1: not valid YAML"));
}

TEST(JobConfigTest, TheShippedConfigsParse) {
  auto job = LoadJobConfig(PSFLOW_CONFIGS_DIR "/fashion_mnist.yaml");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->cluster.ps.size(), 2u);
  EXPECT_EQ(job->cluster.evaluator.size(), 1u);
  EXPECT_EQ(job->model.hidden_units, (std::vector<int64_t>{256, 128}));
  EXPECT_FALSE(job->run.sync.has_value());
  EXPECT_EQ(*job->run.save_checkpoints_secs, 20);
  EXPECT_TRUE(job->eval.best_higher_is_better);
  auto cnn = LoadJobConfig(PSFLOW_CONFIGS_DIR "/fashion_mnist_cnn.yaml");
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  EXPECT_EQ(cnn->model.type, "cnn_classifier");
  auto sync = LoadJobConfig(PSFLOW_CONFIGS_DIR "/fashion_mnist_sync.yaml");
  ASSERT_TRUE(sync.ok()) << sync.status();
  EXPECT_EQ(sync->run.sync->replicas_to_aggregate, 2);
  EXPECT_EQ(sync->run.sync->total_num_replicas, 3);
  auto ctr = LoadJobConfig(PSFLOW_CONFIGS_DIR "/ctr_wide_deep.yaml");
  ASSERT_TRUE(ctr.ok()) << ctr.status();
  EXPECT_EQ(ctr->model.feature_columns.size(), 13u * 3 + 26 + 4 + 26);
  EXPECT_EQ(ctr->model.linear_feature_columns.size(), 26u + 4 + 13);
  EXPECT_EQ(ctr->data.eval.features.size(), 13u + 26 + 1);
  auto ref = LoadJobConfig(PSFLOW_CONFIGS_DIR "/reference.yaml");
  ASSERT_TRUE(ref.ok()) << ref.status();
  // The reference file states the defaults: parsing it changes nothing but the required keys.
  auto minimal = ParseJobConfig("run: {model_dir: /tmp/psflow/reference, train_steps: 20000}", "min.yaml");
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(ref->model.hidden_units, minimal->model.hidden_units);
  EXPECT_EQ(ref->model.optimizer.learning_rate, minimal->model.optimizer.learning_rate);
  EXPECT_EQ(ref->model.optimizer.epsilon, minimal->model.optimizer.epsilon);
  EXPECT_EQ(ref->data.batch_size, minimal->data.batch_size);
  EXPECT_EQ(ref->run.keep_checkpoint_max, minimal->run.keep_checkpoint_max);
  EXPECT_EQ(ref->eval.start_delay_secs, minimal->eval.start_delay_secs);
  EXPECT_EQ(ref->model.plugin_symbol, minimal->model.plugin_symbol);
  EXPECT_EQ(ref->eval.best_metric, minimal->eval.best_metric);
  EXPECT_EQ(ref->launch.worker_restarts, minimal->launch.worker_restarts);
  EXPECT_EQ(ref->launch.finish_timeout_secs, minimal->launch.finish_timeout_secs);
  EXPECT_EQ(ref->run.placement.strategy, minimal->run.placement.strategy);
  auto es = ParseJobConfig("run: {model_dir: /m, train_steps: 1}\neval: {early_stopping: {metric: accuracy, patience: 2}}", "e.yaml");
  ASSERT_TRUE(es.ok()) << es.status();
  EXPECT_TRUE(es->eval.early_stopping_higher_is_better);
  EXPECT_EQ(es->eval.early_stopping_patience, 2);
  EXPECT_THAT(ParseJobConfig("run: {model_dir: /m, train_steps: 1}\nlaunch: {restarts: 2}", "l.yaml").status().message(),
              HasSubstr("l.yaml:2: launch.restarts: unknown key"));
}

TEST(TfConfigTest, KubeflowStyleWithEvaluatorAndDynamicWorkers) {
  ClusterSpec c;
  auto t = ParseTfConfig(R"({"cluster":{"chief":["j-chief-0.ns.svc:2222"],"evaluator":["j-evaluator-0.ns.svc:2222"],)"
                         R"("ps":["j-ps-0.ns.svc:2222"],"worker":["j-worker-0.ns.svc:2222","j-worker-1.ns.svc:2222"]},)"
                         R"("task":{"type":"worker","index":1},"environment":"cloud"})",
                         &c);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->type, "worker");
  EXPECT_EQ(t->index, 1);
  EXPECT_EQ(c.worker[1], "j-worker-1.ns.svc:2222");
  EXPECT_EQ(c.evaluator.size(), 1u);
  auto dyn = ParseTfConfig(R"({"cluster":{"chief":["c:1"],"worker":{"1":"w1:2"},"ps":["p:3"]},"task":{"type":"worker","index":1}})", &c);
  ASSERT_TRUE(dyn.ok()) << dyn.status();
  EXPECT_EQ(c.worker[1], "w1:2");
  EXPECT_THAT(ParseTfConfig(R"({"cluster":{"worker":["w:1"]},"task":{"type":"worker","index":0}})", &c).status().message(),
              HasSubstr("must have one \"chief\" node"));
  EXPECT_THAT(ParseTfConfig(R"({"cluster":{"chief":["c:1"]},"task":{"type":"worker","index":3}})", &c).status().message(),
              HasSubstr("task worker:3 is not in the cluster"));
  EXPECT_TRUE(ParseTfConfig(R"({"cluster":{"chief":["c:1"]},"task":{"type":"evaluator","index":0}})", &c).ok());
  EXPECT_THAT(ParseTfConfig("{not json", &c).status().message(), HasSubstr("TF_CONFIG is not valid JSON"));
}

// Each of these used to end the task with an uncaught exception, or to be
// accepted: every one is an InvalidArgument that starts with TF_CONFIG.
TEST(TfConfigTest, BadValuesAreErrorsNamingTfConfig) {
  const BadCase cases[] = {
      {R"({"cluster":{"chief":["127.0.0.1:abc"]},"task":{"type":"chief","index":0}})",
       "TF_CONFIG: cluster.chief[0] (task chief:0): address '127.0.0.1:abc' must be host:port"},
      {R"({"cluster":{"chief":["c:1"],"ps":["p:67758"]},"task":{"type":"ps","index":0}})",
       "TF_CONFIG: cluster.ps[0] (task ps:0): port 67758"},
      {R"({"cluster":{"chief":["c:1"],"worker":{"x":"w:2"}},"task":{"type":"worker","index":0}})",
       "TF_CONFIG: a key of cluster.worker must be a task index (0, 1, ...), got x"},
      {R"({"cluster":{"chief":["c:1"],"worker":{"-1":"w:2"}},"task":{"type":"worker","index":0}})",
       "must be a task index"},
      {R"({"cluster":{"chief":["c:1"],"worker":{"999999999":"w:2"}},"task":{"type":"worker","index":0}})",
       "names task 999999999; task indices go up to 65535"},
      {R"({"cluster":{"chief":["c:1"],"worker":[["w:2"]]},"task":{"type":"worker","index":0}})",
       "TF_CONFIG: cluster.worker[0] must be a string"},
      {R"({"cluster":{"chief":["c:1"],"ps":{"1":"p:2"}},"task":{"type":"chief","index":0}})",
       "TF_CONFIG: cluster.ps has no address for task 0"},
      {R"({"cluster":{"chief":["c:1"],"worker":["c:1"]},"task":{"type":"chief","index":0}})",
       "TF_CONFIG: cluster address c:1 is used by two tasks (chief:0 and worker:0)"},
      {R"({"cluster":{"chief":["c:1"],"master":["m:1"]},"task":{"type":"chief","index":0}})",
       "the cluster names the chief job twice (as \"chief\" and \"master\"?)"},
      {R"({"cluster":{"chief":["c:1"],"driver":["d:1"]},"task":{"type":"chief","index":0}})",
       "TF_CONFIG: cluster job 'driver' is not one of ps, chief (or master), worker, evaluator"},
      {R"({"cluster":{"chief":["c:1"]},"task":{"type":"chief","index":"zero"}})",
       "TF_CONFIG: task.index must be a task index (0, 1, ...), got zero"},
      {R"({"cluster":{"chief":["c:1"]},"task":{"type":["chief"],"index":0}})", "TF_CONFIG: task.type must be a string"},
      {R"({"cluster":{"chief":["c:1"]},"task":{"type":"trainer","index":0}})",
       "TF_CONFIG: task type 'trainer' is not one of ps, chief, worker, evaluator"},
  };
  for (const auto& c : cases) {
    ClusterSpec spec;
    auto t = ParseTfConfig(c.override_or_text, &spec);
    ASSERT_FALSE(t.ok()) << c.override_or_text;
    EXPECT_TRUE(IsInvalidArgumentError(t.status())) << t.status();
    EXPECT_THAT(t.status().message(), HasSubstr(c.message)) << c.override_or_text;
  }
}

// TensorFlow's operator and TF1 jobs call the chief "master".
TEST(TfConfigTest, MasterIsTheChief) {
  ClusterSpec c;
  auto t = ParseTfConfig(R"({"cluster":{"master":["m:2222"],"ps":["p:2222"],"worker":["w:2222"]},)"
                         R"("task":{"type":"master","index":0}})",
                         &c);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->type, "chief");
  EXPECT_EQ(c.chief, std::vector<std::string>{"m:2222"});
}

}  // namespace
}  // namespace psflow
