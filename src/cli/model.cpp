// `replay model info PRESET|DIR [--set key=value ...]`: shapes, parameter
// counts and training FLOPs per token of a model (a preset or a Hugging Face
// model directory's config.json), before spending any compute on it;
// --json prints them as one JSON object.
// `replay model export SRC OUT [--dtype bf16] [--shard-size 5GB]`: a run's
// checkpoint (or a Hugging Face directory) as a Hugging Face directory.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/options.h"
#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "train/train_state.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

using replay::model::ModelConfig;

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(i, ",");
  return s;
}

std::string shape(int64_t a, int64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + "]"; }

// A preset name, or a directory holding a Hugging Face config.json.
ModelConfig config_named(const std::string& name) {
  const std::filesystem::path dir(name);
  if (std::filesystem::is_regular_file(dir / replay::model::kHfConfigFile))
    return replay::model::read_hf_config(dir);
  return replay::model::preset(name);
}

// "5GB" (decimal, as transformers' max_shard_size), "500MiB", "1000000".
uint64_t parse_byte_size(const std::string& text) {
  static const std::vector<std::pair<std::string, double>> units = {
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"KB", 1e3}, {"MB", 1e6},
      {"GB", 1e9},     {"TB", 1e12},       {"B", 1.0}};
  double scale = 1.0;
  std::string number = text;
  for (const auto& [unit, factor] : units) {
    if (text.size() > unit.size() && text.compare(text.size() - unit.size(), unit.size(), unit) == 0) {
      number = text.substr(0, text.size() - unit.size());
      scale = factor;
      break;
    }
  }
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != number.size() || !(value * scale >= 1.0))
    throw replay::Error("--shard-size: expected a positive size such as 5GB or 500MiB, got '" + text + "'");
  return static_cast<uint64_t>(value * scale);
}

void export_model(const std::string& source, const std::string& out, const std::string& dtype,
                  const std::string& shard_size) {
  replay::model::HfExportOptions options;
  options.dtype = replay::model::hf_export_dtype_from_name(dtype);
  options.shard_bytes = parse_byte_size(shard_size);
  replay::fs::check_output_path(out, replay::fs::OutputKind::directory, "OUT");
  auto loaded = replay::train::load_model_from(source);
  options.tokenizer = loaded.tokenizer;
  replay::model::write_hf_model_dir(loaded.model, out, options);
  std::printf("exported %s to %s (%s%s)\n", loaded.weights.string().c_str(), out.c_str(), dtype.c_str(),
              loaded.tokenizer.empty() ? ", no tokenizer" : ", with tokenizer.json");
}

// The preset or directory with the --set overrides applied, validated.
ModelConfig resolved_config(const std::string& name, const std::vector<std::string>& sets) {
  ModelConfig c = config_named(name);
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) throw replay::Error("--set expects key=value, got '" + kv + "'");
    replay::model::set_field(c, kv.substr(0, eq), kv.substr(eq + 1), "--set");
  }
  c.validate("--set");
  return c;
}

// `model info --json`: the same facts as the text, for scripts. "config" is
// the canonical description a run records (model::to_json).
void print_info_json(const std::string& name, const ModelConfig& c, int64_t seq) {
  const auto p = replay::model::count_params(c);
  nlohmann::json j;
  j["model"] = name;
  j["config"] = replay::model::to_json(c);
  j["parameters"] = {{"total", p.total},
                     {"embedding", p.embedding},
                     {"lm_head", p.lm_head},
                     {"per_layer", p.per_layer},
                     {"non_embedding", p.non_embedding},
                     {"non_embedding_with_head", p.non_embedding_with_head}};
  j["seq"] = seq;
  j["train_flops_per_token"] = replay::model::train_flops_per_token(c, seq);
  j["weights_bytes_fp32"] = p.total * 4;
  std::printf("%s\n", j.dump(2).c_str());
}

void print_info(const std::string& name, const std::vector<std::string>& sets, int64_t seq, bool json) {
  const ModelConfig c = resolved_config(name, sets);
  if (seq <= 0) seq = std::min<int64_t>(c.max_seq_len, 4096);
  if (json) return print_info_json(name, c, seq);
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
  std::printf("\n  norm_eps %g, init %s (std %g), embeddings %s\n", c.norm_eps,
              replay::model::init_recipe_name(c.init).c_str(), c.init_std, c.tie_embeddings ? "tied" : "untied");
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
  auto* model = app.add_subcommand("model", "Inspect models (shapes, parameters, FLOPs); export Hugging Face directories");
  model->require_subcommand(1);

  auto* info = model->add_subcommand("info", "Print shapes, parameter counts and FLOPs per token");
  static std::string name;
  static std::vector<std::string> sets;
  static int64_t seq = 0;
  static bool json = false;
  info->add_option("preset", name, "Preset name (see `replay model list`) or Hugging Face model directory")->required();
  info->add_option("--set", sets, "Override a field, e.g. --set n_layers=8 --set rope_scaling=none");
  info->add_option("--seq", seq, "Sequence length for the attention FLOPs (default: min(max_seq_len, 4096))");
  replay::cli::add_json_flag(info, json);
  info->callback([] { print_info(name, sets, seq, json); });

  auto* exp = model->add_subcommand("export", "Write a checkpoint as a Hugging Face model directory");
  static std::string source, out, dtype = "f32", shard_size = "5GB";
  exp->add_option("SRC", source, "Checkpoint directory, run directory (its newest good checkpoint) or Hugging Face directory")
      ->required();
  exp->add_option("OUT", out, "New directory to write (must not exist)")->required();
  exp->add_option("--dtype", dtype, "Weight dtype in the files: f32 (as trained), bf16 or f16")->capture_default_str();
  exp->add_option("--shard-size", shard_size, "Largest shard, e.g. 5GB, 500MiB (decimal units as transformers)")
      ->capture_default_str();
  exp->callback([] { export_model(source, out, dtype, shard_size); });

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
