// Multiple-choice scoring as lm-evaluation-harness does it (spec finetune.md
// section 4; docs/eval.md). The library entry point is score_task(); the
// trainer can call it between steps with its own model and tokenizer.
//
// Per item and choice (a "request"):
//   prefix   = [BOS] when the tokenizer's template adds one (has_bos()); with
//              no BOS and an empty context, [EOT] (lm-eval's prefix token)
//   context  = prefix + encode(context without its trailing whitespace)
//              (lm-eval moves trailing whitespace to the continuation)
//   whole    = prefix + encode(context + choice)
//   the continuation is whole[len(context):]. When `context` is not a prefix
//   of `whole` (a merge across the boundary) the request counts as a
//   mismatch and is still scored, as lm-eval does. An empty continuation is
//   an error naming the item.
//   Longer than the model's max_seq_len + 1 tokens: the sequence keeps its
//   last max_seq_len + 1 tokens (lm-eval's left truncation); a continuation
//   of more than max_seq_len tokens is an error.
//   score    = sum over continuation tokens t_i of log p(t_i | tokens before),
//              fp32 log-softmax over the full vocabulary, summed in fp64.
// Per item: predicted = argmax of score (ties: the first), predicted_norm =
// argmax of score / (characters of the choice, Unicode code points, as
// Python's len() of the continuation string); correct = predicted == gold.
// acc = mean(correct), its standard error sqrt(p (1 - p) / (n - 1)) (lm-eval's
// sample standard deviation over sqrt(n)).
//
// Speed: requests are sorted by length (longest first) and packed into
// right-padded batches of at most `batch_tokens` padded tokens; each batch is
// one forward to the final hidden states, and the LM head runs only on the
// rows that predict continuation tokens (never [B, T, V] logits). Requests
// with the same input (all tokens but the last; e.g. one-token choices " A",
// " B", " C", " D" after one context) and continuation length share one row
// of the batch and one LM-head pass.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "eval/outcome.h"
#include "eval/task.h"
#include "model/llama.h"
#include "text/tokenizer.h"

namespace replay::eval {

struct Request {
  size_t item = 0, choice = 0;
  std::vector<int64_t> tokens;  // the whole sequence, after any left truncation
  int64_t continuation = 0;     // its last `continuation` tokens are scored
  bool mismatch = false;        // context ids were not a prefix of the whole
  bool truncated = false;
};

// The requests of every item and choice, in item then choice order.
std::vector<Request> build_requests(const Task& task, const text::Tokenizer& tokenizer, int64_t max_seq_len);

struct ScoreOptions {
  int64_t batch_tokens = 8192;  // padded tokens per forward (at least one request)
};

// The summed log-likelihood of each request's continuation, in request order.
std::vector<double> score_requests(model::Llama& model, const std::vector<Request>& requests,
                                   const ScoreOptions& options);

// Throws replay::Error when the tokenizer has ids the model cannot embed.
void check_vocabulary(const model::Llama& model, const text::Tokenizer& tokenizer);

// Scores every item of `task` (the model is put in no-grad mode for it).
TaskResult score_task(model::Llama& model, const text::Tokenizer& tokenizer, const Task& task,
                      const ScoreOptions& options = {});

}  // namespace replay::eval
