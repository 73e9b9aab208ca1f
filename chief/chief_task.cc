#include "chief/chief_task.h"

#include "chief/chief.h"
#include "common/distributed/ps_protocol.h"
#include "common/distributed/task_main.h"
#include "worker/training_task.h"

namespace psflow {

int RunChiefTask(const TaskSetup& s) {
  int code = kExitError;
  auto t = SetUpTrainingTask(s, true, &code);
  if (!t) return code;
  Chief chief({.warm_start = s.job.run.warm_start,
               .learning_rate = t->params.optimizer.hyper.lr,
               .job_record = s.job.resolved_yaml,
               .recover_ps_tasks = s.job.launch.ps_recovery == "task" && !s.job.run.sync});
  auto r = t->trainer->Run(t->input, &chief);
  LogTrainingDone(*t, r);
  // Every PS task is told the job is over (also after an error: nothing else will stop them).
  for (auto& ch : PsChannels(t->transport.get(), s)) {
    ch->Call(ps::kShutdown, rpc::Message{}, {.timeout_ms = 5000}).status().IgnoreError();
  }
  return ExitFor(r.status(), t->name, chief.failed_on_checkpoint() ? kExitUnusableCheckpoint : kExitError);
}

}  // namespace psflow
