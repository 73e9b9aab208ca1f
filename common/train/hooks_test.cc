#include "common/train/hooks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "common/core/status_record.h"
#include "common/core/testing.h"
#include "common/summary/event_writer.h"
#include "common/train/train_testing.h"

namespace psflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SecondOrStepTimerTest, StepsTriggerFirstThenEveryN) {
  SecondOrStepTimer t = SecondOrStepTimer::EverySteps(10);
  EXPECT_TRUE(t.ShouldTrigger(3));  // never triggered yet
  t.Update(3);
  EXPECT_FALSE(t.ShouldTrigger(3));
  EXPECT_FALSE(t.ShouldTrigger(12));
  EXPECT_TRUE(t.ShouldTrigger(13));
  EXPECT_TRUE(t.ShouldTrigger(40));  // a jump (other workers' steps) counts
  EXPECT_EQ(t.last_step(), 3);
}

TEST(SecondOrStepTimerTest, SecondsFromTheConfig) {
  RunConfig hourly{.model_dir = "m", .save_checkpoints_secs = 3600};
  SecondOrStepTimer t = SecondOrStepTimer::ForCheckpoints(hourly);
  t.Update(0);
  EXPECT_FALSE(t.ShouldTrigger(1000000));  // steps do not matter, seconds do
  SecondOrStepTimer always = SecondOrStepTimer::EverySecs(0);
  always.Update(0);
  EXPECT_FALSE(always.ShouldTrigger(0));  // the same step twice: never
  EXPECT_TRUE(always.ShouldTrigger(1));
  RunConfig by_steps{.model_dir = "m", .save_checkpoints_steps = 5};
  SecondOrStepTimer s = SecondOrStepTimer::ForCheckpoints(by_steps);
  s.Update(0);
  EXPECT_FALSE(s.ShouldTrigger(4));
  EXPECT_TRUE(s.ShouldTrigger(5));
}

TEST(HooksTest, StopAtStepStopsBeforeTheFirstStepWhenReached) {
  auto h = StopAtStepHook(10);
  bool stop = false;
  ASSERT_TRUE(h->Begin(9, &stop).ok());
  EXPECT_FALSE(stop);
  ASSERT_TRUE(h->AfterRun({.global_step = 9}, &stop).ok());
  EXPECT_FALSE(stop);
  ASSERT_TRUE(h->AfterRun({.global_step = 11}, &stop).ok());
  EXPECT_TRUE(stop);
  stop = false;
  ASSERT_TRUE(StopAtStepHook(10)->Begin(10, &stop).ok());
  EXPECT_TRUE(stop);
}

// The save rule both training loops share: at the start, when due, at the
// end unless already saved there.
TEST(HooksTest, CheckpointSaverSavesAtStartEveryNAndAtTheEnd) {
  std::vector<int64_t> saved;
  std::string last;
  auto h = CheckpointSaverHook(RunConfig{.model_dir = "m", .save_checkpoints_steps = 3},
                               [&](int64_t s) -> StatusOr<std::string> {
                                 saved.push_back(s);
                                 return StrCat("m/model.ckpt-", s);
                               },
                               nullptr, &last);
  bool stop = false;
  ASSERT_TRUE(h->Begin(0, &stop).ok());
  for (int64_t s = 1; s <= 7; ++s) ASSERT_TRUE(h->AfterRun({.global_step = s, .local_step = s}, &stop).ok());
  ASSERT_TRUE(h->End(7).ok());
  EXPECT_THAT(saved, ElementsAre(0, 3, 6, 7));
  EXPECT_EQ(last, "m/model.ckpt-7");
  ASSERT_TRUE(h->End(7).ok());  // step 7 is saved: not again
  EXPECT_EQ(saved.size(), 4u);
}

TEST(HooksTest, CheckpointSaverPassesTheSaveError) {
  auto h = CheckpointSaverHook(RunConfig{.model_dir = "m"}, [](int64_t) -> StatusOr<std::string> {
    return UnavailableError("ps:1 is gone");
  });
  bool stop = false;
  Status s = h->Begin(0, &stop);
  EXPECT_TRUE(IsUnavailableError(s));
  EXPECT_THAT(s.message(), HasSubstr("ps:1"));
}

TEST(HooksTest, SummarySaverWritesStartAndScalarsEveryNGlobalSteps) {
  const std::string dir = testing::FreshTempDir("summary_hook");
  auto w = EventWriter::Create(Env::Default(), dir);
  ASSERT_TRUE(w.ok()) << w.status();
  auto h = SummarySaverHook(w->get(), 4, 0.5);
  bool stop = false;
  ASSERT_TRUE(h->Begin(2, &stop).ok());
  for (int64_t s = 3; s <= 11; ++s) {
    ASSERT_TRUE(h->AfterRun({.global_step = s, .local_step = s - 2, .loss = static_cast<float>(s)}, &stop).ok());
  }
  ASSERT_TRUE(h->End(11).ok());
  std::vector<int64_t> scalar_steps;
  int starts = 0;
  for (const auto& e : testing::ReadEvents(dir)) {
    if (e.has_session_log() && e.session_log().status() == tensorflow::SessionLog::START) ++starts;
    if (!e.has_summary()) continue;
    scalar_steps.push_back(e.step());
    std::map<std::string, float> v;
    for (const auto& val : e.summary().value()) v[val.tag()] = val.simple_value();
    EXPECT_EQ(v["loss"], static_cast<float>(e.step()));
    EXPECT_EQ(v["learning_rate"], 0.5f);
    EXPECT_GT(v["global_step/sec"], 0.f);
  }
  EXPECT_EQ(starts, 1);
  EXPECT_THAT(scalar_steps, ElementsAre(6, 10));
}

