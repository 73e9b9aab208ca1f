#include "common/data/idx.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "common/core/testing.h"
#include "common/core/env.h"

namespace psflow {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Idx(std::vector<int> dims, int fill_count) {
  std::string s = {0, 0, 8, static_cast<char>(dims.size())};
  for (int d : dims) {
    s.push_back(static_cast<char>(d >> 24));
    s.push_back(static_cast<char>(d >> 16));
    s.push_back(static_cast<char>(d >> 8));
    s.push_back(static_cast<char>(d));
  }
  for (int i = 0; i < fill_count; ++i) s.push_back(static_cast<char>(i));
  return s;
}

TEST(IdxTest, ReadsPlainAndGzippedFiles) {
  const std::string dir = testing::FreshTempDir("idx");
  const std::string plain = dir + "/a-idx3-ubyte", gz = dir + "/a-idx3-ubyte.gz";
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), plain, Idx({2, 3, 4}, 24)).ok());
  gzFile f = gzopen(gz.c_str(), "wb");
  const std::string body = Idx({2, 3, 4}, 24);
  gzwrite(f, body.data(), static_cast<unsigned>(body.size()));
  gzclose(f);
  for (const std::string& p : {plain, gz}) {
    auto a = ReadIdxFile(p);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_THAT(a->dims, ElementsAre(2, 3, 4));
    EXPECT_EQ(a->data.size(), 24u);
    EXPECT_EQ(a->data[23], 23);
  }
}

TEST(IdxTest, BadFilesGiveErrorsNamingThem) {
  const std::string dir = testing::FreshTempDir("bad");
  const std::string trunc = dir + "/trunc", magic = dir + "/magic";
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), trunc, Idx({10, 10}, 50)).ok());
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), magic, "GIF89a....").ok());
  auto a = ReadIdxFile(trunc);
  EXPECT_TRUE(IsDataLossError(a.status()));
  EXPECT_THAT(a.status().message(), HasSubstr(trunc));
  EXPECT_THAT(a.status().message(), HasSubstr("truncated"));
  auto b = ReadIdxFile(magic);
  EXPECT_THAT(b.status().message(), HasSubstr("not an IDX file"));
  auto c = ReadIdxFile(dir + "/missing.gz");
  EXPECT_TRUE(IsNotFoundError(c.status()));
  EXPECT_THAT(c.status().message(), HasSubstr("missing.gz"));
}

// Headers that declare more than the file holds (found by fuzz/idx_fuzz):
// four large dimensions are refused without overflowing, and 400 MiB
// declared in a 30-byte file is "truncated" without allocating 400 MiB.
TEST(IdxTest, HeadersDeclaringMoreThanTheFileAreRefusedCheaply) {
  const std::string dir = testing::FreshTempDir("lying");
  const std::string huge = dir + "/huge", big = dir + "/big";
  std::string h = {0, 0, 8, 4};
  h += std::string(16, '\xff');
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), huge, h).ok());
  auto a = ReadIdxFile(huge);
  EXPECT_TRUE(IsDataLossError(a.status()));
  EXPECT_THAT(a.status().message(), HasSubstr("absurd size"));
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), big, Idx({20000, 20000}, 22)).ok());
  auto b = ReadIdxFile(big);
  EXPECT_THAT(b.status().message(), HasSubstr("truncated: the header declares 400000000 bytes"));
}

}  // namespace
}  // namespace psflow
