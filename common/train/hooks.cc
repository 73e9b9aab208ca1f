#include "common/train/hooks.h"

#include <algorithm>

#include "common/core/logging.h"
#include "common/core/status_record.h"
#include "common/core/strcat.h"
#include "common/summary/event_writer.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

double SecsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

class StopAtStep final : public SessionRunHook {
 public:
  explicit StopAtStep(int64_t last) : last_(last) {}
  Status Begin(int64_t global_step, bool* stop) override {
    if (global_step >= last_) *stop = true;
    return OkStatus();
  }
  Status AfterRun(const StepInfo& s, bool* stop) override {
    if (s.global_step >= last_) *stop = true;
    return OkStatus();
  }

 private:
  const int64_t last_;
};

class Logging final : public SessionRunHook {
 public:
  Logging(int64_t n, std::string prefix, bool records)
      : n_(std::max<int64_t>(1, n)), prefix_(std::move(prefix)), records_(records) {}
  Status Begin(int64_t global_step, bool*) override {
    last_ = Clock::now();
    last_step_ = global_step;
    return OkStatus();
  }
  Status AfterRun(const StepInfo& s, bool*) override {
    examples_ += s.batch_size;
    ++steps_;
    rows_ += s.rows_pulled;
    pulled_ += s.bytes_pulled;
    pushed_ += s.bytes_pushed;
    if (s.local_step != 1 && s.local_step % n_ != 0) {
      // The launcher hears of the step at least once a second, so that what
      // a restart costs can be told to within a second of training.
      if (records_ && Clock::now() - last_record_ >= std::chrono::seconds(1)) {
        EmitStatusRecord({"step", {{"step", StrCat(s.global_step)}, {"loss", StrCat(s.loss)}}});
        last_record_ = Clock::now();
      }
      return OkStatus();
    }
    const double secs = std::max(SecsSince(last_), 1e-9);
    const double rate = static_cast<double>(s.global_step - last_step_) / secs;
    std::string traffic;
    if (pulled_ + pushed_ > 0) {
      // Per step of this trainer, since the last line.
      const double n = static_cast<double>(steps_);
      traffic = StrCat(", per step: pulled ", HumanBytes(static_cast<double>(pulled_) / n), " (",
                       static_cast<int64_t>(static_cast<double>(rows_) / n), " embedding rows, ",
                       static_cast<int64_t>(static_cast<double>(rows_) / secs), " rows/sec), pushed ",
                       HumanBytes(static_cast<double>(pushed_) / n));
    }
    LOG(INFO) << prefix_ << "loss = " << s.loss << ", step = " << s.global_step << " (global_step/sec: " << rate
              << ", examples/sec: " << static_cast<int64_t>(static_cast<double>(examples_) / secs) << ")" << traffic;
    if (records_) {
      EmitStatusRecord({"step", {{"step", StrCat(s.global_step)}, {"loss", StrCat(s.loss)}, {"steps_per_sec", StrCat(rate)}}});
    }
    last_ = last_record_ = Clock::now();
    last_step_ = s.global_step;
    examples_ = steps_ = rows_ = pulled_ = pushed_ = 0;
    return OkStatus();
  }

 private:
  const int64_t n_;
  const std::string prefix_;
  const bool records_;
  Clock::time_point last_ = Clock::now(), last_record_ = Clock::now();
  int64_t last_step_ = 0;
  int64_t examples_ = 0, steps_ = 0, rows_ = 0, pulled_ = 0, pushed_ = 0;
};

class CheckpointSaver final : public SessionRunHook {
 public:
  CheckpointSaver(const RunConfig& c, SaveCheckpointFn save, EventWriter* events, std::string* last)
      : timer_(SecondOrStepTimer::ForCheckpoints(c)), save_(std::move(save)), events_(events), last_(last) {}
  Status Begin(int64_t global_step, bool*) override { return Save(global_step); }
  Status AfterRun(const StepInfo& s, bool*) override {
    return timer_.ShouldTrigger(s.global_step) ? Save(s.global_step) : OkStatus();
  }
  Status End(int64_t global_step) override {
    return timer_.last_step() != global_step ? Save(global_step) : OkStatus();
  }

 private:
  Status Save(int64_t step) {
    ASSIGN_OR_RETURN(std::string prefix, save_(step));
    LOG(INFO) << "Saving checkpoints for " << step << " into " << prefix;
    if (events_) RETURN_IF_ERROR(events_->WriteSessionLog(tensorflow::SessionLog::CHECKPOINT, step, prefix));
    if (last_) *last_ = prefix;
    timer_.Update(step);
    return OkStatus();
  }

  SecondOrStepTimer timer_;
  const SaveCheckpointFn save_;
  EventWriter* const events_;
  std::string* const last_;
};

