#include "train/data_feed.h"

#include <algorithm>

#include "util/error.h"

namespace replay::train {

DataFeed::DataFeed(const run::RunConfig& config)
    : seq_len_(config.seq_len), vocab_size_(config.model.vocab_size) {
  for (const auto& src : config.sources) {
    names_.push_back(src.name);
    stores_.push_back(store::TokenStore::open(src.dir, src.fingerprint));
    const auto& s = stores_.back();
    // The config was resolved from the manifest; a store rebuilt since then
    // would silently change the experiment.
    if (s.seq_len() != seq_len_ || s.num_sequences(store::Split::train) != src.train_sequences) {
      throw Error("token store " + src.dir + " changed since the config was resolved");
    }
  }
}

torch::Tensor DataFeed::read(std::span<const schedule::SequenceRef> refs) const {
  auto tokens = torch::empty({static_cast<int64_t>(refs.size()), seq_len_}, torch::kInt64);
  int64_t* dst = tokens.data_ptr<int64_t>();
  for (size_t row = 0; row < refs.size(); ++row) {
    const auto& ref = refs[row];
    const auto source = static_cast<size_t>(ref.source);
    stores_.at(source).read(store::Split::train, ref.index, dst + row * seq_len_);
    check_token_ids(dst + row * seq_len_, source, store::Split::train, ref.index);
  }
  return tokens;
}

void DataFeed::check_token_ids(const int64_t* tokens, size_t source, store::Split split, int64_t index) const {
  const int64_t max = *std::max_element(tokens, tokens + seq_len_);
  if (max < vocab_size_) return;
  throw Error("token store " + stores_.at(source).dir().string() + " (source '" + names_.at(source) + "'): " +
              store::split_name(split) + " sequence " + std::to_string(index) + " holds token id " +
              std::to_string(max) + ", but model.vocab_size is " + std::to_string(vocab_size_) +
              "; the store does not match its manifest (`replay data info` checks it; rebuild it)");
}

torch::Tensor DataFeed::validation_set(size_t source, int64_t n) const {
  const auto& s = stores_.at(source);
  int64_t count = std::min<int64_t>(n, s.num_sequences(store::Split::val));
  auto tokens = torch::empty({count, seq_len_}, torch::kInt64);
  std::vector<int64_t> indices(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) indices[static_cast<size_t>(i)] = i;
  if (count > 0) s.read_many(store::Split::val, indices, tokens.data_ptr<int64_t>());
  for (int64_t i = 0; i < count; ++i)
    check_token_ids(tokens.data_ptr<int64_t>() + i * seq_len_, source, store::Split::val, i);
  return tokens;
}

}  // namespace replay::train
