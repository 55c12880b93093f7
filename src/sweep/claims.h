// Claims: workers of one sweep (`replay sweep --claim`) that share nothing
// but the runs folder take its runs one at a time, so that a worker that
// finishes early takes the next run instead of idling beside a busy one (the
// imbalance of fixed shares, sweep/runner.h's in_shard).
//
//   <run>/claims/<generation>.json   {"host", "pid", "process_space",
//                                     "claimed_at", "sweep"}
//
// The claim of a run is its highest generation file; a run with none is
// unclaimed. A worker claims generation 0 of an unclaimed run, and takes a
// stale claim over by creating the next generation, then removing the stale
// file. Creating a generation file is the only step that decides anything,
// and it is atomic: the file is written in full under a name of this process
// (host, pid, counter), fsynced, and link(2)ed to the generation's name, which
// fails when that name exists. Exactly one of the workers that race for a
// generation wins. link(2) is atomic on NFS too (the server creates the name
// or refuses it), unlike O_CREAT|O_EXCL before NFSv3; a reply lost on the
// way back (the client retransmits, the server answers EEXIST to its own
// success) is caught as open(2)'s manual prescribes: the link succeeded when
// the private file's link count is 2. Only file creation, link and rename
// are relied on, never POSIX locks: flock and fcntl locks are not shared
// between NFS clients everywhere (lockd, client caching), which is also why
// SQLite on a network filesystem is not the coordination point (two
// machines can both believe they hold its write lock; its WAL mode needs
// shared memory and does not work across machines at all). Each worker keeps
// a registry of its own, and `replay runs rebuild` merges the run folders.
//
// A claim's holder is alive while the claim is fresh. The holder refreshes
// its claims' mtime (utimensat: on NFS the server's clock) every
// heartbeat_interval_s (timeout / kHeartbeatsPerTimeout) while it trains.
// A claim is stale, and taken over, when
//   - its holder is a process of this machine (same host name, boot id and
//     pid namespace: where its pid means the same process) that is gone; or
//   - its file's mtime has not changed for `timeout` seconds while this
//     worker watched it (measured on this worker's clock only: the clocks of
//     different machines are never compared).
// So a worker killed on this machine is replaced at once, one on another
// machine after `timeout` (a crashed node, a SIGKILL). A holder that was only
// slow to refresh (a hung mount, a stopped process) finds on its next
// heartbeat a newer generation or its file gone: the claim is lost, and its
// sweep stops that trainer (sweep/runner.h).
//
// A released claim (the holder's file removed when its trainer ended) leaves
// the run unclaimed: what the run folder says (status.json, summary.json)
// then decides whether the next claimer trains it, and the folder is written
// before the claim is released.
#pragma once
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace replay::sweep {

inline constexpr double kDefaultClaimTimeoutS = 300;
inline constexpr double kHeartbeatsPerTimeout = 4;

struct ClaimHolder {
  std::string host;
  long pid = 0;
  std::string process_space;  // boot id and pid namespace: where `pid` names a process
  std::string claimed_at;     // UTC, ISO 8601
  std::string sweep;
};

// This process, as its claims name it.
ClaimHolder this_process(const std::string& sweep);

// The claims of one worker process.
class RunClaims {
 public:
  using Clock = std::chrono::steady_clock;

  // Throws replay::Error when timeout_s is not positive.
  RunClaims(std::string sweep, double timeout_s);
  // Releases every claim still held: a worker that stops (an error, a
  // signal) lets the others take its runs at once.
  ~RunClaims();
  RunClaims(const RunClaims&) = delete;
  RunClaims& operator=(const RunClaims&) = delete;

  // Claims the run whose folder is `run_dir` (created if missing): true when
  // this process holds it now (or held it already), false while another live
  // worker does. A stale claim is taken over. Throws replay::Error naming the
  // file when the claims folder cannot be written.
  bool try_claim(const std::filesystem::path& run_dir);

  // The holder of the run's current claim, if any (for messages).
  std::optional<ClaimHolder> holder(const std::filesystem::path& run_dir) const;

  // Removes this process's claim of the run (nothing if it holds none).
  void release(const std::filesystem::path& run_dir);

  // Refreshes the held claims whose heartbeat is due and returns the runs
  // whose claims another worker has taken over since (no longer held).
  std::vector<std::filesystem::path> heartbeat();

  bool holds(const std::filesystem::path& run_dir) const { return held_.count(run_dir) > 0; }
  double heartbeat_interval_s() const { return timeout_s_ / kHeartbeatsPerTimeout; }

 private:
  struct Held {
    long generation;
    std::filesystem::path file;
    Clock::time_point last_beat;
  };
  struct Watched {  // another worker's claim, as this one saw it
    long generation;
    std::filesystem::file_time_type mtime;
    Clock::time_point unchanged_since;
  };

  bool create(const std::filesystem::path& run_dir, long generation);
  bool stale(const std::filesystem::path& run_dir, long generation, const std::filesystem::path& file);

  ClaimHolder me_;
  double timeout_s_;
  long temp_counter_ = 0;
  std::map<std::filesystem::path, Held> held_;
  std::map<std::filesystem::path, Watched> watched_;
};

}  // namespace replay::sweep
