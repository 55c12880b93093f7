// A sample of about `budget` bytes drawn from several document inputs in
// equal shares, for training a tokenizer on a mix of domains without one
// large input dominating.
//
// Balanced: the next document always comes from the input that has given the
// fewest bytes so far (ties: the input listed first); an input that runs out
// drops out and the others fill its share. The sample stops at `budget`
// bytes: the document that would cross the budget is cut after its last
// '\n' that fits (or at the budget exactly when no line end fits).
// Deterministic: documents are taken in each input's reading order
// (DocumentReader: sorted paths), so the same inputs and budget always give
// the same documents in the same order.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "corpus/documents.h"

namespace replay::corpus {

class BalancedSample {
 public:
  // `inputs` are files or folders as DocumentReader takes them; `text_field`
  // is the JSON field of .jsonl inputs. Errors of the readers (missing path,
  // bad JSON) are replay::Error naming the file.
  BalancedSample(const std::vector<std::string>& inputs, const std::string& text_field, uint64_t budget);

  // The next document's text; false when the budget is used up or every
  // input is exhausted.
  bool next(std::string& text);
  // Bytes handed out so far (never more than the budget).
  uint64_t taken() const { return taken_; }

 private:
  struct Input {
    std::unique_ptr<DocumentReader> documents;
    uint64_t bytes = 0;
    bool done = false;
  };
  Input* least_served();
  void cut_to_budget(std::string& text) const;

  std::vector<Input> inputs_;
  Document document_;
  uint64_t budget_;
  uint64_t taken_ = 0;
};

}  // namespace replay::corpus
