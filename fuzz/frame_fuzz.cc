// The RPC frame decoder (common/rpc/frame.h) on arbitrary bytes: the fixed
// header, the protobuf header and the tensors it describes.  Nothing a peer
// sends may crash, hang or make it allocate what the bytes do not hold.
#include <cstdint>
#include <string_view>

#include "common/rpc/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow::rpc;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const FrameLimits limits{.max_header_bytes = 1 << 20, .max_payload_bytes = 64 << 20};
  if (size >= kFixedHeaderSize) {
    auto h = ParseFixedHeader(bytes.substr(0, kFixedHeaderSize), limits, "fuzz");
    (void)h;
  }
  auto m = DecodeFlatFrame(bytes, limits, "fuzz");
  if (m.ok()) {
    // What decoded encodes again.
    EncodedFrame f;
    EncodeFrame(*m, &f).IgnoreError();
  }
  return 0;
}
