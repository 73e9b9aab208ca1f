#include "ps/dynamic_table.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <random>

#include <sys/mman.h>

#include "common/core/hash.h"

namespace psflow {
namespace {

// Rows are allocated in chunks of one huge page: few TLB misses for random
// rows of a large table (a 4 KiB page per row lookup would cost a page walk
// each).  A table's first rows go in a chunk of 1/16 of that, so that the
// many small tables of a model waste little.
constexpr size_t kHugePage = size_t{2} << 20;
// The index and the admission counts grow (double) beyond this load.
constexpr double kMaxLoad = 0.7;
constexpr size_t kMinSlots = 16;

uint32_t Saturate32(int64_t v) {
  return static_cast<uint32_t>(std::clamp<int64_t>(v, 0, std::numeric_limits<uint32_t>::max()));
}

// A uniform double in (0, 1) from 64 random bits.
double Uniform(uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53; }

}  // namespace

StatusOr<std::unique_ptr<DynamicTable>> DynamicTable::Create(DynamicTableInit o, std::vector<float> slot_init) {
  if (o.dim <= 0) return InvalidArgumentError("a dynamic embedding table needs dimension > 0, got ", o.dim);
  if (o.filter_freq < 0 || o.steps_to_live < 0 || o.max_rows < 0) {
    return InvalidArgumentError("filter_freq, steps_to_live and max_rows must be >= 0 (got ", o.filter_freq, ", ",
                                o.steps_to_live, ", ", o.max_rows, ")");
  }
  if (o.max_rows > int64_t{std::numeric_limits<uint32_t>::max()} - 1) {
    return InvalidArgumentError("max_rows ", o.max_rows, " is more than one PS task can number (2^32 - 2)");
  }
  if (!(o.stddev >= 0)) return InvalidArgumentError("the initializer's stddev must be >= 0, got ", o.stddev);
  return std::unique_ptr<DynamicTable>(new DynamicTable(o, std::move(slot_init)));
}

DynamicTable::Buffer DynamicTable::Allocate(size_t bytes) {
  // Chunks fill most of a huge page; the index beyond one is made of them.
  const size_t align = bytes >= kHugePage / 2 ? kHugePage : 64;
  const size_t rounded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, std::max(rounded, align));
  if (p == nullptr) throw std::bad_alloc();
  if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);  // a hint; failure is fine
  return Buffer(static_cast<std::byte*>(p));
}

