#include "common/distributed/tasks.h"

#include <unistd.h>

#include <csignal>
#include <optional>
#include <random>
#include <iostream>
#include <thread>

#include "common/core/logging.h"
#include "common/distributed/ps_service.h"
#include "common/distributed/evaluator.h"
#include "common/distributed/job_input.h"
#include "common/distributed/trainer.h"
#include "common/train/model_plugin.h"

namespace psflow {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

void InstallSignalHandlers() {
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
}

apply::Hyper HyperFrom(const OptimizerSpec& o) {
  return apply::Hyper{.lr = o.learning_rate, .momentum = o.momentum, .nesterov = o.use_nesterov, .beta1 = o.beta1,
                      .beta2 = o.beta2, .epsilon = o.epsilon, .rho = o.decay, .l1 = o.l1, .l2 = o.l2};
}

ModelParams ParamsFrom(const ModelSpec& m) {
  ModelParams p;
  p.hidden_units = m.hidden_units;
  p.n_classes = m.n_classes;
  p.activation = m.activation;
  p.dropout = m.dropout;
  p.optimizer = {.type = m.optimizer.type, .hyper = HyperFrom(m.optimizer)};
  p.extra = m.params;
  return p;
}

// A random id for this process: the PS tasks tell a restarted task from its
// previous life by it.
uint64_t Incarnation() {
  static const uint64_t id = [] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  }();
  return id;
}

std::vector<std::unique_ptr<rpc::Channel>> PsChannels(rpc::Transport* t, const TaskSetup& s) {
  std::vector<std::unique_ptr<rpc::Channel>> chans;
  for (const std::string& a : s.job.cluster.ps) {
    chans.push_back(t->Connect({.address = a, .token = s.token, .task = TaskName(s.task), .incarnation = Incarnation()}));
  }
  return chans;
}

StatusOr<ModelFn> ModelFnFor(const ModelSpec& m) {
  return m.type == "plugin" ? LoadModelFnPlugin(m.plugin_library, m.plugin_symbol) : CannedModelFn(m.type);
}

// Whether a restart of the task may cure `s`: the transport's errors and
// timeouts.  Everything else comes from the job's input and fails again.
bool MayPassOnRestart(const Status& s) {
  return IsUnavailableError(s) || IsDeadlineExceededError(s) || IsAbortedError(s) || IsCancelledError(s) ||
         IsResourceExhaustedError(s) || IsInternalError(s) || IsUnknownError(s);
}

// Logs a failed task's error and picks its exit code: `bad_input` (kExitUsage
// for the job file and the files it names, kExitIncompatibleCheckpoint for
// model_dir's checkpoint), which the launcher does not retry, unless a
// restart may cure the error (then kExitError).
int ExitFor(const Status& s, const std::string& task, int bad_input = kExitError) {
  if (s.ok()) return kExitOk;
  LOG(ERROR) << task << " failed: " << s;
  std::cerr << "psflow " << task << ": " << s << "\n";
  if (IsFailedPreconditionError(s) && s.message().find("does not match the model") != std::string::npos) {
    return kExitIncompatibleCheckpoint;
  }
  return MayPassOnRestart(s) ? kExitError : bad_input;
}

// The GPUs of a chief, worker or evaluator (TrainerGpus; `shard` spreads
// auto over the machine's GPUs), or nullopt after reporting a missing one.
std::optional<std::vector<GpuDevice*>> TaskGpus(const TaskSetup& s, int64_t shard) {
  auto gpus = TrainerGpus(TaskDeviceSpec(s.job.run, s.task), shard, GpuDeviceCount(),
                          [](int i) { return GpuDevice::Get(i); });
  if (gpus.ok()) return std::move(gpus).value();
  const Status st = gpus.status().WithContext("the device of ", TaskName(s.task), " (",
                                              TaskDeviceSource(s.job.run, s.task), ")");
  LOG(ERROR) << st;
  std::cerr << "psflow " << TaskName(s.task) << ": " << st << "\n";
  return std::nullopt;
}

}  // namespace

