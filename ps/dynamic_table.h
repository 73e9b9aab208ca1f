// DynamicTable: one PS task's share of a dynamic embedding table (no fixed
// vocabulary, as DeepRec's EmbeddingVariable and Monolith's collisionless
// tables): a hash table from any int64 id to a row of `dim` floats and the
// optimizer's slot rows beside it.
//
//   auto t = DynamicTable::Create({.dim = 16, .filter_freq = 2, .steps_to_live = 5000}, /*slot_init=*/{0.1f});
//   RETURN_IF_ERROR((*t)->Lookup(ids, counts, n, step, rows));   // a training pull: [n, 16] into rows
//   RETURN_IF_ERROR((*t)->Apply(ids, grads, n, adagrad));        // a push: the rows that exist move
//   DynamicTable::Snapshot s = (*t)->Export();                   // keys, values, slots, freqs, versions
//
// - Rows are created on first sight, from a truncated normal (or zeros)
//   that depends only on (seed, id): the same id gets the same initial row
//   on any PS task, in any run.
// - Admission: with filter_freq > 1 an id gets a row once it was seen that
//   many times (counted exactly, per id, in a compact side table); until
//   then lookups answer zeros and its gradients are dropped.  With max_rows
//   set, at most max(4 x max_rows, 2^20) ids wait for admission (the least
//   recently seen half is forgotten when that is reached); without it and
//   without steps_to_live, their number is unbounded.
// - Eviction: rows (and counts of ids not admitted) unseen for
//   steps_to_live global steps are removed by sweeps every steps_to_live/4
//   steps.  A cap (max_rows) either evicts the least recently seen tenth of
//   the rows when full or refuses new ids (ResourceExhausted).
// - Memory: rows live in 2 MiB chunks on transparent huge pages (a small
//   first chunk for small tables) as [key, version, freq, value, slots...];
//   the index is open addressing of 4-byte row numbers (load at most 0.7),
//   so a row costs its floats plus about 24 bytes.
//
// Not thread-safe: the parameter server locks a table for each call.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "common/core/hash.h"
#include "common/core/status.h"
#include "common/core/tensor.h"
#include "common/distributed/dynamic_table_spec.h"

namespace psflow {



class DynamicTable {
 public:
  // The table as the chief configured it (max_rows: this task's share) and
  // the optimizer's slots' initial values, one per slot.  InvalidArgument
  // for dim <= 0 or negative limits.
  static StatusOr<std::unique_ptr<DynamicTable>> Create(DynamicTableInit options, std::vector<float> slot_init = {});
  ~DynamicTable();
  DynamicTable(const DynamicTable&) = delete;
  DynamicTable& operator=(const DynamicTable&) = delete;

  int64_t dim() const { return options_.dim; }
  size_t num_slots() const { return slot_init_.size(); }
  const DynamicTableInit& options() const { return options_; }

  // A training lookup of n ids (counts: each id's occurrences, null = 1
  // each) at global step `step`: out gets [n, dim], a row per id (zeros for
  // an id not admitted); rows are created, counted and marked seen.
  // ResourceExhausted when a new row is needed, the table is at max_rows
  // and evict_when_full is off (out is then incomplete; rows created for
  // earlier ids of the call stay).
  Status Lookup(const int64_t* ids, const int64_t* counts, size_t n, int64_t step, float* out);
  // Read only: the rows of ids that have one, zeros for the others.
  void Find(const int64_t* ids, size_t n, float* out) const;

  // Updates the rows of distinct `ids` that exist with their gradients
  // grads [n, dim]: `apply` gets them gathered as dense [m, dim] tensors
  // (value, each slot, gradient), and what it leaves there is stored back.
  using RowApply = std::function<Status(Tensor* value, std::vector<Tensor>& slots, const Tensor& grad)>;
  Status Apply(const int64_t* ids, const float* grads, size_t n, const RowApply& apply);

  // Removes the rows and admission counts unseen since step - steps_to_live;
  // returns how many rows went.  Lookup calls it every steps_to_live / 4 steps.
  int64_t EvictStale(int64_t step);

