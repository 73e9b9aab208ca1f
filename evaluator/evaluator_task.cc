#include "evaluator/evaluator_task.h"

#include <algorithm>

#include "common/core/logging.h"
#include "common/distributed/job_input.h"
#include "common/distributed/job_model.h"
#include "common/distributed/ps_client.h"
#include "common/distributed/task_main.h"
#include "evaluator/evaluator.h"

namespace psflow {

int RunEvaluatorTask(const TaskSetup& s) {
  const std::string task = TaskName(s.task);
  auto fn = ModelFnFor(s.job.model);
  if (!fn.ok()) return ExitFor(fn.status(), task, kExitBadInput);
  if (Status in = CheckInputFiles(s.job.data.eval, "data.eval"); !in.ok()) return ExitFor(in, task, kExitBadInput);
  auto transport = rpc::NewTcpTransport();
  // Under auto the evaluator takes the GPU after the trainers' (round robin).
  const int64_t trainers = static_cast<int64_t>(s.job.cluster.chief.size() + s.job.cluster.worker.size());
  auto gpus = TaskGpus(s, trainers);
  if (!gpus) return kExitBadInput;
  LOG(INFO) << task << " evaluates on "
            << (gpus->empty() ? StrCat("the CPU (", GpuDescription(), ")") : gpus->front()->Description());
  EvalSpec eval = s.job.eval;
  if (!eval.timeout_secs) {
    eval.timeout_secs = s.job.run.save_checkpoints_steps ? 4 * 3600.0
                                                         : std::max(3600.0, 4 * s.job.run.save_checkpoints_secs.value_or(600));
  }
  EvaluatorOptions o{.model_dir = s.job.run.model_dir, .train_steps = s.job.run.train_steps, .eval = eval,
                     .tf_random_seed = s.job.run.tf_random_seed, .stop = &StopRequested(),
                     .gpu = gpus->empty() ? nullptr : gpus->front(), .status_records = true};
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

}  // namespace psflow