int RunPsTask(const TaskSetup& s) {
  InstallSignalHandlers();
  auto created = ParameterServer::Create({.task_index = static_cast<int>(s.task.index), .optimizer = s.job.model.optimizer.type,
                                         .hyper = HyperFrom(s.job.model.optimizer),
                                         .initial_accumulator_value = s.job.model.optimizer.initial_accumulator_value,
                                         .replicas_to_aggregate = s.job.run.sync ? s.job.run.sync->replicas_to_aggregate : 0});
  if (!created.ok()) return ExitFor(created.status().WithContext("model.optimizer"), TaskName(s.task), kExitUsage);
  ParameterServer& ps = **created;
  PsService service(&ps);
  std::atomic<bool> done{false};
  rpc::Handler inner = service.Handler();
  rpc::Handler handler = [&](rpc::Message req, rpc::Responder respond) {
    if (req.header.method() == "Shutdown") {
      LOG(INFO) << "the chief (" << req.header.task() << ") says the job is done";
      done = true;
      return respond(rpc::Message{});
    }
    inner(std::move(req), std::move(respond));
  };
  auto hp = ParseHostPort(s.address);
  if (!hp.ok()) return ExitFor(hp.status(), TaskName(s.task), kExitUsage);
  auto transport = rpc::NewTcpTransport();
  auto server = transport->Listen({.host = hp->first, .port = hp->second, .token = s.token, .task = TaskName(s.task)}, handler);
  if (!server.ok()) return ExitFor(server.status(), TaskName(s.task));
  LOG(INFO) << "serving on " << s.address << " (" << s.job.model.optimizer.type << " applies here)";
  // A status line every 30 s: the busiest variables, so a hot-spotted PS task shows.
  auto last_status = std::chrono::steady_clock::now();
  while (!done && !g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() - last_status < std::chrono::seconds(30)) continue;
    last_status = std::chrono::steady_clock::now();
    int64_t in = 0, out = 0, pushes = 0;
    std::string busiest;
    int64_t busiest_bytes = -1;
    for (const auto& [name, st] : ps.Stats()) {
      in += st.bytes_in;
      out += st.bytes_out;
      pushes += st.pushes;
      if (st.bytes_in + st.bytes_out > busiest_bytes) {
        busiest_bytes = st.bytes_in + st.bytes_out;
        busiest = name;
      }
    }
    LOG(INFO) << "global_step " << ps.global_step() << ", " << pushes << " pushes, " << (in >> 20) << " MiB in, "
              << (out >> 20) << " MiB out; busiest variable " << busiest << " (" << (busiest_bytes >> 20) << " MiB)";
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the Shutdown answer go out
  (*server)->Stop();
  LOG(INFO) << "exiting";
  return kExitOk;
}

int RunTrainingTask(const TaskSetup& s, bool is_chief) {
  InstallSignalHandlers();
  const std::string task = TaskName(s.task);
  auto fn = ModelFnFor(s.job.model);
  if (!fn.ok()) return ExitFor(fn.status(), task, kExitUsage);
  // Training tasks: the chief is shard 0, worker k is shard k + 1.
  const int64_t shards = static_cast<int64_t>(s.job.cluster.chief.size() + s.job.cluster.worker.size());
  const int64_t shard = is_chief ? 0 : s.task.index + static_cast<int64_t>(s.job.cluster.chief.size());
  const InputFn input = TrainInput(s.job, shard, shards);
  const ModelParams params = ParamsFrom(s.job.model);
  // Placement needs the model's variables: build the graph once from a batch.
  auto first = input();
  if (!first.ok()) return ExitFor(first.status().WithContext("data.train"), task, kExitUsage);
  Example batch;
  auto have = (*first)->Next(&batch);
  if (!have.ok()) return ExitFor(have.status().WithContext("data.train"), task, kExitUsage);
  auto vars = JobVariables(*fn, params, batch);
  if (!vars.ok()) return ExitFor(vars.status(), task, kExitUsage);
  std::map<std::string, TensorShape> shapes;
  for (const auto& v : *vars) shapes[v.name] = v.shape;
  auto transport = rpc::NewTcpTransport();
  const PlacementSpec& pl = s.job.run.placement;
  Placement placement = PlaceVariables(shapes, static_cast<int>(s.job.cluster.ps.size()),
                                       {.round_robin = pl.strategy == "round_robin", .partitions = pl.partitions,
                                        .min_slice_bytes = pl.min_slice_bytes, .max_partitions = pl.max_partitions});
  for (const auto& [name, shape] : shapes) {
    if (placement.Partitioned(name)) {
      LOG(INFO) << "variable " << name << " " << shape.DebugString() << " is partitioned into "
                << placement.Parts(name)->size() << " parts";
    }
  }
  auto gpus = TaskGpus(s, shard);
  if (!gpus) return kExitUsage;
  if (gpus->empty()) LOG(INFO) << task << " runs its steps on the CPU (" << GpuDescription() << ")";
  auto client = std::make_unique<PsClient>(PsChannels(transport.get(), s), std::move(placement));
  TrainerOptions o{.is_chief = is_chief, .task = task, .model_dir = s.job.run.model_dir, .train_steps = s.job.run.train_steps,
                   .save_checkpoints_steps = s.job.run.save_checkpoints_steps, .save_checkpoints_secs = s.job.run.save_checkpoints_secs,
                   .keep_checkpoint_max = static_cast<int>(s.job.run.keep_checkpoint_max),
                   .keep_checkpoint_every_n_hours = s.job.run.keep_checkpoint_every_n_hours,
                   .log_step_count_steps = s.job.run.log_step_count_steps,
                   .save_summary_steps = s.job.run.save_summary_steps, .profile_steps = s.job.run.profile_steps,
                   .tf_random_seed = s.job.run.tf_random_seed,
                   .warm_start = s.job.run.warm_start, .stop = &g_stop, .sync = s.job.run.sync.has_value(),
                   .gpus = *gpus};
  Trainer trainer(o, *fn, params, std::move(client));
  auto r = trainer.Run(input);
  if (r.ok()) {
    LOG(INFO) << task << " done at global_step " << r->global_step << " after " << r->local_steps << " local steps";
  }
  if (is_chief) {
    // Every PS task is told the job is over (also after an error: nothing else will stop them).
    std::vector<std::unique_ptr<rpc::Channel>> chans = PsChannels(transport.get(), s);
    for (auto& ch : chans) ch->Call("Shutdown", rpc::Message{}, {.timeout_ms = 5000}).status().IgnoreError();
  }
  return ExitFor(r.status(), task, trainer.failed_on_checkpoint() ? kExitIncompatibleCheckpoint : kExitError);
}

