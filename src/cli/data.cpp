// `replay data build` (corpus -> token store) and `replay data info` (what a
// store holds, checksums verified; --json for scripts). The format and rules
// live in src/store/.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "util/duration.h"
#include "cli/options.h"
#include "corpus/builder.h"
#include "store/builder.h"
#include "store/corpus_input.h"
#include "store/token_store.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::store;

struct BuildArgs {
  std::string tokenizer = text::kDefaultTokenizerPath;  // where `tokenizer train` writes
  std::string domain;
  std::string out;
  std::vector<std::string> inputs;
  bool all = false;
  std::string corpora = corpus::BuildOptions{}.out_dir.string();  // where `corpus build` writes
  std::string stores = "data/stores";
  std::string text_field = "text";
  double shard_mb = 32;
  BuildOptions options;
};

void build_one(const text::Tokenizer& tokenizer, const TokenizerHandle& handle,
               const std::string& domain, const std::vector<stdfs::path>& inputs,
               const stdfs::path& out, const BuildArgs& args) {
  BuildOptions o = args.options;
  o.domain = domain;
  o.inputs.clear();
  for (const auto& in : inputs) o.inputs.push_back(in.string());
  o.shard_bytes = static_cast<uint64_t>(args.shard_mb * (1 << 20));
  auto start = std::chrono::steady_clock::now();
  Manifest m = build_store(out, corpus_documents(inputs, args.text_field), handle, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%-10s %8llu docs %8.1f MB -> train %llu seqs, val %llu seqs of %u tokens "
              "(%u-byte ids) in %s (%.1f MB/s) -> %s\n",
              domain.c_str(), (unsigned long long)m.input_documents, m.input_bytes / 1e6,
              (unsigned long long)m.train.sequences, (unsigned long long)m.val.sequences,
              m.seq_len, m.token_bytes, replay::format_duration(secs).c_str(), m.input_bytes / 1e6 / secs, out.string().c_str());
  std::fflush(stdout);
}

void run_build(const BuildArgs& args) {
  if (args.all != args.inputs.empty())
    throw Error(args.all ? "--all builds every domain of --corpora; do not also give INPUT files"
                         : "give INPUT corpus files or folders (or --all)");
  if (!args.all && (args.domain.empty() || args.out.empty()))
    throw Error("--domain and --out are required when building from INPUT files");
  if (args.shard_mb <= 0) throw Error("--shard-mb must be positive");
  if (args.all) fs::check_output_path(args.stores, fs::OutputKind::directory, "--stores");
  else fs::check_output_path(args.out, fs::OutputKind::directory, "--out");
  std::vector<std::pair<std::string, stdfs::path>> jobs;  // (domain, corpus)
  if (args.all) jobs = find_domain_corpora(args.corpora);
  text::Tokenizer tokenizer = text::Tokenizer::load(args.tokenizer);
  TokenizerHandle handle = tokenizer_handle(tokenizer);
  if (!args.all) {
    std::vector<stdfs::path> inputs(args.inputs.begin(), args.inputs.end());
    build_one(tokenizer, handle, args.domain, inputs, args.out, args);
    return;
  }
  for (const auto& [domain, corpus] : jobs)
    build_one(tokenizer, handle, domain, {corpus}, stdfs::path(args.stores) / domain, args);
}

std::string mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MB", bytes / 1e6);
  return buf;
}

// Every token of every split read once: an id the manifest does not own up
// to (beyond its recorded maximum, or beyond the vocabulary) would crash
// training at the embedding lookup, checksums or not. Returns the largest id.
uint32_t check_token_ids(const TokenStore& s) {
  const Manifest& m = s.manifest();
  uint32_t max = 0;
  for (Split split : {Split::train, Split::val}) {
    const uint32_t found = s.scan_max_token_id(split);
    const auto& recorded = m.split(split).max_token_id;
    const uint64_t bound = recorded ? uint64_t{*recorded} + 1 : m.vocab_size;
    if (found >= bound)
      throw Error("token store " + s.dir().string() + ": the " + split_name(split) + " split holds token id " +
                  std::to_string(found) + ", beyond " +
                  (recorded ? "splits." + std::string(split_name(split)) + ".max_token_id = " + std::to_string(*recorded)
                            : "the vocabulary (tokenizer.vocab_size = " + std::to_string(m.vocab_size) + ")") +
                  " in its manifest; rebuild the store");
    max = std::max(max, found);
  }
  return max;
}

