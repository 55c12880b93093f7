#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "eval/results.h"
#include "eval/score.h"
#include "eval/task.h"
#include "model/llama.h"
#include "model/threads.h"
#include "train/checkpoint.h"
#include "train/data_feed.h"
#include "train/metrics_log.h"
#include "run/cadence.h"
#include "run/layout.h"
#include "run/state_key.h"
#include "train/optimizer.h"
#include "train/shared_state.h"
#include "train/train_state.h"
#include "train/train_step.h"
#include "util/error.h"
#include "util/file_lock.h"
#include "util/fs.h"
#include "util/interrupted.h"

namespace replay::train {

namespace {

using Clock = std::chrono::steady_clock;

// The configured device, refused before any work when this build or machine
// cannot provide it.
using run::RunConfig;
using run::RunSettings;

torch::Device training_device(const RunSettings& s) {
  const torch::Device device(s.device);
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      throw Error(s.file + ": device = \"" + s.device + "\" but " +
                  (at::hasCUDA() ? "no CUDA device was found"
                                 : "this build's libtorch has no CUDA support") +
                  ": use device = \"cpu\"");
    if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count()))
      throw Error(s.file + ": device = \"" + s.device + "\" but only " +
                  std::to_string(torch::cuda::device_count()) + " CUDA device(s) exist");
  }
  return device;
}

std::unique_ptr<Optimizer> make_optimizer(model::Llama& model, const run::OptimSettings& settings) {
  std::vector<NamedParameter> params;
  auto groups = model->param_groups();
  for (auto& [name, t] : groups.decay) params.push_back({name, t, true});
  for (auto& [name, t] : groups.no_decay) params.push_back({name, t, false});
  return std::make_unique<Optimizer>(std::move(params), settings);
}

class Trainer {
 public:
  Trainer(const RunConfig& config, const TrainOptions& options)
      : cfg_(config),
        s_(config.settings),
        opts_(options),
        cadence_(config, options.publish_prefix_at),
        out_(s_.out),
        ckpt_root_(out_ / run::kCheckpointsDir),
        progress_(s_.train.steps, options.console ? options.console : stderr) {}

  TrainResult run();

 private:
  void say(const std::string& text) {
    if (opts_.console) progress_.message(text);
  }
  void restore();  // resume, shared state or init_from
  bool resume_own_checkpoint();
  bool start_from_shared_state();
  bool start_from_shared(const std::string& key);
  void run_step(int64_t step);
  void run_eval(int64_t steps_done);
  void write_sequence_losses(int64_t steps_done);
  void load_tasks();
  void score_tasks(int64_t steps_done);
  void after_step(int64_t done);  // evaluate, checkpoint, publish: as the cadence says
  void save(int64_t steps_done, size_t phase);
  void lock_run_folder();
  void keep_thread_count(const CheckpointState& state, const std::string& source);
  [[noreturn]] void interrupt(int64_t done, int signal);
  [[noreturn]] void stop(int64_t step, const std::string& what, double value);

  const RunConfig& cfg_;
  const RunSettings& s_;
  TrainOptions opts_;
  run::Cadence cadence_;
  std::filesystem::path out_, ckpt_root_;
  ConsoleProgress progress_;
  // Declared before every file the trainer writes, so released after them.
  std::optional<fs::FileLock> lock_;

  torch::Device device_{torch::kCPU};
  int threads_ = 1;  // CPU threads of the maths
  std::unique_ptr<DataFeed> feed_;
  std::map<std::string, torch::Tensor> val_sets_;
  std::vector<eval::Task> tasks_;             // eval.tasks, scored at every evaluation
  std::optional<text::Tokenizer> tokenizer_;  // data.tokenizer, when there are tasks
  model::Llama model_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<MetricsLog> metrics_;
  std::optional<uint64_t> metrics_keep_;  // resume: metrics bytes to keep

  int64_t start_step_ = 0;
  int64_t tokens_ = 0;
  int64_t sequences_ = 0;
  double last_lr_ = 0;
  std::string last_checkpoint_;
  int64_t last_checkpoint_step_ = -1;
  TrainResult result_;
};

