#include "common/rpc/frame.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace psflow::rpc {
namespace {

using ::testing::HasSubstr;

Message Sample() {
  Message m;
  m.header.set_request_id(7);
  m.header.set_method("Push");
  m.header.set_task("worker:1");
  m.tensors.push_back(Tensor::FromVector<float>({1, 2, 3}, TensorShape({3})));
  m.tensors.push_back(Tensor::Scalar<int64_t>(42));
  Tensor s(DType::kString, TensorShape({2}));
  s.flat<std::string>()[0] = "ab";
  s.flat<std::string>()[1] = std::string("\0z", 2);
  m.tensors.push_back(s);
  m.tensors.push_back(Tensor(DType::kFloat, TensorShape({0, 4})));
  m.tensor_names = {"w", "step", "vocab", "empty"};
  return m;
}

TEST(FrameTest, RoundTripKeepsTensorsAlignedAndUncopied) {
  Message m = Sample();
  EncodedFrame f;
  ASSERT_TRUE(EncodeFrame(m, &f).ok());
  // The float tensor's bytes are referenced, not copied.
  bool referenced = false;
  for (auto b : f.buffers) referenced = referenced || b.data() == m.tensors[0].raw_data();
  EXPECT_TRUE(referenced);
  const std::string bytes = FlattenFrame(f);
  EXPECT_EQ(bytes.size(), f.total_bytes);
  EXPECT_EQ(bytes.substr(0, 4), "PSFL");
  auto got = DecodeFlatFrame(bytes, {}, "127.0.0.1:5000");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->header.method(), "Push");
  EXPECT_EQ(got->header.request_id(), 7u);
  ASSERT_EQ(got->tensors.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(got->tensors[i].Equals(m.tensors[i])) << i;
  EXPECT_EQ(got->tensor_names[2], "vocab");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(got->tensors[1].raw_data()) % kPayloadAlignment, 0u);
}

TEST(FrameTest, BadFramesAreRejectedBeforeAllocating) {
  EncodedFrame f;
  ASSERT_TRUE(EncodeFrame(Sample(), &f).ok());
  const std::string good = FlattenFrame(f);
  const FrameLimits limits{.max_header_bytes = 1024, .max_payload_bytes = 4096};
  std::string bad = good;
  bad[0] = 'X';
  EXPECT_THAT(DecodeFlatFrame(bad, limits, "10.1.2.3:7").status().message(), HasSubstr("wrong magic"));
  EXPECT_THAT(DecodeFlatFrame(bad, limits, "10.1.2.3:7").status().message(), HasSubstr("10.1.2.3:7"));
  bad = good;
  const uint32_t huge_header = 1u << 30;
  std::memcpy(bad.data() + 8, &huge_header, 4);
  EXPECT_THAT(ParseFixedHeader(bad, limits, "p").status().message(), HasSubstr("header length 1073741824"));
  bad = good;
  const uint64_t huge_payload = uint64_t{1} << 40;
  std::memcpy(bad.data() + 12, &huge_payload, 8);
  EXPECT_TRUE(IsResourceExhaustedError(ParseFixedHeader(bad, limits, "p").status()));
  bad = good;
  const uint16_t older = kFrameVersion - 1;  // a task of another release
  std::memcpy(bad.data() + 4, &older, 2);
  EXPECT_THAT(ParseFixedHeader(bad, limits, "p").status().message(),
              HasSubstr(StrCat("wire version ", older)));
  EXPECT_THAT(DecodeFlatFrame(good.substr(0, good.size() - 1), {}, "p").status().message(), HasSubstr("announces"));
  // A header whose tensor points outside the payload.
  Message m = Sample();
  EncodedFrame f2;
  ASSERT_TRUE(EncodeFrame(m, &f2).ok());
  RpcHeader h;
  std::uint32_t hlen;
  std::memcpy(&hlen, f2.storage_head.data() + 8, 4);
  ASSERT_TRUE(h.ParseFromString(f2.storage_head.substr(kFixedHeaderSize)));
  h.mutable_tensors(0)->set_size(1 << 20);
  auto payload = AllocateHostBuffer(256);
  EXPECT_THAT(DecodeFrame(h.SerializeAsString(), payload, "p").status().message(), HasSubstr("lie outside"));
  h.mutable_tensors(0)->set_size(8);  // float [3] needs 12
  EXPECT_THAT(DecodeFrame(h.SerializeAsString(), payload, "p").status().message(), HasSubstr("need 12"));
}