class SummarySaver final : public SessionRunHook {
 public:
  SummarySaver(EventWriter* events, int64_t n, double lr)
      : events_(events), timer_(SecondOrStepTimer::EverySteps(std::max<int64_t>(1, n))), lr_(lr) {}
  Status Begin(int64_t global_step, bool*) override {
    timer_.Update(global_step);
    return events_->WriteSessionLog(tensorflow::SessionLog::START, global_step, "");
  }
  Status AfterRun(const StepInfo& s, bool*) override {
    if (!timer_.ShouldTrigger(s.global_step)) return OkStatus();
    const double secs = std::max(timer_.SecsSinceLast(), 1e-9);
    const double rate = static_cast<double>(s.global_step - timer_.last_step().value_or(s.global_step)) / secs;
    RETURN_IF_ERROR(events_->WriteScalars(s.global_step, {{"loss", s.loss}, {"global_step/sec", rate}, {"learning_rate", lr_}}));
    timer_.Update(s.global_step);
    return OkStatus();
  }
  Status End(int64_t) override { return events_->Flush(); }

 private:
  EventWriter* const events_;
  SecondOrStepTimer timer_;
  const double lr_;
};

class Profiler final : public SessionRunHook {
 public:
  Profiler(int64_t n, Env* env, std::string dir, std::string name)
      : n_(std::max<int64_t>(1, n)), env_(env), dir_(std::move(dir)), name_(std::move(name)) {}
  void BeforeRun(int64_t local_step, StepRequest* r) override {
    if (local_step % n_ == 0) r->trace = true;
  }
  Status AfterRun(const StepInfo& s, bool*) override {
    if (s.trace == nullptr) return OkStatus();
    std::string file = name_;
    std::replace(file.begin(), file.end(), ':', '-');
    file = JoinPath(dir_, StrCat(file, "-step-", s.global_step, ".trace.json"));
    Status st = env_->CreateDirs(dir_);
    if (st.ok()) st = WriteStringToFileAtomic(env_, file, ChromeTraceJson(*s.trace, name_));
    if (st.ok()) {
      LOG(INFO) << name_ << ": timeline of step " << s.global_step << " in " << file << " (open in chrome://tracing)";
    } else {
      LOG(WARNING) << "cannot write the profile " << file << ": " << st;
    }
    return OkStatus();
  }

 private:
  const int64_t n_;
  Env* const env_;
  const std::string dir_, name_;
};

}  // namespace

void HookList::Add(std::vector<std::unique_ptr<SessionRunHook>> hooks) {
  for (auto& h : hooks) hooks_.push_back(std::move(h));
}

Status HookList::Begin(int64_t global_step, bool* stop) {
  for (auto& h : hooks_) RETURN_IF_ERROR(h->Begin(global_step, stop));
  return OkStatus();
}

StepRequest HookList::BeforeRun(int64_t local_step) {
  StepRequest r;
  for (auto& h : hooks_) h->BeforeRun(local_step, &r);
  return r;
}

Status HookList::AfterRun(const StepInfo& step, bool* stop) {
  for (auto& h : hooks_) RETURN_IF_ERROR(h->AfterRun(step, stop));
  return OkStatus();
}

Status HookList::End(int64_t global_step) {
  for (auto& h : hooks_) RETURN_IF_ERROR(h->End(global_step));
  return OkStatus();
}

SecondOrStepTimer SecondOrStepTimer::ForCheckpoints(const RunConfig& c) {
  return c.save_checkpoints_steps ? EverySteps(*c.save_checkpoints_steps) : EverySecs(c.CheckpointSecs());
}

bool SecondOrStepTimer::ShouldTrigger(int64_t global_step) const {
  if (!last_step_) return true;
  if (global_step == *last_step_) return false;
  if (steps_) return global_step - *last_step_ >= *steps_;
  return SecsSince(last_time_) >= secs_.value_or(0);
}

void SecondOrStepTimer::Update(int64_t global_step) {
  last_step_ = global_step;
  last_time_ = Clock::now();
}

double SecondOrStepTimer::SecsSinceLast() const { return SecsSince(last_time_); }

std::unique_ptr<SessionRunHook> StopAtStepHook(int64_t last_step) { return std::make_unique<StopAtStep>(last_step); }

std::unique_ptr<SessionRunHook> LoggingHook(int64_t every_n_steps, std::string prefix, bool status_records) {
  return std::make_unique<Logging>(every_n_steps, std::move(prefix), status_records);
}

std::unique_ptr<SessionRunHook> CheckpointSaverHook(const RunConfig& config, SaveCheckpointFn save, EventWriter* events,
                                                    std::string* last_checkpoint) {
  return std::make_unique<CheckpointSaver>(config, std::move(save), events, last_checkpoint);
}

std::unique_ptr<SessionRunHook> SummarySaverHook(EventWriter* events, int64_t every_n_steps, double learning_rate) {
  return std::make_unique<SummarySaver>(events, every_n_steps, learning_rate);
}

std::unique_ptr<SessionRunHook> ProfilerHook(int64_t every_n_steps, Env* env, std::string dir, std::string name) {
  return std::make_unique<Profiler>(every_n_steps, env, std::move(dir), std::move(name));
}

}  // namespace psflow
