#include "corpus/balanced_sample.h"

namespace replay::corpus {

BalancedSample::BalancedSample(const std::vector<std::string>& inputs, const std::string& text_field,
                               uint64_t budget)
    : budget_(budget) {
  for (const auto& in : inputs) inputs_.push_back({std::make_unique<DocumentReader>(in, text_field)});
}

BalancedSample::Input* BalancedSample::least_served() {
  Input* pick = nullptr;
  for (auto& in : inputs_)
    if (!in.done && (!pick || in.bytes < pick->bytes)) pick = &in;
  return pick;
}

void BalancedSample::cut_to_budget(std::string& text) const {
  const uint64_t room = budget_ - taken_;
  if (text.size() <= room) return;
  // room > 0 (next() stops at the budget); a '\n' at index room - 1 is the
  // last that fits.
  size_t cut = text.rfind('\n', room - 1);
  text.resize(cut == std::string::npos ? room : cut + 1);
}

bool BalancedSample::next(std::string& text) {
  while (taken_ < budget_) {
    Input* pick = least_served();
    if (!pick) return false;
    if (!pick->documents->next(document_)) {
      pick->done = true;
      continue;
    }
    text = std::move(document_.text);
    cut_to_budget(text);
    pick->bytes += text.size();
    taken_ += text.size();
    return true;
  }
  return false;
}

}  // namespace replay::corpus
