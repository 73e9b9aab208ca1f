#include "common/core/status_record.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow {
namespace {

TEST(StatusRecordTest, RoundTripsFieldsWithSpacesAndEquals) {
  StatusRecord r{"checkpoint", {{"step", "120"}, {"path", "/data/my runs/a=b%/model.ckpt-120"}}};
  const std::string line = FormatStatusRecord(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind("@psflow-record checkpoint ", 0), 0u) << line;
  auto back = ParseStatusRecord(line);
  ASSERT_TRUE(back.has_value()) << line;
  EXPECT_EQ(back->kind, "checkpoint");
  EXPECT_EQ(back->Field("path"), "/data/my runs/a=b%/model.ckpt-120");
  EXPECT_EQ(back->Number("step"), 120.0);
  EXPECT_FALSE(back->Number("path").has_value());  // not a number
  EXPECT_FALSE(back->Number("absent").has_value());
  EXPECT_EQ(back->Field("absent"), "");
}

TEST(StatusRecordTest, OtherLinesAndBrokenRecordsAreNotRecords) {
  EXPECT_FALSE(ParseStatusRecord("I1202 chief:0 trainer.cc:1] loss = 0.5, step = 3").has_value());
  EXPECT_FALSE(ParseStatusRecord("@psflow-record").has_value());
  EXPECT_FALSE(ParseStatusRecord("@psflow-record ").has_value());         // no kind
  EXPECT_FALSE(ParseStatusRecord("@psflow-record step loss").has_value()); // no '='
  EXPECT_FALSE(ParseStatusRecord("@psflow-record step =1").has_value());   // no key
  EXPECT_FALSE(ParseStatusRecord("@psflow-record step p=%4").has_value()); // cut-off escape
  EXPECT_FALSE(ParseStatusRecord("@psflow-record step p=%zz").has_value());
  auto ok = ParseStatusRecord("@psflow-record step  step=7 loss=nan\r");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->Number("step"), 7.0);
  EXPECT_TRUE(std::isnan(*ok->Number("loss")));
}

}  // namespace
}  // namespace psflow
