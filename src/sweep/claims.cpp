#include "sweep/claims.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/process.h"

namespace replay::sweep {

namespace stdfs = std::filesystem;

namespace {

// The first line of a small system file, "" when it cannot be read.
std::string first_line(const char* path) {
  try {
    const std::string text = fs::read_file(path);
    return text.substr(0, text.find('\n'));
  } catch (const Error&) {
    return "";
  }
}

// Boot id and pid namespace: two processes with the same host name see the
// same pids only when both agree (a reboot, a container with the host's name).
std::string process_space() {
  char ns[128] = {};
  const ssize_t n = ::readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
  return first_line("/proc/sys/kernel/random/boot_id") + "/" + (n > 0 ? std::string(ns, static_cast<size_t>(n)) : "");
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string to_json(const ClaimHolder& h) {
  return nlohmann::json{{"host", h.host}, {"pid", h.pid}, {"process_space", h.process_space},
                        {"claimed_at", h.claimed_at}, {"sweep", h.sweep}}
             .dump(2) +
         "\n";
}

std::optional<ClaimHolder> read_holder(const stdfs::path& file) {
  try {
    const auto j = nlohmann::json::parse(fs::read_file(file));
    return ClaimHolder{j.at("host").get<std::string>(), j.at("pid").get<long>(),
                       j.at("process_space").get<std::string>(), j.value("claimed_at", ""), j.value("sweep", "")};
  } catch (const std::exception&) {
    return std::nullopt;  // gone meanwhile, or not a claim: judged by its mtime alone
  }
}

stdfs::path claims_dir(const stdfs::path& run_dir) { return run_dir / run::kClaimsDir; }

stdfs::path claim_file(const stdfs::path& run_dir, long generation) {
  return claims_dir(run_dir) / (std::to_string(generation) + ".json");
}

// The run's current claim: its highest generation, -1 when unclaimed.
long current_generation(const stdfs::path& run_dir) {
  long highest = -1;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator(claims_dir(run_dir), ec)) {
    const stdfs::path name = entry.path().filename();
    if (name.extension() != ".json") continue;
    try {
      size_t used = 0;
      const long generation = std::stol(name.stem().string(), &used);
      if (used == name.stem().string().size() && generation > highest) highest = generation;
    } catch (const std::exception&) {
    }
  }
  return highest;
}

void write_fully(int fd, const std::string& text, const stdfs::path& file) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(file.string() + ": cannot write a claim: " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error(file.string() + ": cannot fsync a claim: " + std::strerror(errno));
}

}  // namespace

ClaimHolder this_process(const std::string& sweep) {
  return {process::host_name(), static_cast<long>(::getpid()), process_space(), utc_now(), sweep};
}

RunClaims::RunClaims(std::string sweep, double timeout_s) : me_(this_process(sweep)), timeout_s_(timeout_s) {
  if (!(timeout_s > 0)) throw Error("claim timeout " + std::to_string(timeout_s) + " s: must be > 0");
}

RunClaims::~RunClaims() {
  std::error_code ec;
  for (const auto& [run_dir, held] : held_) stdfs::remove(held.file, ec);
}

bool RunClaims::try_claim(const stdfs::path& run_dir) {
  if (holds(run_dir)) return true;
  std::error_code ec;
  stdfs::create_directories(claims_dir(run_dir), ec);
  if (ec) throw Error(claims_dir(run_dir).string() + ": cannot create the claims folder: " + ec.message());
  const long generation = current_generation(run_dir);
  if (generation < 0) return create(run_dir, 0);
  const stdfs::path file = claim_file(run_dir, generation);
  if (!stale(run_dir, generation, file) || !create(run_dir, generation + 1)) return false;
  stdfs::remove(file, ec);  // the stale claim; only the taker of the next generation removes it
  return true;
}

// Writes this process's claim under a private name and links it to the
// generation's name: the link is the claim (see the header for NFS).
bool RunClaims::create(const stdfs::path& run_dir, long generation) {
  const stdfs::path target = claim_file(run_dir, generation);
  const stdfs::path temp = claims_dir(run_dir) / (".tmp-" + me_.host + "-" + std::to_string(me_.pid) + "-" +
                                                  std::to_string(++temp_counter_));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(temp.string() + ": cannot write a claim: " + std::strerror(errno));
  ClaimHolder claim = me_;
  claim.claimed_at = utc_now();
  try {
    write_fully(fd, to_json(claim), temp);
  } catch (const Error&) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  const bool linked = ::link(temp.c_str(), target.c_str()) == 0;
  struct stat st{};
  const bool won = linked || (::stat(temp.c_str(), &st) == 0 && st.st_nlink == 2);
  ::unlink(temp.c_str());
  if (won) held_[run_dir] = {generation, target, Clock::now()};
  return won;
}

// See the header: a gone process of this machine, or an mtime this worker
// has watched stand still for the timeout.
bool RunClaims::stale(const stdfs::path& run_dir, long generation, const stdfs::path& file) {
  if (const auto holder = read_holder(file);
      holder && holder->host == me_.host && holder->process_space == me_.process_space) {
    // This pid with no claim held here: an earlier process that had this pid.
    if (holder->pid == me_.pid) return true;
    return !process::alive(static_cast<pid_t>(holder->pid));
  }
  std::error_code ec;
  const auto mtime = stdfs::last_write_time(file, ec);
  if (ec) return false;  // released meanwhile: the next try sees an unclaimed run
  const auto now = Clock::now();
  auto [it, first] = watched_.try_emplace(run_dir, Watched{generation, mtime, now});
  if (!first && (it->second.generation != generation || it->second.mtime != mtime)) it->second = {generation, mtime, now};
  return std::chrono::duration<double>(now - it->second.unchanged_since).count() >= timeout_s_;
}

std::optional<ClaimHolder> RunClaims::holder(const stdfs::path& run_dir) const {
  const long generation = current_generation(run_dir);
  if (generation < 0) return std::nullopt;
  return read_holder(claim_file(run_dir, generation));
}

void RunClaims::release(const stdfs::path& run_dir) {
  const auto it = held_.find(run_dir);
  if (it == held_.end()) return;
  std::error_code ec;
  stdfs::remove(it->second.file, ec);
  held_.erase(it);
}

std::vector<stdfs::path> RunClaims::heartbeat() {
  std::vector<stdfs::path> lost;
  const auto now = Clock::now();
  for (auto it = held_.begin(); it != held_.end();) {
    Held& held = it->second;
    if (std::chrono::duration<double>(now - held.last_beat).count() < heartbeat_interval_s()) {
      ++it;
      continue;
    }
    held.last_beat = now;
    // UTIME_NOW for both times (a null `times`): on NFS the server stamps it.
    const bool refreshed = current_generation(it->first) == held.generation &&
                           ::utimensat(AT_FDCWD, held.file.c_str(), nullptr, 0) == 0;
    if (refreshed) {
      ++it;
      continue;
    }
    lost.push_back(it->first);
    it = held_.erase(it);
  }
  return lost;
}

}  // namespace replay::sweep
