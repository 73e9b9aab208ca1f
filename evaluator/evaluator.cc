#include "evaluator/evaluator.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <thread>

#include "common/checkpoint/checkpoint_state.h"
#include "common/core/logging.h"
#include "common/core/status_record.h"
#include "common/core/strcat.h"
#include "common/summary/event_writer.h"
#include "common/train/saved_model.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

}  // namespace

Evaluator::Evaluator(ModelFn model_fn, ModelParams params, InputFn input, EvaluatorOptions options)
    : params_(params),
      input_(std::move(input)),
      options_(std::move(options)),
      estimator_(model_fn, params, RunConfig{.model_dir = options_.model_dir, .tf_random_seed = options_.tf_random_seed},
                 {.gpu = options_.gpu, .env = options_.env}),
      model_fn_(std::move(model_fn)) {}

Evaluator::~Evaluator() = default;

bool Evaluator::SleepFor(double secs) {
  const auto until = Clock::now() + std::chrono::duration<double>(secs);
  while (Clock::now() < until) {
    if (options_.stop && options_.stop->load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !(options_.stop && options_.stop->load());
}

namespace {
constexpr int kExportsKept = 5;  // SavedModels under export/best, as TensorFlow's BestExporter keeps
}  // namespace

Status Evaluator::ExportBest(const std::string& checkpoint, int64_t step, float value) {
  const std::string dir = JoinPath(options_.model_dir, "export/best");
  RETURN_IF_ERROR(options_.env->CreateDirs(dir));
  ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data, input_());
  Example sample;
  ASSIGN_OR_RETURN(bool have, data->Next(&sample));
  if (!have) return InvalidArgumentError("the evaluation input is empty");
  ASSIGN_OR_RETURN(std::vector<std::string> outputs,
                   estimator_.ExportFrozenGraph(sample, checkpoint, JoinPath(dir, "frozen_graph.pb")));
  // The SavedModel (TensorFlow Serving's format) in a new export/best/<unix
  // seconds>/, the newest kExportsKept kept.  A model a SavedModel cannot
  // hold yet (dynamic embedding tables) keeps its frozen graph only.
  std::string saved_model;
  StatusOr<std::string> exported = estimator_.ExportSavedModel(sample, checkpoint, dir);
  if (exported.ok()) {
    saved_model = *exported;
    RETURN_IF_ERROR(PruneExports(dir, kExportsKept));
  } else {
    LOG(WARNING) << "no SavedModel of " << checkpoint << ": " << exported.status();
  }
  std::vector<std::string> quoted;
  for (const auto& o : outputs) quoted.push_back(JsonQuote(o));
  const std::string json = StrCat("{\"global_step\": ", step, ", \"checkpoint\": ", JsonQuote(checkpoint),
                                  ", \"metric\": ", JsonQuote(options_.eval.best_metric), ", \"value\": ",
                                  JsonNumber(value), ", \"outputs\": [", StrJoin(quoted, ", "),
                                  "], \"saved_model\": ", JsonQuote(saved_model), "}\n");
  RETURN_IF_ERROR(WriteStringToFileAtomic(options_.env, JoinPath(dir, "best.json"), json));
  LOG(INFO) << "Exported the best checkpoint so far (" << options_.eval.best_metric << " = " << value << " at global step "
            << step << ") to " << JoinPath(dir, "frozen_graph.pb")
            << (saved_model.empty() ? "" : StrCat(" and the SavedModel ", saved_model));
  return OkStatus();
}

Status Evaluator::EvaluateOne(const std::string& checkpoint, int64_t ckpt_step) {
  ASSIGN_OR_RETURN(EvalResult r, estimator_.Evaluate(input_, options_.eval.steps, checkpoint));
  // The global_step saved in the checkpoint (asynchronous workers may have
  // pushed between the chief naming it and the snapshot).
  const int64_t step = r.global_step;
  std::vector<std::string> parts;
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [name, v] : r.metrics) {
    parts.push_back(StrCat(name, " = ", v));
    scalars.emplace_back(name, v);
  }
  LOG(INFO) << "Saving dict for global step " << step << ": " << StrJoin(parts, ", ") << ", global_step = " << step;
  const std::string eval_dir = JoinPath(options_.model_dir, "eval");
  RETURN_IF_ERROR(options_.env->CreateDirs(eval_dir));
  if (!events_) {
    ASSIGN_OR_RETURN(events_, EventWriter::Create(options_.env, eval_dir));
  }
  RETURN_IF_ERROR(events_->WriteScalars(step, scalars));
  // One JSON line per evaluation.
  char wall[32];
  std::snprintf(wall, sizeof(wall), "%.3f", static_cast<double>(options_.env->NowMicros()) / 1e6);
  std::string line = StrCat("{\"global_step\": ", step, ", \"checkpoint\": ", JsonQuote(checkpoint), ", \"wall_time\": ", wall);
  for (const auto& [name, v] : r.metrics) line += StrCat(", ", JsonQuote(name), ": ", JsonNumber(v));
  line += "}\n";
  // Rewritten whole and renamed into place: a crash never leaves a torn line.
  const std::string metrics_file = JoinPath(eval_dir, "metrics.jsonl");
  std::string all;
  if (options_.env->FileExists(metrics_file)) {
    ASSIGN_OR_RETURN(all, ReadFileToString(options_.env, metrics_file));
  }
  if (!all.empty() && all.back() != '\n') all += '\n';
  RETURN_IF_ERROR(WriteStringToFileAtomic(options_.env, metrics_file, all + line)
                      .WithContext("appending the evaluation of ", checkpoint, " to ", metrics_file));
  if (options_.status_records) {
    StatusRecord rec{"eval", {{"step", StrCat(step)}}};
    for (const auto& [name, v] : r.metrics) rec.fields[name] = StrCat(v);
    EmitStatusRecord(rec);
  }
  done_[ckpt_step] = r.metrics;
  ++result_.evaluations;
  result_.last_global_step = step;
  result_.last_metrics = r.metrics;

  if (auto it = r.metrics.find(options_.eval.best_metric); it != r.metrics.end()) {
    if (!best_ || Better(it->second, *best_, options_.eval.best_higher_is_better)) {
      best_ = it->second;
      if (Status s = ExportBest(checkpoint, step, it->second); !s.ok()) LOG(WARNING) << "export of the best checkpoint failed: " << s;
    }
  }
  if (!options_.eval.early_stopping_metric.empty() && !stop_requested_after_) {
    auto it = r.metrics.find(options_.eval.early_stopping_metric);
    if (it == r.metrics.end()) {
      return InvalidArgumentError("eval.early_stopping metric '", options_.eval.early_stopping_metric,
                                  "' is not one of the evaluation's metrics (", StrJoin(parts, ", "), ")");
    }
    if (!early_best_ || Better(it->second, *early_best_, options_.eval.early_stopping_higher_is_better)) {
      early_best_ = it->second;
      since_improvement_ = 0;
    } else if (++since_improvement_ >= options_.eval.early_stopping_patience) {
      LOG(INFO) << "Early stopping: " << options_.eval.early_stopping_metric << " has not improved on " << *early_best_
                << " for " << since_improvement_ << " evaluations; asking the trainers to stop";
      if (options_.request_stop) RETURN_IF_ERROR(options_.request_stop());
      stop_requested_after_ = step;
      result_.stopped_early = true;
    }
  }
  return OkStatus();
}

