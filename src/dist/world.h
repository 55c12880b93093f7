// Who this process is in a data-parallel job: its rank, the world size, its
// rank on its node, where the rendezvous store listens, and the job's id,
// resolved from the environment that a launcher sets. No torch: the rules
// are plain functions of the environment, tested without processes.
//
// The rules, first match wins:
//  1. WORLD_SIZE is set (torchrun, `replay launch`, or by hand): RANK,
//     WORLD_SIZE, LOCAL_RANK (default 0), MASTER_ADDR and MASTER_PORT
//     (both required when WORLD_SIZE > 1). The job id is
//     TORCHELASTIC_RUN_ID when set. With TORCHELASTIC_USE_AGENT_STORE=True
//     torchrun's agent already serves the store at MASTER_ADDR:MASTER_PORT:
//     every rank, rank 0 included, connects as a client, and keys are
//     prefixed "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>" (as PyTorch's
//     own rendezvous does), so a restarted attempt never reads the keys of
//     the one before.
//  2. SLURM_PROCID and SLURM_NTASKS are set (a task of `srun`): rank
//     SLURM_PROCID, world SLURM_NTASKS, local rank SLURM_LOCALID (default 0),
//     job id SLURM_JOB_ID. MASTER_ADDR, when set, wins; otherwise the
//     first host of SLURM_JOB_NODELIST ("node[001-004],gpu7" -> "node001").
//     MASTER_PORT, when set, wins; otherwise slurm_port(SLURM_JOB_ID), so
//     every task of a job agrees on it without talking and two jobs on
//     one node rarely collide.
//  3. Nothing of the above: a world of one (rank 0 of 1), which needs no
//     process group and runs exactly the single-process code path.
// A value that is not a number, a rank outside [0, world), a world below 1,
// or a missing master is a replay::Error naming the variable and its value.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace replay::dist {

// The variables, named once (`replay launch` sets the first five).
inline constexpr const char* kRankVar = "RANK";
inline constexpr const char* kWorldSizeVar = "WORLD_SIZE";
inline constexpr const char* kLocalRankVar = "LOCAL_RANK";
inline constexpr const char* kMasterAddrVar = "MASTER_ADDR";
inline constexpr const char* kMasterPortVar = "MASTER_PORT";
inline constexpr const char* kAgentStoreVar = "TORCHELASTIC_USE_AGENT_STORE";
inline constexpr const char* kRestartCountVar = "TORCHELASTIC_RESTART_COUNT";
inline constexpr const char* kTorchelasticRunIdVar = "TORCHELASTIC_RUN_ID";
inline constexpr const char* kSlurmProcIdVar = "SLURM_PROCID";
inline constexpr const char* kSlurmNtasksVar = "SLURM_NTASKS";
inline constexpr const char* kSlurmLocalIdVar = "SLURM_LOCALID";
inline constexpr const char* kSlurmNodeListVar = "SLURM_JOB_NODELIST";
inline constexpr const char* kSlurmJobIdVar = "SLURM_JOB_ID";
// Gloo binds to this interface when set (e.g. "eth0", "ib0"); otherwise
// Communicator picks a device as communicator.h says.
inline constexpr const char* kGlooIfnameVar = "GLOO_SOCKET_IFNAME";

// The port a Slurm job uses when MASTER_PORT is not set: kSlurmPortBase +
// job id mod kSlurmPortSpan, inside the unprivileged, non-ephemeral range.
inline constexpr int kSlurmPortBase = 20000;
inline constexpr int kSlurmPortSpan = 10000;

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  std::string master_addr;  // empty for a world of one
  int master_port = 0;
  std::string job_id;       // empty when the launcher gives none
  // "torchrun" (rule 1 with a TORCHELASTIC_* variable), "env" (rule 1
  // otherwise: `replay launch` or by hand), "slurm" (rule 2), "none" (rule 3).
  std::string launcher = "none";
  bool agent_store = false;  // every rank is a store client (torchrun's agent serves the store)
  std::string store_prefix;  // prefix of every store key ("" unless agent_store)

  bool distributed() const { return size > 1; }
  bool is_rank0() const { return rank == 0; }
  // "rank R/W master HOST:PORT" (plus the launcher and job id when known),
  // the line every rank logs at start.
  std::string describe() const;
};

// Rank `rank`'s contiguous share of `rows` rows split over `world` ranks:
// the first rows % world ranks get one row more. Rows of rank r precede
// those of rank r + 1, so the slices in rank order are the whole.
struct RowRange {
  int64_t begin = 0;
  int64_t count = 0;
};
RowRange rows_of_rank(int64_t rows, int rank, int world);

// Reads a variable: its value, or nullopt when unset. The process's
// environment by default; tests pass a map.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();

World resolve_world(const EnvLookup& env = process_environment());

// The first host of a Slurm node list: "node[001-004]" -> "node001",
// "a[1,3-5]b,c" -> "a1b", "host" -> "host". Throws replay::Error on an empty
// list or an unclosed bracket.
std::string first_host_of_nodelist(const std::string& nodelist);

// kSlurmPortBase + job_id mod kSlurmPortSpan; throws replay::Error when
// the job id is not a number.
int slurm_port(const std::string& job_id);

}  // namespace replay::dist
