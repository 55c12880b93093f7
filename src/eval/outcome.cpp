#include "eval/outcome.h"

#include <cmath>

namespace replay::eval {

Accuracy accuracy_of(double p, double n) { return {p, n > 1 ? std::sqrt(p * (1 - p) / (n - 1)) : 0.0}; }

void decide(ItemResult& item) {
  item.predicted = item.predicted_norm = 0;
  for (size_t c = 1; c < item.scores.size(); ++c) {
    if (item.scores[c] > item.scores[item.predicted]) item.predicted = static_cast<int64_t>(c);
    const size_t n = static_cast<size_t>(item.predicted_norm);
    if (item.scores[c] / static_cast<double>(item.chars[c]) > item.scores[n] / static_cast<double>(item.chars[n]))
      item.predicted_norm = static_cast<int64_t>(c);
  }
  item.correct = item.predicted == item.gold;
  item.correct_norm = item.predicted_norm == item.gold;
}

Accuracy TaskResult::accuracy(bool norm) const {
  Accuracy a;
  const double n = static_cast<double>(items.size());
  if (items.empty()) return a;
  for (const auto& item : items) a.mean += (norm ? item.correct_norm : item.correct) ? 1.0 : 0.0;
  a.mean /= n;
  a.stderr_ = accuracy_of(a.mean, n).stderr_;
  return a;
}

}  // namespace replay::eval
