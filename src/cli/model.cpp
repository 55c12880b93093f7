// `replay model info PRESET [--set key=value ...]`: shapes, parameter counts
// and training FLOPs per token of a model, before spending any compute on it.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "model/config.h"
#include "util/error.h"

namespace {

using replay::model::ModelConfig;

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(i, ",");
  return s;
}

std::string shape(int64_t a, int64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; }

void print_info(const std::string& name, const std::vector<std::string>& sets, int64_t seq) {
  ModelConfig c = replay::model::preset(name);
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) throw replay::Error("--set expects key=value, got '" + kv + "'");
    replay::model::set_field(c, kv.substr(0, eq), kv.substr(eq + 1), "--set");
  }
  c.validate("--set");
  if (seq <= 0) seq = std::min<int64_t>(c.max_seq_len, 4096);
  const auto p = replay::model::count_params(c);
  const double flops = replay::model::train_flops_per_token(c, seq);

  std::printf("model %s\n", name.c_str());
  std::printf("  dim %lld, layers %lld, heads %lld (kv %lld, head_dim %lld), ffn %lld, vocab %lld\n",
              (long long)c.dim, (long long)c.n_layers, (long long)c.n_heads,
              (long long)c.n_kv_heads, (long long)c.head_dim, (long long)c.ffn_dim,
              (long long)c.vocab_size);
  std::printf("  max_seq_len %lld, rope_theta %g", (long long)c.max_seq_len, c.rope_theta);
  if (c.rope_scaling)
    std::printf(", llama3 rope scaling (factor %g, low %g, high %g, original %lld)",
                c.rope_scaling->factor, c.rope_scaling->low_freq_factor,
                c.rope_scaling->high_freq_factor, (long long)c.rope_scaling->original_max_position);
  std::printf("\n  norm_eps %g, init_std %g, embeddings %s\n", c.norm_eps, c.init_std,
              c.tie_embeddings ? "tied" : "untied");
  std::printf("parameters\n");
  std::printf("  total                          %16s\n", with_commas(p.total).c_str());
  std::printf("  token embedding                %16s\n", with_commas(p.embedding).c_str());
  std::printf("  LM head                        %16s%s\n", with_commas(p.lm_head).c_str(),
              c.tie_embeddings ? " (tied)" : "");
  std::printf("  non-embedding, excl. LM head   %16s\n", with_commas(p.non_embedding).c_str());
  std::printf("  non-embedding, incl. LM head   %16s\n",
              with_commas(p.non_embedding_with_head).c_str());
  std::printf("  per layer                      %16s\n", with_commas(p.per_layer).c_str());
  std::printf("training FLOPs per token at seq %lld\n", (long long)seq);
  std::printf("  6 x non-embedding incl. head   %16.4g\n", 6.0 * p.non_embedding_with_head);
  std::printf("  attention (12 L H d T)         %16.4g\n", flops - 6.0 * p.non_embedding_with_head);
  std::printf("  total                          %16.4g\n", flops);
  std::printf("weights (fp32) %.1f MiB; with AdamW moments and grads %.1f MiB\n",
              p.total * 4.0 / (1 << 20), p.total * 16.0 / (1 << 20));
  std::printf("per-layer shapes (Hugging Face names, [out, in])\n");
  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"input_layernorm.weight", "[" + std::to_string(c.dim) + "]"},
      {"self_attn.q_proj.weight", shape(q, c.dim)},
      {"self_attn.k_proj.weight", shape(kv, c.dim)},
      {"self_attn.v_proj.weight", shape(kv, c.dim)},
      {"self_attn.o_proj.weight", shape(c.dim, q)},
      {"post_attention_layernorm.weight", "[" + std::to_string(c.dim) + "]"},
      {"mlp.gate_proj.weight", shape(c.ffn_dim, c.dim)},
      {"mlp.up_proj.weight", shape(c.ffn_dim, c.dim)},
      {"mlp.down_proj.weight", shape(c.dim, c.ffn_dim)}};
  for (const auto& [n, s] : rows) std::printf("  model.layers.{i}.%-32s %s\n", n.c_str(), s.c_str());
  std::printf("  %-48s %s\n", "model.embed_tokens.weight", shape(c.vocab_size, c.dim).c_str());
  std::printf("  %-48s [%lld]\n", "model.norm.weight", (long long)c.dim);
  if (!c.tie_embeddings)
    std::printf("  %-48s %s\n", "lm_head.weight", shape(c.vocab_size, c.dim).c_str());
}

void setup(CLI::App& app) {
  auto* model = app.add_subcommand("model", "Inspect model presets: shapes, parameters, FLOPs");
  model->require_subcommand(1);

  auto* info = model->add_subcommand("info", "Print shapes, parameter counts and FLOPs per token");
  static std::string name;
  static std::vector<std::string> sets;
  static int64_t seq = 0;
  info->add_option("preset", name, "Preset name (see `replay model list`)")->required();
  info->add_option("--set", sets, "Override a field, e.g. --set n_layers=8 --set rope_scaling=none");
  info->add_option("--seq", seq, "Sequence length for the attention FLOPs (default: min(max_seq_len, 4096))");
  info->callback([] { print_info(name, sets, seq); });

  auto* list = model->add_subcommand("list", "List the model presets");
  list->callback([] {
    for (const auto& n : replay::model::preset_names()) {
      const auto c = replay::model::preset(n);
      const auto p = replay::model::count_params(c);
      std::printf("%-14s dim %5lld  layers %3lld  heads %3lld/%-3lld  ffn %6lld  vocab %7lld  "
                  "params %s\n",
                  n.c_str(), (long long)c.dim, (long long)c.n_layers, (long long)c.n_heads,
                  (long long)c.n_kv_heads, (long long)c.ffn_dim, (long long)c.vocab_size,
                  with_commas(p.total).c_str());
    }
  });
}

}  // namespace

REPLAY_COMMAND(40, setup);
