// Store build throughput: MB/s of text read, tokenized, packed and written,
// with 1 and with 2 tokenization threads, on real text and a real tokenizer.
//   bench_store_build [--tokenizer T] [--corpus C] [--seq-len L] [--reps R]
// Defaults: data/tokenizer/tokenizer.json and data/corpora/generic.jsonl.zst
// when they exist, else r50k (npm gpt-tokenizer) and this repository's src/.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "store/builder.h"
#include "store/corpus_input.h"
#include "text/tokenizer.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::store;

// User + system CPU seconds of this process (all threads): on a shared,
// overloaded machine MB per CPU-second is steadier than wall-clock MB/s.
static double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  stdfs::path root = REPLAY_SOURCE_DIR;
  std::string tokenizer = stdfs::exists("data/tokenizer/tokenizer.json")
                              ? "data/tokenizer/tokenizer.json"
                              : (root / "tests/oracle/node_modules/gpt-tokenizer/data/r50k_base.tiktoken").string();
  std::string corpus = stdfs::exists("data/corpora/generic.jsonl.zst")
                           ? "data/corpora/generic.jsonl.zst" : (root / "src").string();
  uint32_t seq_len = 256;
  int reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--tokenizer") tokenizer = argv[i + 1];
    else if (a == "--corpus") corpus = argv[i + 1];
    else if (a == "--seq-len") seq_len = std::stoul(argv[i + 1]);
    else if (a == "--reps") reps = std::stoi(argv[i + 1]);
  }
  text::Tokenizer tok = text::Tokenizer::load(tokenizer);
  TokenizerHandle handle = tokenizer_handle(tok);
  // Folders of source files are not corpus files: read .cpp/.h as .txt-like
  // documents through an in-memory source instead.
  OpenDocuments docs;
  if (stdfs::is_directory(corpus) && !stdfs::exists(stdfs::path(corpus) / "x.jsonl")) {
    std::vector<std::string> texts;
    for (const auto& e : stdfs::recursive_directory_iterator(corpus))
      if (e.is_regular_file() && (e.path().extension() == ".cpp" || e.path().extension() == ".h")) {
        std::FILE* f = std::fopen(e.path().c_str(), "rb");
        std::string t;
        char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) t.append(buf, n);
        std::fclose(f);
        texts.push_back(t);
      }
    // Repeat to a few MB so the timing means something.
    std::vector<std::string> many;
    for (int r = 0; r < 20; ++r)
      for (const auto& t : texts) many.push_back(t + "\n// copy " + std::to_string(r));
    docs = documents_from_vector(std::move(many));
  } else {
    docs = corpus_documents({corpus});
  }
  std::printf("tokenizer %s, corpus %s, seq_len %u\n", tokenizer.c_str(), corpus.c_str(), seq_len);
  stdfs::path out = stdfs::temp_directory_path() / "replay_bench_store_build";
  for (int threads : {1, 2}) {
    std::vector<double> rates, cpu_rates;
    Manifest m;
    for (int r = 0; r < reps; ++r) {
      BuildOptions o;
      o.domain = "bench";
      o.seq_len = seq_len;
      o.threads = threads;
      auto t0 = std::chrono::steady_clock::now();
      double c0 = cpu_seconds();
      m = build_store(out, docs, handle, o);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(m.input_bytes / 1e6 / s);
      cpu_rates.push_back(m.input_bytes / 1e6 / (cpu_seconds() - c0));
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    std::printf("threads %d: %.1f MB text -> %llu sequences: median %.2f MB/s wall (min %.2f, max "
                "%.2f, %d runs), %.2f MB per CPU-second\n",
                threads, m.input_bytes / 1e6,
                (unsigned long long)(m.train.sequences + m.val.sequences), rates[rates.size() / 2],
                rates.front(), rates.back(), reps, cpu_rates[cpu_rates.size() / 2]);
  }
  stdfs::remove_all(out);
  std::printf("rerun: bench_store_build --tokenizer %s --corpus %s --seq-len %u --reps %d\n",
              tokenizer.c_str(), corpus.c_str(), seq_len, reps);
  return 0;
}
