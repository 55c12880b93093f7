// What scoring a multiple-choice task yields, item by item, and the
// accuracies computed from it (the rules: eval/score.h). Apart from the
// scorer so that readers of results (eval/results.h: files, paired
// comparisons; the sweep layer's demo) need no torch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace replay::eval {

struct ItemResult {
  std::string id;
  std::vector<double> scores;        // summed log-likelihood per choice
  std::vector<int64_t> tokens;       // continuation tokens per choice
  std::vector<int64_t> chars;        // continuation characters per choice
  int64_t gold = 0, predicted = 0, predicted_norm = 0;
  bool correct = false, correct_norm = false;
};

struct Accuracy {
  double mean = 0, stderr_ = 0;
};

// The accuracy p of n items with lm-eval's standard error, sqrt(p (1 - p) /
// (n - 1)) (the sample standard deviation over sqrt(n)); 0 for n <= 1.
Accuracy accuracy_of(double p, double n);

struct TaskResult {
  std::string task;
  bool acc = true, acc_norm = true;  // the task's metrics
  std::vector<ItemResult> items;
  int64_t requests = 0, mismatches = 0, truncated = 0;
  double seconds = 0;  // scoring time (tokenization included)
  Accuracy accuracy(bool norm) const;
};

// Picks the item's predictions from its scores: predicted = argmax of the
// scores, predicted_norm = argmax of score / characters (ties: the first).
void decide(ItemResult& item);

}  // namespace replay::eval
