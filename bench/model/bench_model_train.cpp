// Training-step throughput of Replay's Llama on CPU: forward + backward +
// grad-norm clip + AdamW step, median over timed steps, with MFU against an
// sgemm peak measured in the same process. bench/model/run.sh runs it side
// by side with the PyTorch eager baseline (eager_llama.py).
//
//   bench_model_train --preset micro --batch 16 --seq 256 --steps 15
//   bench_model_train --preset micro --print-config   # HF config.json for eager_llama.py
#include <malloc.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "model/llama.h"
#include "model/threads.h"
#include "util/error.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds of this process (all threads): under load from other
// processes it moves much less than wall time, so it is reported too.
double cpu_seconds() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// fp32 matmul peak of this machine with the configured threads: median of
// 2048^3 products (what "100% MFU" means on a CPU without a spec sheet).
double measure_sgemm_gflops() {
  torch::manual_seed(0);
  const int64_t n = 2048;
  const torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::Tensor c = torch::mm(a, b);
  std::vector<double> rates;
  for (int i = 0; i < 7; ++i) {
    const auto start = Clock::now();
    at::mm_out(c, a, b);
    rates.push_back(2.0 * n * n * n / seconds_since(start) / 1e9);
  }
  return median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  // Same allocator settings as the replay binary's main.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  CLI::App app{"Replay Llama training-step benchmark"};
  std::string preset_name = "micro";
  int64_t batch = 16, seq = 0;
  int steps = 10, warmup = 2, threads = 0;
  bool print_config = false;
  std::string device_name = "cpu", dtype_name = "fp32";
  double peak_override = 0;
  std::string trace_path, attention = "auto";
  app.add_option("--preset", preset_name, "Model preset");
  app.add_option("--batch", batch, "Sequences per step");
  app.add_option("--seq", seq, "Sequence length (default: preset max_seq_len)");
  app.add_option("--steps", steps, "Timed steps");
  app.add_option("--warmup", warmup, "Untimed steps first");
  app.add_option("--threads", threads, "Threads (0 = all cores)");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_option("--dtype", dtype_name, "Compute dtype: fp32 or bf16 (parameters stay fp32)");
  app.add_option("--peak-tflops", peak_override,
                 "Use this peak (TFLOP/s) for MFU instead of measuring sgemm (e.g. 989 for H100 bf16)");
  app.add_option("--attention", attention, "Attention path: auto, explicit, tasks or sdpa")
      ->check(CLI::IsMember({"auto", "explicit", "tasks", "sdpa"}));
  app.add_option("--trace", trace_path, "Write a chrome trace of one extra step (op-level profile)");
  app.add_flag("--print-config", print_config, "Print the preset as HF config.json and exit");
  CLI11_PARSE(app, argc, argv);

  try {
    using namespace replay::model;
    const ModelConfig config = preset(preset_name);
    if (print_config) {
      std::printf("%s\n", to_hf_config_json(config).c_str());
      return 0;
    }
    if (seq <= 0) seq = config.max_seq_len;
    const int used_threads = configure_threads(threads);
    const torch::Device device(device_name);
    const bool cuda = device.is_cuda();
    const torch::ScalarType compute_dtype = compute_dtype_from_name(dtype_name);
    const double peak = peak_override > 0 ? peak_override * 1e3 : measure_sgemm_gflops();

    torch::manual_seed(42);
    Llama model(config);
    model->to(device);
    model->set_compute_dtype(compute_dtype);
    const std::map<std::string, ops::AttentionPath> paths = {
        {"auto", ops::AttentionPath::automatic},
        {"explicit", ops::AttentionPath::matmul},
        {"tasks", ops::AttentionPath::tasks},
        {"sdpa", ops::AttentionPath::sdpa}};
    model->set_attention_path(paths.at(attention));
    auto groups = model->param_groups();
    std::vector<torch::Tensor> decay, no_decay, all;
    for (auto& [n, p] : groups.decay) decay.push_back(p);
    for (auto& [n, p] : groups.no_decay) no_decay.push_back(p);
    all = decay;
    all.insert(all.end(), no_decay.begin(), no_decay.end());
    auto options = torch::optim::AdamWOptions(1e-3).betas({0.9, 0.95}).eps(1e-8);
    std::vector<torch::optim::OptimizerParamGroup> param_groups = {
        torch::optim::OptimizerParamGroup(decay,
                                          std::make_unique<torch::optim::AdamWOptions>(
                                              torch::optim::AdamWOptions(options).weight_decay(0.1))),
        torch::optim::OptimizerParamGroup(no_decay,
                                          std::make_unique<torch::optim::AdamWOptions>(
                                              torch::optim::AdamWOptions(options).weight_decay(0.0)))};
    torch::optim::AdamW optimizer(param_groups, options);

    torch::manual_seed(7);
    const torch::Tensor tokens =
        torch::randint(config.vocab_size, {batch, seq}, torch::kLong).to(device);
    std::vector<double> times, cpu_times;
    double first_loss = 0, last_loss = 0;
    for (int s = 0; s < warmup + steps; ++s) {
      const auto start = Clock::now();
      const double cpu_start = cpu_seconds();
      optimizer.zero_grad();
      torch::Tensor loss = model->loss(tokens);
      loss.backward();
      torch::nn::utils::clip_grad_norm_(all, 1.0);
      optimizer.step();
      const double value = loss.item<double>();
      if (cuda) torch::cuda::synchronize();
      const double dt = seconds_since(start);
      if (s == 0) first_loss = value;
      last_loss = value;
      if (s >= warmup) {
        times.push_back(dt);
        cpu_times.push_back(cpu_seconds() - cpu_start);
      }
    }
    if (!trace_path.empty()) {
      torch::autograd::profiler::RecordProfile profile(trace_path);
      optimizer.zero_grad();
      torch::Tensor loss = model->loss(tokens);
      loss.backward();
      torch::nn::utils::clip_grad_norm_(all, 1.0);
      optimizer.step();
    }
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    const double step = median(times);
    const double tokens_per_s = static_cast<double>(batch * seq) / step;
    const double flops = train_flops_per_token(config, seq);
    const double mfu = flops * tokens_per_s / (peak * 1e9);
    std::printf(
        "{\"impl\": \"replay\", \"attention\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", \"preset\": \"%s\", \"batch\": %lld, \"seq\": %lld, \"threads\": %d, "
        "\"steps\": %d, \"median_step_s\": %.4f, \"median_cpu_s\": %.4f, \"tokens_per_s\": %.1f, \"sgemm_gflops\": %.1f, "
        "\"flops_per_token\": %.4g, \"mfu\": %.4f, \"peak_rss_mib\": %.1f, \"first_loss\": %.4f, "
        "\"last_loss\": %.4f}\n",
        attention.c_str(), device_name.c_str(), dtype_name.c_str(), preset_name.c_str(), (long long)batch, (long long)seq, used_threads, steps, step, median(cpu_times),
        tokens_per_s, peak, flops, mfu, usage.ru_maxrss / 1024.0, first_loss, last_loss);
  } catch (const replay::Error& e) {
    std::fprintf(stderr, "bench_model_train: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
