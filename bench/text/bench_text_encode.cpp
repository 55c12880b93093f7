// Tokenizer encode throughput: single-thread MB/s (median of several runs;
// the first run, with a cold per-thread cache, is shown separately) and
// corpus encoding with 1..N threads (documents handed out dynamically).
//   bench_text_encode --tokenizer FILE [--encoding NAME] --input TEXT [--runs 5] [--threads 2]
// Prints one JSON line per measurement, for bench/text/run.sh to tabulate.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

using namespace replay;
using text::TokenId;
using text::Tokenizer;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CPU time of this thread: on a shared, noisy machine MB per CPU-second is
// steadier than wall-clock MB/s (both are reported).
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Splits the text into ~64 KiB documents at line ends (a corpus of many docs).
std::vector<std::string_view> documents(std::string_view text) {
  std::vector<std::string_view> docs;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.size(), pos + 65536);
    if (end < text.size()) {
      size_t nl = text.find('\n', end);
      end = nl == std::string_view::npos ? text.size() : nl + 1;
    }
    docs.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return docs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tok_path, encoding, input, label;
  int runs = 5, max_threads = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + a);
      return std::string(argv[++i]);
    };
    if (a == "--tokenizer") tok_path = value();
    else if (a == "--encoding") encoding = value();
    else if (a == "--input") input = value();
    else if (a == "--runs") runs = std::stoi(value());
    else if (a == "--threads") max_threads = std::stoi(value());
    else if (a == "--label") label = value();
    else {
      std::fprintf(stderr, "usage: %s --tokenizer FILE [--encoding NAME] --input TEXT [--runs N] [--threads N] [--label S]\n", argv[0]);
      return 2;
    }
  }
  try {
    auto t_load = Clock::now();
    Tokenizer tok = encoding.empty() ? Tokenizer::load(tok_path) : Tokenizer::load_tiktoken(tok_path, encoding);
    double load_s = seconds_since(t_load);
    std::string text = fs::read_file(input);
    double mb = text.size() / 1e6;
    if (label.empty()) label = tok_path;

    std::vector<TokenId> ids;
    std::vector<double> mbps, cpu_mbps;
    double cold = 0;
    size_t n_tokens = 0;
    for (int r = 0; r < runs; ++r) {
      ids.clear();
      auto t = Clock::now();
      double c0 = thread_cpu_seconds();
      tok.encode(text, ids);
      double s = seconds_since(t);
      double cpu = thread_cpu_seconds() - c0;
      if (r == 0) {
        cold = mb / s;
      } else {
        mbps.push_back(mb / s);
        cpu_mbps.push_back(mb / cpu);
      }
      n_tokens = ids.size();
    }
    if (tok.decode(ids) != text) throw Error("round trip failed");
    std::printf("{\"impl\":\"replay\",\"label\":\"%s\",\"mode\":\"single\",\"mb\":%.2f,\"tokens\":%zu,"
                "\"load_s\":%.3f,\"cold_mb_s\":%.2f,\"median_mb_s\":%.2f,\"median_mb_per_cpu_s\":%.2f,\"runs\":%d}\n",
                label.c_str(), mb, n_tokens, load_s, cold, mbps.empty() ? cold : median(mbps),
                cpu_mbps.empty() ? 0.0 : median(cpu_mbps), runs);

    auto docs = documents(text);
    size_t doc_tokens = 0;  // documents are encoded independently: pieces never span them
    for (auto d : docs) doc_tokens += tok.encode(d).size();
    for (int threads = 1; threads <= max_threads; ++threads) {
      std::vector<double> rates;
      for (int r = 0; r < std::max(3, runs / 2); ++r) {
        std::atomic<size_t> next{0};
        std::atomic<size_t> total{0};
        auto t = Clock::now();
        std::vector<std::thread> pool;
        for (int k = 0; k < threads; ++k)
          pool.emplace_back([&] {
            std::vector<TokenId> out;
            size_t count = 0;
            for (size_t d; (d = next.fetch_add(1)) < docs.size();) {
              out.clear();
              tok.encode(docs[d], out);
              count += out.size();
            }
            total += count;
          });
        for (auto& th : pool) th.join();
        rates.push_back(mb / seconds_since(t));
        if (total != doc_tokens) throw Error("thread split changed the token count");
      }
      // Fresh threads each run: each starts with a cold cache, as in a real job.
      std::printf("{\"impl\":\"replay\",\"label\":\"%s\",\"mode\":\"corpus\",\"threads\":%d,\"docs\":%zu,"
                  "\"median_mb_s\":%.2f}\n",
                  label.c_str(), threads, docs.size(), median(rates));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_text_encode: %s\n", e.what());
    return 1;
  }
  return 0;
}