StatusOr<EvaluatorResult> Evaluator::Run() {
  // What an earlier life of this evaluator already did.
  const std::string metrics_file = JoinPath(JoinPath(options_.model_dir, "eval"), "metrics.jsonl");
  std::string prev;
  if (options_.env->FileExists(metrics_file)) {
    ASSIGN_OR_RETURN(prev, ReadFileToString(options_.env, metrics_file));
  }
  std::istringstream lines(prev);
  std::string line;
  while (std::getline(lines, line)) {
    try {
      YAML::Node n = YAML::Load(line);
      const int64_t step = CheckpointStep(n["checkpoint"].as<std::string>());  // checkpoints are known by name
      auto& m = done_[step];
      for (const auto& kv : n) {
        const std::string k = kv.first.as<std::string>();
        if (k != "global_step" && k != "checkpoint" && k != "wall_time" && kv.second.IsScalar()) m[k] = kv.second.as<float>();
      }
      if (auto it = m.find(options_.eval.best_metric); it != m.end()) {
        if (!best_ || Better(it->second, *best_, options_.eval.best_higher_is_better)) best_ = it->second;
      }
    } catch (const YAML::Exception&) {
      LOG(WARNING) << "skipping a malformed line of metrics.jsonl: " << line;
    }
  }
  if (!done_.empty()) LOG(INFO) << done_.size() << " checkpoints were evaluated before; they are skipped";
  LOG(INFO) << "waiting " << options_.eval.start_delay_secs << " s (eval.start_delay_secs) before the first evaluation";
  // The delay ends early once the final checkpoint is there: nothing more
  // will come to wait for (an evaluator started after, or late in, training).
  const auto delay_end = Clock::now() + std::chrono::duration<double>(options_.eval.start_delay_secs);
  while (Clock::now() < delay_end) {
    ASSIGN_OR_RETURN(CheckpointCandidates candidates, ListCheckpointCandidates(options_.env, options_.model_dir));
    bool final_there = false;
    for (const std::string& c : candidates.prefixes) {
      final_there = final_there || (CheckpointStep(c) >= options_.train_steps && CheckpointComplete(options_.env, c).ok());
    }
    if (final_there) {
      LOG(INFO) << "the final checkpoint is there: the start delay ends";
      break;
    }
    const double left = std::chrono::duration<double>(delay_end - Clock::now()).count();
    if (!SleepFor(std::min(options_.poll_secs, std::max(left, 0.0)))) return result_;
  }
  if (options_.stop && options_.stop->load()) return result_;
  auto last_start = Clock::now() - std::chrono::hours(24);
  auto last_wait_log = Clock::now();
  auto last_new = Clock::now();  // when a checkpoint to evaluate was last seen
  while (!(options_.stop && options_.stop->load())) {
    // Newest first: every complete checkpoint not yet evaluated
    // (eval.every_checkpoint), or the newest complete one.  Incomplete ones
    // are skipped with one warning each (as LatestCheckpoint skips them):
    // the evaluator never waits on a checkpoint that cannot come.
    ASSIGN_OR_RETURN(CheckpointCandidates candidates, ListCheckpointCandidates(options_.env, options_.model_dir));
    std::vector<std::pair<std::string, int64_t>> todo;
    for (const std::string& c : candidates.prefixes) {
      const int64_t step = CheckpointStep(c);
      if (step < 0) continue;
      if (done_.count(step)) {
        if (!options_.eval.every_checkpoint) break;
        continue;
      }
      if (Status complete = CheckpointComplete(options_.env, c); !complete.ok()) {
        if (!IsNotFoundError(complete) && !IsDataLossError(complete)) return complete;
        if (warned_.insert(c).second) {
          LOG(WARNING) << "checkpoint " << c << " cannot be evaluated (" << complete.message()
                       << "); the evaluator goes on with the newest complete one";
        }
        continue;
      }
      todo.emplace_back(c, step);
      if (!options_.eval.every_checkpoint) break;
    }
    std::sort(todo.begin(), todo.end(), [](const auto& a, const auto& b) { return a.second < b.second; });  // oldest first
    if (!todo.empty()) last_new = Clock::now();
    const bool final_available = !todo.empty() && (todo.back().second >= options_.train_steps ||
                                                    (stop_requested_after_ && todo.back().second > *stop_requested_after_));
    const double since = std::chrono::duration<double>(Clock::now() - last_start).count();
    if (todo.empty() || (!final_available && since < options_.eval.throttle_secs)) {
      // Everything is evaluated: done when the last one was final.
      if (!done_.empty()) {
        const int64_t last = done_.rbegin()->first;
        if (last >= options_.train_steps || (stop_requested_after_ && last > *stop_requested_after_)) break;
      }
      const double idle = std::chrono::duration<double>(Clock::now() - last_new).count();
      const std::string waiting_for =
          StrCat("a new checkpoint in ", options_.model_dir, " (the final one is at global_step ", options_.train_steps,
                 "; the last evaluated is ", done_.empty() ? std::string("none") : StrCat("at step ", done_.rbegin()->first), ")");
      const double timeout = options_.eval.timeout_secs.value_or(0);
      if (timeout > 0 && idle > timeout) {
        return DeadlineExceededError("the evaluator waited ", static_cast<int64_t>(idle), " s (eval.timeout_secs) for ",
                                     waiting_for, "; is the chief still training?");
      }
      if (std::chrono::duration<double>(Clock::now() - last_wait_log).count() > 60) {
        LOG(INFO) << "waiting for " << waiting_for << " for " << static_cast<int64_t>(idle) << " s"
                  << (timeout > 0 ? StrCat(", giving up after ", timeout, " s (eval.timeout_secs)") : "");
        last_wait_log = Clock::now();
      }
      if (!SleepFor(options_.poll_secs)) break;
      continue;
    }
    last_start = Clock::now();
    for (const auto& [c, step] : todo) {
      Status s = EvaluateOne(c, step);
      if (IsNotFoundError(s) || IsDataLossError(s)) {
        // Retention may delete a checkpoint while it is read; the next one will do.
        LOG(WARNING) << "could not evaluate " << c << ": " << s;
        done_[step] = {};
        continue;
      }
      RETURN_IF_ERROR(s);
    }
    last_new = Clock::now();  // a long evaluation is not time without checkpoints
  }
  return result_;
}

}  // namespace psflow
