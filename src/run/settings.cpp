#include "run/settings.h"

#include "run/layout.h"

#include <cmath>
#include <filesystem>

#include "util/toml_reader.h"
#include "util/error.h"

namespace replay::run {

namespace {

// "cpu", "cuda" or "cuda:<index>", as torch::Device spells them.
bool is_device_name(const std::string& name) {
  if (name == "cpu" || name == "cuda") return true;
  const std::string prefix = "cuda:";
  return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.find_first_not_of("0123456789", prefix.size()) == std::string::npos &&
         name.size() - prefix.size() <= 3;
}

void require(bool ok, TomlReader& r, const std::string& key, const std::string& what) {
  if (!ok) r.fail(key, what);
}

void parse_train(TomlReader r, TrainSettings& t) {
  // Left out: 0 here; the run description derives it (continued-pretraining)
  // or reports it missing (run_config.cpp).
  auto steps = r.int_opt("steps");
  t.steps = steps.value_or(0);
  require(!steps || t.steps > 0, r, "steps", "must be > 0, got " + std::to_string(t.steps));
  // A guard against typos (1e12 for 1e5): no language model trains that
  // many optimizer steps, and the warmup alone would outlast the machine.
  require(t.steps <= kMaxSteps, r, "steps",
          std::to_string(t.steps) + " is more than " + std::to_string(kMaxSteps) + " optimizer steps");
  t.batch_size = r.get_int("batch_size", t.batch_size);
  require(t.batch_size > 0, r, "batch_size", "must be > 0, got " + std::to_string(t.batch_size));
  t.microbatch = r.get_int("microbatch", t.microbatch);
  require(t.microbatch >= 0, r, "microbatch", "must be >= 0 (0 = batch_size)");
  if (t.microbatch > 0) {
    require(t.microbatch <= t.batch_size && t.batch_size % t.microbatch == 0, r, "microbatch",
            std::to_string(t.microbatch) + " does not divide batch_size " +
                std::to_string(t.batch_size));
  }
  t.init_from = r.get_string("init_from", t.init_from);
  t.activation_checkpointing = r.get_bool("activation_checkpointing", t.activation_checkpointing);
  t.tensorboard = r.get_bool("tensorboard", t.tensorboard);
  t.shard_optimizer = r.get_bool("shard_optimizer", t.shard_optimizer);
  r.finish();
}

void parse_optim(TomlReader r, OptimSettings& o) {
  o.lr = r.get_double("lr", o.lr);
  require(std::isfinite(o.lr) && o.lr > 0, r, "lr", "must be a number > 0");
  o.beta1 = r.get_double("beta1", o.beta1);
  require(o.beta1 >= 0 && o.beta1 < 1, r, "beta1", "must be in [0, 1)");
  o.beta2 = r.get_double("beta2", o.beta2);
  require(o.beta2 >= 0 && o.beta2 < 1, r, "beta2", "must be in [0, 1)");
  o.eps = r.get_double("eps", o.eps);
  require(o.eps > 0 && std::isfinite(o.eps), r, "eps", "must be > 0");
  o.weight_decay = r.get_double("weight_decay", o.weight_decay);
  require(o.weight_decay >= 0 && std::isfinite(o.weight_decay), r, "weight_decay", "must be >= 0");
  o.grad_clip = r.get_double("grad_clip", o.grad_clip);
  require(o.grad_clip >= 0 && std::isfinite(o.grad_clip), r, "grad_clip",
          "must be >= 0 (0 disables clipping)");
  r.finish();
}

void parse_eval(TomlReader r, EvalSettings& e) {
  e.every = r.get_int("every", e.every);
  require(e.every >= 0, r, "every", "must be >= 0 (0 = only at the end)");
  e.sequences = r.get_int("sequences", e.sequences);
  require(e.sequences >= 0, r, "sequences", "must be >= 0 (0 disables evaluation)");
  e.microbatch = r.get_int("microbatch", e.microbatch);
  require(e.microbatch >= 0, r, "microbatch", "must be >= 0 (0 = the training microbatch)");
  e.tasks = r.strings_opt("tasks").value_or(std::vector<std::string>{});
  for (const auto& task : e.tasks)
    require(std::filesystem::is_regular_file(task), r, "tasks", "task file '" + task + "' not found");
  e.task_items = r.get_int("task_items", e.task_items);
  require(e.task_items >= 0, r, "task_items", "must be >= 0 (0 = every item)");
  r.finish();
}

void parse_checkpoint(TomlReader r, CheckpointSettings& c) {
  c.every = r.get_int("every", c.every);
  require(c.every >= 0, r, "every", "must be >= 0 (0 = only at phase ends)");
  c.keep = r.get_int("keep", c.keep);
  require(c.keep >= 1, r, "keep", "must be >= 1");
  r.finish();
}

void parse_seeds(TomlReader r, SeedSettings& s) {
  for (auto [key, field] : {std::pair{"init", &s.init}, {"data", &s.data}, {"pool", &s.pool}}) {
    *field = r.int_opt(key);
    if (*field && **field < 0) r.fail(key, "must be >= 0, got " + std::to_string(**field));
  }
  r.finish();
}

}  // namespace

std::optional<int> RunSettings::cuda_index() const {
  if (device == "cpu") return std::nullopt;
  const std::string prefix = "cuda:";  // parse_run_settings admitted nothing else
  return device.size() > prefix.size() ? std::stoi(device.substr(prefix.size())) : 0;
}

std::string RunSettings::shared_dir() const {
  if (!shared.empty()) return shared;
  std::filesystem::path o(out);
  if (!o.has_filename()) o = o.parent_path();  // "runs/x/" -> "runs/x"
  return (o.parent_path() / kSharedDirName).string();
}

RunSettings parse_run_settings(const toml::table& root, const std::string& file) {
  RunSettings s;
  s.file = file;
  TomlReader r(&root, "", file);
  s.seed = r.get_int("seed", s.seed);
  if (s.seed < 0) r.fail("seed", "must be >= 0, got " + std::to_string(s.seed));
  parse_seeds(TomlReader(r.table("seeds"), "seeds", file), s.seeds);
  s.out = r.get_string("out", s.out);
  s.threads = r.get_int("threads", s.threads);
  if (s.threads < 0 || s.threads > 1024) r.fail("threads", "must be in [0, 1024] (0 = all cores)");
  s.device = r.get_string("device", s.device);
  if (!is_device_name(s.device))
    r.fail("device", "'" + s.device + "' is not one of cpu, cuda, cuda:N");
  s.compute_dtype = r.get_string("compute_dtype", s.compute_dtype);
  if (s.compute_dtype != "fp32" && s.compute_dtype != "bf16")
    r.fail("compute_dtype", "'" + s.compute_dtype + "' is not one of fp32, bf16");
  s.shared = r.get_string("shared", s.shared);

  parse_train(TomlReader(r.table("train"), "train", file), s.train);
  parse_optim(TomlReader(r.table("optim"), "optim", file), s.optim);
  parse_eval(TomlReader(r.table("eval"), "eval", file), s.eval);
  parse_checkpoint(TomlReader(r.table("checkpoint"), "checkpoint", file), s.checkpoint);
  for (const char* owned : {"model", "data", "schedule", "lr_schedule"}) r.table(owned);
  r.finish();
  return s;
}

nlohmann::json to_json(const RunSettings& s, bool with_base_lr) {
  nlohmann::json j;
  if (s.init_seed() == s.data_seed() && s.data_seed() == s.pool_seed())
    j["seed"] = s.init_seed();
  else
    j["seeds"] = {{"init", s.init_seed()}, {"data", s.data_seed()}, {"pool", s.pool_seed()}};
  j["out"] = s.out;
  j["threads"] = s.threads;
  j["device"] = s.device;
  j["compute_dtype"] = s.compute_dtype;
  j["shared"] = s.shared_dir();
  j["train"] = {{"steps", s.train.steps},
                {"batch_size", s.train.batch_size},
                {"microbatch", s.microbatch()},
                {"init_from", s.train.init_from},
                {"activation_checkpointing", s.train.activation_checkpointing}};
  // Absent when off: the resolved config of a run from before the key stays the same.
  if (s.train.shard_optimizer) j["train"]["shard_optimizer"] = true;
  j["optim"] = {{"lr", s.optim.lr},
                {"beta1", s.optim.beta1},
                {"beta2", s.optim.beta2},
                {"eps", s.optim.eps},
                {"weight_decay", s.optim.weight_decay},
                {"grad_clip", s.optim.grad_clip}};
  if (s.train.tensorboard) j["train"]["tensorboard"] = true;  // absent otherwise: config.json as before the key
  if (!with_base_lr) j["optim"].erase("lr");
  j["eval"] = {{"every", s.eval.every},
               {"sequences", s.eval.sequences},
               {"microbatch", s.eval_microbatch()}};
  if (!s.eval.tasks.empty()) {  // absent otherwise: run ids from before the key stay the same
    j["eval"]["tasks"] = s.eval.tasks;
    j["eval"]["task_items"] = s.eval.task_items;
  }
  j["checkpoint"] = {{"every", s.checkpoint.every}, {"keep", s.checkpoint.keep}};
  return j;
}

}  // namespace replay::run