DynamicTable::DynamicTable(DynamicTableInit options, std::vector<float> slot_init)
    : options_(options),
      slot_init_(std::move(slot_init)),
      width_(static_cast<size_t>(options_.dim) * (1 + slot_init_.size())),
      record_bytes_((sizeof(RowHeader) + width_ * sizeof(float) + 7) / 8 * 8),
      // At least 2 rows a chunk: Row()'s division by multiplication needs a
      // divisor >= 2 (a row of over 1 MiB makes chunks of two rows).
      chunk_rows_(static_cast<uint32_t>(std::max<size_t>(2, kHugePage / record_bytes_))),
      first_rows_(std::max<uint32_t>(1, chunk_rows_ / 16)),
      chunk_magic_(~uint64_t{0} / chunk_rows_ + 1),
      max_candidates_(options_.max_rows > 0 ? std::max<int64_t>(4 * options_.max_rows, int64_t{1} << 20) : 0) {
  ResetIndex(kMinSlots);
  // The index's hash is salted per table (a fresh salt each run): ids chosen
  // to collide cannot turn probes into scans.  Rows are numbered, exported
  // and evicted in arena order, so nothing a job sees depends on the salt.
  std::random_device rd;
  salt_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

DynamicTable::~DynamicTable() = default;

void DynamicTable::ResetIndex(size_t slots) {
  index_buf_ = Allocate(slots * sizeof(uint32_t));
  index_ = reinterpret_cast<uint32_t*>(index_buf_.get());
  index_size_ = slots;
  std::memset(index_, 0, slots * sizeof(uint32_t));
}

DynamicTable::RowHeader* DynamicTable::Row(uint32_t r) const {
  // r / chunk_rows_ by a multiplication (exact for 32-bit r and divisor:
  // Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019):
  // a lookup addresses rows several times, and a division costs 10+ cycles.
  const uint32_t chunk = static_cast<uint32_t>((static_cast<unsigned __int128>(chunk_magic_) * r) >> 64);
  const uint32_t within = r - chunk * chunk_rows_;
  return reinterpret_cast<RowHeader*>(chunks_[chunk].get() + size_t{within} * record_bytes_);
}

void DynamicTable::FindRows(const int64_t* ids, size_t n, int64_t* rows) const {
  // Random ids of a large table miss every cache: for a block of ids, ask
  // for all their index slots, then for all their rows, then probe, so that
  // the misses of a block overlap instead of following one another.
  const size_t mask = index_size_ - 1;
  size_t homes[kBlock];
  for (size_t i = 0; i < n; ++i) {
    homes[i] = Hash(ids[i]) & mask;
    __builtin_prefetch(&index_[homes[i]]);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint32_t e = index_[homes[i]];
    if (e == 0) continue;
    const char* row = reinterpret_cast<const char*>(Row(e - 1));
    for (size_t b = 0; b < record_bytes_; b += 64) __builtin_prefetch(row + b);
  }
  for (size_t i = 0; i < n; ++i) {
    rows[i] = -1;
    for (size_t s = homes[i];; s = (s + 1) & mask) {
      const uint32_t e = index_[s];
      if (e == 0) break;
      if (Row(e - 1)->key == ids[i]) {
        rows[i] = e - 1;
        break;
      }
    }
  }
}

int64_t DynamicTable::FindRow(int64_t key) const {
  const size_t mask = index_size_ - 1;
  for (size_t s = Hash(key) & mask;; s = (s + 1) & mask) {
    const uint32_t e = index_[s];
    if (e == 0) return -1;
    if (Row(e - 1)->key == key) return e - 1;
  }
}

StatusOr<uint32_t> DynamicTable::NewRow(int64_t key) {
  if (static_cast<double>(live_ + 1) > kMaxLoad * static_cast<double>(index_size_)) GrowIndex();
  uint32_t r;
  if (!free_.empty()) {
    r = free_.back();
    free_.pop_back();
  } else {
    if (next_row_ == std::numeric_limits<uint32_t>::max() - 1) {
      return ResourceExhaustedError("a PS task's share of a dynamic embedding table is limited to 2^32 - 2 rows");
    }
    r = next_row_++;
    if (chunks_.empty()) {
      chunks_.push_back(Allocate(size_t{first_rows_} * record_bytes_));
    } else if (first_small_ && r == first_rows_) {
      // The table outgrew its small first chunk: a full one takes its rows.
      Buffer full = Allocate(size_t{chunk_rows_} * record_bytes_);
      std::memcpy(full.get(), chunks_[0].get(), size_t{first_rows_} * record_bytes_);
      chunks_[0] = std::move(full);
    }
    if (r == first_rows_) first_small_ = false;
    if (r / chunk_rows_ >= chunks_.size()) chunks_.push_back(Allocate(size_t{chunk_rows_} * record_bytes_));
  }
  RowHeader* h = Row(r);
  h->key = key;
  h->version = 0;
  h->freq = 1;
  const size_t mask = index_size_ - 1;
  size_t s = Hash(key) & mask;
  while (index_[s] != 0) s = (s + 1) & mask;
  index_[s] = r + 1;
  ++live_;
  return r;
}

void DynamicTable::GrowIndex() {
  Buffer old_buf = std::move(index_buf_);
  const uint32_t* old = reinterpret_cast<const uint32_t*>(old_buf.get());
  const size_t old_size = index_size_;
  ResetIndex(old_size * 2);
  const size_t mask = index_size_ - 1;
  for (size_t i = 0; i < old_size; ++i) {
    const uint32_t e = old[i];
    if (e == 0) continue;
    size_t s = Hash(Row(e - 1)->key) & mask;
    while (index_[s] != 0) s = (s + 1) & mask;
    index_[s] = e;
  }
}

void DynamicTable::EraseRow(uint32_t r) {
  const size_t mask = index_size_ - 1;
  size_t s = Hash(Row(r)->key) & mask;
  while (index_[s] != r + 1) s = (s + 1) & mask;
  // Backward-shift deletion: entries after the hole that may move into it
  // do, so that lookups never need tombstones.
  for (size_t j = (s + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const size_t home = Hash(Row(index_[j] - 1)->key) & mask;
    // The entry at j stays when its home lies cyclically in (s, j].
    const bool stays = s <= j ? (home > s && home <= j) : (home > s || home <= j);
    if (stays) continue;
    index_[s] = index_[j];
    s = j;
  }
  index_[s] = 0;
  Row(r)->freq = 0;
  free_.push_back(r);
  --live_;
  ++erasures_;
}

void DynamicTable::InitRow(int64_t key, float* data) const {
  const size_t d = static_cast<size_t>(options_.dim);
  if (options_.zeros_init) {
    std::fill(data, data + d, 0.f);
  } else {
    // A counter-based generator keyed by (seed, id): the row does not
    // depend on which task creates it, or when.
    uint64_t state = Mix64(options_.seed ^ Mix64(static_cast<uint64_t>(key)));
    auto next = [&state] {
      state += 0x9e3779b97f4a7c15ull;
      return Mix64(state);
    };
    // Box-Muller gives normals in pairs; TensorFlow's truncated normal
    // redraws values beyond 2 stddev.
    double spare = 0;
    bool have_spare = false;
    for (size_t j = 0; j < d; ++j) {
      double z;
      do {
        if (have_spare) {
          z = spare;
          have_spare = false;
          continue;
        }
        const double r = std::sqrt(-2.0 * std::log(Uniform(next())));
        const double a = 6.283185307179586 * Uniform(next());
        z = r * std::cos(a);
        spare = r * std::sin(a);
        have_spare = true;
      } while (std::abs(z) > 2.0);
      data[j] = static_cast<float>(z) * options_.stddev;
    }
  }
  for (size_t k = 0; k < slot_init_.size(); ++k) {
    std::fill(data + d * (k + 1), data + d * (k + 2), slot_init_[k]);
  }
}

Status DynamicTable::MakeRoom() {
  if (options_.max_rows == 0 || live_ < options_.max_rows) return OkStatus();
  if (!options_.evict_when_full) {
    return ResourceExhaustedError("the table is full: it holds max_rows = ", options_.max_rows,
                                  " rows on this PS task and refuses new ids (on_full: error); raise max_rows, set "
                                  "steps_to_live, or set on_full: evict to drop the least recently seen rows");
  }
  EvictOldest(std::max<int64_t>(1, live_ / 10));
  return OkStatus();
}

int64_t DynamicTable::EvictOldest(int64_t n) {
  std::vector<uint32_t> versions;
  versions.reserve(static_cast<size_t>(live_));
  for (uint32_t r = 0; r < next_row_; ++r) {
    if (Row(r)->freq != 0) versions.push_back(Row(r)->version);
  }
  if (versions.empty()) return 0;
  n = std::min<int64_t>(n, static_cast<int64_t>(versions.size()));
  std::nth_element(versions.begin(), versions.begin() + (n - 1), versions.end());
  const uint32_t threshold = versions[static_cast<size_t>(n - 1)];
  // Every row older than the threshold, then rows at it until n are gone.
  int64_t older = 0;
  for (uint32_t v : versions) older += v < threshold ? 1 : 0;
  int64_t at_threshold = n - older;
  int64_t evicted = 0;
  for (uint32_t r = 0; r < next_row_; ++r) {
    const RowHeader* h = Row(r);
    if (h->freq == 0) continue;
    if (h->version < threshold || (h->version == threshold && at_threshold-- > 0)) {
      EraseRow(r);
      ++evicted;
    }
  }
  stats_.evictions += evicted;
  return evicted;
}

int64_t DynamicTable::EvictStale(int64_t step) {
  last_sweep_ = step;
  if (options_.steps_to_live <= 0 || step <= options_.steps_to_live) return 0;
  const int64_t oldest = step - options_.steps_to_live;  // rows seen before this step go
  int64_t evicted = 0;
  for (uint32_t r = 0; r < next_row_; ++r) {
    const RowHeader* h = Row(r);
    if (h->freq != 0 && static_cast<int64_t>(h->version) < oldest) {
      EraseRow(r);
      ++evicted;
    }
  }
  stats_.evictions += evicted;
  if (num_candidates_ > 0) {
    std::vector<Candidate> keep;
    for (const Candidate& c : candidates_) {
      if (c.count != 0 && static_cast<int64_t>(c.seen) >= oldest) keep.push_back(c);
    }
    RebuildCandidates(keep);
  }
  return evicted;
}

void DynamicTable::GrowCandidates() {
  std::vector<Candidate> old(std::max(kMinSlots, candidates_.size() * 2), Candidate{0, 0, 0});
  old.swap(candidates_);
  const size_t mask = candidates_.size() - 1;
  for (const Candidate& c : old) {
    if (c.count == 0) continue;
    size_t s = Hash(c.key) & mask;
    while (candidates_[s].count != 0) s = (s + 1) & mask;
    candidates_[s] = c;
  }
}

void DynamicTable::EraseCandidateAt(size_t s) {
  const size_t mask = candidates_.size() - 1;
  for (size_t j = (s + 1) & mask; candidates_[j].count != 0; j = (j + 1) & mask) {
    const size_t home = Hash(candidates_[j].key) & mask;
    const bool stays = s <= j ? (home > s && home <= j) : (home > s || home <= j);
    if (stays) continue;
    candidates_[s] = candidates_[j];
    s = j;
  }
  candidates_[s] = Candidate{0, 0, 0};
  --num_candidates_;
}

void DynamicTable::DropOldestCandidates() {
  // Keep the more recently seen half.
  std::vector<uint32_t> seen;
  seen.reserve(static_cast<size_t>(num_candidates_));
  for (const Candidate& c : candidates_) {
    if (c.count != 0) seen.push_back(c.seen);
  }
  if (seen.empty()) return;
  const size_t half = seen.size() / 2;
  std::nth_element(seen.begin(), seen.begin() + static_cast<long>(half), seen.end());
  const uint32_t threshold = seen[half];
  std::vector<Candidate> keep;
  for (const Candidate& c : candidates_) {
    if (c.count != 0 && c.seen >= threshold) keep.push_back(c);
  }
  RebuildCandidates(keep);
}

void DynamicTable::RebuildCandidates(const std::vector<Candidate>& keep) {
  size_t slots = kMinSlots;
  while (static_cast<double>(keep.size()) > kMaxLoad * static_cast<double>(slots)) slots *= 2;
  candidates_.assign(slots, Candidate{0, 0, 0});
  num_candidates_ = 0;
  const size_t mask = slots - 1;
  for (const Candidate& c : keep) {
    size_t s = Hash(c.key) & mask;
    while (candidates_[s].count != 0) s = (s + 1) & mask;
    candidates_[s] = c;
    ++num_candidates_;
  }
}

void DynamicTable::PutCandidate(int64_t key, uint32_t count, uint32_t step) {
  if (count == 0) return;
  if (static_cast<double>(num_candidates_ + 1) > kMaxLoad * static_cast<double>(candidates_.size())) GrowCandidates();
  const size_t mask = candidates_.size() - 1;
  size_t s = Hash(key) & mask;
  while (candidates_[s].count != 0 && candidates_[s].key != key) s = (s + 1) & mask;
  if (candidates_[s].count == 0) ++num_candidates_;
  candidates_[s] = Candidate{key, count, step};
}

uint32_t DynamicTable::CountCandidate(int64_t key, int64_t c, uint32_t step) {
  if (max_candidates_ > 0 && num_candidates_ >= max_candidates_) DropOldestCandidates();
  if (static_cast<double>(num_candidates_ + 1) > kMaxLoad * static_cast<double>(candidates_.size())) GrowCandidates();
  const size_t mask = candidates_.size() - 1;
  size_t s = Hash(key) & mask;
  while (candidates_[s].count != 0 && candidates_[s].key != key) s = (s + 1) & mask;
  Candidate& e = candidates_[s];
  if (e.count == 0) {
    e.key = key;
    ++num_candidates_;
  }
  e.count = Saturate32(static_cast<int64_t>(e.count) + c);
  e.seen = step;
  const uint32_t count = e.count;
  if (static_cast<int64_t>(count) >= options_.filter_freq) EraseCandidateAt(s);
  return count;
}

Status DynamicTable::Lookup(const int64_t* ids, const int64_t* counts, size_t n, int64_t step, float* out) {
  if (options_.steps_to_live > 0 && step - last_sweep_ >= std::max<int64_t>(1, options_.steps_to_live / 4)) {
    EvictStale(step);
  }
  const size_t d = static_cast<size_t>(options_.dim);
  const uint32_t version = Saturate32(step);
  int64_t found[kBlock];
  uint64_t block_erasures = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t in_block = i % kBlock;
    if (in_block == 0) {
      FindRows(ids + i, std::min(kBlock, n - i), found);
      block_erasures = erasures_;
    }
    const int64_t key = ids[i];
    const int64_t c = counts == nullptr ? 1 : std::max<int64_t>(1, counts[i]);
    // A row created or evicted since the block was probed (a repeated id,
    // a full table) makes the block's answers stale: probe again.
    int64_t r = found[in_block];
    if (r < 0 || erasures_ != block_erasures) r = FindRow(key);
    if (r >= 0) {
      RowHeader* h = Row(static_cast<uint32_t>(r));
      h->version = std::max(h->version, version);
      h->freq = Saturate32(static_cast<int64_t>(h->freq) + c);
      std::memcpy(out + i * d, Data(static_cast<uint32_t>(r)), d * sizeof(float));
      ++stats_.hits;
      continue;
    }
    uint32_t freq = Saturate32(c);
    if (options_.filter_freq > 1) {
      freq = CountCandidate(key, c, version);
      if (static_cast<int64_t>(freq) < options_.filter_freq) {
        std::fill(out + i * d, out + (i + 1) * d, 0.f);
        ++stats_.filtered;
        continue;
      }
    }
    if (Status room = MakeRoom(); !room.ok()) {
      // Refused (on_full: error): the id keeps its count for later.
      if (options_.filter_freq > 1) PutCandidate(key, freq, version);
      return room;
    }
    ASSIGN_OR_RETURN(uint32_t nr, NewRow(key));
    RowHeader* h = Row(nr);
    h->version = version;
    h->freq = std::max<uint32_t>(freq, 1);
    InitRow(key, Data(nr));
    std::memcpy(out + i * d, Data(nr), d * sizeof(float));
    ++stats_.admissions;
  }
  return OkStatus();
}

void DynamicTable::Find(const int64_t* ids, size_t n, float* out) const {
  const size_t d = static_cast<size_t>(options_.dim);
  int64_t found[kBlock];
  for (size_t i = 0; i < n; ++i) {
    if (i % kBlock == 0) FindRows(ids + i, std::min(kBlock, n - i), found);
    const int64_t r = found[i % kBlock];
    if (r >= 0) {
      std::memcpy(out + i * d, Data(static_cast<uint32_t>(r)), d * sizeof(float));
    } else {
      std::fill(out + i * d, out + (i + 1) * d, 0.f);
    }
  }
}

Status DynamicTable::Apply(const int64_t* ids, const float* grads, size_t n, const RowApply& apply) {
  const size_t d = static_cast<size_t>(options_.dim);
  std::vector<uint32_t> rows;
  std::vector<size_t> from;
  rows.reserve(n);
  from.reserve(n);
  int64_t found[kBlock];
  for (size_t i = 0; i < n; ++i) {
    if (i % kBlock == 0) FindRows(ids + i, std::min(kBlock, n - i), found);
    const int64_t r = found[i % kBlock];
    if (r < 0) continue;
    rows.push_back(static_cast<uint32_t>(r));
    from.push_back(i);
  }
  stats_.dropped_updates += static_cast<int64_t>(n - rows.size());
  if (rows.empty()) return OkStatus();
  const int64_t m = static_cast<int64_t>(rows.size());
  const TensorShape shape({m, options_.dim});
  Tensor value(DType::kFloat, shape), grad(DType::kFloat, shape);
  std::vector<Tensor> slots(num_slots(), Tensor());
  for (Tensor& s : slots) s = Tensor(DType::kFloat, shape);
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* src = Data(rows[i]);
    std::memcpy(value.flat<float>().data() + i * d, src, d * sizeof(float));
    for (size_t k = 0; k < slots.size(); ++k) {
      std::memcpy(slots[k].flat<float>().data() + i * d, src + d * (k + 1), d * sizeof(float));
    }
    std::memcpy(grad.flat<float>().data() + i * d, grads + from[i] * d, d * sizeof(float));
  }
  RETURN_IF_ERROR(apply(&value, slots, grad));
  for (size_t i = 0; i < rows.size(); ++i) {
    float* dst = Data(rows[i]);
    std::memcpy(dst, value.flat<float>().data() + i * d, d * sizeof(float));
    for (size_t k = 0; k < slots.size(); ++k) {
      std::memcpy(dst + d * (k + 1), slots[k].flat<float>().data() + i * d, d * sizeof(float));
    }
  }
  return OkStatus();
}