// One tensor's metadata in a header of method `method`.
RpcHeader HeaderWith(DType dtype, std::vector<int64_t> dims, uint64_t offset, uint64_t size) {
  RpcHeader h;
  h.set_method("Push");
  TensorMeta* t = h.add_tensors();
  t->set_name("g");
  t->set_dtype(static_cast<tensorflow::DataType>(dtype));
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_size(d);
  t->set_offset(offset);
  t->set_size(size);
  return h;
}

// Headers a hostile peer sends: each is refused by CheckFrameTensors, before
// a payload exists, without allocating what it claims.
TEST(FrameTest, HeadersClaimingMoreThanTheirBytesAreRefused) {
  struct Case {
    RpcHeader header;
    uint64_t payload_len;
    std::string message;
  };
  std::vector<int64_t> deep(255, 1);
  const Case cases[] = {
      // 2^40 strings in 64 bytes: once a std::bad_alloc that killed the PS.
      {HeaderWith(DType::kString, {int64_t{1} << 40}, 0, 64), 64, "1099511627776 strings cannot fit in 64 bytes"},
      // 2^62 floats in 0 bytes: 2^62 x 4 wraps to 0 in 64 bits.
      {HeaderWith(DType::kFloat, {int64_t{1} << 62}, 0, 0), 0, "need more than 2^64"},
      {HeaderWith(DType::kDouble, {int64_t{1} << 61}, 0, 0), 0, "need more than 2^64"},
      {HeaderWith(DType::kFloat, {int64_t{1} << 30, int64_t{1} << 31}, 0, 64), 64, "need 9223372036854775808"},
      {HeaderWith(DType::kFloat, {3}, 0, 13), 64, "has 13 bytes"},
      {HeaderWith(DType::kFloat, {int64_t{1} << 40, int64_t{1} << 40}, 0, 0), 0, "too many elements"},
      {HeaderWith(DType::kFloat, {-1}, 0, 0), 0, "is negative"},
      {HeaderWith(DType::kFloat, {4}, 1, 16), 64, "lie outside"},
      {HeaderWith(DType::kFloat, {4}, 64, 16), 64, "lie outside"},
      {HeaderWith(DType::kFloat, {1}, 0, std::numeric_limits<uint64_t>::max()), 64, "lie outside"},
      {HeaderWith(DType::kFloat, deep, 0, 4), 64, "rank 255 is above 254"},
  };
  for (const auto& c : cases) {
    Status s = CheckFrameTensors(c.header, c.payload_len, "10.0.0.9:4000");
    ASSERT_FALSE(s.ok()) << c.message;
    EXPECT_TRUE(IsDataLossError(s)) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
    EXPECT_THAT(s.message(), HasSubstr("bad frame from 10.0.0.9:4000 (Push): tensor 0 g"));
  }
  // Strings one byte each fit their bytes, but not without end: ~40 bytes
  // each once decoded.
  const int64_t n = (int64_t{1} << 23) + 1;
  const uint64_t second = (static_cast<uint64_t>(n) + 63) / 64 * 64;
  RpcHeader many = HeaderWith(DType::kString, {n}, 0, static_cast<uint64_t>(n));
  *many.add_tensors() = many.tensors(0);
  many.mutable_tensors(1)->set_offset(second);
  Status s = CheckFrameTensors(many, second + static_cast<uint64_t>(n), "p");
  EXPECT_THAT(s.message(), HasSubstr("tensor 1 g: the frame's string tensors hold more than 16777216 strings"));
  many.mutable_tensors(1)->mutable_shape()->mutable_dim(0)->set_size(n - 2);
  EXPECT_TRUE(CheckFrameTensors(many, second + static_cast<uint64_t>(n), "p").ok());
  // What fits is accepted.
  EXPECT_TRUE(CheckFrameTensors(HeaderWith(DType::kString, {64}, 0, 64), 64, "p").ok());
  EXPECT_TRUE(CheckFrameTensors(HeaderWith(DType::kFloat, {0, int64_t{1} << 62}, 0, 0), 0, "p").ok());
}

TEST(FrameTest, StringLengthsThatOverflowAreRefused) {
  // Two strings whose varint lengths (2^64 - 1 and 2) wrap to 1 when added.
  std::string bytes;
  for (int i = 0; i < 9; ++i) bytes.push_back(static_cast<char>(0xff));
  bytes.push_back(0x01);
  bytes.push_back(0x02);
  bytes += "x";
  auto payload = AllocateHostBuffer(64);
  std::memcpy(payload->data(), bytes.data(), bytes.size());
  RpcHeader h = HeaderWith(DType::kString, {2}, 0, bytes.size());
  auto m = DecodeFrame(h.SerializeAsString(), payload, "p");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.status().message(), HasSubstr("string lengths add up to more than the tensor's bytes"));
}

}  // namespace
}  // namespace psflow::rpc
