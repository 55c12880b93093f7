// `replay tokenizer train|encode|decode|info`: byte-level BPE tokenizers.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/command.h"
#include "util/duration.h"
#include "cli/options.h"
#include "corpus/balanced_sample.h"
#include "text/encodings.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::cli {

namespace {

namespace stdfs = std::filesystem;
using text::TokenId;
using text::Tokenizer;

struct TokenizerArg {
  std::string path;
  std::string encoding;
  void add_to(CLI::App* cmd) {
    cmd->add_option(kTokenizerFlag, path,
                    "Tokenizer: tokenizer.json, a *.tiktoken rank file, or a folder with "
                    "tokenizer.json or encoder.json + vocab.bpe")
        ->required();
    cmd->add_option("--encoding", encoding,
                    "For a rank file whose name does not tell: r50k_base, p50k_base, cl100k_base, o200k_base");
  }
  Tokenizer load() const {
    if (!encoding.empty()) {
      if (!stdfs::exists(path)) throw Error("tokenizer not found: " + path);
      return Tokenizer::load_tiktoken(path, encoding);
    }
    return Tokenizer::load(path);
  }
};

void setup_train(CLI::App* parent) {
  struct Options {
    std::vector<std::string> inputs;
    std::string out = text::kDefaultTokenizerPath;  // where `data build` looks
    text::BpeTrainOptions train;
    double sample_mb = 50;
    std::string field = "text";
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = parent->add_subcommand("train", "Train a byte-level BPE tokenizer on a sample of documents");
  cmd->add_option("inputs", opt->inputs,
                  "Files or folders of documents (.txt[.gz|.zst]: one document per file; .jsonl[.gz|.zst]: one per line), e.g. data/corpora/*.jsonl.zst")
      ->required();
  cmd->add_option("--vocab-size", opt->train.vocab_size, "Vocabulary size, special tokens included")
      ->capture_default_str();
  cmd->add_option("--sample-mb", opt->sample_mb, "MB of text to train on, drawn equally from the inputs")
      ->capture_default_str();
  cmd->add_option(kOutFlag, opt->out, "Output tokenizer.json (the default is what `replay data build` reads)")
      ->capture_default_str();
  cmd->add_option("--pattern", opt->train.pattern,
                  "Pre-tokenization regex: gpt2, cl100k, o200k, or a PCRE2 regex")
      ->capture_default_str();
  cmd->add_option("--special", opt->train.special_tokens, "Special tokens (appended after the merges)")
      ->capture_default_str();
  cmd->add_option("--min-frequency", opt->train.min_frequency, "Stop when the best pair is rarer than this")
      ->capture_default_str();
  cmd->add_option("--threads", opt->train.threads, "Threads for counting (0: all cores)")->capture_default_str();
  cmd->add_option("--text-field", opt->field, "JSON field holding the text in .jsonl inputs")
      ->capture_default_str();
  cmd->callback([opt] {
    if (opt->sample_mb <= 0) throw Error("--sample-mb must be positive");
    fs::check_output_path(opt->out, fs::OutputKind::file, "--out");
    auto start = std::chrono::steady_clock::now();
    corpus::BalancedSample sample(opt->inputs, opt->field, static_cast<uint64_t>(opt->sample_mb * 1e6));
    opt->train.verbose = true;
    Tokenizer tok = text::train_bpe([&](std::string& doc) { return sample.next(doc); }, opt->train);
    tok.save(opt->out);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("trained on %.1f MB in %s: vocabulary %zu, %zu merges -> %s (fingerprint %s)\n",
                sample.taken() / 1e6, replay::format_duration(secs).c_str(), tok.vocab_size(), tok.merge_count(), opt->out.c_str(),
                tok.fingerprint().c_str());
    if (tok.vocab_size() < opt->train.vocab_size) {
      std::fprintf(stderr,
                   "warning: the vocabulary has %zu tokens, not the %zu asked: no pair of the %.1f MB sample "
                   "occurs --min-frequency (%llu) times more; give more text (--sample-mb, more inputs) or "
                   "lower --min-frequency\n",
                   tok.vocab_size(), opt->train.vocab_size, sample.taken() / 1e6,
                   static_cast<unsigned long long>(opt->train.min_frequency));
    }
  });
}

void setup_encode(CLI::App* parent) {
  struct Options {
    TokenizerArg tokenizer;
    std::string text;
    std::vector<std::string> files;
    bool special = false;
    bool bos = false;
    bool count = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = parent->add_subcommand("encode", "Print the token ids of text (one line per input)");
  opt->tokenizer.add_to(cmd);
  cmd->add_option("--text", opt->text, "Text to encode (instead of files or stdin)");
  cmd->add_option("files", opt->files, "Files to encode (default: stdin)");
  cmd->add_flag("--special", opt->special, "Turn special-token strings (<|endoftext|>) into their ids");
  cmd->add_flag("--bos", opt->bos,
                "Start with the BOS that the file's post_processor adds (as stores frame documents)");
  cmd->add_flag("--count", opt->count, "Print only the number of tokens");
  cmd->callback([opt] {
    Tokenizer tok = opt->tokenizer.load();
    auto emit = [&](std::string_view text) {
      std::vector<TokenId> ids;
      if (opt->bos && tok.has_bos()) ids.push_back(tok.bos_id());
      if (opt->special)
        tok.encode_with_special_tokens(text, ids);
      else
        tok.encode(text, ids);
      if (opt->count) {
        std::printf("%zu\n", ids.size());
        return;
      }
      std::string line;
      for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
      std::printf("%s\n", line.c_str());
    };
    if (!opt->text.empty()) {
      emit(opt->text);
    } else if (!opt->files.empty()) {
      for (const auto& f : opt->files) emit(fs::read_file(f));
    } else {
      std::stringstream in;
      in << std::cin.rdbuf();
      emit(in.str());
    }
  });
}

void setup_decode(CLI::App* parent) {
  struct Options {
    TokenizerArg tokenizer;
    std::vector<std::string> ids;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = parent->add_subcommand("decode", "Print the bytes of token ids (arguments, or whitespace-separated on stdin)");
  opt->tokenizer.add_to(cmd);
  cmd->add_option("ids", opt->ids, "Token ids (default: read from stdin)");
  cmd->callback([opt] {
    Tokenizer tok = opt->tokenizer.load();
    std::vector<std::string> words = opt->ids;
    if (words.empty())
      for (std::string w; std::cin >> w;) words.push_back(w);
    std::vector<TokenId> ids;
    for (const auto& w : words) {
      size_t used = 0;
      unsigned long v = 0;
      try {
        v = std::stoul(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != w.size() || v > 0xFFFFFFFFul) throw Error("not a token id: '" + w + "'");
      ids.push_back(static_cast<TokenId>(v));
    }
    std::string bytes = tok.decode(ids);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  });
}

void setup_info(CLI::App* parent) {
  auto opt = std::make_shared<TokenizerArg>();
  auto* cmd = parent->add_subcommand("info", "Show vocabulary size, special tokens, regex and fingerprint");
  opt->add_to(cmd);
  cmd->callback([opt] {
    Tokenizer tok = opt->load();
    std::printf("source:       %s\n", tok.source().c_str());
    std::printf("vocab size:   %zu\n", tok.vocab_size());
    std::printf("merges:       %zu\n", tok.merge_count());
    std::printf("end of text:  %s\n", tok.has_eot() ? std::to_string(tok.eot_id()).c_str() : "(none)");
    std::printf("bos:          %s\n", tok.has_bos() ? std::to_string(tok.bos_id()).c_str() : "(none)");
    for (const auto& s : tok.special_tokens()) std::printf("special:      %u %s\n", s.id, s.content.c_str());
    std::printf("regex:        %s\n", tok.pattern().c_str());
    std::printf("fingerprint:  %s\n", tok.fingerprint().c_str());
  });
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "Train, inspect and run byte-level BPE tokenizers");
  cmd->require_subcommand(1);
  setup_train(cmd);
  setup_encode(cmd);
  setup_decode(cmd);
  setup_info(cmd);
}

}  // namespace

REPLAY_COMMAND(20, setup);

}  // namespace replay::cli