DynamicTable::Snapshot DynamicTable::Export() const {
  const int64_t n = live_;
  const size_t d = static_cast<size_t>(options_.dim);
  Snapshot s{.keys = Tensor(DType::kInt64, TensorShape({n})),
             .values = Tensor(DType::kFloat, TensorShape({n, options_.dim})),
             .freqs = Tensor(DType::kInt64, TensorShape({n})),
             .versions = Tensor(DType::kInt64, TensorShape({n}))};
  for (size_t k = 0; k < num_slots(); ++k) s.slots.emplace_back(DType::kFloat, TensorShape({n, options_.dim}));
  size_t i = 0;
  for (uint32_t r = 0; r < next_row_; ++r) {
    const RowHeader* h = Row(r);
    if (h->freq == 0) continue;
    s.keys.flat<int64_t>()[i] = h->key;
    s.freqs.flat<int64_t>()[i] = h->freq;
    s.versions.flat<int64_t>()[i] = h->version;
    const float* src = Data(r);
    std::memcpy(s.values.flat<float>().data() + i * d, src, d * sizeof(float));
    for (size_t k = 0; k < s.slots.size(); ++k) {
      std::memcpy(s.slots[k].flat<float>().data() + i * d, src + d * (k + 1), d * sizeof(float));
    }
    ++i;
  }
  return s;
}

