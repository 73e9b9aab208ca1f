// TensorFlow's string fingerprints, so that hashed ids match TensorFlow's:
// Fingerprint64 is FarmHash's Fingerprint64 (tensorflow::Fingerprint64,
// what StringToHashBucketFast and hash-bucket feature columns use), and
// FingerprintCat64 combines two fingerprints as tensorflow::FingerprintCat64
// does (SparseCrossHashed, crossed columns).
//
//   const int64_t bucket = static_cast<int64_t>(Fingerprint64("cat") % 1000);
#pragma once

#include <cstdint>
#include <string_view>

namespace psflow {

uint64_t Fingerprint64(std::string_view s);
uint64_t FingerprintCat64(uint64_t fp1, uint64_t fp2);

}  // namespace psflow
