// Writes the scoring requests of a task (src/eval/score.h build_requests) as
// JSON, so the eager baseline (eager_score.py) scores exactly the token ids
// Replay scores: {"max_len": L, "requests": [{"ids": [...], "continuation": n}],
// "items": [{"id": "...", "choices": [...], "gold": g}]}.
//   bench_eval_requests TOKENIZER TASK.toml MAX_SEQ_LEN OUT.json
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "eval/score.h"
#include "eval/task.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s TOKENIZER TASK.toml MAX_SEQ_LEN OUT.json\n", argv[0]);
    return 2;
  }
  try {
    const auto tok = replay::text::Tokenizer::load(argv[1]);
    const auto task = replay::eval::load_task(argv[2]);
    const int64_t max_len = std::stoll(argv[3]);
    nlohmann::json out = {{"max_len", max_len}, {"requests", nlohmann::json::array()}, {"items", nlohmann::json::array()}};
    for (const auto& r : replay::eval::build_requests(task, tok, max_len))
      out["requests"].push_back({{"ids", r.tokens}, {"continuation", r.continuation}});
    for (const auto& item : task.items)
      out["items"].push_back({{"id", item.id}, {"choices", item.choices}, {"gold", item.gold}});
    replay::fs::write_file_atomic(argv[4], out.dump());
  } catch (const replay::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
