#include "schedule/config.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"
#include "util/toml_reader.h"

namespace replay::schedule {

namespace {

using Reader = TomlReader;

const toml::table* sub(const toml::table& root, const char* key) {
  const toml::node* n = root.get(key);
  return n ? n->as_table() : nullptr;
}

// Shape of an LR schedule (kind, warmup, cooldown, min_lr_ratio) from a table,
// on top of `base`.
LrSchedule read_lr_shape(Reader& r, LrSchedule base) {
  if (auto k = r.string_opt("kind")) base.kind = parse_lr_kind(*k, r.file() + ": " + r.name("kind"));
  if (auto v = r.double_opt("warmup")) base.warmup = *v;
  if (auto v = r.double_opt("cooldown")) base.cooldown = *v;
  if (auto v = r.double_opt("min_lr_ratio")) base.min_lr_ratio = *v;
  return base;
}

DataConfig parse_data(const toml::table* table, const std::string& file) {
  Reader r(table, "data", file);
  DataConfig d;
  d.tokenizer = r.string_opt("tokenizer").value_or("");
  d.seq_len = r.int_opt("seq_len").value_or(0);
  if (d.seq_len < 0) r.fail("seq_len", "must be > 0");
  const toml::table* sources = r.table("sources");
  if (!sources || sources->empty()) throw Error(file + ": [data.sources] is missing or empty");
  for (const auto& [k, v] : *sources) {
    SourceConfig s;
    s.name = std::string(k.str());
    const std::string prefix = "data.sources." + s.name;
    const toml::table* t = v.as_table();
    if (!t) throw Error(file + ": " + prefix + ": expected a table");
    Reader sr(t, prefix, file);
    auto store = sr.string_opt("store");
    if (!store || store->empty()) sr.fail("store", "is required (a token store directory)");
    s.store = *store;
    s.pool = sr.int_opt("pool").value_or(0);
    if (sr.has("pool") && s.pool < 1) sr.fail("pool", "must be >= 1 sequences");
    if (auto rep = sr.string_opt("repeat")) {
      if (*rep == "restart") s.repeat = Repeat::restart;
      else if (*rep == "reshuffle") s.repeat = Repeat::reshuffle;
      else sr.fail("repeat", "'" + *rep + "' is not one of restart, reshuffle");
    }
    s.shuffle = sr.bool_opt("shuffle").value_or(true);
    sr.finish();
    d.sources.push_back(std::move(s));
  }
  r.finish();
  return d;
}

LrSchedule parse_phase_lr(Reader& parent, const std::string& key, double peak) {
  LrSchedule lr;
  lr.kind = LrKind::cosine;
  lr.peak = peak;
  lr.warmup = 0.01;
  lr.min_lr_ratio = 0;
  Reader r(parent.table(key), parent.name(key), parent.file());
  if (auto v = r.double_opt("lr")) lr.peak = *v;
  return parse_lr_table(r, lr, r.name("lr"));
}

std::vector<GeneralStage> parse_stages(Reader& sched, const LrSchedule& run_lr) {
  std::vector<GeneralStage> out;
  const toml::array* arr = sched.array("stages");
  if (!arr) return out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string prefix = "schedule.stages[" + std::to_string(i) + "]";
    const toml::table* t = (*arr)[i].as_table();
    if (!t) throw Error(sched.file() + ": " + prefix + ": expected a table");
    Reader r(t, prefix, sched.file());
    GeneralStage g;
    auto start = r.int_opt("start_step");
    if (!start) r.fail("start_step", "is required");
    g.start_step = *start;
    const toml::table* w = r.table("weights");
    if (!w || w->empty()) r.fail("weights", "is required: { source = weight, ... }");
    Reader wr(w, prefix + ".weights", sched.file());
    for (const auto& [k, v] : *w) {
      const std::string name(k.str());
      const double weight = *wr.double_opt(name);
      if (!(weight >= 0) || !std::isfinite(weight)) wr.fail(name, "must be a number >= 0");
      g.weights.emplace_back(name, weight);
    }
    g.reset_optimizer = r.bool_opt("reset_optimizer").value_or(false);
    auto peak = r.double_opt("lr");
    const toml::table* lt = r.table("lr_schedule");
    if (peak || lt) {
      LrSchedule lr = run_lr;
      if (peak) lr.peak = *peak;
      Reader lr_reader(lt, prefix + ".lr_schedule", sched.file());
      g.lr = parse_lr_table(lr_reader, lr, prefix + ".lr");
    }
    r.finish();
    out.push_back(std::move(g));
  }
  return out;
}

std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// continued-pretraining: this stage owns train.steps' value, N = round(T / (1 -
// rho)); the run layer passes train.steps (0 = left out) and takes spec.steps.
void derive_continued_steps(Reader& r, const RunBasics& basics, ProtocolSpec& spec) {
  auto t = r.int_opt("target_steps");
  if (!t) r.fail("target_steps", "is required for protocol 'continued-pretraining' (the budget of target steps)");
  spec.target_steps = *t;
  const double rho = spec.knobs.rho.value_or(0.0);
  int64_t n = 0;
  try {
    n = continued_pretraining_steps(spec.target_steps, rho);
  } catch (const Error& e) {
    throw Error(r.file() + ": " + e.what());
  }
  if (basics.steps > 0 && basics.steps != n)
    throw Error(r.file() + ": train.steps = " + std::to_string(basics.steps) + " disagrees with " +
                "schedule.target_steps = " + std::to_string(spec.target_steps) + " / (1 - schedule.rho = " +
                short_number(rho) + ") = " + std::to_string(n) + " steps (leave train.steps out to derive it)");
  spec.steps = n;
}

}  // namespace

