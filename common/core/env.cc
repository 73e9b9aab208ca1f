#include "common/core/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "common/core/fault_point.h"

namespace psflow {
namespace {

// Appends are buffered; anything larger than the buffer goes straight to
// write(2) from the caller's memory (tensor bytes are not copied).
constexpr size_t kWriteBufferSize = 64 * 1024;

Status WriteAll(int fd, const char* data, size_t n, const std::string& name) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, StrCat("write to ", name));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return OkStatus();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {
    buf_.reserve(kWriteBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) Close().IgnoreError();
  }
  Status Append(std::string_view data) override {
    if (fd_ < 0) return FailedPreconditionError("append to closed file ", name_);
    if (buf_.size() + data.size() <= kWriteBufferSize) {
      buf_.append(data);
      return OkStatus();
    }
    RETURN_IF_ERROR(Flush());
    if (data.size() < kWriteBufferSize) {
      buf_.append(data);
      return OkStatus();
    }
    return WriteAll(fd_, data.data(), data.size(), name_);
  }
  Status Flush() override {
    if (buf_.empty()) return OkStatus();
    Status s = WriteAll(fd_, buf_.data(), buf_.size(), name_);
    buf_.clear();
    return s;
  }
  Status Sync() override {
    RETURN_IF_ERROR(Flush());
    if (::fdatasync(fd_) != 0) return ErrnoToStatus(errno, StrCat("fsync ", name_));
    return OkStatus();
  }
  Status Close() override {
    if (fd_ < 0) return OkStatus();
    Status s = Flush();
    if (::close(fd_) != 0 && s.ok()) s = ErrnoToStatus(errno, StrCat("close ", name_));
    fd_ = -1;
    return s;
  }
  const std::string& name() const override { return name_; }

 private:
  const std::string name_;
  int fd_;
  std::string buf_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Status Read(uint64_t offset, size_t n, char* scratch, size_t* bytes_read) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        *bytes_read = done;
        return ErrnoToStatus(errno, StrCat("read ", name_));
      }
      if (r == 0) break;  // end of file
      done += static_cast<size_t>(r);
    }
    *bytes_read = done;
    return OkStatus();
  }
  const std::string& name() const override { return name_; }

 private:
  const std::string name_;
  const int fd_;
};

class PosixEnv final : public Env {
 public:
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& fname) override {
    int fd = ::open(fname.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoToStatus(errno, StrCat("cannot create ", fname));
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fname, fd));
  }
  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& fname) override {
    int fd = ::open(fname.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, StrCat("cannot open ", fname));
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(fname, fd));
  }
  bool FileExists(const std::string& fname) override { return ::access(fname.c_str(), F_OK) == 0; }
  StatusOr<uint64_t> GetFileSize(const std::string& fname) override {
    struct stat st;
    if (::stat(fname.c_str(), &st) != 0) return ErrnoToStatus(errno, StrCat("stat ", fname));
    return static_cast<uint64_t>(st.st_size);
  }
  StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoToStatus(errno, StrCat("cannot list directory ", dir));
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      out.emplace_back(e->d_name);
    }
    ::closedir(d);
    return out;
  }
  Status RenameFile(const std::string& src, const std::string& target) override {
    if (::rename(src.c_str(), target.c_str()) != 0) {
      return ErrnoToStatus(errno, StrCat("rename ", src, " to ", target));
    }
    return OkStatus();
  }
  Status DeleteFile(const std::string& fname) override {
    if (::unlink(fname.c_str()) != 0) return ErrnoToStatus(errno, StrCat("delete ", fname));
    return OkStatus();
  }
  Status CreateDirs(const std::string& dir) override {
    if (dir.empty()) return OkStatus();
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return OkStatus();
      return FailedPreconditionError(dir, " exists and is not a directory");
    }
    std::string parent(Dirname(dir));
    if (!parent.empty() && parent != dir) RETURN_IF_ERROR(CreateDirs(parent));
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, StrCat("cannot create directory ", dir));
    }
    return OkStatus();
  }
  Status SyncDir(const std::string& dir) override {
    const std::string d = dir.empty() ? "." : dir;
    int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoToStatus(errno, StrCat("open directory ", d));
    Status s;
    if (::fsync(fd) != 0 && errno != EINVAL) s = ErrnoToStatus(errno, StrCat("fsync directory ", d));
    ::close(fd);
    return s;
  }
  uint64_t NowMicros() override {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    return static_cast<uint64_t>(tv.tv_sec) * 1000000u + static_cast<uint64_t>(tv.tv_usec);
  }
  StatusOr<double> GetFileMTime(const std::string& fname) override {
    struct stat st;
    if (::stat(fname.c_str(), &st) != 0) return ErrnoToStatus(errno, StrCat("stat ", fname));
    return static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9;
  }
};

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv();
  return env;
}

StatusOr<std::string> ReadFileToString(Env* env, const std::string& fname) {
  ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(fname));
  ASSIGN_OR_RETURN(auto file, env->NewRandomAccessFile(fname));
  std::string out(size, '\0');
  size_t got = 0;
  RETURN_IF_ERROR(file->Read(0, size, out.data(), &got));
  out.resize(got);
  return out;
}

Status WriteStringToFileAtomic(Env* env, const std::string& fname, std::string_view contents) {
  const std::string tmp = StrCat(fname, ".tmp", RandomHexSuffix());
  Status s = [&]() -> Status {
    ASSIGN_OR_RETURN(auto f, env->NewWritableFile(tmp));
    RETURN_IF_ERROR(f->Append(contents));
    RETURN_IF_ERROR(f->Sync());
    RETURN_IF_ERROR(f->Close());
    FaultPoint(StrCat("before_rename:", Basename(fname)));  // e.g. "before_rename:checkpoint"
    RETURN_IF_ERROR(env->RenameFile(tmp, fname));
    return env->SyncDir(std::string(Dirname(fname)));
  }();
  if (!s.ok() && env->FileExists(tmp)) env->DeleteFile(tmp).IgnoreError();
  return s;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  if (IsAbsolutePath(b)) return std::string(b);
  if (a.back() == '/') return StrCat(a, b);
  return StrCat(a, "/", b);
}

std::string_view Dirname(std::string_view path) {
  size_t pos = path.rfind('/');
  if (pos == std::string_view::npos) return "";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string_view Basename(std::string_view path) {
  size_t pos = path.rfind('/');
  return pos == std::string_view::npos ? path : path.substr(pos + 1);
}

bool IsAbsolutePath(std::string_view path) { return !path.empty() && path[0] == '/'; }

std::string RandomHexSuffix() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   (static_cast<uint64_t>(::getpid()) << 32));
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace psflow
