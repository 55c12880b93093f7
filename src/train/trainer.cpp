#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <memory>
#include <span>

#include "dist/communicator.h"
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
#include "train/sharded_optimizer.h"
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

std::vector<NamedParameter> named_parameters(model::Llama& model) {
  std::vector<NamedParameter> params;
  auto groups = model->param_groups();
  for (auto& [name, t] : groups.decay) params.push_back({name, t, true});
  for (auto& [name, t] : groups.no_decay) params.push_back({name, t, false});
  return params;
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
        progress_(s_.train.steps, options.console ? options.console : stderr),
        comm_(options.comm) {
    // Only rank 0 talks: N copies of every line would say nothing more.
    if (comm_ && !comm_->world().is_rank0()) opts_.console = nullptr;
  }

  TrainResult run();

 private:
  void say(const std::string& text) {
    if (opts_.console) progress_.message(text);
  }
  // Whether this process writes the run folder: the only one, or rank 0.
  bool writes() const { return !comm_ || comm_->world().is_rank0(); }
  void check_world() const;
  void restore_everywhere();  // restore() on rank 0, the same start on the others
  void follow_rank0_start(const std::string& start);
  void attach_gradient_buffer();
  bool shards_optimizer() const { return comm_ && s_.train.shard_optimizer; }
  std::unique_ptr<StepOptimizer> make_optimizer();
  double reduce_gradients(double local_loss);
  std::map<std::string, double> validation_losses();
  void set_up();
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
  std::unique_ptr<StepOptimizer> optimizer_;
  ShardedOptimizer* sharded_ = nullptr;  // optimizer_, when sharded
  std::unique_ptr<MetricsLog> metrics_;
  std::optional<uint64_t> metrics_keep_;  // resume: metrics bytes to keep

  int64_t start_step_ = 0;
  int64_t tokens_ = 0;
  int64_t sequences_ = 0;
  double last_lr_ = 0;
  std::string last_checkpoint_;
  int64_t last_checkpoint_step_ = -1;
  TrainResult result_;

  // Data parallel only (null / undefined for a world of one).
  dist::Communicator* comm_ = nullptr;
  torch::Tensor grad_buffer_;    // every parameter's .grad is a view of it
  FlatParameters flat_;          // optimizer sharding: values and gradients, flat
  std::string restored_from_;    // rank 0: the checkpoint it started from, if any
  int agreed_stop_ = 0;          // the stop signal the ranks agreed on at the last step
  double allreduce_seconds_ = 0;
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
  restored_from_ = info->dir.string();
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
  restored_from_ = shared->checkpoint.string();
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
  if (metrics_) metrics_->write({{"kind", "stop"}, {"step", step + 1}, {"reason", reason}});
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
    optimizer_ = make_optimizer();  // weights only carry over
  }
  auto t0 = Clock::now();
  std::vector<schedule::SequenceRef> refs(static_cast<size_t>(s_.train.batch_size));
  phase.data->batch(step - phase.first_step, refs);
  std::span<const schedule::SequenceRef> mine(refs);
  if (comm_) {  // this rank's slice of the global batch (check_world: an even split)
    const auto rows = dist::rows_of_rank(static_cast<int64_t>(refs.size()), comm_->world().rank, comm_->world().size);
    mine = mine.subspan(static_cast<size_t>(rows.begin), static_cast<size_t>(rows.count));
  }
  torch::Tensor tokens = feed_->read(mine).to(device_);
  // Data feeding (plan lookup + store reads + batching) is logged per step so
  // that its share of the step time is measured, not assumed.
  const double data_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  const double lr = phase.lr_at_step(step);
  last_lr_ = lr;
  optimizer_->set_lr(lr);
  if (comm_) {
    grad_buffer_.zero_();  // not set-to-none: the .grad views must stay
  } else {
    static_cast<Optimizer&>(*optimizer_).zero_grad();  // a world of one is never sharded
  }
  double loss = accumulate_gradients(model_, tokens, s_.microbatch());
  if (comm_) loss = reduce_gradients(loss);
  if (!std::isfinite(loss)) stop(step, "the loss", loss);
  const double grad_norm = optimizer_->clip_gradients();
  if (!std::isfinite(grad_norm)) stop(step, "the gradient norm", grad_norm);
  optimizer_->step();

  const int64_t step_tokens = static_cast<int64_t>(refs.size()) * feed_->seq_len();  // the global batch
  tokens_ += step_tokens;
  sequences_ += static_cast<int64_t>(refs.size());
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double tps = static_cast<double>(step_tokens) / std::max(seconds, 1e-9);
  if (metrics_) {
    nlohmann::json line = {{"kind", "step"},      {"step", step + 1},   {"phase", phase.name},
                           {"tokens", tokens_},   {"lr", lr},           {"loss", loss},
                           {"grad_norm", grad_norm}, {"tokens_per_s", tps}, {"data_s", data_seconds},
                           {"step_s", seconds}};
    if (comm_) line["allreduce_s"] = allreduce_seconds_;
    if (sharded_) line["allgather_s"] = sharded_->collective_seconds();
    metrics_->write(line);
  }
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