void print_info(const TokenStore& s, uint32_t max_id) {
  const Manifest& m = s.manifest();
  std::printf("store %s\n", s.dir().string().c_str());
  std::printf("  domain          %s\n", m.domain.c_str());
  std::printf("  tokenizer       %s (vocab %llu, end-of-text id %u%s)\n",
              m.tokenizer_fingerprint.c_str(), (unsigned long long)m.vocab_size, m.eot_id,
              m.bos_id ? (", BOS id " + std::to_string(*m.bos_id)).c_str() : "");
  std::printf("  seq_len         %u tokens, %u-byte token ids\n", m.seq_len, m.token_bytes);
  std::printf("  input           %llu documents, %s of text\n",
              (unsigned long long)m.input_documents, mb(m.input_bytes).c_str());
  uint64_t total = m.train.sequences + m.val.sequences;
  for (Split split : {Split::train, Split::val}) {
    const SplitInfo& sp = m.split(split);
    std::printf("  %-5s           %llu sequences (%llu tokens, %.1f%%), %llu documents, %s, "
                "%zu shard(s), %llu tokens dropped\n",
                split_name(split), (unsigned long long)sp.sequences,
                (unsigned long long)(sp.sequences * m.seq_len),
                total ? 100.0 * sp.sequences / total : 0.0, (unsigned long long)sp.documents,
                mb(sp.text_bytes).c_str(), sp.shards.size(),
                (unsigned long long)sp.dropped_tokens);
  }
  std::printf("  split rule      %s\n", m.split_rule.description.c_str());
  if (m.split_rule.val_dropped_duplicates)
    std::printf("                  %llu validation sequences dropped (also in train)\n",
                (unsigned long long)m.split_rule.val_dropped_duplicates);
  std::printf("  checksums       OK (%zu shards verified)\n",
              m.train.shards.size() + m.val.shards.size());
  std::printf("  token ids       OK (largest %u, %s; vocabulary %llu)\n", max_id,
              m.max_token_id_recorded() ? "as recorded" : "not recorded: store predates the key",
              (unsigned long long)m.vocab_size);
}

// `data info --json`: one object per store, the same facts as the text.
nlohmann::json info_json(const TokenStore& s, uint32_t max_id) {
  const Manifest& m = s.manifest();
  nlohmann::json j = {{"store", s.dir().string()},
                      {"domain", m.domain},
                      {"tokenizer_fingerprint", m.tokenizer_fingerprint},
                      {"vocab_size", m.vocab_size},
                      {"eot_id", m.eot_id},
                      {"bos_id", m.bos_id ? nlohmann::json(*m.bos_id) : nlohmann::json()},
                      {"seq_len", m.seq_len},
                      {"token_bytes", m.token_bytes},
                      {"input_documents", m.input_documents},
                      {"input_bytes", m.input_bytes},
                      {"split_rule", m.split_rule.description},
                      {"val_dropped_duplicates", m.split_rule.val_dropped_duplicates},
                      {"val_doc_sequences", m.split_rule.val_doc_sequences},
                      {"max_token_id", max_id},
                      {"checksums_ok", true}};
  for (Split split : {Split::train, Split::val}) {
    const SplitInfo& sp = m.split(split);
    j["splits"][split_name(split)] = {{"sequences", sp.sequences},
                                      {"tokens", sp.sequences * m.seq_len},
                                      {"documents", sp.documents},
                                      {"text_bytes", sp.text_bytes},
                                      {"shards", sp.shards.size()},
                                      {"dropped_tokens", sp.dropped_tokens}};
  }
  return j;
}