void Trainer::restore() {
  if (opts_.resume == ResumeMode::never) {
    std::filesystem::remove_all(ckpt_root_);
  } else if (resume_own_checkpoint()) {
    return;
  }
  // Fresh start: the latest shared state another run published (a sweep's
  // prefix, or a phase other runs start from), else init_from, else the
  // seeded init.
  std::filesystem::remove(out_ / run::kBranchFile);
  if (start_from_shared_state()) return;
  if (!s_.train.init_from.empty()) {
    auto dir = load_initial_weights(s_.train.init_from, model_);
    say("initialized weights from " + dir.string() + " (optimizer fresh)");
  }
}

bool Trainer::resume_own_checkpoint() {
  auto report = [&](const std::string& m) { say("warning: " + m); };
  auto info = latest_good_checkpoint(ckpt_root_, report);
  if (!info) return false;
  if (info->state.config_hash != cfg_.content_hash) {
    throw Error(out_.string() + " holds checkpoints of a different config (" + info->state.config_hash +
                ", this one is " + cfg_.content_hash +
                "): use another `out`, or --resume never to start this run over");
  }
  load_training_checkpoint(info->dir, model_, optimizer_.get());
  keep_thread_count(info->state, "this run's checkpoint");
  start_step_ = info->state.step;
  tokens_ = info->state.tokens;
  sequences_ = info->state.sequences_consumed;
  last_lr_ = info->state.lr;
  metrics_keep_ = info->state.metrics_bytes;
  last_checkpoint_ = info->dir.string();
  result_.resumed_from = start_step_;
  say("resuming from " + info->dir.string() + " (step " + std::to_string(start_step_) + ")");
  return true;
}

// Candidates, latest first: the sweep's branch point and the starts of phases
// that reset the optimizer. The marker file records where the run started,
// so a sweep can tell a real branch from a run that trained from scratch.
bool Trainer::start_from_shared_state() {
  std::set<int64_t, std::greater<>> candidates = cadence_.reset_starts();
  if (opts_.branch_at > 0) candidates.insert(opts_.branch_at);
  for (int64_t step : candidates) {
    if (step <= 0 || step >= s_.train.steps || !start_from_shared(run::state_key(cfg_, step))) continue;
    result_.branched_at = start_step_;
    fs::write_file_atomic(out_ / run::kBranchFile, nlohmann::json({{run::kBranchKey, start_step_}}).dump() + "\n");
    say("starting from the shared state after step " + std::to_string(start_step_) + " (" +
        cfg_.plan.phases[cfg_.plan.phase_of_step(start_step_ - 1)].name + ")");
    return true;
  }
  if (opts_.branch_at > 0)
    say("warning: no shared state after " + std::to_string(opts_.branch_at) + " steps found; training from scratch");
  return false;
}

// Starts from a published state (model, optimizer, counters and the metrics
// lines up to it), as if this run had computed those steps itself.
bool Trainer::start_from_shared(const std::string& key) {
  auto shared = find_shared_state(s_.shared_dir(), key);
  if (!shared) return false;
  load_training_checkpoint(shared->checkpoint, model_, optimizer_.get());
  CheckpointState st = read_checkpoint_info(shared->checkpoint).state;
  keep_thread_count(st, "the shared state");
  std::string text = fs::read_file(shared->metrics);
  fs::write_file_atomic(out_ / run::kMetricsFile, text);
  start_step_ = st.step;
  tokens_ = st.tokens;
  sequences_ = st.sequences_consumed;
  last_lr_ = st.lr;
  metrics_keep_ = text.size();
  return true;
}

[[noreturn]] void Trainer::stop(int64_t step, const std::string& what, double value) {
  const auto& phase = cfg_.plan.phases[cfg_.plan.phase_of_step(step)];
  std::string reason = what + " is " + std::to_string(value) + " at step " + std::to_string(step + 1) +
                       " (phase '" + phase.name + "', lr " + std::to_string(last_lr_) + ")";
  metrics_->write({{"kind", "stop"}, {"step", step + 1}, {"reason", reason}});
  progress_.finish();
  std::string saved = last_checkpoint_.empty()
                          ? "no checkpoint was written yet"
                          : "the last good checkpoint is " + last_checkpoint_ + ", untouched";
  char lr[32];
  std::snprintf(lr, sizeof lr, "%g", phase.lr.peak);
  throw Error("training stopped: " + reason + "; nothing of this step was saved and " + saved + ". Lower " +
              phase.lr_key + " (now " + lr + ", the peak LR of phase '" + phase.name + "') or check the data.");
}

