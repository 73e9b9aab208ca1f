#include "common/core/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow {
namespace {

using ::testing::HasSubstr;

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd value ", x);
  return x / 2;
}

Status Quarter(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(*out, Half(h));
  return OkStatus();
}

TEST(StatusTest, OkIsDefaultAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = NotFoundError("Key ", "w", " not found in checkpoint");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(IsNotFoundError(s));
  EXPECT_FALSE(IsDataLossError(s));
  EXPECT_EQ(s.ToString(), "NOT_FOUND: Key w not found in checkpoint");
}

TEST(StatusTest, PayloadsSurviveContextAndAreReplacedByKey) {
  Status s = FailedPreconditionError("no").WithPayload("psflow.a", "1").WithPayload("psflow.b", "2");
  s = s.WithContext("restoring").WithPayload("psflow.a", "3");
  EXPECT_EQ(s.message(), "restoring: no");
  EXPECT_EQ(s.GetPayload("psflow.a"), "3");
  EXPECT_EQ(s.GetPayload("psflow.b"), "2");
  EXPECT_FALSE(s.GetPayload("psflow.c").has_value());
  EXPECT_FALSE(FailedPreconditionError("no").GetPayload("psflow.a").has_value());
  EXPECT_TRUE(OkStatus().WithPayload("psflow.a", "1").ok());  // OK carries none
  EXPECT_FALSE(OkStatus().WithPayload("psflow.a", "1").GetPayload("psflow.a").has_value());
}

TEST(StatusTest, WithContextKeepsCodeAndPrefixesMessage) {
  Status s = DataLossError("bad crc").WithContext("reading ", "/tmp/x.index");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "reading /tmp/x.index: bad crc");
  EXPECT_TRUE(OkStatus().WithContext("ignored").ok());
}

TEST(StatusTest, AssignOrReturnPropagatesFirstError) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Quarter(6, &out);  // 6/2 = 3 is odd
  EXPECT_TRUE(IsInvalidArgumentError(s));
  EXPECT_THAT(s.message(), HasSubstr("odd value 3"));
}

TEST(StatusTest, StatusOrFromOkStatusIsAnInternalError) {
  StatusOr<int> v = OkStatus();
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInternal);
}

struct ErrnoCase {
  int err;
  StatusCode code;
};

TEST(StatusTest, ErrnoToStatusMapsCanonicalCodesAndNamesTheFile) {
  const ErrnoCase cases[] = {
      {ENOENT, StatusCode::kNotFound},        {EACCES, StatusCode::kPermissionDenied},
      {ENOSPC, StatusCode::kResourceExhausted}, {EEXIST, StatusCode::kAlreadyExists},
      {ECONNREFUSED, StatusCode::kUnavailable}, {ETIMEDOUT, StatusCode::kDeadlineExceeded},
      {EINVAL, StatusCode::kInvalidArgument},
  };
  for (const auto& c : cases) {
    Status s = ErrnoToStatus(c.err, "open /data/x");
    EXPECT_EQ(s.code(), c.code) << c.err;
    EXPECT_THAT(s.message(), HasSubstr("open /data/x: ")) << c.err;
  }
  EXPECT_TRUE(ErrnoToStatus(0, "x").ok());
}

TEST(StatusTest, CEscapeShowsNonPrintableBytes) {
  EXPECT_EQ(CEscape(std::string("a\0b\xff", 4)), "a\\x00b\\xff");
  EXPECT_EQ(JsonQuote(std::string("a\"b\\c\0\x01\xff", 8)), "\"a\\\"b\\\\c\\u0000\\u0001\\u00ff\"");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab", 3)), "0001ab");
}

}  // namespace
}  // namespace psflow