// Every store is checked even when one fails; the failures are counted (and,
// with --json, listed as {"store", "error"}) and make the exit status 1.
void run_info(const std::vector<std::string>& stores, const std::string& tokenizer_path, bool json) {
  std::string fingerprint;
  if (!tokenizer_path.empty()) fingerprint = text::Tokenizer::load(tokenizer_path).fingerprint();
  int failed = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& dir : stores) {
    try {
      const TokenStore store = TokenStore::open(dir, fingerprint);
      const uint32_t max_id = check_token_ids(store);
      if (json) all.push_back(info_json(store, max_id));
      else print_info(store, max_id);
    } catch (const Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "replay: error: %s\n", e.what());
      if (json) all.push_back({{"store", dir}, {"error", e.what()}});
      ++failed;
    }
    std::fflush(stdout);
  }
  if (json) std::printf("%s\n", nlohmann::json{{"stores", all}}.dump(2).c_str());
  if (failed)
    throw Error(std::to_string(failed) + " of " + std::to_string(stores.size()) +
                " store(s) failed their checks");
}

void setup(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Token stores: tokenize corpora into packed sequences");
  data->require_subcommand(1);

  auto args = std::make_shared<BuildArgs>();
  auto* build = data->add_subcommand(
      "build",
      "Tokenize a domain's documents into a token store: documents joined with the end-of-text "
      "token, cut into fixed-length sequences, a seeded held-out validation split");
  build->add_option("inputs", args->inputs, "Corpus files or folders (.jsonl, .txt, .gz, .zst)");
  build->add_option(cli::kTokenizerFlag, args->tokenizer, "Tokenizer file (tokenizer.json, .tiktoken, ...)")
      ->capture_default_str();
  build->add_option("--domain", args->domain, "Domain name recorded in the store");
  build->add_option(cli::kOutFlag, args->out, "Store directory to create (replaced if it is a store)");
  build->add_flag("--all", args->all,
                  "Build every <domain>.jsonl[.zst] of --corpora into --stores/<domain>");
  build->add_option("--corpora", args->corpora, "Corpora folder for --all")->capture_default_str();
  build->add_option("--stores", args->stores, "Stores folder for --all")->capture_default_str();
  build->add_option("--seq-len", args->options.seq_len, "Tokens per sequence")
      ->capture_default_str()->check(CLI::Range(2u, 1u << 24));
  build->add_option("--val-sequences", args->options.val_sequences,
                    "Validation sequences per domain (at most --val-fraction of its tokens)")
      ->capture_default_str();
  build->add_option("--val-fraction", args->options.val_max_fraction,
                    "Largest share of a domain's tokens that validation may take (0 = none)")
      ->capture_default_str()->check(CLI::Range(0.0, kMaxValFraction));
  build->add_option("--val-doc-sequences", args->options.val_doc_sequences,
                    "Most validation sequences one document may give, so that long documents do not "
                    "fill validation alone (0 = no cap)")
      ->capture_default_str();
  build->add_option("--seed", args->options.seed, "Seed of the validation rule")
      ->capture_default_str();
  build->add_option("--threads", args->options.threads, "Tokenization threads (0 = all cores)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  build->add_option("--text-field", args->text_field, "JSONL field holding the text")
      ->capture_default_str();
  build->add_option("--shard-mb", args->shard_mb, "Approximate shard size in MB")
      ->capture_default_str();
  build->callback([args] {
    args->options.quiet = false;
    run_build(*args);
  });

  auto stores = std::make_shared<std::vector<std::string>>();
  auto tokenizer = std::make_shared<std::string>();
  auto* info = data->add_subcommand(
      "info", "Print what token stores hold (tokens, sequences, train/val split, tokenizer) "
              "after verifying every shard's checksum and that no token id exceeds the manifest's");
  info->add_option("stores", *stores, "Store directories")->required();
  info->add_option(cli::kTokenizerFlag, *tokenizer,
                   "Also check that the stores were built with this tokenizer");
  auto json = std::make_shared<bool>(false);
  cli::add_json_flag(info, *json);
  info->callback([stores, tokenizer, json] { run_info(*stores, *tokenizer, *json); });
}

}  // namespace

REPLAY_COMMAND(30, setup);
