// psflow-train-local: trains a canned classifier on Fashion-MNIST in one
// process with psflow's Estimator (graph engine, Eigen kernels, Adam, input
// pipeline, checkpoint schedule, evaluation), writing TensorFlow-format
// checkpoints to model_dir and resuming from them when run again.
//
//   psflow-train-local --model dnn_classifier --train_steps 6000 --model_dir DIR
//   psflow-train-local --model cnn_classifier --train_steps 4000 --dropout 0.4
//   psflow-train-local --device gpu:1     (default auto: gpu:0 when there is one, else the CPU)
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "common/cluster/cli.h"
#include "common/cluster/job_config.h"
#include "common/core/env.h"
#include "common/core/logging.h"
#include "common/gpu/gpu_device.h"
#include "common/train/estimator.h"

namespace psflow {
namespace {

struct Flags {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string model_dir = "/tmp/psflow/fashion_mnist_local";
  std::string model = "dnn_classifier";
  std::vector<int64_t> hidden_units = {256, 128};
  int64_t train_steps = 8000;
  int64_t batch_size = 128;
  float learning_rate = 0.001f;
  std::string optimizer = "adam";
  float dropout = 0.f;
  int64_t save_checkpoints_steps = 1000;
  int64_t log_step_count_steps = 500;
  int64_t seed = 42;
  std::string device = "auto";
  std::string export_dir;
};

// What CLI11 cannot check by itself.
Status CheckFlags(const Flags& f) {
  auto d = ParseDeviceSpec(f.device);
  if (!d.ok()) return InvalidArgumentError("--device: ", d.status().message());
  if (d->gpus.size() > 1) {
    return InvalidArgumentError("--device ", f.device, ": psflow-train-local runs on one GPU; replicate a step over ",
                                "several with a job file's run.gpus and psflow-launch");
  }
  return OkStatus();
}

Status Run(const Flags& f) {
  ASSIGN_OR_RETURN(ModelFn model_fn, CannedModelFn(f.model));
  ModelParams params;
  params.hidden_units = f.model == "cnn_classifier" && f.hidden_units == std::vector<int64_t>{256, 128}
                            ? std::vector<int64_t>{1024}
                            : f.hidden_units;
  params.n_classes = 10;
  params.dropout = f.dropout;
  params.optimizer = {.type = f.optimizer, .hyper = {.lr = f.learning_rate}};
  ASSIGN_OR_RETURN(DeviceSpec device, ParseDeviceSpec(f.device));
  GpuDevice* gpu = nullptr;
  if (device.kind == DeviceSpec::kGpus || (device.kind == DeviceSpec::kAuto && GpuDeviceCount() > 0)) {
    const int index = device.gpus.empty() ? 0 : static_cast<int>(device.gpus[0]);
    auto g = GpuDevice::Get(index);
    if (!g.ok()) return g.status().WithContext("--device ", f.device);
    gpu = *g;
  }
  LOG(INFO) << "training on " << (gpu ? gpu->Description() : StrCat("the CPU (", GpuDescription(), ")"));
  RunConfig config{.model_dir = f.model_dir,
                   .save_checkpoints_steps = f.save_checkpoints_steps,
                   .log_step_count_steps = f.log_step_count_steps,
                   .tf_random_seed = f.seed};
  const std::string train_images = JoinPath(f.data_dir, "train-images-idx3-ubyte.gz");
  const std::string train_labels = JoinPath(f.data_dir, "train-labels-idx1-ubyte.gz");
  const std::string test_images = JoinPath(f.data_dir, "t10k-images-idx3-ubyte.gz");
  const std::string test_labels = JoinPath(f.data_dir, "t10k-labels-idx1-ubyte.gz");
  const uint64_t seed = static_cast<uint64_t>(f.seed);
  InputFn train_input = [&]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, IdxDataset(train_images, train_labels));
    return Prefetch(Batch(Repeat(Shuffle(std::move(ds), 60000, seed)), f.batch_size), 4);
  };
  InputFn eval_input = [&]() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, IdxDataset(test_images, test_labels));
    return Batch(std::move(ds), 1000);
  };
  Estimator est(model_fn, params, config, {.gpu = gpu, .num_shards = 2 /* as a 2-PS job shards its checkpoints */});
  RETURN_IF_ERROR(est.Train(train_input, f.train_steps));
  ASSIGN_OR_RETURN(EvalResult r, est.Evaluate(eval_input));
  std::printf("global_step %lld: Fashion-MNIST test accuracy %.4f, loss %.4f (%s, 10000 test images); checkpoints in %s\n",
              static_cast<long long>(r.global_step), r.metrics["accuracy"], r.metrics["loss"], f.model.c_str(),
              f.model_dir.c_str());
  if (!f.export_dir.empty()) {
    ASSIGN_OR_RETURN(auto data, eval_input());
    Example sample;
    ASSIGN_OR_RETURN(bool have, data->Next(&sample));
    if (!have) return InvalidArgumentError("the test set ", test_images, " is empty");
    ASSIGN_OR_RETURN(std::string dir, est.ExportSavedModel(sample, "", f.export_dir));
    std::printf("SavedModel of global_step %lld in %s\n", static_cast<long long>(r.global_step), dir.c_str());
  }
  return OkStatus();
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) {
  psflow::SetLogIdentity("train_local", 0);
  psflow::Flags f;
  CLI::App app("psflow-train-local: trains a canned classifier on Fashion-MNIST in one process with psflow's Estimator,\n"
               "writing TensorFlow-format checkpoints to --model_dir and resuming from them when run again",
               "psflow-train-local");
  app.add_option("--data_dir", f.data_dir, "the Fashion-MNIST files (dataset-fashion-mnist)")->capture_default_str();
  app.add_option("--model_dir", f.model_dir, "checkpoints, events, the exported graph")->capture_default_str();
  app.add_option("--model", f.model, "dnn_classifier, linear_classifier or cnn_classifier")->capture_default_str();
  app.add_option("--hidden_units", f.hidden_units, "dnn_classifier's layers, e.g. 256,128")->delimiter(',')->capture_default_str();
  app.add_option("--train_steps", f.train_steps, "global steps to train to")->capture_default_str();
  app.add_option("--batch_size", f.batch_size)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--learning_rate", f.learning_rate)->capture_default_str();
  app.add_option("--optimizer", f.optimizer, "sgd, momentum, adagrad, adam, rmsprop or ftrl")->capture_default_str();
  app.add_option("--dropout", f.dropout, "in [0, 1)")->capture_default_str();
  app.add_option("--save_checkpoints_steps", f.save_checkpoints_steps)->capture_default_str();
  app.add_option("--log_step_count_steps", f.log_step_count_steps)->capture_default_str();
  app.add_option("--seed", f.seed)->capture_default_str();
  app.add_option("--device", f.device, "auto, cpu or gpu:N")->capture_default_str();
  app.add_option("--export_dir", f.export_dir,
                 "after training, write a SavedModel (TensorFlow Serving's format) to a new EXPORT_DIR/<unix seconds>");
  if (auto exit = psflow::ParseCommandLine(app, argc, argv)) return *exit;
  if (psflow::Status bad = psflow::CheckFlags(f); !bad.ok()) {
    std::cerr << "psflow-train-local: " << bad << "\n";
    return psflow::kExitBadInput;
  }
  psflow::Status s = psflow::Run(f);
  if (!s.ok()) {
    std::cerr << "psflow-train-local: " << s << "\n";
    return 1;
  }
  return 0;
}
