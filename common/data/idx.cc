#include "common/data/idx.h"

#include <algorithm>
#include <zlib.h>

#include <cerrno>
#include <cstring>

namespace psflow {
namespace {

constexpr int64_t kMaxBytes = int64_t{1} << 32;  // far above any IDX data set

}  // namespace

StatusOr<IdxArray> ReadIdxFile(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (f == nullptr) {
    return ErrnoToStatus(errno ? errno : ENOENT, StrCat("cannot open data file ", path));
  }
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{f};
  auto read = [&](void* buf, size_t n) -> bool {
    size_t done = 0;
    while (done < n) {
      const int r = gzread(f, static_cast<char*>(buf) + done, static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30)));
      if (r <= 0) return false;
      done += static_cast<size_t>(r);
    }
    return true;
  };
  unsigned char magic[4];
  if (!read(magic, 4)) return DataLossError("data file ", path, " is empty or truncated (no IDX header)");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4) {
    return DataLossError("data file ", path,
                         " is not an IDX file of unsigned bytes (magic ", int{magic[0]}, " ",
                         int{magic[1]}, " ", int{magic[2]}, " ", int{magic[3]},
                         "; expected 0 0 8 <rank 1-4>)");
  }
  IdxArray out;
  int64_t total = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char b[4];
    if (!read(b, 4)) return DataLossError("data file ", path, " has a truncated IDX header");
    const int64_t dim = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    out.dims.push_back(dim);
    if (dim > 0 && total > kMaxBytes / dim) return DataLossError("data file ", path, " declares an absurd size");
    total *= dim;
  }
  // Read in chunks, the buffer growing with what comes: a header that
  // declares more than the file holds costs what the file holds, not what
  // it declares.
  size_t done = 0;
  while (done < static_cast<size_t>(total)) {
    const size_t want = std::min<size_t>(static_cast<size_t>(total) - done, size_t{1} << 20);
    out.data.resize(done + want);
    if (!read(out.data.data() + done, want)) {
      return DataLossError("data file ", path, " is truncated: the header declares ", total,
                           " bytes of data; re-download or reinstall the data set");
    }
    done += want;
  }
  return out;
}

}  // namespace psflow