void DynamicTable::Clear() {
  chunks_.clear();
  first_small_ = true;
  next_row_ = 0;
  free_.clear();
  ResetIndex(kMinSlots);
  live_ = 0;
  candidates_.clear();
  num_candidates_ = 0;
  last_sweep_ = 0;
}

Status DynamicTable::Insert(int64_t key, const float* value, const std::vector<const float*>& slots, int64_t freq,
                            int64_t version) {
  const size_t d = static_cast<size_t>(options_.dim);
  int64_t r = FindRow(key);
  if (r < 0) {
    if (options_.max_rows > 0 && live_ >= options_.max_rows) {
      return ResourceExhaustedError("restoring more than max_rows = ", options_.max_rows,
                                    " rows onto this PS task; raise max_rows or use more PS tasks");
    }
    ASSIGN_OR_RETURN(uint32_t nr, NewRow(key));
    r = nr;
  }
  RowHeader* h = Row(static_cast<uint32_t>(r));
  h->freq = std::max<uint32_t>(1, Saturate32(freq));
  h->version = Saturate32(version);
  float* dst = Data(static_cast<uint32_t>(r));
  std::memcpy(dst, value, d * sizeof(float));
  for (size_t k = 0; k < num_slots(); ++k) {
    if (k < slots.size() && slots[k] != nullptr) {
      std::memcpy(dst + d * (k + 1), slots[k], d * sizeof(float));
    } else {
      std::fill(dst + d * (k + 1), dst + d * (k + 2), slot_init_[k]);
    }
  }
  return OkStatus();
}

DynamicTableStats DynamicTable::stats() const {
  DynamicTableStats s = stats_;
  s.rows = live_;
  s.candidates = num_candidates_;
  const size_t row_bytes = chunks_.empty() ? 0
                          : first_small_ ? size_t{first_rows_} * record_bytes_
                                         : chunks_.size() * size_t{chunk_rows_} * record_bytes_;
  s.bytes = static_cast<int64_t>(row_bytes + index_size_ * sizeof(uint32_t) + free_.capacity() * sizeof(uint32_t) +
                                 candidates_.capacity() * sizeof(Candidate));
  return s;
}

}  // namespace psflow
