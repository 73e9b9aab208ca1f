// The psflow wire format: one frame per request or response.
//
//   offset 0   magic "PSFL" (4 bytes)
//          4   version (uint16 LE, 2), reserved (uint16)
//          8   header length (uint32 LE)
//         12   payload length (uint64 LE)
//         20   RpcHeader (protobuf), then the payload: raw tensor bytes, each
//              tensor starting at a multiple of 64 bytes of the payload
//
// Encoding produces a list of buffers for scatter/gather writes: the tensor
// data is referenced, never copied into a protobuf.  Decoding happens in
// the order the bytes arrive and allocates only against what came: the
// fixed header is checked against limits; the protobuf header is parsed and
// every tensor it describes is checked against the announced payload
// (dtype, rank, alignment, bounds, and a byte count equal to dtype x shape,
// overflow-checked) before the payload is allocated or read; received
// tensors alias the (aligned) payload buffer.  A bad frame is an error for
// that connection only.  Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/tensor.h"
#include "common/proto/rpc.pb.h"

namespace psflow::rpc {

inline constexpr uint32_t kFrameMagic = 0x4c465350;  // "PSFL" little-endian
// 3: a server opens each connection with a `_Challenge` (a nonce) and the
// channel answers with a `_Hello` that proves it holds the cluster token
// (common/rpc/auth.h); 2 sent the token in clear in the `_Hello`, 1 on the
// first request.
inline constexpr uint16_t kFrameVersion = 3;
inline constexpr size_t kFixedHeaderSize = 20;
inline constexpr size_t kPayloadAlignment = 64;
inline constexpr int kMaxTensorRank = 254;  // TensorFlow's limit
// Strings a frame may carry in all (each costs ~40 bytes once decoded).
inline constexpr uint64_t kMaxStringsPerFrame = uint64_t{1} << 24;

struct FrameLimits {
  uint32_t max_header_bytes = 16u << 20;        // 16 MiB
  uint64_t max_payload_bytes = uint64_t{4} << 30;  // 4 GiB
};

struct Message {
  RpcHeader header;             // tensors metadata is filled by EncodeFrame
  std::vector<Tensor> tensors;  // host tensors
  std::vector<std::string> tensor_names;  // optional, one per tensor
};

// A frame ready to write: `buffers` point into `storage` (the fixed header,
// the protobuf header, string tensors, padding) and into the tensors.
struct EncodedFrame {
  std::vector<std::string_view> buffers;
  std::string storage_head;
  std::vector<std::string> storage_strings;
  std::vector<Tensor> keep_alive;
  uint64_t total_bytes = 0;
};
Status EncodeFrame(const Message& message, EncodedFrame* out);

struct FixedHeader {
  uint32_t header_len = 0;
  uint64_t payload_len = 0;
};
// Parses and checks the 20 fixed bytes.  `peer` names the sender in errors.
StatusOr<FixedHeader> ParseFixedHeader(std::string_view bytes, const FrameLimits& limits,
                                       std::string_view peer);
// Parses the protobuf header (DataLoss naming `peer` when it does not).
StatusOr<RpcHeader> ParseFrameHeader(std::string_view header_bytes, std::string_view peer);
// Checks each tensor the header describes against a payload of
// `payload_len` bytes (see above), before the payload exists.  DataLoss
// naming `peer`, the method and the tensor.
Status CheckFrameTensors(const RpcHeader& header, uint64_t payload_len, std::string_view peer);
// Builds the message from a header CheckFrameTensors accepted and the
// payload, in a buffer aligned to kPayloadAlignment (tensors alias it).
StatusOr<Message> DecodeFrame(RpcHeader header, std::shared_ptr<TensorBuffer> payload, std::string_view peer);
// All three steps, for a payload already at hand.
StatusOr<Message> DecodeFrame(std::string_view header_bytes, std::shared_ptr<TensorBuffer> payload,
                              std::string_view peer);

// Convenience for tests and in-process transports: the whole frame as bytes.
std::string FlattenFrame(const EncodedFrame& frame);
StatusOr<Message> DecodeFlatFrame(std::string_view bytes, const FrameLimits& limits, std::string_view peer);

}  // namespace psflow::rpc
