// TFRecord files: records framed as TensorFlow frames them (length, masked
// crc32c of the length, data, masked crc32c of the data).  Used for input
// data (tf.train.Example records) and TensorBoard event files.
//
//   ASSIGN_OR_RETURN(auto w, TFRecordWriter::Open(env, path));
//   RETURN_IF_ERROR(w->Write(bytes));  RETURN_IF_ERROR(w->Flush());
//   ASSIGN_OR_RETURN(auto r, TFRecordReader::Open(env, path));
//   std::string rec;  while (true) { ASSIGN_OR_RETURN(bool ok, r->Next(&rec)); if (!ok) break; ... }
//
// A bad crc or a truncated record is a DataLoss error naming the file and
// the record number.  Not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/core/env.h"

namespace psflow {

class TFRecordWriter {
 public:
  // Creates (or truncates) `path`.
  static StatusOr<std::unique_ptr<TFRecordWriter>> Open(Env* env, const std::string& path);
  Status Write(std::string_view record);
  Status Flush();
  Status Close();
  const std::string& path() const { return path_; }

 private:
  TFRecordWriter(std::string path, std::unique_ptr<WritableFile> f) : path_(std::move(path)), file_(std::move(f)) {}
  const std::string path_;
  std::unique_ptr<WritableFile> file_;
};

class TFRecordReader {
 public:
  static StatusOr<std::unique_ptr<TFRecordReader>> Open(Env* env, const std::string& path);
  // Reads the next record into *record; false at the end of the file.
  StatusOr<bool> Next(std::string* record);
  int64_t records_read() const { return count_; }
  // True when the last Next failed because the file ends inside a record
  // (a writer still appending), not because a checksum is wrong.
  bool truncated() const { return truncated_; }

 private:
  TFRecordReader(std::string path, std::unique_ptr<RandomAccessFile> f, uint64_t size)
      : path_(std::move(path)), file_(std::move(f)), size_(size) {}
  const std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  const uint64_t size_;
  uint64_t offset_ = 0;
  int64_t count_ = 0;
  bool truncated_ = false;
};

}  // namespace psflow
