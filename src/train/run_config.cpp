#include "train/run_config.h"

#include <unistd.h>

#include <algorithm>
#include <map>

#include "store/manifest.h"
#include "text/tokenizer.h"
#include "util/toml_reader.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"

namespace replay::train {

namespace {

nlohmann::json model_to_json(const model::ModelConfig& c) {
  nlohmann::json j = {{"dim", c.dim},
                      {"n_layers", c.n_layers},
                      {"n_heads", c.n_heads},
                      {"n_kv_heads", c.n_kv_heads},
                      {"head_dim", c.head_dim},
                      {"ffn_dim", c.ffn_dim},
                      {"vocab_size", c.vocab_size},
                      {"max_seq_len", c.max_seq_len},
                      {"rope_theta", c.rope_theta},
                      {"norm_eps", c.norm_eps},
                      {"tie_embeddings", c.tie_embeddings},
                      {"init_std", c.init_std}};
  if (c.rope_scaling) {
    j["rope_scaling"] = {{"factor", c.rope_scaling->factor},
                         {"low_freq_factor", c.rope_scaling->low_freq_factor},
                         {"high_freq_factor", c.rope_scaling->high_freq_factor},
                         {"original_max_position", c.rope_scaling->original_max_position}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  return j;
}

nlohmann::json lr_to_json(const schedule::LrSchedule& s) {
  return {{"kind", schedule::to_string(s.kind)}, {"peak", s.peak},
          {"total_steps", s.total_steps},       {"warmup", s.warmup},
          {"cooldown", s.cooldown},             {"min_lr_ratio", s.min_lr_ratio}};
}

struct StoreFacts {
  store::Manifest manifest;
  std::string manifest_hash;
};

StoreFacts read_store_facts(const schedule::SourceConfig& src, const std::string& file) {
  const std::string key = "data.sources." + src.name + ".store";
  std::filesystem::path manifest_path = std::filesystem::path(src.store) / store::kManifestName;
  if (!std::filesystem::exists(manifest_path)) {
    throw Error(file + ": " + key + ": no token store at '" + src.store +
                "' (missing " + manifest_path.string() + "; build it with `replay data build`)");
  }
  std::string text = fs::read_file(manifest_path);
  StoreFacts facts{store::manifest_from_json(text, manifest_path.string()), hash::xxh128_hex(text)};
  return facts;
}

}  // namespace

uint64_t physical_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

uint64_t estimate_training_bytes(const model::ModelConfig& m, int64_t microbatch, int64_t seq_len) {
  const auto params = static_cast<double>(model::count_params(m).total);
  const double state = 16.0 * params;  // weights, grads, exp_avg, exp_avg_sq (fp32)
  const double tokens = static_cast<double>(microbatch) * static_cast<double>(seq_len);
  const double qkv = static_cast<double>((m.n_heads + 2 * m.n_kv_heads) * m.head_dim);
  // Floats kept per token per layer: norms and residuals (~8 D), q/k/v before
  // and after rotary, MLP gate/up/activation/product (4 F), attention
  // probabilities (heads x T on the explicit path).
  const double per_token_layer = 8.0 * static_cast<double>(m.dim) + 2.0 * qkv +
                                 4.0 * static_cast<double>(m.ffn_dim) +
                                 static_cast<double>(m.n_heads * seq_len);
  const double activations = 4.0 * tokens * static_cast<double>(m.n_layers) * per_token_layer +
                             4.0 * tokens * 4.0 * static_cast<double>(m.dim);
  return static_cast<uint64_t>(state + activations);
}

RunConfig resolve_run_config(const toml::table& root, const std::string& file) {
  RunConfig rc;
  rc.file = file;
  rc.settings = parse_run_settings(root, file);
  rc.schedule = schedule::parse_data_and_schedule(root, file);

  // Store facts from the manifests only (cheap); the trainer opens and
  // verifies the stores themselves when it starts.
  std::map<std::string, StoreFacts> facts;
  for (const auto& src : rc.schedule.data.sources) facts.emplace(src.name, read_store_facts(src, file));
  if (facts.empty()) throw Error(file + ": [data.sources] lists no source");
  const auto& first = facts.begin()->second.manifest;
  for (const auto& [name, f] : facts) {
    const std::string key = "data.sources." + name + ".store";
    if (f.manifest.seq_len != first.seq_len) {
      throw Error(file + ": " + key + ": sequence length " + std::to_string(f.manifest.seq_len) +
                  " differs from " + std::to_string(first.seq_len) + " of source '" +
                  facts.begin()->first + "'");
    }
    if (f.manifest.tokenizer_fingerprint != first.tokenizer_fingerprint) {
      throw Error(file + ": " + key + ": built with another tokenizer than source '" +
                  facts.begin()->first + "'");
    }
  }
  rc.seq_len = first.seq_len;
  if (rc.schedule.data.seq_len != 0 && rc.schedule.data.seq_len != rc.seq_len) {
    throw Error(file + ": data.seq_len = " + std::to_string(rc.schedule.data.seq_len) +
                " but the stores hold sequences of " + std::to_string(rc.seq_len) + " tokens");
  }
  if (!rc.schedule.data.tokenizer.empty()) {
    if (!std::filesystem::exists(rc.schedule.data.tokenizer)) {
      throw Error(file + ": data.tokenizer: no such file '" + rc.schedule.data.tokenizer + "'");
    }
    std::string fp = text::Tokenizer::load(rc.schedule.data.tokenizer).fingerprint();
    if (fp != first.tokenizer_fingerprint) {
      throw Error(file + ": data.tokenizer '" + rc.schedule.data.tokenizer +
                  "' is not the tokenizer the stores were built with (fingerprint mismatch)");
    }
  }

  // [model]: vocabulary and sequence length default to the data's.
  static const toml::table kEmpty;
  const toml::table* model_table = root["model"].as_table();
  rc.model = model::config_from_toml(model_table ? *model_table : kEmpty, file);
  const std::string where = file + " [model]";
  if (!model_table || !model_table->contains("vocab_size")) {
    rc.model.vocab_size = static_cast<int64_t>(first.vocab_size);
  } else if (rc.model.vocab_size < static_cast<int64_t>(first.vocab_size)) {
    throw Error(where + ": vocab_size " + std::to_string(rc.model.vocab_size) +
                " is smaller than the stores' vocabulary " + std::to_string(first.vocab_size));
  }
  if (!model_table || !model_table->contains("max_seq_len")) {
    rc.model.max_seq_len = rc.seq_len;
  } else if (rc.model.max_seq_len < rc.seq_len) {
    throw Error(where + ": max_seq_len " + std::to_string(rc.model.max_seq_len) +
                " is shorter than the stores' sequences (" + std::to_string(rc.seq_len) + ")");
  }
  rc.model.validate(where);

  try {
    rc.plan = schedule::build_run_plan(rc.schedule.spec, rc.schedule.data,
                                       [&](const schedule::SourceConfig& s) {
                                         return static_cast<int64_t>(facts.at(s.name).manifest.train.sequences);
                                       });
  } catch (const Error& e) {
    const std::string msg = e.what();
    throw Error(msg.rfind(file, 0) == 0 ? msg : file + ": " + msg);
  }
  for (const auto& name : rc.plan.mixture->source_names()) {
    const auto& f = facts.at(name);
    const auto& cfg = *std::find_if(rc.schedule.data.sources.begin(), rc.schedule.data.sources.end(),
                                    [&](const auto& s) { return s.name == name; });
    rc.sources.push_back({name, cfg.store, static_cast<int64_t>(f.manifest.train.sequences),
                          static_cast<int64_t>(f.manifest.val.sequences),
                          f.manifest.tokenizer_fingerprint});
  }

  // Memory: refuse what clearly cannot fit rather than swap or be killed.
  const uint64_t need = estimate_training_bytes(rc.model, rc.settings.microbatch(), rc.seq_len);
  const uint64_t have = physical_memory_bytes();
  if (have > 0 && need > have / 10 * 9) {
    throw Error(file + ": this run needs about " + std::to_string(need >> 20) + " MiB (model " +
                std::to_string(model::count_params(rc.model).total) + " parameters, train.microbatch " +
                std::to_string(rc.settings.microbatch()) + " x " + std::to_string(rc.seq_len) +
                " tokens) but the machine has " + std::to_string(have >> 20) +
                " MiB: lower train.microbatch or pick a smaller [model]");
  }

  // The canonical description.
  nlohmann::json j = to_json(rc.settings);
  j["model"] = model_to_json(rc.model);
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& src : rc.schedule.data.sources) {
    const auto& f = facts.at(src.name);
    sources[src.name] = {{"store", src.store},
                         {"pool", src.pool},
                         {"repeat", schedule::to_string(src.repeat)},
                         {"shuffle", src.shuffle},
                         {"train_sequences", f.manifest.train.sequences},
                         {"val_sequences", f.manifest.val.sequences},
                         {"manifest_xxh128", f.manifest_hash}};
  }
  j["data"] = {{"tokenizer", rc.schedule.data.tokenizer},
               {"tokenizer_fingerprint", first.tokenizer_fingerprint},
               {"seq_len", rc.seq_len},
               {"sources", sources}};
  nlohmann::json phases = nlohmann::json::array();
  for (const auto& p : rc.plan.phases) {
    phases.push_back({{"name", p.name},
                      {"first_step", p.first_step},
                      {"num_steps", p.num_steps},
                      {"reset_optimizer", p.reset_optimizer},
                      {"lr", lr_to_json(p.lr)},
                      {"lr_first_step", p.lr_first_step}});
  }
  j["schedule"] = {{"protocol", schedule::to_string(rc.plan.protocol)},
                   {"phases", phases},
                   {"plan_key", schedule::phase_content_key(rc.plan, rc.plan.phases.size() - 1, "")}};
  rc.resolved = j;
  nlohmann::json identity = j;
  identity.erase("out");
  identity.erase("shared");
  identity.erase("threads");
  identity.erase("device");
  identity.erase("compute_dtype");
  identity["numerics"] = rc.numerics();
  rc.content_hash = hash::xxh128_hex(identity.dump());
  return rc;
}

nlohmann::json RunConfig::numerics() const {
  const std::string& d = settings.device;
  return {{"compute_dtype", settings.compute_dtype},
          {"device_type", d.substr(0, d.find(':'))}};
}

RunConfig load_run_config(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  if (!std::filesystem::exists(file)) throw Error("no such run config: " + file.string());
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw Error(file.string() + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                ": " + std::string(e.description()));
  }
  for (const auto& o : overrides) apply_override(root, o);
  return resolve_run_config(root, file.string());
}

}  // namespace replay::train
