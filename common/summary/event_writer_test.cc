#include "common/summary/event_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/core/crc32c.h"
#include "common/core/strcat.h"
#include "common/core/testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string OnlyEventFile(const std::string& dir) {
  auto children = Env::Default()->GetChildren(dir);
  EXPECT_TRUE(children.ok());
  EXPECT_EQ(children->size(), 1u);
  return JoinPath(dir, children->at(0));
}

TEST(EventWriterTest, GoldenBytesFromTensorBoard) {
  // The file_version event and its data crc (FORMATS.md, from TensorBoard's tests).
  tensorflow::Event v;
  v.set_wall_time(1599759586.0);
  v.set_file_version("brain.Event:2");
  const std::string vb = v.SerializeAsString();
  EXPECT_EQ(vb, Bytes({0x09, 0x00, 0x00, 0x80, 0x38, 0x99, 0xd6, 0xd7, 0x41, 0x1a, 0x0d}) + "brain.Event:2");
  EXPECT_EQ(crc32c::Mask(crc32c::Value(vb.data(), vb.size())), 0xab364b12u);
  // A scalar event written through the writer, as a whole record.
  const std::string dir = testing::FreshTempDir("golden");
  auto w = EventWriter::Create(Env::Default(), dir);
  ASSERT_TRUE(w.ok()) << w.status();
  tensorflow::Event e;
  e.set_wall_time(1700000000.25);
  e.set_step(77);
  auto* value = e.mutable_summary()->add_value();
  value->set_tag("loss");
  value->set_simple_value(0.5f);
  ASSERT_TRUE((*w)->WriteEvent(e).ok());
  const std::string file = ReadAll((*w)->path());
  const std::string payload = Bytes({0x09, 0x00, 0x00, 0x10, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x10, 0x4d, 0x2a, 0x0d, 0x0a,
                                     0x0b, 0x0a, 0x04, 0x6c, 0x6f, 0x73, 0x73, 0x15, 0x00, 0x00, 0x00, 0x3f});
  const std::string record = Bytes({0x1a, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x9b, 0xd8, 0x2d}) + payload + Bytes({0x0b, 0x4d, 0xe8, 0xf4});
  ASSERT_GE(file.size(), record.size());
  EXPECT_EQ(file.substr(file.size() - record.size()), record);
}

TEST(EventWriterTest, FileNameFirstEventAndRoundTrip) {
  EXPECT_EQ(EventFileName(1700000000, "host"), "events.out.tfevents.1700000000.host");
  EXPECT_EQ(EventFileName(99, "h", ".v2"), "events.out.tfevents.0000000099.h.v2");
  const std::string dir = testing::FreshTempDir("roundtrip") + "/eval";
  {
    auto w = EventWriter::Create(Env::Default(), dir);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_THAT((*w)->path(), HasSubstr("/eval/events.out.tfevents."));
    ASSERT_TRUE((*w)->WriteSessionLog(tensorflow::SessionLog::START, 0, "").ok());
    for (int step = 0; step < 5; ++step) {
      ASSERT_TRUE((*w)->WriteScalars(step * 10, {{"loss", 1.0 / (step + 1)}, {"accuracy", 0.5 + step * 0.1}}).ok());
    }
    ASSERT_TRUE((*w)->WriteSessionLog(tensorflow::SessionLog::CHECKPOINT, 40, "/m/model.ckpt-40").ok());
    // Readers see every write at once (flushed), before Close.
    auto seen = ReadEventFile(Env::Default(), (*w)->path());
    ASSERT_TRUE(seen.ok()) << seen.status();
    EXPECT_EQ(seen->size(), 8u);
  }
  auto events = ReadEventFile(Env::Default(), OnlyEventFile(dir));
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 8u);
  EXPECT_EQ((*events)[0].file_version(), "brain.Event:2");
  EXPECT_EQ((*events)[0].wall_time(), std::floor((*events)[0].wall_time()));  // whole seconds
  EXPECT_EQ((*events)[1].session_log().status(), tensorflow::SessionLog::START);
  EXPECT_EQ((*events)[7].session_log().checkpoint_path(), "/m/model.ckpt-40");
  EXPECT_GT((*events)[2].wall_time(), 1.6e9);
  auto scalars = ReadScalars(Env::Default(), dir);
  ASSERT_TRUE(scalars.ok());
  ASSERT_EQ(scalars->at("loss").size(), 5u);
  EXPECT_EQ(scalars->at("loss")[3], (std::pair<int64_t, double>{30, 0.25}));
  EXPECT_FLOAT_EQ(static_cast<float>(scalars->at("accuracy")[4].second), 0.9f);
}

TEST(EventWriterTest, CorruptionIsNamedAndATruncatedTailIsTolerated) {
  const std::string dir = testing::FreshTempDir("corrupt");
  std::string path;
  {
    auto w = EventWriter::Create(Env::Default(), dir);
    ASSERT_TRUE(w.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->WriteScalar("loss", i, i).ok());
    path = (*w)->path();
  }
  const std::string good = ReadAll(path);
  // Cut in the middle of the last record: a writer at work; the rest reads.
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), path, good.substr(0, good.size() - 5)).ok());
  auto partial = ReadEventFile(Env::Default(), path);
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(partial->size(), 3u);
  // A flipped byte in record 2's data: an error naming the file and the record.
  std::string bad = good;
  const size_t second_record = 12 + 4 + static_cast<size_t>(static_cast<unsigned char>(good[0])) + 4;
  bad[second_record + 12 + 3] ^= 0x40;
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), path, bad).ok());
  auto broken = ReadEventFile(Env::Default(), path);
  EXPECT_TRUE(IsDataLossError(broken.status())) << broken.status();
  EXPECT_THAT(broken.status().message(), HasSubstr(path));
  EXPECT_THAT(broken.status().message(), HasSubstr("record 1"));
  EXPECT_FALSE(ReadScalars(Env::Default(), dir).ok());
}

}  // namespace
}  // namespace psflow
