#include "sweep/progress.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <limits>

#include "analysis/metrics.h"
#include "run/layout.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/lines.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

double eta_seconds(double elapsed_s, double done, double left) {
  if (left <= 0) return 0;
  if (done <= 0 || !(elapsed_s >= 0)) return std::numeric_limits<double>::quiet_NaN();
  return elapsed_s * left / done;
}

bool MetricsTail::poll() {
  const int fd = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  std::string text;
  if (::fstat(fd, &st) == 0) {
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size < offset_) offset_ = 0, partial_.clear();  // cut back by a resumed trainer
    text.resize(size - offset_);
    size_t got = 0;
    while (got < text.size()) {
      const ssize_t n = ::pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(offset_ + got));
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    text.resize(got);
    offset_ += got;
  }
  ::close(fd);
  bool stepped = false;
  const size_t end = text.rfind('\n');
  if (end == std::string::npos) {
    partial_ += text;
    return false;
  }
  take_lines(partial_ + text.substr(0, end + 1), stepped);
  partial_ = text.substr(end + 1);
  return stepped;
}

// Every line through analysis::parse_metrics, the one reader of the format,
// one at a time: a line that does not parse (the middle of a line, read
// before the trainer cut the file back and wrote it again) costs only itself.
void MetricsTail::take_lines(std::string_view text, bool& stepped) {
  for_each_line(text, [&](std::string_view line) {
    if (line.empty()) return;
    try {
      const analysis::RunMetrics parsed = analysis::parse_metrics(line, file_.string());
      if (parsed.steps.empty()) return;
      step_ = parsed.steps.back().step;
      loss_ = parsed.steps.back().loss;
      stepped = true;
    } catch (const std::exception&) {
    }
  });
}

RunProgress::RunProgress(std::string label, size_t number, size_t count, int64_t total_steps,
                         const stdfs::path& run_dir, ProgressClock::time_point started)
    : label_(std::move(label)), number_(number), count_(count), total_(total_steps), log_(run_dir / run::kTrainLog),
      tail_(run_dir / run::kMetricsFile), started_(started) {}

// A step below the first one seen means the file was cut back and written
// again (a resumed trainer): the pace is measured from there.
void RunProgress::poll(ProgressClock::time_point now) {
  if (!tail_.poll()) return;
  if (!first_step_ || tail_.step() < *first_step_) {
    first_step_ = tail_.step();
    first_seen_ = now;
  }
  last_seen_ = now;
}

double RunProgress::eta_s() const {
  return eta_seconds(std::chrono::duration<double>(last_seen_ - first_seen_).count(),
                     static_cast<double>(steps_trained()), static_cast<double>(total_ - step()));
}

std::string RunProgress::line(double sweep_eta_s) const {
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.4f", tail_.loss());
  return "[" + std::to_string(number_) + "/" + std::to_string(count_) + "] " + label_ + "  step " +
         std::to_string(step()) + "/" + std::to_string(total_) + "  loss " + loss + "  ETA " + format_duration(eta_s()) +
         "  sweep ETA " + format_duration(sweep_eta_s) + "  log " + log_.string();
}

namespace {

// The terminal's width in columns, 0 when unknown.
size_t terminal_width(std::FILE* out) {
  struct winsize ws {};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

// `text` cut to `columns` characters (UTF-8: continuation bytes take none).
std::string fit_width(const std::string& text, size_t columns) {
  size_t shown = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (shown++ == columns) return text.substr(0, i);
  }
  return text;
}

}  // namespace

ProgressBoard::ProgressBoard(std::FILE* out, bool terminal, double interval_s)
    : out_(out), terminal_(terminal), interval_s_(interval_s) {}

ProgressBoard::~ProgressBoard() { erase(); }

// The cursor stays at the end of the block's last line, so that erasing is
// going up drawn_ - 1 lines and clearing everything below.
std::string ProgressBoard::erasure() {
  if (drawn_ == 0) return "";
  std::string text = "\r";
  if (drawn_ > 1) text += "\033[" + std::to_string(drawn_ - 1) + "A";
  drawn_ = 0;
  return text + "\033[J";
}

// Everything goes out in one write: stderr is unbuffered, and an erased
// block must not be seen before its redraw.
void ProgressBoard::write(const std::string& text) {
  std::fputs(text.c_str(), out_);
  std::fflush(out_);
}

void ProgressBoard::erase() {
  if (out_ && drawn_ > 0) write(erasure());
}

void ProgressBoard::say(const std::string& text) {
  if (out_) write(erasure() + text + "\n");
}

void ProgressBoard::show(const std::map<size_t, std::string>& lines, ProgressClock::time_point now) {
  if (!out_) return;
  std::string text;
  if (terminal_) {
    text = erasure();
    // One column short of the width: a line that fills the last column
    // leaves some terminals' cursor on the next row.
    const size_t width = terminal_width(out_);
    for (const auto& [key, line] : lines)
      text += (drawn_++ ? "\n" : "") + (width > 1 ? fit_width(line, width - 1) : line);
  } else {
    std::erase_if(printed_, [&](const auto& entry) { return !lines.count(entry.first); });
    for (const auto& [key, line] : lines) {
      auto it = printed_.find(key);
      if (it != printed_.end() && std::chrono::duration<double>(now - it->second).count() < interval_s_) continue;
      printed_[key] = now;
      text += line + "\n";
    }
  }
  if (!text.empty()) write(text);
}

}  // namespace replay::sweep
