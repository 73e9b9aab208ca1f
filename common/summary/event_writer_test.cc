#include "common/summary/event_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>
#include <thread>

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

TEST(EventWriterTest, FileNamePatternSuffixAndFirstEvent) {
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  const std::string dir = testing::FreshTempDir("pattern");
  const auto before = std::chrono::system_clock::now();
  auto w = EventWriter::Create(Env::Default(), dir, ".eval");
  ASSERT_TRUE(w.ok()) << w.status();
  const std::string base = (*w)->path().substr(dir.size() + 1);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(base, m, std::regex(R"(events\.out\.tfevents\.(\d{10})\.(.+)\.eval)"))) << base;
  EXPECT_EQ(m[2].str(), host);
  const int64_t secs = std::stoll(m[1].str());
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_GE(secs, now);
  EXPECT_LE(secs, now + 5);
  // The first event is on disk before any other write (flushed by Create).
  auto events = ReadEventFile(Env::Default(), (*w)->path());
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].file_version(), "brain.Event:2");
  EXPECT_EQ((*events)[0].source_metadata().writer(), "psflow");
  EXPECT_EQ((*events)[0].wall_time(), static_cast<double>(secs));
  // A second writer in the same second gets a file of its own.
  auto w2 = EventWriter::Create(Env::Default(), dir, ".eval");
  ASSERT_TRUE(w2.ok()) << w2.status();
  EXPECT_NE((*w2)->path(), (*w)->path());
}

TEST(EventWriterTest, WallTimeIsNeverNaNAndClosedWritersFail) {
  const std::string dir = testing::FreshTempDir("walltime");
  auto w = EventWriter::Create(Env::Default(), dir);
  ASSERT_TRUE(w.ok());
  tensorflow::Event e;
  e.set_wall_time(std::numeric_limits<double>::quiet_NaN());
  e.set_step(3);
  e.mutable_session_log()->set_status(tensorflow::SessionLog::STOP);
  ASSERT_TRUE((*w)->WriteEvent(e).ok());
  ASSERT_TRUE((*w)->WriteScalar("x", 4, 2.5).ok());
  EXPECT_TRUE((*w)->Flush().ok());
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_TRUE((*w)->Close().ok());
  const Status late = (*w)->WriteScalar("x", 5, 1.0);
  EXPECT_TRUE(IsFailedPreconditionError(late)) << late;
  EXPECT_THAT(late.message(), HasSubstr((*w)->path()));
  auto events = ReadEventFile(Env::Default(), (*w)->path());
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 3u);
  const double first = (*events)[0].wall_time();
  for (int i = 1; i < 3; ++i) {
    EXPECT_TRUE(std::isfinite((*events)[i].wall_time()));
    EXPECT_GE((*events)[i].wall_time(), first);
    EXPECT_LT((*events)[i].wall_time(), first + 60);
  }
  EXPECT_EQ((*events)[1].session_log().status(), tensorflow::SessionLog::STOP);
  EXPECT_EQ((*events)[2].summary().value(0).simple_value(), 2.5f);
}

TEST(EventWriterTest, ConcurrentWritersLoseNothing) {
  const std::string dir = testing::FreshTempDir("threads");
  auto w = EventWriter::Create(Env::Default(), dir);
  ASSERT_TRUE(w.ok());
  constexpr int kThreads = 4, kSteps = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int s = 0; s < kSteps; ++s) EXPECT_TRUE((*w)->WriteScalar(StrCat("t", t), s, s * 0.5).ok());
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*w)->Close().ok());
  auto scalars = ReadScalars(Env::Default(), dir);
  ASSERT_TRUE(scalars.ok()) << scalars.status();
  ASSERT_EQ(scalars->size(), static_cast<size_t>(kThreads));
  for (int t = 0; t < kThreads; ++t) {
    const auto& points = scalars->at(StrCat("t", t));
    ASSERT_EQ(points.size(), static_cast<size_t>(kSteps));
    for (int s = 0; s < kSteps; ++s) EXPECT_EQ(points[s], (std::pair<int64_t, double>{s, s * 0.5}));
  }
}

TEST(EventWriterTest, ReadScalarsTakesEventFilesInNameOrder) {
  // Eight event files created last-first: a directory listing seldom comes
  // back sorted, so reading in listing order would scramble the steps.
  constexpr int kFiles = 8;
  const std::string src = testing::FreshTempDir("order_src");
  const std::string dir = testing::FreshTempDir("order");
  for (int part = kFiles - 1; part >= 0; --part) {
    auto w = EventWriter::Create(Env::Default(), JoinPath(src, StrCat(part)));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteScalar("loss", part * 10, part + 1.0).ok());
    ASSERT_TRUE((*w)->Close().ok());
    const std::string name = EventFileName(1700000000 + part, "h");
    ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), JoinPath(dir, name), ReadAll((*w)->path())).ok());
  }
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), JoinPath(dir, "checkpoint"), "not an event file").ok());
  auto scalars = ReadScalars(Env::Default(), dir);
  ASSERT_TRUE(scalars.ok()) << scalars.status();
  ASSERT_EQ(scalars->size(), 1u);
  std::vector<std::pair<int64_t, double>> want;
  for (int part = 0; part < kFiles; ++part) want.emplace_back(part * 10, part + 1.0);
  EXPECT_EQ(scalars->at("loss"), want);
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

TEST(EventWriterTest, EveryCutInsideTheLastRecordIsTolerated) {
  const std::string dir = testing::FreshTempDir("cuts");
  std::string path;
  {
    auto w = EventWriter::Create(Env::Default(), dir);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteScalar("loss", 1, 0.25).ok());
    ASSERT_TRUE((*w)->WriteScalar("loss", 2, 0.125).ok());
    path = (*w)->path();
  }
  const std::string good = ReadAll(path);
  auto all = ReadEventFile(Env::Default(), path);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  const size_t last_len = (*all)[2].SerializeAsString().size();
  const size_t last_start = good.size() - (12 + last_len + 4);
  for (size_t cut = last_start; cut < good.size(); ++cut) {
    ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), path, good.substr(0, cut)).ok());
    auto events = ReadEventFile(Env::Default(), path);
    ASSERT_TRUE(events.ok()) << "cut at " << cut << ": " << events.status();
    EXPECT_EQ(events->size(), 2u) << "cut at " << cut;
  }
  // A whole header with a bad length checksum is damage, not a writer at work.
  std::string bad_header = good.substr(0, last_start + 12);
  bad_header[last_start + 9] ^= 0x01;
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), path, bad_header).ok());
  auto broken = ReadEventFile(Env::Default(), path);
  EXPECT_TRUE(IsDataLossError(broken.status())) << broken.status();
  EXPECT_THAT(broken.status().message(), HasSubstr("record 2"));
  // So is a complete last record with a bad data checksum.
  std::string bad_data = good;
  bad_data[good.size() - 1] ^= 0x01;
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), path, bad_data).ok());
  broken = ReadEventFile(Env::Default(), path);
  EXPECT_TRUE(IsDataLossError(broken.status())) << broken.status();
  EXPECT_THAT(broken.status().message(), HasSubstr(path));
  EXPECT_THAT(broken.status().message(), HasSubstr("record 2"));
}

}  // namespace
}  // namespace psflow
