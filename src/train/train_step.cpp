#include "train/train_step.h"

#include <limits>

namespace replay::train {

double accumulate_gradients(model::Llama& model, const torch::Tensor& tokens, int64_t microbatch) {
  const int64_t batch = tokens.size(0);
  double total = 0;
  for (int64_t begin = 0; begin < batch; begin += microbatch) {
    const int64_t rows = std::min(microbatch, batch - begin);
    const double share = static_cast<double>(rows) / static_cast<double>(batch);
    torch::Tensor loss = model->loss(tokens.narrow(0, begin, rows));
    // The scalar is read before backward so a NaN is reported as the loss,
    // not discovered later in the gradients.
    total += share * loss.item<double>();
    (share == 1.0 ? loss : loss * share).backward();
  }
  return total;
}

double evaluate_loss(model::Llama& model, const torch::Tensor& tokens, int64_t microbatch) {
  torch::NoGradGuard no_grad;
  const int64_t n = tokens.size(0);
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  double total = 0;
  for (int64_t begin = 0; begin < n; begin += microbatch) {
    const int64_t rows = std::min(microbatch, n - begin);
    total += static_cast<double>(rows) * model->loss(tokens.narrow(0, begin, rows)).item<double>();
  }
  return total / static_cast<double>(n);
}

std::vector<double> sequence_losses(model::Llama& model, const torch::Tensor& tokens) {
  torch::NoGradGuard no_grad;
  std::vector<double> out;
  for (int64_t row = 0; row < tokens.size(0); ++row) out.push_back(model->loss(tokens.narrow(0, row, 1)).item<double>());
  return out;
}

}  // namespace replay::train
