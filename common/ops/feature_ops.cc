// Ops of categorical features, with TensorFlow's names and results:
// AsString (integers as decimal text) and StringToHashBucketFast
// (Fingerprint64(s) % num_buckets), which categorical_column_with_hash_bucket
// composes for int and string ids.
#include <farmhash.h>

#include <string>

#include "common/ops/fingerprint.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"

namespace psflow {

uint64_t Fingerprint64(std::string_view s) { return util::Fingerprint64(s.data(), s.size()); }

uint64_t FingerprintCat64(uint64_t fp1, uint64_t fp2) {
  // The multiplier and shifts of TensorFlow's FingerprintCat64.
  constexpr uint64_t kMul = 0xc6a4a7935bd1e995ULL;
  auto shift_mix = [](uint64_t v) { return v ^ (v >> 47); };
  uint64_t r = fp1 ^ kMul;
  r ^= shift_mix(fp2 * kMul) * kMul;
  r *= kMul;
  r = shift_mix(r) * kMul;
  return shift_mix(r);
}

namespace {

using op_util::DefineOp;

}  // namespace

void RegisterFeatureOpsOnce() {
  DefineOp({.type = "AsString",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(0) != DType::kInt32 && c.input_dtype(0) != DType::kInt64) {
                return InvalidArgumentError("AsString takes int32 or int64 here, got ", c.input_dtype(0));
              }
              c.AddOutput(DType::kString, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             const Tensor& in = c.input(0);
             Tensor* out = c.AllocateOutput(0, in.shape());
             auto o = out->flat<std::string>();
             for (size_t i = 0; i < o.size(); ++i) {
               o[i] = in.dtype() == DType::kInt64 ? std::to_string(in.flat<int64_t>()[i])
                                                  : std::to_string(in.flat<int32_t>()[i]);
             }
             return OkStatus();
           });
  DefineOp({.type = "StringToHashBucketFast",
            .num_inputs = 1,
            .shape_fn = [](InferenceContext& c) -> Status {
              if (c.input_dtype(0) != DType::kString) {
                return InvalidArgumentError("StringToHashBucketFast takes strings, got ", c.input_dtype(0),
                                            " (AsString first for integer ids)");
              }
              ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("num_buckets"));
              if (n < 1) return InvalidArgumentError("StringToHashBucketFast: num_buckets must be >= 1, got ", n);
              c.AddOutput(DType::kInt64, c.input_shape(0));
              return OkStatus();
            }},
           [](OpKernelContext& c) -> Status {
             ASSIGN_OR_RETURN(int64_t n, c.GetAttr<int64_t>("num_buckets"));
             const Tensor& in = c.input(0);
             Tensor* out = c.AllocateOutput(0, in.shape());
             auto s = in.flat<std::string>();
             auto o = out->flat<int64_t>();
             for (size_t i = 0; i < s.size(); ++i) o[i] = static_cast<int64_t>(Fingerprint64(s[i]) % static_cast<uint64_t>(n));
             return OkStatus();
           });
}

namespace ops {
Output AsString(const Scope& s, Output x, const std::string& name) { return MakeOp(s, "AsString", name, {x}); }
Output StringToHashBucketFast(const Scope& s, Output input, int64_t num_buckets, const std::string& name) {
  return MakeOp(s, "StringToHashBucketFast", name, {input}, {{"num_buckets", num_buckets}});
}
}  // namespace ops
}  // namespace psflow