// Task scoring and the per-sequence record are rank 0's alone (they are
// small, and their files have one writer); the validation losses are
// shared out (validation_losses).
void Trainer::run_eval(int64_t steps_done) {
  if (writes()) score_tasks(steps_done);
  if (comm_ && !s_.eval.tasks.empty()) comm_->rank0_done("task scoring at step " + std::to_string(steps_done));
  if (val_sets_.empty()) return;
  std::map<std::string, double> losses = validation_losses();
  nlohmann::json val = nlohmann::json::object();
  for (const auto& [name, loss] : losses) val[name] = loss;
  if (metrics_) metrics_->write({{"kind", "eval"}, {"step", steps_done}, {"tokens", tokens_}, {"val", val}});
  if (opts_.console) progress_.eval(steps_done, losses);
  result_.final_eval = losses;
  if (steps_done == s_.train.steps) {
    if (writes()) write_sequence_losses(steps_done);
    if (comm_) comm_->rank0_done("per-sequence validation losses");
  }
}

// Each source's mean validation loss. Data parallel: rank r evaluates its
// contiguous slice of every set (dist::rows_of_rank), and the loss sums and
// row counts of all sources are all-reduced at once.
std::map<std::string, double> Trainer::validation_losses() {
  std::map<std::string, double> losses;
  if (!comm_) {
    for (const auto& [name, tokens] : val_sets_) losses[name] = evaluate_loss(model_, tokens, s_.eval_microbatch());
    return losses;
  }
  std::vector<double> sums;  // per source: loss sum, rows
  for (const auto& [name, tokens] : val_sets_) {
    const auto rows = dist::rows_of_rank(tokens.size(0), comm_->world().rank, comm_->world().size);
    const double mean = rows.count > 0 ? evaluate_loss(model_, tokens.narrow(0, rows.begin, rows.count),
                                                       s_.eval_microbatch())
                                       : 0.0;
    sums.push_back(mean * static_cast<double>(rows.count));
    sums.push_back(static_cast<double>(rows.count));
  }
  comm_->all_reduce_sum(sums, "the validation loss reduction");
  size_t i = 0;
  for (const auto& [name, tokens] : val_sets_) {
    losses[name] = sums[i] / sums[i + 1];
    i += 2;
  }
  return losses;
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
    if (writes())
      publish_shared_state(s_.shared_dir(), run::state_key(cfg_, done), last_checkpoint_, out_ / run::kMetricsFile,
                           metrics_->bytes());
    if (comm_) comm_->rank0_done("publishing the state after step " + std::to_string(done));
  }
}

// Rank 0 writes (every rank holds the same state); the others wait for it,
// so that no rank runs ahead of a checkpoint a restart may resume from.
void Trainer::save(int64_t steps_done, size_t phase_index) {
  last_checkpoint_step_ = steps_done;
  // Every rank: sharded, this gathers the moments to rank 0 (a collective).
  const model::NamedTensors optimizer_state = optimizer_->state_tensors();
  if (comm_ && !writes()) {
    comm_->rank0_done("the checkpoint after step " + std::to_string(steps_done));
    return;
  }
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
  last_checkpoint_ = save_training_checkpoint(ckpt_root_, model_, optimizer_state, st, s_.checkpoint.keep);
  if (comm_) comm_->rank0_done("the checkpoint after step " + std::to_string(steps_done));
}

// Data parallel: every global batch splits evenly, so every rank does the
// same work and the mean of the ranks' means is the batch's mean.
void Trainer::check_world() const {
  if (!comm_) return;
  const int n = comm_->world().size;
  if (s_.train.batch_size % n != 0)
    throw Error(cfg_.file + ": train.batch_size = " + std::to_string(s_.train.batch_size) +
                " does not divide into " + std::to_string(n) + " ranks: use a world size that divides it");
}

// Rank 0 decides where the run starts (its own checkpoint, a shared state,
// init_from or the seed: restore()), then tells the others which
// checkpoint it loaded, so that every rank starts from the same state even
// when a checkpoint appears or is pruned meanwhile.
void Trainer::restore_everywhere() {
  if (writes()) restore();
  if (!comm_) return;
  const std::string start = comm_->share_from_rank0("start", restored_from_);
  if (!writes()) follow_rank0_start(start);
}

void Trainer::follow_rank0_start(const std::string& start) {
  if (start.empty()) {
    if (!s_.train.init_from.empty()) (void)load_initial_weights(s_.train.init_from, model_);
    return;
  }
  load_training_checkpoint(start, model_, optimizer_.get());
  const CheckpointState st = read_checkpoint_info(start).state;
  keep_thread_count(st, "the checkpoint");
  start_step_ = st.step;
  tokens_ = st.tokens;
  sequences_ = st.sequences_consumed;
  last_lr_ = st.lr;
  last_checkpoint_ = start;
  last_checkpoint_step_ = st.step;
}

