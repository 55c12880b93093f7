// The seeded rule that holds documents out for validation. Every document gets
// a key u = xxh3_64(text, seed): a pseudo-random number that depends only on
// the text and the seed, not on the corpus order or the thread count.
// Validation = the documents with the smallest keys, taken in ascending key
// order until they fill V = min(val_sequences, floor(val_max_fraction *
// total_tokens / seq_len)) sequences. Documents sharing a key (identical
// text) fall on the same side. Each validation document gives at most its
// first val_doc_sequences * seq_len tokens, the last of them the end-of-text
// token (when that cap is set; the rest of it is dropped, never trained on:
// documents, not sequences, are split),
// so a domain of long documents still gets many validation documents. Those
// documents are packed into their own stream (ascending key order) and never
// reach training; the tail of the last one beyond V sequences is dropped.
// All other documents are training data.
//
// Validation never takes everything: val_max_fraction is at most
// kMaxValFraction (builder.h; --val-fraction is refused above it), and a
// document (with its identical copies) that would take validation's
// documents past total_tokens - V * seq_len tokens is skipped: it stays in
// training, and later keys are tried. Training so keeps at least V * seq_len
// tokens, one sequence or more whenever V > 0: a corpus of one huge document
// trains (and gets no validation); only a corpus shorter than one sequence
// fails, with "too little text".
//
// To do that in one tokenization pass with bounded memory, pass 1 only reads
// and hashes: CandidateSketch keeps the smallest keys whose text adds up to a
// byte budget generous enough to hold V sequences (8 bytes per token, or twice
// the byte share of the fraction cap; a document counts with at most the
// bytes of its capped share, 8 per token). Pass 2 tokenizes everything; documents
// at or below the sketch's threshold are "candidates" and are spilled aside
// until their exact token counts pick the validation set.
#pragma once
#include <cstdint>
#include <queue>
#include <string_view>
#include <utility>
#include <vector>

namespace replay::store {

uint64_t document_key(std::string_view text, uint64_t seed);

// Bottom-k by bytes: the smallest keys whose text bytes reach a budget.
class CandidateSketch {
 public:
  explicit CandidateSketch(uint64_t byte_budget) : budget_(byte_budget) {}
  void add(uint64_t key, uint64_t bytes);
  // The largest key a candidate may have so that candidates (keys <= it) hold
  // at least `bytes` (<= the budget) of text; UINT64_MAX when the whole
  // corpus is needed. Call once, after the last add().
  uint64_t threshold(uint64_t bytes);

 private:
  uint64_t budget_;
  uint64_t held_ = 0;  // bytes in heap_
  std::priority_queue<std::pair<uint64_t, uint64_t>> heap_;  // (key, bytes), max-heap
};

}  // namespace replay::store
