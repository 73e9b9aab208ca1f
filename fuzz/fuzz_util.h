// Helpers of the libFuzzer targets (fuzz/*_fuzz.cc): an in-memory Env whose
// files are the fuzzer's bytes, a splitter that cuts one input into several
// files, and a scratch file for readers that take paths.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/env.h"

namespace psflow::fuzz {

// Files in memory: what a checkpoint reader sees, without touching a disk.
class MemEnv : public Env {
 public:
  std::map<std::string, std::string> files;

  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& f) override {
    return UnimplementedError("MemEnv is read-only: ", f);
  }
  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& f) override {
    auto it = files.find(f);
    if (it == files.end()) return NotFoundError(f, " not found");
    return std::unique_ptr<RandomAccessFile>(new File(f, &it->second));
  }
  bool FileExists(const std::string& f) override {
    if (files.count(f)) return true;
    for (const auto& [k, v] : files) {
      if (k.starts_with(f + "/")) return true;
    }
    return false;
  }
  StatusOr<uint64_t> GetFileSize(const std::string& f) override {
    auto it = files.find(f);
    if (it == files.end()) return NotFoundError(f, " not found");
    return static_cast<uint64_t>(it->second.size());
  }
  StatusOr<std::vector<std::string>> GetChildren(const std::string& d) override {
    std::vector<std::string> out;
    for (const auto& [k, v] : files) {
      if (k.starts_with(d + "/") && k.find('/', d.size() + 1) == std::string::npos) out.push_back(k.substr(d.size() + 1));
    }
    return out;
  }
  Status RenameFile(const std::string& s, const std::string&) override { return UnimplementedError("read-only: ", s); }
  Status DeleteFile(const std::string& f) override { return UnimplementedError("read-only: ", f); }
  Status CreateDirs(const std::string&) override { return OkStatus(); }
  Status SyncDir(const std::string&) override { return OkStatus(); }
  uint64_t NowMicros() override { return 0; }
  StatusOr<double> GetFileMTime(const std::string& f) override {
    if (!files.count(f)) return NotFoundError(f, " not found");
    return 0.0;
  }

 private:
  class File : public RandomAccessFile {
   public:
    File(std::string name, const std::string* bytes) : name_(std::move(name)), bytes_(bytes) {}
    Status Read(uint64_t offset, size_t n, char* scratch, size_t* bytes_read) const override {
      *bytes_read = 0;
      if (offset >= bytes_->size()) return OkStatus();
      *bytes_read = std::min<size_t>(n, bytes_->size() - offset);
      std::memcpy(scratch, bytes_->data() + offset, *bytes_read);
      return OkStatus();
    }
    const std::string& name() const override { return name_; }

   private:
    std::string name_;
    const std::string* bytes_;
  };
};

// One input as several parts: each part is a 4-byte little-endian length
// and that many bytes; the last part takes what is left.  Inputs written by
// fuzz/make_corpus.py follow this layout.
inline std::vector<std::string> SplitParts(const uint8_t* data, size_t size, size_t parts) {
  std::vector<std::string> out;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (size_t i = 0; i + 1 < parts; ++i) {
    uint32_t n = 0;
    if (in.size() >= 4) {
      std::memcpy(&n, in.data(), 4);
      in.remove_prefix(4);
    } else {
      in = {};
    }
    n = static_cast<uint32_t>(std::min<size_t>(n, in.size()));
    out.emplace_back(in.substr(0, n));
    in.remove_prefix(n);
  }
  out.emplace_back(in);
  return out;
}

// A file of this process under /dev/shm (or /tmp), rewritten per input.
class ScratchFile {
 public:
  explicit ScratchFile(const char* suffix) {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path_ = std::string(dir) + "/psflow_fuzz_" + std::to_string(getpid()) + suffix;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  const std::string& Write(const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path_.c_str(), "wb");
    if (f != nullptr) {
      if (size > 0) std::fwrite(data, 1, size, f);
      std::fclose(f);
    }
    return path_;
  }

 private:
  std::string path_;
};

}  // namespace psflow::fuzz
