// Fixtures of the eval tests: a byte-level BPE tokenizer trained on a few
// sentences, whose tokenizer.json adds a BOS (TemplateProcessing, as Meta's
// Llama-3 files), and a tiny Hugging Face Llama directory that carries it.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "text/tokenizer.h"
#include "util/fs.h"

namespace replay::eval::testing {

namespace stdfs = std::filesystem;
inline const stdfs::path kSource = REPLAY_SOURCE_DIR;
inline const stdfs::path kTinyTask = kSource / "tests" / "eval" / "data" / "tiny_copa.toml";
constexpr const char* kPython = "/usr/bin/python3";

// Trains a tokenizer of `vocab` ids (two of them special) and writes it to
// `out` with a BOS template when `bos`.
inline text::Tokenizer write_tokenizer(const stdfs::path& out, size_t vocab, bool bos) {
  const std::string corpus = fs::read_file(kSource / "tests" / "eval" / "data" / "tiny_copa.jsonl");
  bool given = false;
  text::BpeTrainOptions options;
  options.vocab_size = vocab;
  options.special_tokens = {"<|begin_of_text|>", "<|end_of_text|>"};
  options.threads = 1;
  options.min_frequency = 1;
  const auto tok = text::train_bpe([&](std::string& text) { return !given && (text = corpus, given = true); }, options);
  tok.save(out);
  if (!bos) return tok;
  nlohmann::json j = nlohmann::json::parse(fs::read_file(out));
  const std::string name = "<|begin_of_text|>";
  text::TokenId id = 0;
  for (const auto& s : tok.special_tokens())
    if (s.content == name) id = s.id;
  const nlohmann::json special = {{"SpecialToken", {{"id", name}, {"type_id", 0}}}};
  const nlohmann::json seq = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {special, seq}},
                         {"pair", {special, seq, seq}},
                         {"special_tokens", {{name, {{"id", name}, {"ids", {id}}, {"tokens", {name}}}}}}};
  fs::write_file_atomic(out, j.dump());
  return text::Tokenizer::load(out);
}

// The tiny preset with vocabulary `vocab` and large random weights (peaked
// distributions, so that scores differ clearly between choices).
inline model::Llama tiny_model(int64_t vocab) {
  model::ModelConfig c = model::preset("tiny");
  c.vocab_size = vocab;
  c.init_std = 0.25;
  torch::manual_seed(7);
  model::Llama m(c);
  torch::NoGradGuard no_grad;
  for (auto& p : m->named_parameters())
    if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
  return m;
}

// <root>/hf: the tiny model (vocab 320) with a 300-id tokenizer that adds BOS.
inline stdfs::path write_hf_dir(const stdfs::path& root) {
  write_tokenizer(root / "tok.json", 300, true);
  model::Llama m = tiny_model(320);
  model::HfExportOptions options;
  options.tokenizer = root / "tok.json";
  model::write_hf_model_dir(m, root / "hf", options);
  return root / "hf";
}

}  // namespace replay::eval::testing
