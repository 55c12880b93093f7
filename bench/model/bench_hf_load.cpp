// Time to load a Hugging Face model directory into Replay's fp32 model
// (model::load_hf_model: config, memory-mapped shards, dtype conversion into
// the parameters), the path `train.init_from`, `replay eval` and `replay model
// export` take. Prints one JSON line per round: seconds and GB/s of the
// directory's weight files.
//   bench_hf_load DIR [--rounds N] [--threads N]
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "model/hf_checkpoint.h"
#include "model/threads.h"

namespace stdfs = std::filesystem;

namespace {

uint64_t weight_file_bytes(const stdfs::path& dir) {
  uint64_t bytes = 0;
  for (const auto& e : stdfs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") bytes += e.file_size();
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Load a Hugging Face Llama directory, timed");
  std::string dir;
  int rounds = 1;
  int threads = 0;
  app.add_option("dir", dir, "Hugging Face model directory")->required()->check(CLI::ExistingDirectory);
  app.add_option("--rounds", rounds, "Loads to time");
  app.add_option("--threads", threads, "Torch threads (0 = one per core)");
  CLI11_PARSE(app, argc, argv);
  // As src/cli/main.cpp sets them for every replay command.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  replay::model::configure_threads(threads);
  const double gb = static_cast<double>(weight_file_bytes(dir)) / 1e9;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = replay::model::load_hf_model(dir);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"impl\": \"replay\", \"round\": %d, \"gb\": %.3f, \"seconds\": %.3f, \"gb_s\": %.2f}\n", r, gb, s,
                gb / s);
    std::fflush(stdout);
  }
}
