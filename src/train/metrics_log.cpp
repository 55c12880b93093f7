#include "train/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "util/duration.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::train {

MetricsLog::MetricsLog(const std::filesystem::path& path, std::optional<uint64_t> truncate_to)
    : path_(path) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate_to ? 0 : O_TRUNC);
  fd_ = ::open(path.c_str(), flags, 0644);
  if (fd_ < 0) throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
  if (truncate_to) {
    struct stat st {};
    ::fstat(fd_, &st);
    if (static_cast<uint64_t>(st.st_size) < *truncate_to) {
      ::close(fd_);
      fd_ = -1;
      throw Error(path.string() + " is shorter (" + std::to_string(st.st_size) +
                  " bytes) than the checkpoint recorded (" + std::to_string(*truncate_to) +
                  "); it was edited or lost: restart with --resume never");
    }
    if (::ftruncate(fd_, static_cast<off_t>(*truncate_to)) != 0) {
      throw Error("cannot truncate " + path.string() + ": " + std::strerror(errno));
    }
    bytes_ = *truncate_to;
  }
  ::lseek(fd_, static_cast<off_t>(bytes_), SEEK_SET);
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsLog::mirror_to_tensorboard(const std::filesystem::path& dir, std::optional<int64_t> resumed_after) {
  const std::string kept = fs::read_file(path_).substr(0, bytes_);
  tensorboard_ = std::make_unique<TensorBoardLog>(dir, resumed_after, kept);
}

void MetricsLog::write(const nlohmann::json& record) {
  std::string line = record.dump() + "\n";
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  bytes_ += line.size();
  if (tensorboard_) tensorboard_->write(record);
}

uint64_t MetricsLog::sync() {
  if (::fdatasync(fd_) != 0) throw Error("fdatasync failed for " + path_.string());
  if (tensorboard_) tensorboard_->sync();
  return bytes_;
}

ConsoleProgress::ConsoleProgress(int64_t total_steps, std::FILE* out, double interval_s)
    : total_(total_steps), out_(out), tty_(::isatty(::fileno(out)) != 0), interval_s_(interval_s) {}

void ConsoleProgress::end_live_line() {
  if (live_) {
    std::fputc('\n', out_);
    live_ = false;
  }
}

void ConsoleProgress::step(int64_t steps_done, const std::string& phase, double loss, double lr,
                           double tokens_per_s) {
  auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) {
    first_step_ = steps_done;
    last_print_ = now - std::chrono::hours(1);  // always show the first step
  } else {
    double dt = std::chrono::duration<double>(now - last_step_time_).count();
    // Exponential average of the step time: ETA follows speed changes (e.g.
    // another phase) without jumping on one slow step.
    ema_step_s_ = ema_step_s_ == 0 ? dt : 0.9 * ema_step_s_ + 0.1 * dt;
  }
  last_step_time_ = now;
  bool last = steps_done >= total_;
  if (!tty_ && !last && std::chrono::duration<double>(now - last_print_).count() < interval_s_) return;
  last_print_ = now;
  double eta = ema_step_s_ * static_cast<double>(total_ - steps_done);
  char buf[256];
  std::snprintf(buf, sizeof buf, "[%s] step %lld/%lld (%.1f%%)  loss %.4f  lr %.2e  %.0f tok/s  ETA %s",
                phase.c_str(), static_cast<long long>(steps_done), static_cast<long long>(total_),
                100.0 * static_cast<double>(steps_done) / static_cast<double>(total_), loss, lr,
                tokens_per_s, ema_step_s_ > 0 ? format_duration(eta).c_str() : "?");
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K", buf);
    live_ = true;
  } else {
    std::fprintf(out_, "%s\n", buf);
  }
  std::fflush(out_);
}

void ConsoleProgress::eval(int64_t steps_done, const std::map<std::string, double>& losses) {
  end_live_line();
  std::string line = "eval @ step " + std::to_string(steps_done) + ":";
  for (const auto& [name, loss] : losses) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %s %.4f", name.c_str(), loss);
    line += buf;
  }
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void ConsoleProgress::message(const std::string& text) {
  end_live_line();
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

void ConsoleProgress::finish() { end_live_line(); }

}  // namespace replay::train