int RunEvaluatorTask(const TaskSetup& s) {
  InstallSignalHandlers();
  const std::string task = TaskName(s.task);
  auto fn = ModelFnFor(s.job.model);
  if (!fn.ok()) return ExitFor(fn.status(), task, kExitUsage);
  if (Status in = CheckInputFiles(s.job.data.eval, "data.eval"); !in.ok()) return ExitFor(in, task, kExitUsage);
  auto transport = rpc::NewTcpTransport();
  // Under auto the evaluator takes the GPU after the trainers' (round robin).
  const int64_t trainers = static_cast<int64_t>(s.job.cluster.chief.size() + s.job.cluster.worker.size());
  auto gpus = TaskGpus(s, trainers);
  if (!gpus) return kExitUsage;
  LOG(INFO) << task << " evaluates on "
            << (gpus->empty() ? StrCat("the CPU (", GpuDescription(), ")") : gpus->front()->Description());
  EvaluatorOptions o{.model_dir = s.job.run.model_dir, .train_steps = s.job.run.train_steps, .eval = s.job.eval,
                     .tf_random_seed = s.job.run.tf_random_seed, .stop = &g_stop,
                     .gpu = gpus->empty() ? nullptr : gpus->front()};
  if (!s.job.cluster.ps.empty()) {
    o.request_stop = [&]() -> Status {
      PsClient client(PsChannels(transport.get(), s), Placement());
      return client.RequestStop();
    };
  }
  Evaluator evaluator(*fn, ParamsFrom(s.job.model), EvalInput(s.job), o);
  auto r = evaluator.Run();
  if (r.ok()) {
    LOG(INFO) << task << " done after " << r->evaluations << " evaluations; last at global step " << r->last_global_step;
  }
  return ExitFor(r.status(), task);
}

int TaskMain(int argc, char** argv, const std::string& role) {
  auto setup = ParseTaskFlags(argc, argv, role);
  if (!setup.ok()) {
    std::cerr << "psflow-" << role << ": " << setup.status() << "\n";
    return kExitUsage;
  }
  SetLogIdentity(setup->task.type, static_cast<int>(setup->task.index));
  if (setup->task.type == "ps") return RunPsTask(*setup);
  if (setup->task.type == "chief") return RunTrainingTask(*setup, true);
  if (setup->task.type == "worker") return RunTrainingTask(*setup, false);
  if (setup->task.type == "evaluator") return RunEvaluatorTask(*setup);
  std::cerr << "psflow-" << role << ": task type " << setup->task.type << " cannot run in this binary\n";
  return kExitUsage;
}

}  // namespace psflow