  // Every live row: keys int64 [N], values float [N, dim], one float
  // [N, dim] per slot, freqs and versions int64 [N] (DeepRec's names:
  // -keys, -values, -freqs, -versions).
  struct Snapshot {
    Tensor keys, values, freqs, versions;
    std::vector<Tensor> slots;
  };
  Snapshot Export() const;
  // Removes every row and admission count.
  void Clear();
  // Sets the row of `key` (restores): value[dim], one slot row per slot.
  // ResourceExhausted beyond max_rows.
  Status Insert(int64_t key, const float* value, const std::vector<const float*>& slots, int64_t freq, int64_t version);

  int64_t size() const { return live_; }
  DynamicTableStats stats() const;

 private:
  DynamicTable(DynamicTableInit options, std::vector<float> slot_init);
  struct RowHeader {
    int64_t key;
    uint32_t version;  // the last step it was seen (saturates)
    uint32_t freq;     // sightings (saturates); 0 marks a free row
  };
  struct Candidate {
    int64_t key;
    uint32_t count;  // 0: an empty slot
    uint32_t seen;
  };

  RowHeader* Row(uint32_t r) const;
  float* Data(uint32_t r) const { return reinterpret_cast<float*>(Row(r) + 1); }
  uint64_t Hash(int64_t key) const { return Mix64(static_cast<uint64_t>(key) ^ salt_); }
  int64_t FindRow(int64_t key) const;  // -1 when absent
  // The rows of ids[0, n) (-1: absent), n <= kBlock, their cache misses overlapped.
  static constexpr size_t kBlock = 32;
  void FindRows(const int64_t* ids, size_t n, int64_t* rows) const;
  StatusOr<uint32_t> NewRow(int64_t key);  // not initialized
  void EraseRow(uint32_t r);
  void GrowIndex();
  void InitRow(int64_t key, float* data) const;
  Status MakeRoom();
  int64_t EvictOldest(int64_t n);
  // Admission counting: the count of `key` after adding c (removed once it
  // reaches filter_freq).
  uint32_t CountCandidate(int64_t key, int64_t c, uint32_t step);
  void EraseCandidateAt(size_t slot);
  void GrowCandidates();
  void RebuildCandidates(const std::vector<Candidate>& keep);
  void DropOldestCandidates();
  void PutCandidate(int64_t key, uint32_t count, uint32_t step);  // sets key's count

  const DynamicTableInit options_;
  const std::vector<float> slot_init_;
  const size_t width_;         // floats per row: value and slots
  const size_t record_bytes_;  // header + floats, 8-byte aligned
  // Memory on 2 MiB boundaries with transparent huge pages when large.
  struct Block {
    void operator()(void* p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<std::byte, Block>;
  static Buffer Allocate(size_t bytes);
  const uint32_t chunk_rows_;  // rows per 2 MiB chunk
  const uint32_t first_rows_;  // rows of the small first chunk
  const uint64_t chunk_magic_;  // divides by chunk_rows_ (Row)
  bool first_small_ = true;    // chunks_[0] holds first_rows_ rows until it grows
  std::vector<Buffer> chunks_;
  uint32_t next_row_ = 0;       // rows ever handed out
  std::vector<uint32_t> free_;  // rows freed by evictions
  Buffer index_buf_;      // uint32_t[index_size_]: row + 1, or 0: empty
  uint32_t* index_ = nullptr;
  size_t index_size_ = 0;  // a power of two
  void ResetIndex(size_t slots);
  int64_t live_ = 0;
  uint64_t erasures_ = 0;  // rows erased so far: row numbers found before may be stale
  std::vector<Candidate> candidates_;
  int64_t num_candidates_ = 0;
  // With a cap on rows, ids awaiting admission are capped too (4x the rows,
  // at least 2^20): the least recently seen half goes when it is reached.
  const int64_t max_candidates_;
  uint64_t salt_ = 0;  // of the index's hash
  int64_t last_sweep_ = 0;
  mutable DynamicTableStats stats_;
};

}  // namespace psflow
