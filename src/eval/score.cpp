#include "eval/score.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace replay::eval {

namespace {

std::vector<int64_t> ids_of(const std::vector<int64_t>& prefix, const text::Tokenizer& tok, const std::string& s) {
  std::vector<text::TokenId> ids;
  tok.encode(s, ids);
  std::vector<int64_t> out = prefix;
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

Request make_request(const Task& task, size_t i, size_t c, const text::Tokenizer& tok, int64_t max_seq_len) {
  const TaskItem& item = task.items[i];
  const std::string where = task.file.string() + ": item '" + item.id + "' (line " + std::to_string(item.line) +
                            ") choice " + std::to_string(c);
  std::vector<int64_t> prefix;
  if (tok.has_bos()) prefix.push_back(tok.bos_id());
  else if (item.context.empty() && tok.has_eot()) prefix.push_back(tok.eot_id());
  else if (item.context.empty()) throw Error(where + ": empty context and the tokenizer has neither BOS nor EOT");
  // lm-eval's _encode_pair: trailing whitespace of the context belongs to the continuation.
  const size_t kept = item.context.find_last_not_of(" \t\n\r\f\v") + 1;  // 0 when all whitespace
  const auto context = ids_of(prefix, tok, item.context.substr(0, kept));
  Request r{i, c, ids_of(prefix, tok, item.context + item.choices[c]), 0, false, false};
  r.mismatch = r.tokens.size() < context.size() || !std::equal(context.begin(), context.end(), r.tokens.begin());
  r.continuation = static_cast<int64_t>(r.tokens.size()) - static_cast<int64_t>(context.size());
  if (r.continuation <= 0) throw Error(where + ": the choice \"" + item.choices[c] + "\" adds no tokens");
  if (r.continuation > max_seq_len)
    throw Error(where + ": " + std::to_string(r.continuation) + " continuation tokens exceed the model's max_seq_len " +
                std::to_string(max_seq_len));
  if (static_cast<int64_t>(r.tokens.size()) > max_seq_len + 1) {
    r.tokens.erase(r.tokens.begin(), r.tokens.end() - (max_seq_len + 1));
    r.truncated = true;
  }
  return r;
}

// Scores requests order[begin, end) (one padded batch) into `out`.
void score_batch(model::Llama& model, const std::vector<Request>& requests, const std::vector<size_t>& order,
                 size_t begin, size_t end, std::vector<double>& out) {
  const int64_t b = static_cast<int64_t>(end - begin);
  const int64_t t = static_cast<int64_t>(requests[order[begin]].tokens.size()) - 1;
  std::vector<int64_t> input(b * t, 0), rows, targets;
  for (int64_t k = 0; k < b; ++k) {
    const Request& r = requests[order[begin + k]];
    const int64_t len = static_cast<int64_t>(r.tokens.size());
    std::copy(r.tokens.begin(), r.tokens.end() - 1, input.begin() + k * t);
    for (int64_t p = len - 1 - r.continuation; p < len - 1; ++p) {
      rows.push_back(k * t + p);  // position p predicts token p + 1
      targets.push_back(r.tokens[p + 1]);
    }
  }
  const auto tokens = torch::from_blob(input.data(), {b, t}, torch::kLong);
  const torch::Tensor hidden = model->hidden_states(tokens);
  const auto device = hidden.device();
  const auto idx = torch::from_blob(rows.data(), {static_cast<int64_t>(rows.size())}, torch::kLong).to(device);
  const auto tgt = torch::from_blob(targets.data(), {static_cast<int64_t>(targets.size()), 1}, torch::kLong).to(device);
  const torch::Tensor h = hidden.reshape({b * t, -1}).index_select(0, idx).to(torch::kFloat);
  const torch::Tensor logits = at::linear(h, model->lm_head_weight().to(torch::kFloat));
  const torch::Tensor picked = torch::log_softmax(logits, -1).gather(1, tgt).squeeze(1).to(torch::kDouble).cpu();
  const double* lp = picked.data_ptr<double>();
  for (int64_t k = 0, row = 0; k < b; ++k) {
    const Request& r = requests[order[begin + k]];
    double sum = 0;
    for (int64_t j = 0; j < r.continuation; ++j) sum += lp[row++];
    out[order[begin + k]] = sum;
  }
}

}  // namespace

std::vector<Request> build_requests(const Task& task, const text::Tokenizer& tokenizer, int64_t max_seq_len) {
  std::vector<Request> out;
  for (size_t i = 0; i < task.items.size(); ++i)
    for (size_t c = 0; c < task.items[i].choices.size(); ++c) out.push_back(make_request(task, i, c, tokenizer, max_seq_len));
  return out;
}

std::vector<double> score_requests(model::Llama& model, const std::vector<Request>& requests,
                                   const ScoreOptions& options) {
  torch::NoGradGuard no_grad;
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].tokens.size() > requests[b].tokens.size(); });
  std::vector<double> out(requests.size(), 0.0);
  for (size_t begin = 0; begin < order.size();) {
    const int64_t t = static_cast<int64_t>(requests[order[begin]].tokens.size()) - 1;
    size_t end = begin + 1;
    while (end < order.size() && static_cast<int64_t>(end - begin + 1) * t <= options.batch_tokens) ++end;
    score_batch(model, requests, order, begin, end, out);
    begin = end;
  }
  return out;
}

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
  a.stderr_ = n > 1 ? std::sqrt(a.mean * (1 - a.mean) / (n - 1)) : 0.0;
  return a;
}

void check_vocabulary(const model::Llama& model, const text::Tokenizer& tokenizer) {
  const int64_t model_vocab = model->config().vocab_size;
  if (static_cast<int64_t>(tokenizer.vocab_size()) > model_vocab)
    throw Error("tokenizer " + tokenizer.source() + " has " + std::to_string(tokenizer.vocab_size()) +
                " ids but the model's vocab_size is " + std::to_string(model_vocab) +
                ": they do not belong together (pass the model's tokenizer with --tokenizer)");
}

TaskResult score_task(model::Llama& model, const text::Tokenizer& tokenizer, const Task& task,
                      const ScoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  check_vocabulary(model, tokenizer);
  const std::vector<Request> requests = build_requests(task, tokenizer, model->config().max_seq_len);
  const std::vector<double> scores = score_requests(model, requests, options);
  TaskResult result{task.name, task.acc, task.acc_norm, {}, static_cast<int64_t>(requests.size()), 0, 0, 0};
  for (const auto& item : task.items) result.items.push_back({item.id, {}, {}, {}, item.gold, 0, 0, false, false});
  for (size_t k = 0; k < requests.size(); ++k) {
    const Request& r = requests[k];
    ItemResult& item = result.items[r.item];
    item.scores.push_back(scores[k]);
    item.tokens.push_back(r.continuation);
    item.chars.push_back(std::max<int64_t>(1, utf8_length(task.items[r.item].choices[r.choice])));
    result.mismatches += r.mismatch;
    result.truncated += r.truncated;
  }
  for (auto& item : result.items) decide(item);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace replay::eval