void Trainer::run_step(int64_t step) {
  const size_t p = cfg_.plan.phase_of_step(step);
  const auto& phase = cfg_.plan.phases[p];
  if (step == phase.first_step && phase.reset_optimizer) {
    optimizer_ = make_optimizer(model_, s_.optim);  // weights only carry over
  }
  auto t0 = Clock::now();
  std::vector<schedule::SequenceRef> refs(static_cast<size_t>(s_.train.batch_size));
  phase.data->batch(step - phase.first_step, refs);
  torch::Tensor tokens = feed_->read(refs).to(device_);
  // Data feeding (plan lookup + store reads + batching) is logged per step so
  // that its share of the step time is measured, not assumed.
  const double data_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  const double lr = phase.lr_at_step(step);
  last_lr_ = lr;
  optimizer_->set_lr(lr);
  optimizer_->zero_grad();
  const double loss = accumulate_gradients(model_, tokens, s_.microbatch());
  if (!std::isfinite(loss)) stop(step, "the loss", loss);
  const double grad_norm = optimizer_->clip_gradients();
  if (!std::isfinite(grad_norm)) stop(step, "the gradient norm", grad_norm);
  optimizer_->step();

  tokens_ += tokens.numel();
  sequences_ += tokens.size(0);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double tps = static_cast<double>(tokens.numel()) / std::max(seconds, 1e-9);
  metrics_->write({{"kind", "step"},
                   {"step", step + 1},
                   {"phase", phase.name},
                   {"tokens", tokens_},
                   {"lr", lr},
                   {"loss", loss},
                   {"grad_norm", grad_norm},
                   {"tokens_per_s", tps},
                   {"data_s", data_seconds},
                   {"step_s", seconds}});
  if (opts_.console) progress_.step(step + 1, phase.name, loss, lr, tps);
  result_.last_loss = loss;
}

// The task files are read and every item encoded once, before anything is
// trained or written: a bad file, or a choice longer than the model's
// context, is an error naming it (eval/task.h, eval/score.h) now rather
// than at the first evaluation.
void Trainer::load_tasks() {
  if (s_.eval.tasks.empty()) return;
  tokenizer_ = text::Tokenizer::load(cfg_.schedule.data.tokenizer);
  for (const auto& file : s_.eval.tasks) {
    tasks_.push_back(eval::load_task(file, s_.eval.task_items));
    (void)eval::build_requests(tasks_.back(), *tokenizer_, cfg_.model.max_seq_len);
  }
}

// One metrics line per task: accuracy with its standard error over items
// (eval/score.h), normalized accuracy when the task reports it, and the
// mean log-likelihood of the gold choices (a continuous measure that moves
// before the accuracy does).
// The per-item results go to tasks/step-N/ (run/layout.h), so two runs of a
// sweep, or two steps of one run, can be compared item by item.
void Trainer::score_tasks(int64_t steps_done) {
  if (tasks_.empty()) return;
  std::vector<eval::TaskResult> results;
  for (const auto& task : tasks_) {
    const eval::TaskResult& r = results.emplace_back(eval::score_task(model_, *tokenizer_, task));
    const eval::Accuracy acc = r.accuracy(false), norm = r.accuracy(true);
    double gold = 0;
    for (const auto& item : r.items) gold += item.scores[static_cast<size_t>(item.gold)];
    nlohmann::json line = {{"kind", "task"},   {"step", steps_done},  {"tokens", tokens_},
                           {"task", task.name}, {"items", r.items.size()}, {"acc", acc.mean},
                           {"acc_stderr", acc.stderr_}, {"mismatches", r.mismatches},
                           {"gold_loglik", r.items.empty() ? 0.0 : gold / static_cast<double>(r.items.size())}};
    if (task.acc_norm) {
      line["acc_norm"] = norm.mean;
      line["acc_norm_stderr"] = norm.stderr_;
    }
    metrics_->write(line);
    char text[160];
    std::snprintf(text, sizeof text, "step %lld: %s acc %.4f +- %.4f (%zu items)",
                  static_cast<long long>(steps_done), task.name.c_str(), acc.mean, acc.stderr_, r.items.size());
    say(text);
  }
  eval::write_results(run::task_results_dir(out_, steps_done), "step " + std::to_string(steps_done), results);
}

