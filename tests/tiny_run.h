// Test fixtures for the run, train and sweep tests: tiny token stores built with the store
// library's own builder (a byte-level stand-in tokenizer, vocabulary 256),
// run configs for the tiny model, and a metrics.jsonl reader.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "store/builder.h"
#include "temp_dir.h"  // TempDir, used by every trainer test

namespace replay::train::testing {

namespace stdfs = std::filesystem;

// Deterministic pseudo-text: "words" for generic, arithmetic for math, so the
// two sources have visibly different losses.
inline std::vector<std::string> make_documents(const std::string& kind, int count, uint64_t seed) {
  static const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "then", "it",
                                "ran", "to", "big", "red", "house", "with", "green", "door"};
  std::vector<std::string> docs;
  uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&] {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    return x >> 33;
  };
  for (int d = 0; d < count; ++d) {
    std::string text;
    for (int i = 0; i < 40; ++i) {
      if (kind == "math") {
        uint64_t a = next() % 100, b = next() % 100;
        text += std::to_string(a) + "+" + std::to_string(b) + "=" + std::to_string(a + b) + "; ";
      } else {
        text += words[next() % (sizeof words / sizeof *words)];
        text += ' ';
      }
    }
    docs.push_back(text);
  }
  return docs;
}

// A store of `documents` documents at seq_len 32 with 16 validation sequences.
inline stdfs::path make_store(const stdfs::path& dir, const std::string& kind, int documents = 120) {
  store::TokenizerHandle tok;
  tok.encode = [](std::string_view text, std::vector<uint32_t>& out) {
    for (unsigned char c : text) out.push_back(c == 0 ? 1 : c);
  };
  tok.eot_id = 0;
  tok.vocab_size = 256;
  tok.fingerprint = "bytes-test";
  store::BuildOptions opt;
  opt.domain = kind;
  opt.seq_len = 32;
  opt.val_sequences = 16;
  opt.val_max_fraction = 0.25;
  opt.seed = 3;
  opt.threads = 1;
  store::build_store(dir, store::documents_from_vector(make_documents(kind, documents, kind.size())), tok,
                     opt);
  return dir;
}

struct StepLine {
  int64_t step;
  double loss;
  std::string phase;
};

struct Metrics {
  std::vector<StepLine> steps;
  std::vector<nlohmann::json> evals;
  std::vector<nlohmann::json> other;
};

inline Metrics read_metrics(const stdfs::path& file) {
  Metrics m;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "step") {
      m.steps.push_back({j["step"].get<int64_t>(), j["loss"].get<double>(), j["phase"].get<std::string>()});
    } else if (j["kind"] == "eval") {
      m.evals.push_back(j);
    } else {
      m.other.push_back(j);
    }
  }
  return m;
}

inline void write_text(const stdfs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace replay::train::testing
