// The narrow interface between "what data goes where" and the trainer: for
// each optimizer step, which sequence of which source fills each batch row.
// Implementations are pure functions of their construction arguments, so a
// resumed run, any microbatching and any number of data-parallel ranks see
// exactly the same global batch.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace replay::schedule {

struct SequenceRef {
  int32_t source = 0;  // index into BatchPlan::source_names()
  int64_t index = 0;   // sequence index into that source's *training* split
  bool operator==(const SequenceRef&) const = default;
};

class BatchPlan {
 public:
  virtual ~BatchPlan() = default;
  virtual int64_t num_steps() const = 0;
  virtual int64_t batch_size() const = 0;  // sequences per optimizer step
  virtual const std::vector<std::string>& source_names() const = 0;
  // Fills out[0 .. batch_size()) for `step` in [0, num_steps()).
  virtual void batch(int64_t step, std::span<SequenceRef> out) const = 0;
};

}  // namespace replay::schedule
