#include "eval/score.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
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

// Requests whose inputs (all tokens but the last) and continuation lengths
// are equal share one row of the batch and its LM-head rows: only their
// last targets differ (one-token choices after the same context, " A" / " B").
using Groups = std::vector<std::vector<size_t>>;

Groups group_shared_inputs(const std::vector<Request>& requests) {
  std::map<std::pair<std::vector<int64_t>, int64_t>, size_t> index;
  Groups groups;
  for (size_t k = 0; k < requests.size(); ++k) {
    const Request& r = requests[k];
    auto key = std::make_pair(std::vector<int64_t>(r.tokens.begin(), r.tokens.end() - 1), r.continuation);
    const auto [it, added] = index.emplace(std::move(key), groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(k);
  }
  return groups;
}

// Scores the groups order[begin, end) (one padded batch) into `out`.
void score_batch(model::Llama& model, const std::vector<Request>& requests, const Groups& groups,
                 const std::vector<size_t>& order, size_t begin, size_t end, std::vector<double>& out) {
  const int64_t b = static_cast<int64_t>(end - begin);
  const int64_t t = static_cast<int64_t>(requests[groups[order[begin]][0]].tokens.size()) - 1;
  std::vector<int64_t> input(b * t, 0), rows, head_rows, targets;
  for (int64_t k = 0; k < b; ++k) {
    const auto& members = groups[order[begin + k]];
    const Request& first = requests[members[0]];
    const int64_t len = static_cast<int64_t>(first.tokens.size()), base = static_cast<int64_t>(rows.size());
    std::copy(first.tokens.begin(), first.tokens.end() - 1, input.begin() + k * t);
    for (int64_t p = len - 1 - first.continuation; p < len - 1; ++p) rows.push_back(k * t + p);  // p predicts p + 1
    for (size_t m : members)
      for (int64_t j = 0; j < first.continuation; ++j) {
        head_rows.push_back(base + j);
        targets.push_back(requests[m].tokens[len - first.continuation + j]);
      }
  }
  const torch::Tensor hidden = model->hidden_states(torch::from_blob(input.data(), {b, t}, torch::kLong));
  const auto on_device = [&](std::vector<int64_t>& v) {
    return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kLong).to(hidden.device());
  };
  const torch::Tensor h = hidden.reshape({b * t, -1}).index_select(0, on_device(rows)).to(torch::kFloat);
  // log p(target) = logit(target) - logsumexp(logits): no second [rows, V]
  // tensor (a log_softmax) is written and read back, which at a 128K
  // vocabulary costs as much memory traffic as the head's matmul output.
  const torch::Tensor logits = at::linear(h, model->lm_head_weight().to(torch::kFloat));
  const torch::Tensor index = on_device(head_rows);
  const torch::Tensor picked = (logits.index({index, on_device(targets)}) - logits.logsumexp(-1).index_select(0, index))
                                   .to(torch::kDouble)
                                   .cpu()
                                   .contiguous();
  const double* lp = picked.data_ptr<double>();
  for (int64_t k = 0, row = 0; k < b; ++k)
    for (size_t m : groups[order[begin + k]]) {
      double sum = 0;
      for (int64_t j = 0; j < requests[m].continuation; ++j) sum += lp[row++];
      out[m] = sum;
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
  const Groups groups = group_shared_inputs(requests);
  const auto length = [&](size_t g) { return static_cast<int64_t>(requests[groups[g][0]].tokens.size()) - 1; };
  std::vector<size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return length(a) > length(b); });
  std::vector<double> out(requests.size(), 0.0);
  for (size_t begin = 0; begin < order.size();) {
    const int64_t t = length(order[begin]);
    size_t end = begin + 1;
    while (end < order.size() && static_cast<int64_t>(end - begin + 1) * t <= options.batch_tokens) ++end;
    score_batch(model, requests, groups, order, begin, end, out);
    begin = end;
  }
  return out;
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
