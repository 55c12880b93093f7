#include "schedule/config.h"

#include <cmath>
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

void check_lr(Reader& r, const LrSchedule& lr) { validate(lr, r.file() + ": " + r.name("")); }

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

// The trainer-owned values a plan needs, read leniently (the trainer owns
// their validation and unknown-key checks). Defaults mirror src/train/settings.h.
void read_trainer_values(const toml::table& root, const std::string& file, ProtocolSpec& spec) {
  Reader top(&root, "", file);
  spec.seed = static_cast<uint64_t>(top.int_opt("seed").value_or(42));
  Reader train(sub(root, "train"), "train", file);
  auto steps = train.int_opt("steps");
  if (!steps) throw Error(file + ": train.steps is required");
  spec.steps = *steps;
  spec.batch_size = train.int_opt("batch_size").value_or(32);
  if (spec.steps <= 0) train.fail("steps", "must be > 0");
  if (spec.batch_size <= 0) train.fail("batch_size", "must be > 0");
  Reader optim(sub(root, "optim"), "optim", file);
  spec.lr.peak = optim.double_opt("lr").value_or(3e-3);
  Reader lr(sub(root, "lr_schedule"), "lr_schedule", file);
  spec.lr = read_lr_shape(lr, spec.lr);
  check_lr(lr, spec.lr);
}

LrSchedule parse_phase_lr(Reader& parent, const std::string& key, double peak) {
  LrSchedule lr;
  lr.kind = LrKind::cosine;
  lr.peak = peak;
  lr.warmup = 0.01;
  lr.min_lr_ratio = 0;
  Reader r(parent.table(key), parent.name(key), parent.file());
  if (auto v = r.double_opt("lr")) lr.peak = *v;
  lr = read_lr_shape(r, lr);
  r.finish();
  check_lr(r, lr);
  return lr;
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
      lr = read_lr_shape(lr_reader, lr);
      lr_reader.finish();
      check_lr(lr_reader, lr);
      g.lr = lr;
    }
    r.finish();
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

ScheduleConfig parse_data_and_schedule(const toml::table& root, const std::string& file) {
  ScheduleConfig cfg;
  if (root.contains("data") && !sub(root, "data")) throw Error(file + ": data: expected a table");
  if (root.contains("schedule") && !sub(root, "schedule")) throw Error(file + ": schedule: expected a table");
  cfg.data = parse_data(sub(root, "data"), file);
  ProtocolSpec& spec = cfg.spec;
  read_trainer_values(root, file, spec);

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

RunPlan load_run_plan(const toml::table& root, const std::string& file, const StoreSizeFn& sizes) {
  const ScheduleConfig cfg = parse_data_and_schedule(root, file);
  try {
    return build_run_plan(cfg.spec, cfg.data, sizes);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(file, 0) == 0) throw;
    throw Error(file + ": " + msg);
  }
}

}  // namespace replay::schedule
