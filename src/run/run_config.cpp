#include "run/run_config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "model/memory_plan.h"
#include "store/manifest.h"
#include "text/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/toml_reader.h"

namespace replay::run {

namespace {

// ---- Parsing: each table once, by its owner.

// optim.lr as the peak, [lr_schedule] as the shape: the run's base schedule.
schedule::LrSchedule parse_base_lr(const toml::table& root, const std::string& file, double peak) {
  schedule::LrSchedule base;
  base.peak = peak;
  TomlReader top(&root, "", file);
  TomlReader r(top.table("lr_schedule"), "lr_schedule", file);
  return schedule::parse_lr_table(r, base, "optim.lr");
}

void note_inapplicable_keys(const toml::table& root, RunDescription& d) {
  if (d.base_lr_applies()) return;
  const toml::table* optim = root["optim"].as_table();
  const bool lr = optim && optim->contains("lr");
  if (!lr && !root.contains("lr_schedule")) return;
  d.warnings.push_back(std::string(lr ? "optim.lr" : "") + (lr && root.contains("lr_schedule") ? " and " : "") +
                       (root.contains("lr_schedule") ? "[lr_schedule]" : "") + " do not apply to protocol '" +
                       schedule::to_string(d.schedule.spec.protocol) +
                       "' (its phases set their own LR: [schedule.pretrain], [schedule.finetune]); "
                       "they are left out of the run's description and id");
}

// ---- Resolution steps.

struct StoreFacts {
  store::Manifest manifest;
  std::string manifest_hash;
};
using Facts = std::map<std::string, StoreFacts>;

Facts read_store_facts(const RunDescription& d) {
  Facts facts;
  for (const auto& src : d.schedule.data.sources) {
    const std::string key = "data.sources." + src.name + ".store";
    const std::filesystem::path manifest_path = std::filesystem::path(src.store) / store::kManifestName;
    if (!std::filesystem::exists(manifest_path)) {
      throw Error(d.file + ": " + key + ": no token store at '" + src.store + "' (missing " +
                  manifest_path.string() + "; build it with `replay data build`)");
    }
    const std::string text = fs::read_file(manifest_path);
    facts.emplace(src.name, StoreFacts{store::manifest_from_json(text, manifest_path.string()),
                                       hash::xxh128_hex(text)});
  }
  if (facts.empty()) throw Error(d.file + ": [data.sources] lists no source");
  return facts;
}

const store::Manifest& check_stores_agree(const RunDescription& d, const Facts& facts) {
  const auto& [first_name, first] = *facts.begin();
  for (const auto& [name, f] : facts) {
    const std::string key = "data.sources." + name + ".store";
    if (f.manifest.seq_len != first.manifest.seq_len) {
      throw Error(d.file + ": " + key + ": sequence length " + std::to_string(f.manifest.seq_len) +
                  " differs from " + std::to_string(first.manifest.seq_len) + " of source '" + first_name + "'");
    }
    if (f.manifest.tokenizer_fingerprint != first.manifest.tokenizer_fingerprint)
      throw Error(d.file + ": " + key + ": built with another tokenizer than source '" + first_name + "'");
  }
  const int64_t seq_len = first.manifest.seq_len;
  if (d.schedule.data.seq_len != 0 && d.schedule.data.seq_len != seq_len) {
    throw Error(d.file + ": data.seq_len = " + std::to_string(d.schedule.data.seq_len) +
                " but the stores hold sequences of " + std::to_string(seq_len) + " tokens");
  }
  return first.manifest;
}

void check_tokenizer(const RunDescription& d, const store::Manifest& stores) {
  const std::string& path = d.schedule.data.tokenizer;
  // Task items are text: scoring them needs the tokenizer the model reads.
  if (path.empty() && !d.settings.eval.tasks.empty())
    throw Error(d.file + ": eval.tasks: scoring tasks needs data.tokenizer (the stores' tokenizer)");
  if (path.empty()) return;
  if (!std::filesystem::exists(path)) throw Error(d.file + ": data.tokenizer: no such file '" + path + "'");
  if (text::Tokenizer::load(path).fingerprint() != stores.tokenizer_fingerprint) {
    throw Error(d.file + ": data.tokenizer '" + path +
                "' is not the tokenizer the stores were built with (fingerprint mismatch)");
  }
}

model::ModelConfig complete_model(const RunDescription& d, const store::Manifest& stores) {
  model::ModelConfig m = d.model;
  const std::string where = d.file + " [model]";
  const auto vocab = static_cast<int64_t>(stores.vocab_size);
  if (!d.model_sets_vocab) {
    m.vocab_size = vocab;
  } else if (m.vocab_size < vocab) {
    throw Error(where + ": vocab_size " + std::to_string(m.vocab_size) + " is smaller than the stores' vocabulary " +
                std::to_string(vocab));
  }
  if (!d.model_sets_max_seq_len) {
    m.max_seq_len = stores.seq_len;
  } else if (m.max_seq_len < stores.seq_len) {
    throw Error(where + ": max_seq_len " + std::to_string(m.max_seq_len) + " is shorter than the stores' sequences (" +
                std::to_string(stores.seq_len) + ")");
  }
  m.validate(where);
  return m;
}

// Every id a store holds must index the model's embedding: the manifest's
// recorded maximum (vocab_size - 1 for stores that predate it) against
// [model] vocab_size, per store, since sources need not share a manifest.
void check_token_ids_fit(const RunDescription& d, const Facts& facts, const model::ModelConfig& m) {
  for (const auto& [name, f] : facts) {
    const uint32_t max = f.manifest.max_token_id();
    if (max < m.vocab_size) continue;
    const auto& src = *std::find_if(d.schedule.data.sources.begin(), d.schedule.data.sources.end(),
                                    [&](const auto& s) { return s.name == name; });
    throw Error(d.file + ": data.sources." + name + ".store: token store '" + src.store + "' holds token id " +
                std::to_string(max) + ", but model.vocab_size is " + std::to_string(m.vocab_size) +
                " (ids must be below it)");
  }
}

std::vector<SourceStore> plan_sources(const RunConfig& rc, const Facts& facts) {
  std::vector<SourceStore> out;
  for (const auto& name : rc.plan.mixture->source_names()) {
    const auto& f = facts.at(name);
    const auto& cfg = *std::find_if(rc.schedule.data.sources.begin(), rc.schedule.data.sources.end(),
                                    [&](const auto& s) { return s.name == name; });
    out.push_back({name, cfg.store, static_cast<int64_t>(f.manifest.train.sequences),
                   static_cast<int64_t>(f.manifest.val.sequences), f.manifest.tokenizer_fingerprint,
                   f.manifest.domain, f.manifest_hash});
  }
  return out;
}

// The host memory gate of a CPU run (estimate_training_memory).
void check_host_memory(const RunConfig& rc) {
  const uint64_t need = estimate_training_memory(rc.model, rc.settings.microbatch(), rc.seq_len,
                                                 rc.settings.train.activation_checkpointing)
                            .total();
  const uint64_t have = physical_memory_bytes();
  if (have > 0 && static_cast<double>(need) > kMemoryGateShare * static_cast<double>(have)) {
    throw Error(rc.file + ": this run needs about " + std::to_string(need >> 20) + " MiB (model " +
                std::to_string(model::count_params(rc.model).total) + " parameters, train.microbatch " +
                std::to_string(rc.settings.microbatch()) + " x " + std::to_string(rc.seq_len) +
                " tokens), more than " + std::to_string(static_cast<int>(kMemoryGateShare * 100)) + "% of the machine's " +
                std::to_string(have >> 20) + " MiB: lower train.microbatch, set train.activation_checkpointing = true or pick a smaller [model] "
                "(`replay model memory` shows the terms)");
  }
}

// A CUDA run keeps its state and activations in device memory: the memory
// plan against the device's size, when the driver tells it (a machine
// without one is refused later, by the trainer, naming the device).
void check_device_memory(const RunConfig& rc, int index) {
  const auto bytes = cuda_device_memory_bytes(index);
  if (!bytes) return;
  model::MemoryPlanOptions plan;
  plan.microbatch = rc.settings.microbatch();
  plan.seq_len = rc.seq_len;
  plan.bf16_compute = rc.settings.compute_dtype == "bf16";
  plan.checkpointing = rc.settings.train.activation_checkpointing;
  const std::string refusal = device_memory_refusal(rc.model, plan, static_cast<double>(*bytes), rc.settings.device);
  if (!refusal.empty()) throw Error(rc.file + ": " + refusal);
}

void check_memory(const RunConfig& rc) {
  if (const auto index = rc.settings.cuda_index()) return check_device_memory(rc, *index);
  check_host_memory(rc);
}

}  // namespace

std::string device_memory_refusal(const model::ModelConfig& m, const model::MemoryPlanOptions& plan,
                                  double device_bytes, const std::string& device) {
  const model::MemoryBreakdown need = model::plan_memory(m, plan);
  const double usable = kDeviceGateShare * device_bytes;
  if (need.total() <= usable) return "";
  auto gb = [](double b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
    return std::string(buf);
  };
  std::string ways;
  for (const auto& way : model::ways_to_fit(m, plan, usable)) {
    if (!way.fits) continue;
    // The trainer checkpoints activations and shards the optimizer state
    // (over data-parallel ranks); bf16 state and offloading are plans only.
    const bool trainer_has_it = !way.options.bf16_state && !way.options.offload_optimizer;
    const std::string how = way.options.shard_optimizer
                                ? "train.shard_optimizer = true, train.activation_checkpointing = true"
                                : "train.activation_checkpointing = true";
    ways += (ways.empty() ? "" : "; ") + way.name + " (" + gb(way.memory.total()) +
            (trainer_has_it ? ": " + how : ": not in Replay's trainer yet") + ")";
  }
  return "this run needs about " + gb(need.total()) + " on " + device + " (weights " + gb(need.weights) +
         ", gradients " + gb(need.gradients) + ", optimizer " + gb(need.optimizer) + ", activations " +
         gb(need.activations) + ", loss " + gb(need.loss) + " at train.microbatch " +
         std::to_string(plan.microbatch) + " x " + std::to_string(plan.seq_len) + " tokens), more than " +
         std::to_string(static_cast<int>(kDeviceGateShare * 100)) + "% of its " + gb(device_bytes) +
         ". Ways that fit: " + (ways.empty() ? "none of the standard ones; pick a smaller [model]" : ways) +
         ", or a smaller train.microbatch (`replay model memory` shows the plan)";
}

namespace {

nlohmann::json describe_data(const RunConfig& rc, const Facts& facts, const store::Manifest& stores) {
  nlohmann::json sources = nlohmann::json::object();
  for (const auto& src : rc.schedule.data.sources) {
    const auto& f = facts.at(src.name);
    nlohmann::json j = schedule::to_json(src);
    j["train_sequences"] = f.manifest.train.sequences;
    j["val_sequences"] = f.manifest.val.sequences;
    j["manifest_xxh128"] = f.manifest_hash;
    sources[src.name] = j;
  }
  return {{"tokenizer", rc.schedule.data.tokenizer},
          {"tokenizer_fingerprint", stores.tokenizer_fingerprint},
          {"seq_len", rc.seq_len},
          {"sources", sources}};
}

nlohmann::json describe_schedule(const schedule::RunPlan& plan) {
  nlohmann::json phases = nlohmann::json::array();
  for (const auto& p : plan.phases) {
    phases.push_back({{"name", p.name},
                      {"first_step", p.first_step},
                      {"num_steps", p.num_steps},
                      {"reset_optimizer", p.reset_optimizer},
                      {"lr", schedule::to_json(p.lr)},
                      {"lr_first_step", p.lr_first_step}});
  }
  nlohmann::json j = {{"protocol", schedule::to_string(plan.protocol)},
                      {"phases", phases},
                      {"plan_key", schedule::phase_content_key(plan, plan.phases.size() - 1, "")}};
  if (const auto& c = plan.continued)
    j["continued_pretraining"] = {{"target_steps", c->target_steps},
                                  {"rho", c->rho},
                                  {"target_weight", c->target_weight},
                                  {"target_sequences", c->target_sequences}};
  return j;
}

// The canonical description: each stage's own JSON, and the keys that do not
// apply to the protocol left out.
nlohmann::json describe(const RunDescription& d, const RunConfig& rc, const Facts& facts,
                        const store::Manifest& stores) {
  const bool base_lr = d.base_lr_applies();
  nlohmann::json j = to_json(rc.settings, base_lr);
  if (base_lr) {
    nlohmann::json shape = schedule::to_json(rc.schedule.spec.lr);
    shape.erase("peak");         // optim.lr
    shape.erase("total_steps");  // per phase
    j["lr_schedule"] = shape;
  }
  j["model"] = model::to_json(rc.model);
  j["data"] = describe_data(rc, facts, stores);
  j["schedule"] = describe_schedule(rc.plan);
  return j;
}

std::string content_hash_of(const RunConfig& rc) {
  nlohmann::json identity = rc.resolved;
  for (const char* where_and_how : {"out", "shared", "threads", "device", "compute_dtype"})
    identity.erase(where_and_how);
  identity["train"].erase("activation_checkpointing");  // same gradients, bit for bit (llama_test)
  identity["train"].erase("tensorboard");               // one more output file, the same numbers
  identity["train"].erase("shard_optimizer");  // an execution detail, like the world size (settings.h)
  identity["numerics"] = rc.numerics();
  return hash::xxh128_hex(identity.dump());
}

// train.steps: given, or derived by the schedule stage (continued-pretraining
// computes target_steps / (1 - rho) and has already checked a given value).
// That protocol starts from a pretrained model: train.init_from is required.
void take_train_steps(RunDescription& d) {
  const bool continued = d.schedule.spec.protocol == schedule::Protocol::continued_pretraining;
  if (continued) {
    d.settings.train.steps = d.schedule.spec.steps;
    if (d.settings.train.init_from.empty())
      throw Error(d.file + ": train.init_from: missing; protocol 'continued-pretraining' starts from a "
                  "pretrained model (a Hugging Face model dir, run dir or checkpoint)");
  }
  if (d.settings.train.steps <= 0)
    throw Error(d.file + ": train.steps: missing (number of optimizer steps, e.g. steps = 512)");
}

}  // namespace

bool RunDescription::base_lr_applies() const {
  return schedule.spec.protocol != schedule::Protocol::fine_tuning;
}

RunDescription parse_run_description(const toml::table& root, const std::string& file) {
  RunDescription d;
  d.file = file;
  d.settings = parse_run_settings(root, file);
  schedule::RunBasics basics;
  basics.seed = d.settings.data_seed();
  basics.pool_seed = d.settings.pool_seed();
  basics.steps = d.settings.train.steps;
  basics.batch_size = d.settings.train.batch_size;
  basics.lr = parse_base_lr(root, file, d.settings.optim.lr);
  d.schedule = schedule::parse_data_and_schedule(root, file, basics);
  take_train_steps(d);

  static const toml::table kEmpty;
  const toml::table* model_table = root["model"].as_table();
  d.model = model::config_from_toml(model_table ? *model_table : kEmpty, file);
  d.model_sets_vocab = model_table && model_table->contains("vocab_size");
  d.model_sets_max_seq_len = model_table && model_table->contains("max_seq_len");
  note_inapplicable_keys(root, d);
  return d;
}

RunDescription load_run_toml(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  toml::table root = parse_toml_file(file.string());
  for (const auto& o : overrides) apply_override(root, o);
  return parse_run_description(root, file.string());
}

MemoryEstimate estimate_training_memory(const model::ModelConfig& m, int64_t microbatch, int64_t seq_len,
                                        bool checkpointing) {
  const auto params = static_cast<double>(model::count_params(m).total);
  const double tokens = static_cast<double>(microbatch) * static_cast<double>(seq_len);
  const double vocab = static_cast<double>(m.vocab_size), dim = static_cast<double>(m.dim);
  // The CPU path keeps the attention probabilities (explicit attention).
  const double activation_floats =
      tokens * model::activation_floats_per_token(m, seq_len, /*fused_attention=*/false, checkpointing);
  const auto rows = static_cast<double>(model::loss_chunk_rows(m.vocab_size, microbatch * seq_len, false));
  MemoryEstimate e;
  e.runtime = uint64_t{280} << 20;
  e.state = static_cast<uint64_t>(20.0 * params);
  e.vocab_tensors = static_cast<uint64_t>(8.0 * 4.0 * vocab * dim);
  e.activations = static_cast<uint64_t>(1.12 * 4.0 * activation_floats);
  e.loss = static_cast<uint64_t>(2.5 * 4.0 * rows * vocab);
  return e;
}

RunConfig resolve_run(const RunDescription& d) {
  if (d.settings.out.empty())
    throw Error(d.file + ": out: missing (the run directory, e.g. out = \"runs/example\")");
  RunConfig rc;
  rc.file = d.file;
  rc.settings = d.settings;
  rc.schedule = d.schedule;
  rc.warnings = d.warnings;

  const Facts facts = read_store_facts(d);
  const store::Manifest& stores = check_stores_agree(d, facts);
  rc.seq_len = stores.seq_len;
  check_tokenizer(d, stores);
  rc.model = complete_model(d, stores);
  check_token_ids_fit(d, facts, rc.model);
  rc.plan = schedule::plan_run(rc.schedule, d.file, [&](const schedule::SourceConfig& s) {
    return static_cast<int64_t>(facts.at(s.name).manifest.train.sequences);
  });
  rc.sources = plan_sources(rc, facts);
  check_memory(rc);
  rc.resolved = describe(d, rc, facts, stores);
  rc.content_hash = content_hash_of(rc);
  return rc;
}

RunConfig load_run_config(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  return resolve_run(load_run_toml(file, overrides));
}

nlohmann::json RunConfig::numerics() const {
  const std::string& d = settings.device;
  return {{"compute_dtype", settings.compute_dtype}, {"device_type", d.substr(0, d.find(':'))}};
}

nlohmann::json RunConfig::config_file() const {
  return {{"content_hash", content_hash}, {"config", resolved}, {"source", file}};
}

const SourceStore* RunConfig::target() const {
  if (plan.target < 0) return nullptr;
  return &sources.at(static_cast<size_t>(plan.target));
}

}  // namespace replay::run