// The whole AdamW state on every process, or each rank's share of it.
std::unique_ptr<StepOptimizer> Trainer::make_optimizer() {
  if (!shards_optimizer()) return std::make_unique<Optimizer>(named_parameters(model_), s_.optim);
  auto sharded = std::make_unique<ShardedOptimizer>(named_parameters(model_), s_.optim, flat_, *comm_);
  sharded_ = sharded.get();
  return sharded;
}

// One fp32 buffer for all gradients, each parameter's .grad a view of it
// (autograd then accumulates into the views in place), so that one
// all-reduce per step syncs them all.
void Trainer::attach_gradient_buffer() {
  int64_t total = 0;
  for (const auto& p : model_->parameters()) {
    if (p.scalar_type() != torch::kFloat32)
      throw Error("data parallel training needs fp32 parameters (the gradient buffer is fp32), found " +
                  std::string(c10::toString(p.scalar_type())));
    total += p.numel();
  }
  grad_buffer_ = torch::zeros({total}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  int64_t offset = 0;
  for (auto& p : model_->parameters()) {
    p.mutable_grad() = grad_buffer_.narrow(0, offset, p.numel()).view(p.sizes());
    offset += p.numel();
  }
}

// After the last microbatch: the gradient mean over ranks, and one small
// reduction carrying the loss and whether a rank was asked to stop (so all
// stop after the same step). Returns the global batch's mean loss.
double Trainer::reduce_gradients(double local_loss) {
  const auto t0 = Clock::now();
  comm_->all_reduce_mean(grad_buffer_, "the gradient all-reduce");
  allreduce_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
  const int signal = opts_.stop_signal ? opts_.stop_signal->load() : 0;
  std::vector<double> values = {local_loss, signal != 0 ? 1.0 : 0.0};
  comm_->all_reduce_sum(values, "the loss reduction");
  agreed_stop_ = values[1] > 0 ? (signal != 0 ? signal : SIGTERM) : 0;
  return values[0] / comm_->world().size;
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
  const std::string checkpoint = writes() ? last_checkpoint_ : "written by rank 0";
  throw Interrupted("stopped by signal " + std::to_string(signal) + " at step " + std::to_string(done) +
                        "; checkpoint " + checkpoint + "; rerun the same command to resume",
                    signal);
}

// Everything before the first step: device and threads, the run folder
// (rank 0), the data, the model and optimizer, and where the run starts.
void Trainer::set_up() {
  device_ = training_device(s_);
  threads_ = model::configure_threads(static_cast<int>(s_.threads));
  if (device_.is_cpu() && threads_ > model::available_cores()) {
    say("warning: threads = " + std::to_string(threads_) + " is more than the " +
        std::to_string(model::available_cores()) + " cores this process may use: the extra threads only contend");
  }
  // Bit-identical reruns on CPU: deterministic kernels where torch has a choice.
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  check_world();
  if (writes()) {
    load_tasks();
    lock_run_folder();
  }

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
  if (shards_optimizer()) {  // before restoring: checkpoints load into the flat buffers
    flat_ = flatten_parameters(model_->parameters(), comm_->world().size);
    grad_buffer_ = flat_.grads;
    say("optimizer state sharded across " + std::to_string(comm_->world().size) + " ranks (" +
        std::to_string(flat_.shard_size) + " parameters' moments per rank)");
  }
  if (s_.train.shard_optimizer && !comm_) say("note: train.shard_optimizer has no effect in a world of one");
  optimizer_ = make_optimizer();
  restore_everywhere();
  if (comm_ && !shards_optimizer()) attach_gradient_buffer();

  if (writes()) {
    fs::write_file_atomic(out_ / run::kConfigFile, cfg_.config_file().dump(2) + "\n");
    metrics_ = std::make_unique<MetricsLog>(out_ / run::kMetricsFile, metrics_keep_);
    if (s_.train.tensorboard) metrics_->mirror_to_tensorboard(out_ / run::kTensorBoardDir, result_.resumed_from);
  }
}

TrainResult Trainer::run() {
  set_up();
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
    if (step + 1 < total && comm_) {
      if (agreed_stop_) interrupt(step + 1, agreed_stop_);
    } else if (step + 1 < total && opts_.stop_signal) {
      if (const int sig = opts_.stop_signal->load()) interrupt(step + 1, sig);
    }
  }
  if (comm_) comm_->barrier("the end of the run");
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
  if (writes()) fs::write_file_atomic(out_ / run::kSummaryFile, summary.dump(2) + "\n");
  return result_;
}

}  // namespace

TrainResult train(const run::RunConfig& config, const TrainOptions& options) {
  Trainer trainer(config, options);
  return trainer.run();
}

}  // namespace replay::train
