// psflow-train-local: trains a canned classifier on Fashion-MNIST in one
// process with psflow's Estimator (graph engine, Eigen kernels, Adam, input
// pipeline, checkpoint schedule, evaluation), writing TensorFlow-format
// checkpoints to model_dir and resuming from them when run again.
//
// The README's main job until the distributed runtime replaces it
// (psflow-launch configs/fashion_mnist.yaml).
//
//   psflow-train-local --model dnn_classifier --train_steps 6000 --model_dir DIR
//   psflow-train-local --model cnn_classifier --train_steps 4000 --dropout 0.4
//   psflow-train-local --device gpu:1     (default auto: gpu:0 when there is one, else the CPU)
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

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
};

StatusOr<std::vector<int64_t>> ParseList(const std::string& v) {
  std::vector<int64_t> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoll(item));
  if (out.empty()) return InvalidArgumentError("empty list '", v, "'");
  return out;
}

StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string key = a.substr(0, eq), val;
    if (eq != std::string::npos) {
      val = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      val = argv[++i];
    } else {
      return InvalidArgumentError("flag ", key, " needs a value");
    }
    try {
      if (key == "--data_dir") f.data_dir = val;
      else if (key == "--model_dir") f.model_dir = val;
      else if (key == "--model") f.model = val;
      else if (key == "--hidden_units") { ASSIGN_OR_RETURN(f.hidden_units, ParseList(val)); }
      else if (key == "--train_steps") f.train_steps = std::stoll(val);
      else if (key == "--batch_size") f.batch_size = std::stoll(val);
      else if (key == "--learning_rate") f.learning_rate = std::stof(val);
      else if (key == "--optimizer") f.optimizer = val;
      else if (key == "--dropout") f.dropout = std::stof(val);
      else if (key == "--save_checkpoints_steps") f.save_checkpoints_steps = std::stoll(val);
      else if (key == "--log_step_count_steps") f.log_step_count_steps = std::stoll(val);
      else if (key == "--seed") f.seed = std::stoll(val);
      else if (key == "--device") f.device = val;
      else return InvalidArgumentError("unknown flag ", key);
    } catch (const std::exception&) {
      return InvalidArgumentError("flag ", key, " has a bad value '", val, "'");
    }
  }
  if (f.batch_size <= 0) return InvalidArgumentError("--batch_size must be > 0");
  auto d = ParseDeviceSpec(f.device);
  if (!d.ok()) return InvalidArgumentError("--device: ", d.status().message());
  if (d->gpus.size() > 1) {
    return InvalidArgumentError("--device ", f.device, ": psflow-train-local runs on one GPU; replicate a step over ",
                                "several with a job file's run.gpus and psflow-launch");
  }
  return f;
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
                   .tf_random_seed = f.seed,
                   .num_shards = 2,  // as a 2-PS job shards its checkpoints
                   .gpu = gpu};
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
  Estimator est(model_fn, params, config);
  RETURN_IF_ERROR(est.Train(train_input, f.train_steps));
  ASSIGN_OR_RETURN(EvalResult r, est.Evaluate(eval_input));
  std::printf("global_step %lld: Fashion-MNIST test accuracy %.4f, loss %.4f (%s, 10000 test images); checkpoints in %s\n",
              static_cast<long long>(r.global_step), r.metrics["accuracy"], r.metrics["loss"], f.model.c_str(),
              f.model_dir.c_str());
  return OkStatus();
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) {
  psflow::SetLogIdentity("train_local", 0);
  auto flags = psflow::ParseFlags(argc, argv);
  psflow::Status s = flags.ok() ? psflow::Run(*flags) : flags.status();
  if (!s.ok()) {
    std::cerr << "psflow-train-local: " << s << "\n";
    return 1;
  }
  return 0;
}
