#include "common/data/tfrecord.h"

#include <cstring>

#include "common/core/crc32c.h"

namespace psflow {

StatusOr<std::unique_ptr<TFRecordWriter>> TFRecordWriter::Open(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(auto f, env->NewWritableFile(path));
  return std::unique_ptr<TFRecordWriter>(new TFRecordWriter(path, std::move(f)));
}

Status TFRecordWriter::Write(std::string_view record) {
  char header[12];
  const uint64_t len = record.size();
  std::memcpy(header, &len, 8);
  const uint32_t len_crc = crc32c::Mask(crc32c::Value(header, 8));
  std::memcpy(header + 8, &len_crc, 4);
  const uint32_t data_crc = crc32c::Mask(crc32c::Value(record.data(), record.size()));
  char footer[4];
  std::memcpy(footer, &data_crc, 4);
  RETURN_IF_ERROR(file_->Append(std::string_view(header, 12)));
  RETURN_IF_ERROR(file_->Append(record));
  return file_->Append(std::string_view(footer, 4));
}

Status TFRecordWriter::Flush() { return file_->Flush(); }
Status TFRecordWriter::Close() { return file_->Close(); }

StatusOr<std::unique_ptr<TFRecordReader>> TFRecordReader::Open(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(path));
  ASSIGN_OR_RETURN(auto f, env->NewRandomAccessFile(path));
  return std::unique_ptr<TFRecordReader>(new TFRecordReader(path, std::move(f), size));
}

StatusOr<bool> TFRecordReader::Next(std::string* record) {
  if (offset_ == size_) return false;
  truncated_ = false;
  auto truncated = [&](const std::string& what) {
    truncated_ = true;
    return DataLossError("TFRecord file ", path_, ": record ", count_, " at byte ", offset_, " ", what,
                         "; the file is truncated");
  };
  auto corrupt = [&](const std::string& what) {
    return DataLossError("TFRecord file ", path_, ": record ", count_, " at byte ", offset_, " ", what,
                         "; the file is corrupt or truncated");
  };
  char header[12];
  size_t got = 0;
  RETURN_IF_ERROR(file_->Read(offset_, 12, header, &got));
  if (got < 12) return truncated("has a truncated header");
  uint64_t len;
  uint32_t len_crc;
  std::memcpy(&len, header, 8);
  std::memcpy(&len_crc, header + 8, 4);
  if (crc32c::Unmask(len_crc) != crc32c::Value(header, 8)) return corrupt("has a bad length checksum");
  if (len > size_ - offset_ - 12) return truncated("is truncated (its length runs past the end of the file)");
  record->resize(len);
  RETURN_IF_ERROR(file_->Read(offset_ + 12, len, record->data(), &got));
  char footer[4];
  size_t got2 = 0;
  RETURN_IF_ERROR(file_->Read(offset_ + 12 + len, 4, footer, &got2));
  if (got < len || got2 < 4) return truncated("is truncated");
  uint32_t data_crc;
  std::memcpy(&data_crc, footer, 4);
  if (crc32c::Unmask(data_crc) != crc32c::Value(record->data(), len)) return corrupt("has a bad data checksum");
  offset_ += 12 + len + 4;
  ++count_;
  return true;
}

}  // namespace psflow