void Trainer::run_eval(int64_t steps_done) {
  score_tasks(steps_done);
  if (val_sets_.empty()) return;
  nlohmann::json val = nlohmann::json::object();
  std::map<std::string, double> losses;
  for (const auto& [name, tokens] : val_sets_) {
    losses[name] = evaluate_loss(model_, tokens, s_.eval_microbatch());
    val[name] = losses[name];
  }
  metrics_->write({{"kind", "eval"}, {"step", steps_done}, {"tokens", tokens_}, {"val", val}});
  if (opts_.console) progress_.eval(steps_done, losses);
  result_.final_eval = losses;
  if (steps_done == s_.train.steps) write_sequence_losses(steps_done);
}

// The final evaluation per validation sequence (run/layout.h), so that a
// single-seed sweep can be bootstrapped over the same sequences in every run.
void Trainer::write_sequence_losses(int64_t steps_done) {
  nlohmann::json splits = nlohmann::json::object();
  for (const auto& [name, tokens] : val_sets_) splits[name] = sequence_losses(model_, tokens);
  fs::write_file_atomic(out_ / run::kValSequencesFile,
                        nlohmann::json{{"step", steps_done}, {"splits", splits}}.dump() + "\n");
}

void Trainer::after_step(int64_t done) {
  if (cadence_.evaluates_after(done)) run_eval(done);
  if (cadence_.checkpoints_after(done)) save(done, cfg_.plan.phase_of_step(done - 1));
  if (cadence_.publishes_after(done)) {
    publish_shared_state(s_.shared_dir(), run::state_key(cfg_, done), last_checkpoint_, out_ / run::kMetricsFile,
                         metrics_->bytes());
  }
}

void Trainer::save(int64_t steps_done, size_t phase_index) {
  // The next step decides the phase a resume continues in.
  size_t next = steps_done < s_.train.steps ? cfg_.plan.phase_of_step(steps_done) : phase_index;
  const auto& phase = cfg_.plan.phases[next];
  CheckpointState st;
  st.step = steps_done;
  st.phase = static_cast<int64_t>(next);
  st.phase_name = phase.name;
  st.phase_step = steps_done - phase.first_step;
  st.lr = last_lr_;
  st.sequences_consumed = sequences_;
  st.tokens = tokens_;
  st.metrics_bytes = metrics_->sync();
  st.config_hash = cfg_.content_hash;
  st.cpu_threads = device_.is_cpu() ? threads_ : 0;
  last_checkpoint_ = save_training_checkpoint(ckpt_root_, model_, optimizer_.get(), st, s_.checkpoint.keep);
  last_checkpoint_step_ = steps_done;
}

// Before anything is written: two trainers in one folder would interleave
// metrics lines and race on checkpoints.
void Trainer::lock_run_folder() {
  fs::check_output_path(out_, fs::OutputKind::directory, cfg_.file + ": out");
  std::filesystem::create_directories(out_);
  fs::FileLock lock(out_ / run::kLockFile);
  if (!lock.held()) {
    const std::string pid = lock.holder_pid() > 0 ? "pid " + std::to_string(lock.holder_pid()) : "pid unknown";
    throw fs::LockHeld(out_.string() + " is in use by replay train (" + pid + "); wait for it or use another out",
                       lock.holder_pid());
  }
  lock_.emplace(std::move(lock));
}

// A run is computed with one thread count from start to end: continuing a
// state with another count would mix two numerics under one run id (a resume
// with another `threads`, a sweep rerun with another -j). So the count that
// computed the state wins over the one asked for, and the user is told.
void Trainer::keep_thread_count(const CheckpointState& state, const std::string& source) {
  if (!device_.is_cpu() || state.cpu_threads <= 0 || state.cpu_threads == threads_) return;
  const int asked = threads_;
  threads_ = model::configure_threads(static_cast<int>(state.cpu_threads));
  say("note: continuing with " + std::to_string(threads_) + " threads, as " + source + " was computed (" +
      std::to_string(asked) + " asked): the thread count changes the order of floating-point sums, so a run "
      "keeps one count");
}

