#include "common/core/fault_point.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>


#include "common/core/logging.h"
#include "common/core/testing.h"

namespace psflow {
namespace {

// PSFLOW_FAULT is read once per process, so each case runs in a death
// test's child, which sets it before its first FaultPoint.
TEST(FaultPointDeathTest, KillsTheNamedTaskAtTheNthHit) {
  EXPECT_EXIT(
      {
        SetLogIdentity("chief", 0);
        ::setenv("PSFLOW_FAULT", "ps:0/a,chief:0/b@3", 1);
        FaultPoint("a");  // another task's point
        FaultPoint("b");
        FaultPoint("b");
        FaultPoint("b");
        ::_exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "");
}

TEST(FaultPointDeathTest, UnarmedPointsPass) {
  EXPECT_EXIT(
      {
        SetLogIdentity("worker", 1);
        ::setenv("PSFLOW_FAULT", "worker:0/a,worker:1/b", 1);
        FaultPoint("a");
        FaultPoint("c");
        ::_exit(3);
      },
      ::testing::ExitedWithCode(3), "");
}

TEST(FaultPointDeathTest, AMarkStopsALaterIncarnation) {
  const std::string marks = testing::FreshTempDir("fault_marks");
  EXPECT_EXIT(
      {
        SetLogIdentity("ps", 1);
        ::setenv("PSFLOW_FAULT", "ps:1/save", 1);
        ::setenv("PSFLOW_FAULT_MARKS", marks.c_str(), 1);
        FaultPoint("save");
        ::_exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EQ(::access((marks + "/ps:1.save").c_str(), F_OK), 0);
  EXPECT_EXIT(
      {
        SetLogIdentity("ps", 1);
        ::setenv("PSFLOW_FAULT", "ps:1/save", 1);
        ::setenv("PSFLOW_FAULT_MARKS", marks.c_str(), 1);
        FaultPoint("save");  // the mark of the first incarnation
        ::_exit(4);
      },
      ::testing::ExitedWithCode(4), "");
}

}  // namespace
}  // namespace psflow
