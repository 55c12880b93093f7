#include "store/split_rule.h"

#include <algorithm>
#include <limits>

#include "util/hash.h"

namespace replay::store {

uint64_t document_key(std::string_view text, uint64_t seed) {
  return hash::xxh3_64(text.data(), text.size(), seed);
}

void CandidateSketch::add(uint64_t key, uint64_t bytes) {
  if (budget_ == 0) return;
  heap_.emplace(key, bytes);
  held_ += bytes;
  // Evict the largest keys while the rest still reaches the budget.
  while (!heap_.empty() && held_ - heap_.top().second >= budget_) {
    held_ -= heap_.top().second;
    heap_.pop();
  }
}

uint64_t CandidateSketch::threshold(uint64_t bytes) {
  std::vector<std::pair<uint64_t, uint64_t>> kept;
  kept.reserve(heap_.size());
  while (!heap_.empty()) {
    kept.push_back(heap_.top());
    heap_.pop();
  }
  std::sort(kept.begin(), kept.end());
  uint64_t sum = 0;
  for (const auto& [key, size] : kept) {
    sum += size;
    if (sum >= bytes) return key;
  }
  return std::numeric_limits<uint64_t>::max();
}

}  // namespace replay::store