// The stop a user or a scheduler asked for: the state of the completed step
// is saved so that rerunning the command resumes exactly there.
[[noreturn]] void Trainer::interrupt(int64_t done, int signal) {
  if (last_checkpoint_step_ != done) save(done, cfg_.plan.phase_of_step(done - 1));
  progress_.finish();
  throw Interrupted("stopped by signal " + std::to_string(signal) + " at step " + std::to_string(done) +
                        "; checkpoint " + last_checkpoint_ + "; rerun the same command to resume",
                    signal);
}

TrainResult Trainer::run() {
  device_ = training_device(s_);
  threads_ = model::configure_threads(static_cast<int>(s_.threads));
  if (device_.is_cpu() && threads_ > model::available_cores()) {
    say("warning: threads = " + std::to_string(threads_) + " is more than the " +
        std::to_string(model::available_cores()) + " cores this process may use: the extra threads only contend");
  }
  // Bit-identical reruns on CPU: deterministic kernels where torch has a choice.
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  load_tasks();
  lock_run_folder();

  feed_ = std::make_unique<DataFeed>(cfg_);
  if (s_.eval.sequences > 0) {
    for (size_t i = 0; i < feed_->source_names().size(); ++i) {
      torch::Tensor v = feed_->validation_set(i, s_.eval.sequences);
      if (v.size(0) == 0) {
        say("warning: source '" + feed_->source_names()[i] + "' has no validation sequences");
        continue;
      }
      val_sets_[feed_->source_names()[i]] = v.to(device_);
    }
  }

  model_ = initial_model(cfg_);  // on the CPU, from the init seed; then moved
  model_->to(device_);
  model_->set_compute_dtype(model::compute_dtype_from_name(s_.compute_dtype));
  model_->set_activation_checkpointing(s_.train.activation_checkpointing);
  optimizer_ = make_optimizer(model_, s_.optim);
  restore();

  fs::write_file_atomic(out_ / run::kConfigFile, cfg_.config_file().dump(2) + "\n");
  metrics_ = std::make_unique<MetricsLog>(out_ / run::kMetricsFile, metrics_keep_);

  const int64_t total = s_.train.steps;
  for (const auto& w : cfg_.warnings) say("warning: " + w);
  for (const auto& w : cfg_.plan.warnings) say("warning: " + w);
  if (opts_.console && start_step_ < total) {
    say("training " + std::to_string(model::count_params(cfg_.model).total) + " parameters, " +
        std::to_string(total) + " steps x " + std::to_string(cfg_.tokens_per_step()) + " tokens, " +
        std::to_string(cfg_.plan.phases.size()) + " phase(s), " +
        (device_.is_cpu() ? std::to_string(threads_) + " threads" : device_.str()) + ", " +
        s_.compute_dtype + " compute" +
        (device_.is_cpu() ? ", peak memory about " +
                                std::to_string(run::estimate_training_memory(cfg_.model, s_.microbatch(), cfg_.seq_len,
                                                                             s_.train.activation_checkpointing)
                                                   .total() >> 20) + " MiB"
                          : "") +
        " -> " + out_.string());
  }
  if (start_step_ == 0 && cadence_.evaluates_at_start()) run_eval(0);
  for (int64_t step = start_step_; step < total; ++step) {
    run_step(step);
    after_step(step + 1);
    result_.steps_run += 1;
    if (step + 1 < total && opts_.stop_signal) {
      if (const int sig = opts_.stop_signal->load()) interrupt(step + 1, sig);
    }
  }
  progress_.finish();
  result_.steps = total;
  if (result_.steps_run == 0) {
    say("nothing to do: " + out_.string() + " already completed its " + std::to_string(total) + " steps");
    return result_;  // keep the summary of the run that did the work
  }

  nlohmann::json summary = {{"steps", total},
                            {"tokens", tokens_},
                            {"content_hash", cfg_.content_hash},
                            {"final_eval", result_.final_eval}};
  summary["last_loss"] = result_.last_loss;
  fs::write_file_atomic(out_ / run::kSummaryFile, summary.dump(2) + "\n");
  return result_;
}

}  // namespace

TrainResult train(const run::RunConfig& config, const TrainOptions& options) {
  Trainer trainer(config, options);
  return trainer.run();
}

}  // namespace replay::train