// TensorFlow's cadence: the first step of the loop, then every n of its
// steps (a resumed run logs at its first step too); each line also as a
// status record when asked.
TEST(HooksTest, LoggingReportsTheFirstStepAndEveryNthAsRecords) {
  auto h = LoggingHook(2, "worker:0: ", /*status_records=*/true);
  bool stop = false;
  ASSERT_TRUE(h->Begin(10, &stop).ok());
  ::testing::internal::CaptureStderr();
  for (int64_t local = 1; local <= 5; ++local) {
    ASSERT_TRUE(h->AfterRun({.global_step = 10 + local, .local_step = local, .loss = 0.25f, .batch_size = 4}, &stop).ok());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  std::vector<int64_t> steps;
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    auto r = ParseStatusRecord(line);
    if (!r) continue;
    EXPECT_EQ(r->kind, "step");
    EXPECT_EQ(r->Number("loss"), 0.25);
    EXPECT_GT(*r->Number("steps_per_sec"), 0);
    steps.push_back(static_cast<int64_t>(*r->Number("step")));
  }
  EXPECT_THAT(steps, ElementsAre(11, 12, 14));
}

TEST(HooksTest, ProfilerTracesEveryNthLocalStepIntoAFileNamedAfterTheTask) {
  const std::string dir = JoinPath(testing::FreshTempDir("profiler_hook"), "profile");
  auto h = ProfilerHook(2, Env::Default(), dir, "worker:3");
  std::vector<bool> asked;
  for (int64_t local = 1; local <= 4; ++local) {
    StepRequest r;
    h->BeforeRun(local, &r);
    asked.push_back(r.trace);
  }
  EXPECT_THAT(asked, ElementsAre(false, true, false, true));
  std::vector<TraceEvent> trace = {{"pull", "rpc", 10, 5}, {"dnn/MatMul", "MatMul", 15, 7}};
  bool stop = false;
  ASSERT_TRUE(h->AfterRun({.global_step = 40, .local_step = 2, .trace = &trace}, &stop).ok());
  ASSERT_TRUE(h->AfterRun({.global_step = 41, .local_step = 3}, &stop).ok());  // no trace: no file
  auto files = Env::Default()->GetChildren(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ElementsAre("worker-3-step-40.trace.json"));
  auto json = ReadFileToString(Env::Default(), JoinPath(dir, "worker-3-step-40.trace.json"));
  ASSERT_TRUE(json.ok());
  EXPECT_THAT(*json, HasSubstr("dnn/MatMul"));
  EXPECT_THAT(*json, HasSubstr("worker:3"));
}

TEST(HooksTest, HookListRunsInOrderAndStopsAtTheFirstError) {
  std::vector<std::string> calls;
  struct Recorder : SessionRunHook {
    Recorder(std::vector<std::string>* c, std::string n, bool fail) : calls(c), name(std::move(n)), fail(fail) {}
    Status AfterRun(const StepInfo&, bool*) override {
      calls->push_back(name);
      return fail ? InternalError(name, " failed") : OkStatus();
    }
    std::vector<std::string>* calls;
    std::string name;
    bool fail;
  };
  HookList list;
  list.Add(std::make_unique<Recorder>(&calls, "a", false));
  list.Add(std::make_unique<Recorder>(&calls, "b", true));
  list.Add(std::make_unique<Recorder>(&calls, "c", false));
  bool stop = false;
  Status s = list.AfterRun({.global_step = 1}, &stop);
  EXPECT_THAT(s.message(), HasSubstr("b failed"));
  EXPECT_THAT(calls, ElementsAre("a", "b"));
}

TEST(RunConfigTest, CheckNamesTheKey) {
  EXPECT_TRUE(RunConfig{.model_dir = "m"}.Check().ok());
  EXPECT_THAT(RunConfig{}.Check().message(), HasSubstr("run.model_dir"));
  EXPECT_THAT((RunConfig{.model_dir = "m", .save_checkpoints_steps = 5, .save_checkpoints_secs = 5}.Check().message()),
              HasSubstr("not both"));
  EXPECT_THAT((RunConfig{.model_dir = "m", .log_step_count_steps = 0}.Check().message()),
              HasSubstr("run.log_step_count_steps"));
  EXPECT_EQ(RunConfig{}.save_summary_steps, 100);  // TensorFlow's default, for every loop
}

}  // namespace
}  // namespace psflow
