// The environment rules of dist/world.h, without processes: torchrun,
// the agent store, Slurm and its node lists, a world of one, and the errors.
#include "dist/world.h"

#include <gtest/gtest.h>

#include <map>

#include "util/error.h"

namespace replay::dist {
namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(World, NothingSetIsAWorldOfOne) {
  const World w = resolve_world(env_of({}));
  EXPECT_EQ(w.rank, 0);
  EXPECT_EQ(w.size, 1);
  EXPECT_FALSE(w.distributed());
  EXPECT_EQ(w.launcher, "none");
}

TEST(World, LauncherVariables) {
  const World w = resolve_world(env_of({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                        {"MASTER_ADDR", "10.0.0.5"}, {"MASTER_PORT", "29501"}}));
  EXPECT_EQ(w.rank, 1);
  EXPECT_EQ(w.size, 4);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.master_addr, "10.0.0.5");
  EXPECT_EQ(w.master_port, 29501);
  EXPECT_EQ(w.launcher, "env");
  EXPECT_FALSE(w.agent_store);
  EXPECT_EQ(w.describe().rfind("rank 1/4 master 10.0.0.5:29501", 0), 0u) << w.describe();
}

TEST(World, TorchrunAgentStoreMakesEveryRankAClientWithAPrefixPerAttempt) {
  const World w = resolve_world(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                                        {"MASTER_PORT", "1234"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                        {"TORCHELASTIC_RESTART_COUNT", "3"}, {"TORCHELASTIC_RUN_ID", "job7"}}));
  EXPECT_EQ(w.launcher, "torchrun");
  EXPECT_TRUE(w.agent_store);
  EXPECT_EQ(w.store_prefix, "/worker/attempt_3");
  EXPECT_EQ(w.job_id, "job7");
  const World no_agent = resolve_world(env_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"},
                                               {"MASTER_PORT", "1234"}, {"TORCHELASTIC_USE_AGENT_STORE", "False"}}));
  EXPECT_FALSE(no_agent.agent_store);
  EXPECT_EQ(no_agent.store_prefix, "");
}

TEST(World, WorldSizeOneNeedsNoMaster) {
  const World w = resolve_world(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}}));
  EXPECT_FALSE(w.distributed());
  EXPECT_EQ(w.launcher, "env");
}

TEST(World, SlurmTask) {
  const World w = resolve_world(env_of({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                                        {"SLURM_JOB_NODELIST", "gpu[017-020]"}, {"SLURM_JOB_ID", "123456"}}));
  EXPECT_EQ(w.launcher, "slurm");
  EXPECT_EQ(w.rank, 5);
  EXPECT_EQ(w.size, 8);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.master_addr, "gpu017");
  EXPECT_EQ(w.master_port, kSlurmPortBase + 123456 % kSlurmPortSpan);
  EXPECT_EQ(w.job_id, "123456");
}

TEST(World, SlurmMasterVariablesWin) {
  const World w = resolve_world(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "a,b"},
                                        {"SLURM_JOB_ID", "9"}, {"MASTER_ADDR", "head"}}));
  EXPECT_EQ(w.master_addr, "head");
  EXPECT_EQ(w.master_port, kSlurmPortBase + 9);
}

TEST(World, LauncherVariablesWinOverSlurm) {
  // torchrun inside an srun allocation: torchrun's variables describe the ranks.
  const World w = resolve_world(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"SLURM_PROCID", "0"},
                                        {"SLURM_NTASKS", "4"}}));
  EXPECT_EQ(w.launcher, "env");
  EXPECT_EQ(w.size, 1);
}

TEST(World, NodeLists) {
  EXPECT_EQ(first_host_of_nodelist("node[001-004]"), "node001");
  EXPECT_EQ(first_host_of_nodelist("node[7,9-12]"), "node7");
  EXPECT_EQ(first_host_of_nodelist("a[1-2]b[3-4],c"), "a1b3");
  EXPECT_EQ(first_host_of_nodelist("host"), "host");
  EXPECT_EQ(first_host_of_nodelist("first,second[1-3]"), "first");
  EXPECT_THROW(first_host_of_nodelist("node[1-2"), Error);
  EXPECT_THROW(first_host_of_nodelist(""), Error);
}

TEST(World, ErrorsNameTheVariable) {
  auto message = [](std::map<std::string, std::string> vars) {
    try {
      resolve_world(env_of(vars));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"WORLD_SIZE", "two"}}).find("WORLD_SIZE=\"two\""), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}).find("RANK=2"),
            std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "1"}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
                .find("MASTER_PORT=70000"),
            std::string::npos);
  EXPECT_NE(message({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_ID", "1"}}).find("SLURM_JOB_NODELIST"),
            std::string::npos);
}

TEST(World, RowsOfRankCoverEveryRowOnceInOrder) {
  for (int64_t rows : {0, 1, 7, 8, 16}) {
    for (int world : {1, 2, 3, 4}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const RowRange range = rows_of_rank(rows, r, world);
        EXPECT_EQ(range.begin, next);
        EXPECT_LE(range.count, rows / world + 1);
        EXPECT_GE(range.count, rows / world);
        next += range.count;
      }
      EXPECT_EQ(next, rows) << rows << " rows over " << world;
    }
  }
}

}  // namespace
}  // namespace replay::dist