LrSchedule parse_lr_table(Reader& r, LrSchedule base, const std::string& peak_key) {
  LrSchedule lr = read_lr_shape(r, base);
  r.finish();
  if (!(lr.peak > 0) || !std::isfinite(lr.peak))
    throw Error(r.file() + ": " + peak_key + ": the peak learning rate must be a number > 0");
  validate(lr, r.file() + ": " + r.name(""));
  return lr;
}

ScheduleConfig parse_data_and_schedule(const toml::table& root, const std::string& file,
                                       const RunBasics& basics) {
  ScheduleConfig cfg;
  if (root.contains("data") && !sub(root, "data")) throw Error(file + ": data: expected a table");
  if (root.contains("schedule") && !sub(root, "schedule")) throw Error(file + ": schedule: expected a table");
  cfg.data = parse_data(sub(root, "data"), file);
  ProtocolSpec& spec = cfg.spec;
  spec.seed = basics.seed;
  spec.pool_seed = basics.pool_seed;
  spec.steps = basics.steps;
  spec.batch_size = basics.batch_size;
  spec.lr = basics.lr;

  Reader r(sub(root, "schedule"), "schedule", file);
  const std::string protocol = r.string_opt("protocol").value_or("single");
  spec.protocol = parse_protocol(protocol, file + ": schedule.protocol");
  spec.source = r.string_opt("source").value_or("");
  if (spec.protocol == Protocol::single && spec.source.empty()) {
    if (cfg.data.sources.size() != 1)
      r.fail("source", "is required when [data.sources] has more than one source");
    spec.source = cfg.data.sources.front().name;
  }
  spec.target = r.string_opt("target").value_or("");
  spec.generic = r.string_opt("generic").value_or("");
  spec.knobs.f = r.double_opt("f").value_or(0);
  spec.knobs.e = r.double_opt("e").value_or(spec.protocol == Protocol::fine_tuning ? 64 : 32);
  spec.knobs.rho = r.double_opt("rho");
  spec.knobs.alpha = r.double_opt("alpha");
  spec.knobs.delta = r.double_opt("delta");
  if (r.has("f") && !(spec.knobs.f > 0)) r.fail("f", "must be > 0");
  if (spec.protocol == Protocol::continued_pretraining) {
    for (const char* key : {"f", "e", "alpha", "delta", "m", "block_size", "apportion"})
      if (r.has(key)) r.fail(key, "protocol 'continued-pretraining' does not take this key (it takes target, "
                                  "generic, target_steps, rho)");
  } else if (r.has("target_steps")) {
    r.fail("target_steps", "only protocol 'continued-pretraining' takes this key");
  }
  if (auto m = r.double_opt("m")) {
    if (spec.protocol != Protocol::fine_tuning) r.fail("m", "only protocol 'fine-tuning' takes this key");
    if (spec.knobs.rho) r.fail("m", "give m or rho, not both");
    spec.m = *m;
  } else if (spec.protocol == Protocol::fine_tuning && spec.knobs.rho) {
    if (!(*spec.knobs.rho >= 0 && *spec.knobs.rho < 1)) r.fail("rho", "must be in [0, 1)");
    spec.m = 1 / (1 - *spec.knobs.rho);
    spec.knobs.rho.reset();
  }
  spec.block_size = r.int_opt("block_size").value_or(2048);
  if (spec.block_size < 1) r.fail("block_size", "must be >= 1");
  const std::string apportion = r.string_opt("apportion").value_or("exact");
  if (apportion == "exact") spec.apportion = Apportion::exact;
  else if (apportion == "reference") spec.apportion = Apportion::reference;
  else r.fail("apportion", "'" + apportion + "' is not one of exact, reference");

  if (spec.protocol == Protocol::continued_pretraining) derive_continued_steps(r, basics, spec);
  spec.pretrain_lr = parse_phase_lr(r, "pretrain", 1e-3);
  spec.finetune_lr = parse_phase_lr(r, "finetune", 3e-4);
  spec.stages = parse_stages(r, spec.lr);
  if (spec.protocol != Protocol::general && !spec.stages.empty())
    r.fail("stages", "only protocol 'general' takes explicit stages");
  if (spec.protocol != Protocol::fine_tuning && (r.has("pretrain") || r.has("finetune")))
    r.fail(r.has("pretrain") ? "pretrain" : "finetune", "only protocol 'fine-tuning' takes this key");
  r.finish();
  return cfg;
}

RunPlan plan_run(const ScheduleConfig& config, const std::string& file, const StoreSizeFn& sizes) {
  try {
    return build_run_plan(config.spec, config.data, sizes);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(file, 0) == 0) throw;
    throw Error(file + ": " + msg);
  }
}

nlohmann::json to_json(const LrSchedule& s) {
  return {{"kind", to_string(s.kind)}, {"peak", s.peak},
          {"total_steps", s.total_steps}, {"warmup", s.warmup},
          {"cooldown", s.cooldown},       {"min_lr_ratio", s.min_lr_ratio}};
}

nlohmann::json to_json(const SourceConfig& s) {
  return {{"store", s.store}, {"pool", s.pool}, {"repeat", to_string(s.repeat)}, {"shuffle", s.shuffle}};
}

}  // namespace replay::schedule
