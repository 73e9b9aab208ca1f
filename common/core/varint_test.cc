#include "common/core/varint.h"

#include <gtest/gtest.h>

#include <limits>

namespace psflow {
namespace {

TEST(VarintTest, RoundTripsEdgeValuesWithTheirLengths) {
  const struct {
    uint64_t v;
    size_t bytes;
  } cases[] = {{0, 1}, {127, 1}, {128, 2}, {300, 2}, {16383, 2}, {16384, 3},
               {uint64_t{1} << 63, 10}, {std::numeric_limits<uint64_t>::max(), 10}};
  for (const auto& c : cases) {
    std::string s;
    PutVarint64(&s, c.v);
    EXPECT_EQ(s.size(), c.bytes) << c.v;
    s += "rest";
    std::string_view in = s;
    uint64_t got = 0;
    ASSERT_TRUE(GetVarint64(&in, &got)) << c.v;
    EXPECT_EQ(got, c.v);
    EXPECT_EQ(in, "rest");
  }
  std::string s;
  PutVarint64(&s, 300);
  EXPECT_EQ(s, "\xac\x02");  // protobuf's encoding
}

TEST(VarintTest, TruncatedAndOverlongAreRefused) {
  uint64_t v;
  std::string_view cut = "\x80\x80";  // continues past the end
  EXPECT_FALSE(GetVarint64(&cut, &v));
  const std::string eleven(11, '\x80');  // more than 10 bytes
  std::string_view overlong = eleven;
  EXPECT_FALSE(GetVarint64(&overlong, &v));
  std::string_view empty;
  EXPECT_FALSE(GetVarint64(&empty, &v));
}

}  // namespace
}  // namespace psflow
