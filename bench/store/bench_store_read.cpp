// Random-access reads from a memory-mapped token store, the trainer's hot
// path (one read_many per batch). Builds a synthetic store once, then times
// open (with checksum verification) and batched random reads.
//   bench_store_read [--sequences N] [--seq-len L] [--batch B] [--dir D]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "store/builder.h"
#include "store/token_store.h"

using namespace replay::store;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int main(int argc, char** argv) {
  int64_t sequences = 200000, batch = 32;
  uint32_t seq_len = 256;
  std::string dir = "/tmp/replay_bench_store_read";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--sequences") sequences = std::stoll(argv[i + 1]);
    else if (a == "--seq-len") seq_len = std::stoul(argv[i + 1]);
    else if (a == "--batch") batch = std::stoll(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
  }
  // Synthetic documents: one "document" per sequence of pseudo-random ids,
  // tokenized by an identity tokenizer (each char is an id); content does
  // not matter for read speed, only size.
  TokenizerHandle tok;
  tok.vocab_size = 50257;
  tok.eot_id = 50256;
  tok.fingerprint = "bench";
  tok.encode = [](std::string_view text, std::vector<uint32_t>& out) {
    for (unsigned char c : text) out.push_back(c * 190);
  };
  std::vector<std::string> docs;
  std::mt19937_64 rng(1);
  int64_t tokens = sequences * seq_len;
  for (int64_t made = 0; made < tokens;) {
    std::string d(4096, ' ');
    for (auto& c : d) c = static_cast<char>(rng());
    made += d.size() + 1;
    docs.push_back(std::move(d));
  }
  BuildOptions o;
  o.domain = "bench";
  o.seq_len = seq_len;
  o.val_sequences = 0;
  auto t0 = Clock::now();
  build_store(dir, documents_from_vector(std::move(docs)), tok, o);
  double build_s = seconds_since(t0);

  t0 = Clock::now();
  TokenStore store = TokenStore::open(dir);
  double open_s = seconds_since(t0);
  int64_t n = store.num_sequences(Split::train);
  double mb = n * seq_len * 2 / 1e6;
  std::printf("store: %lld sequences x %u tokens (%.0f MB), built in %.2f s, opened+verified in "
              "%.3f s (%.0f MB/s)\n",
              (long long)n, seq_len, mb, build_s, open_s, mb / open_s);

  std::vector<int64_t> idx(batch), out(batch * seq_len);
  std::vector<double> rates;
  int64_t checksum = 0;
  for (int rep = 0; rep < 5; ++rep) {
    int64_t reads = 0;
    t0 = Clock::now();
    while (seconds_since(t0) < 0.5) {
      for (int r = 0; r < 64; ++r) {
        for (auto& i : idx) i = static_cast<int64_t>(rng() % n);
        store.read_many(Split::train, idx, out.data());
        checksum += out[rng() % out.size()];
        reads += batch;
      }
    }
    rates.push_back(reads / seconds_since(t0));
  }
  std::sort(rates.begin(), rates.end());
  double med = rates[rates.size() / 2];
  std::printf("random read_many (batch %lld, int64 out): median %.0f sequences/s = %.2f Gtokens/s "
              "(min %.0f, max %.0f; 5 x 0.5 s)  [checksum %lld]\n",
              (long long)batch, med, med * seq_len / 1e9, rates.front(), rates.back(),
              (long long)checksum);
  std::printf("rerun: bench_store_read --sequences %lld --seq-len %u --batch %lld\n",
              (long long)sequences, seq_len, (long long)batch);
  std::filesystem::remove_all(dir);
  return 0;
}
