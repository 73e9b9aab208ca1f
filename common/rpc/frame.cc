#include "common/rpc/frame.h"

#include <cstring>
#include <limits>

#include "common/core/varint.h"

namespace psflow::rpc {
namespace {

const char kZeros[kPayloadAlignment] = {};

size_t Pad(uint64_t n) { return static_cast<size_t>((kPayloadAlignment - n % kPayloadAlignment) % kPayloadAlignment); }

std::vector<int64_t> DimsOf(const TensorMeta& meta) {
  std::vector<int64_t> dims;
  dims.reserve(static_cast<size_t>(meta.shape().dim_size()));
  for (const auto& d : meta.shape().dim()) dims.push_back(d.size());
  return dims;
}

Status BadTensor(std::string_view peer, const RpcHeader& h, int i, const std::string& why) {
  return DataLossError("bad frame from ", peer, " (", h.method(), "): tensor ", i, " ", h.tensors(i).name(), ": ", why);
}

}  // namespace

Status EncodeFrame(const Message& m, EncodedFrame* out) {
  *out = EncodedFrame();
  RpcHeader header = m.header;
  header.clear_tensors();
  uint64_t payload = 0;
  std::vector<std::string_view> data;
  out->storage_strings.reserve(m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const Tensor& t = m.tensors[i];
    if (!t.initialized()) return InvalidArgumentError("tensor ", i, " of the message is empty");
    if (!t.device().is_host()) return InvalidArgumentError("tensor ", i, " is on ", t.device().ToString(), "; send host tensors");
    TensorMeta* meta = header.add_tensors();
    if (i < m.tensor_names.size()) meta->set_name(m.tensor_names[i]);
    meta->set_dtype(static_cast<tensorflow::DataType>(t.dtype()));
    for (int64_t d : t.shape().dims()) meta->mutable_shape()->add_dim()->set_size(d);
    std::string_view bytes;
    if (t.dtype() == DType::kString) {
      std::string& s = out->storage_strings.emplace_back();
      for (const std::string& e : t.flat<std::string>()) PutVarint64(&s, e.size());
      for (const std::string& e : t.flat<std::string>()) s += e;
      bytes = s;
    } else {
      bytes = std::string_view(static_cast<const char*>(t.raw_data()), t.TotalBytes());
      out->keep_alive.push_back(t);
    }
    meta->set_offset(payload);
    meta->set_size(bytes.size());
    data.push_back(bytes);
    payload += bytes.size() + Pad(bytes.size());
  }
  std::string proto;
  if (!header.SerializeToString(&proto)) return InternalError("cannot serialize an RPC header");
  out->storage_head.resize(kFixedHeaderSize);
  char* h = out->storage_head.data();
  const uint32_t magic = kFrameMagic, hlen = static_cast<uint32_t>(proto.size());
  const uint16_t version = kFrameVersion, reserved = 0;
  std::memcpy(h, &magic, 4);
  std::memcpy(h + 4, &version, 2);
  std::memcpy(h + 6, &reserved, 2);
  std::memcpy(h + 8, &hlen, 4);
  std::memcpy(h + 12, &payload, 8);
  out->storage_head += proto;
  out->buffers.push_back(out->storage_head);
  for (std::string_view d : data) {
    if (!d.empty()) out->buffers.push_back(d);
    if (Pad(d.size()) > 0) out->buffers.push_back(std::string_view(kZeros, Pad(d.size())));
  }
  out->total_bytes = out->storage_head.size() + payload;
  return OkStatus();
}

StatusOr<FixedHeader> ParseFixedHeader(std::string_view b, const FrameLimits& limits, std::string_view peer) {
  if (b.size() < kFixedHeaderSize) return DataLossError("short frame header from ", peer);
  uint32_t magic, hlen;
  uint16_t version;
  uint64_t plen;
  std::memcpy(&magic, b.data(), 4);
  std::memcpy(&version, b.data() + 4, 2);
  std::memcpy(&hlen, b.data() + 8, 4);
  std::memcpy(&plen, b.data() + 12, 8);
  if (magic != kFrameMagic) {
    return DataLossError("bad frame from ", peer, ": wrong magic (not a psflow peer, or a corrupt stream)");
  }
  if (version != kFrameVersion) {
    return FailedPreconditionError("frame from ", peer, " uses wire version ", version, "; this psflow speaks version ",
                                   kFrameVersion, ": run the same psflow release on every task");
  }
  if (hlen > limits.max_header_bytes) {
    return DataLossError("bad frame from ", peer, ": header length ", hlen, " is above the limit of ",
                         limits.max_header_bytes);
  }
  if (plen > limits.max_payload_bytes) {
    return ResourceExhaustedError("frame from ", peer, " carries ", plen, " payload bytes, above the limit of ",
                                  limits.max_payload_bytes);
  }
  return FixedHeader{hlen, plen};
}

StatusOr<RpcHeader> ParseFrameHeader(std::string_view header_bytes, std::string_view peer) {
  RpcHeader h;
  if (!h.ParseFromArray(header_bytes.data(), static_cast<int>(header_bytes.size()))) {
    return DataLossError("bad frame from ", peer, ": the header does not parse");
  }
  return h;
}

Status CheckFrameTensors(const RpcHeader& h, uint64_t payload_len, std::string_view peer) {
  uint64_t strings = 0;
  for (int i = 0; i < h.tensors_size(); ++i) {
    const TensorMeta& meta = h.tensors(i);
    auto bad = [&](const std::string& why) { return BadTensor(peer, h, i, why); };
    if (!IsSupportedDType(meta.dtype())) return bad(StrCat("unsupported dtype ", meta.dtype()));
    if (meta.shape().dim_size() > kMaxTensorRank) return bad(StrCat("rank ", meta.shape().dim_size(), " is above ", kMaxTensorRank));
    auto shape = TensorShape::FromDims(DimsOf(meta));
    if (!shape.ok()) return bad(shape.status().message());
    if (meta.offset() % kPayloadAlignment != 0 || meta.offset() > payload_len || meta.size() > payload_len - meta.offset()) {
      return bad(StrCat("bytes [", meta.offset(), ", +", meta.size(), ") lie outside the ", payload_len, "-byte payload"));
    }
    // Shapes are bounded by the bytes: no element count may outgrow them.
    const uint64_t n = static_cast<uint64_t>(shape->num_elements());
    const DType dt = static_cast<DType>(meta.dtype());
    if (dt == DType::kString) {
      if (n > meta.size()) return bad(StrCat(n, " strings cannot fit in ", meta.size(), " bytes (one length byte each at least)"));
      // Each decoded string costs ~40 bytes of memory for its one byte on the wire.
      strings += n;
      if (strings > kMaxStringsPerFrame) {
        return bad(StrCat("the frame's string tensors hold more than ", kMaxStringsPerFrame, " strings"));
      }
    } else {
      const uint64_t width = DTypeSize(dt);
      if (meta.size() % width != 0 || n != meta.size() / width) {
        return bad(StrCat("has ", meta.size(), " bytes, its dtype and shape ", shape->DebugString(), " need ",
                          n <= std::numeric_limits<uint64_t>::max() / width ? StrCat(n * width) : std::string("more than 2^64")));
      }
    }
  }
  return OkStatus();
}

StatusOr<Message> DecodeFrame(RpcHeader header, std::shared_ptr<TensorBuffer> payload, std::string_view peer) {
  Message m;
  m.header = std::move(header);
  const char* base = payload ? static_cast<const char*>(payload->data()) : nullptr;
  const uint64_t plen = payload ? payload->size() : 0;
  m.tensors.reserve(static_cast<size_t>(m.header.tensors_size()));
  for (int i = 0; i < m.header.tensors_size(); ++i) {
    const TensorMeta& meta = m.header.tensors(i);
    auto bad = [&](const std::string& why) { return BadTensor(peer, m.header, i, why); };
    if (meta.offset() > plen || meta.size() > plen - meta.offset()) return bad("lies outside the payload");  // REQUIRES broken
    const TensorShape shape(DimsOf(meta));  // checked by CheckFrameTensors
    const DType dt = static_cast<DType>(meta.dtype());
    const char* p = base + meta.offset();
    if (dt == DType::kString) {
      Tensor t(dt, shape);
      std::string_view in(p, meta.size());
      std::vector<uint64_t> lens(static_cast<size_t>(t.num_elements()));
      for (auto& l : lens) {
        if (!GetVarint64(&in, &l)) return bad("corrupt string lengths");
      }
      uint64_t total = 0;
      for (uint64_t l : lens) {
        if (l > in.size() - total) return bad("string lengths add up to more than the tensor's bytes");
        total += l;
      }
      if (total != in.size()) return bad("string lengths do not add up to the tensor's bytes");
      for (size_t k = 0; k < lens.size(); ++k) {
        t.flat<std::string>()[k].assign(in.data(), lens[k]);
        in.remove_prefix(lens[k]);
      }
      m.tensors.push_back(std::move(t));
    } else {
      struct Slice : TensorBuffer {
        std::shared_ptr<TensorBuffer> owner;
        void* ptr;
        size_t n;
        void* data() const override { return ptr; }
        size_t size() const override { return n; }
        Device device() const override { return Device{}; }
      };
      auto slice = std::make_shared<Slice>();
      slice->owner = payload;
      slice->ptr = const_cast<char*>(p);
      slice->n = static_cast<size_t>(meta.size());
      m.tensors.emplace_back(dt, shape, std::move(slice));
    }
    m.tensor_names.push_back(meta.name());
  }
  return m;
}

StatusOr<Message> DecodeFrame(std::string_view header_bytes, std::shared_ptr<TensorBuffer> payload,
                              std::string_view peer) {
  ASSIGN_OR_RETURN(RpcHeader h, ParseFrameHeader(header_bytes, peer));
  RETURN_IF_ERROR(CheckFrameTensors(h, payload ? payload->size() : 0, peer));
  return DecodeFrame(std::move(h), std::move(payload), peer);
}

std::string FlattenFrame(const EncodedFrame& frame) {
  std::string out;
  out.reserve(frame.total_bytes);
  for (std::string_view b : frame.buffers) out.append(b);
  return out;
}

StatusOr<Message> DecodeFlatFrame(std::string_view bytes, const FrameLimits& limits, std::string_view peer) {
  ASSIGN_OR_RETURN(FixedHeader fh, ParseFixedHeader(bytes, limits, peer));
  if (bytes.size() != kFixedHeaderSize + fh.header_len + fh.payload_len) {
    return DataLossError("bad frame from ", peer, ": ", bytes.size(), " bytes, the header announces ",
                         kFixedHeaderSize + fh.header_len + fh.payload_len);
  }
  auto payload = AllocateHostBuffer(static_cast<size_t>(fh.payload_len));
  if (fh.payload_len > 0) {
    std::memcpy(payload->data(), bytes.data() + kFixedHeaderSize + fh.header_len, static_cast<size_t>(fh.payload_len));
  }
  return DecodeFrame(bytes.substr(kFixedHeaderSize, fh.header_len), payload, peer);
}

}  // namespace psflow::rpc
