#include "dist/world.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "util/error.h"

namespace replay::dist {

namespace {

std::optional<std::string> get(const EnvLookup& env, const char* name) {
  auto value = env(name);
  if (value && value->empty()) return std::nullopt;  // set but empty reads as unset, as in shells
  return value;
}

int64_t parse_int(const std::string& name, const std::string& value) {
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0)
    throw Error("environment: " + name + "=\"" + value + "\" is not an integer");
  return n;
}

int int_var(const EnvLookup& env, const char* name, std::optional<int> fallback) {
  auto value = get(env, name);
  if (!value) {
    if (fallback) return *fallback;
    throw Error(std::string("environment: ") + name + " is not set");
  }
  const int64_t n = parse_int(name, *value);
  if (n < 0 || n > 1'000'000'000) throw Error("environment: " + std::string(name) + "=" + *value + " is out of range");
  return static_cast<int>(n);
}

void check_ranks(const World& w, const char* rank_var, const char* size_var) {
  if (w.size < 1) throw Error(std::string("environment: ") + size_var + "=" + std::to_string(w.size) + " (must be >= 1)");
  if (w.rank >= w.size)
    throw Error(std::string("environment: ") + rank_var + "=" + std::to_string(w.rank) + " is not below " + size_var +
                "=" + std::to_string(w.size));
}

void check_port(const World& w) {
  if (w.master_port < 1 || w.master_port > 65535)
    throw Error(std::string("environment: ") + kMasterPortVar + "=" + std::to_string(w.master_port) +
                " is not a TCP port (1-65535)");
}

World from_launcher_variables(const EnvLookup& env) {
  World w;
  w.size = int_var(env, kWorldSizeVar, std::nullopt);
  w.rank = int_var(env, kRankVar, w.size == 1 ? std::optional<int>(0) : std::nullopt);
  w.local_rank = int_var(env, kLocalRankVar, 0);
  check_ranks(w, kRankVar, kWorldSizeVar);
  w.launcher = get(env, kRestartCountVar) || get(env, kTorchelasticRunIdVar) ? "torchrun" : "env";
  w.job_id = get(env, kTorchelasticRunIdVar).value_or("");
  if (!w.distributed()) return w;
  auto addr = get(env, kMasterAddrVar);
  if (!addr) throw Error(std::string("environment: ") + kWorldSizeVar + "=" + std::to_string(w.size) + " but " +
                         kMasterAddrVar + " is not set");
  w.master_addr = *addr;
  w.master_port = int_var(env, kMasterPortVar, std::nullopt);
  check_port(w);
  const auto agent = get(env, kAgentStoreVar);
  w.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
  if (w.agent_store) w.store_prefix = "/worker/attempt_" + get(env, kRestartCountVar).value_or("0");
  return w;
}

World from_slurm(const EnvLookup& env) {
  World w;
  w.launcher = "slurm";
  w.rank = int_var(env, kSlurmProcIdVar, std::nullopt);
  w.size = int_var(env, kSlurmNtasksVar, std::nullopt);
  w.local_rank = int_var(env, kSlurmLocalIdVar, 0);
  check_ranks(w, kSlurmProcIdVar, kSlurmNtasksVar);
  w.job_id = get(env, kSlurmJobIdVar).value_or("");
  if (!w.distributed()) return w;
  if (auto addr = get(env, kMasterAddrVar)) {
    w.master_addr = *addr;
  } else if (auto nodes = get(env, kSlurmNodeListVar)) {
    w.master_addr = first_host_of_nodelist(*nodes);
  } else {
    throw Error(std::string("environment: ") + kSlurmNtasksVar + "=" + std::to_string(w.size) + " but neither " +
                kMasterAddrVar + " nor " + kSlurmNodeListVar + " is set");
  }
  if (get(env, kMasterPortVar)) {
    w.master_port = int_var(env, kMasterPortVar, std::nullopt);
  } else if (!w.job_id.empty()) {
    w.master_port = slurm_port(w.job_id);
  } else {
    throw Error(std::string("environment: ") + kSlurmNtasksVar + "=" + std::to_string(w.size) + " but neither " +
                kMasterPortVar + " nor " + kSlurmJobIdVar + " is set");
  }
  check_port(w);
  return w;
}

}  // namespace

std::string World::describe() const {
  std::string line = "rank " + std::to_string(rank) + "/" + std::to_string(size);
  line += distributed() ? " master " + master_addr + ":" + std::to_string(master_port) : " (no process group)";
  line += " local rank " + std::to_string(local_rank) + ", launcher " + launcher;
  if (!job_id.empty()) line += ", job " + job_id;
  if (agent_store) line += ", agent store " + store_prefix;
  return line;
}

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

World resolve_world(const EnvLookup& env) {
  if (get(env, kWorldSizeVar)) return from_launcher_variables(env);
  if (get(env, kSlurmProcIdVar) && get(env, kSlurmNtasksVar)) return from_slurm(env);
  return World{};
}

// Slurm's compressed host lists: comma-separated entries, each a prefix
// followed by bracketed ranges ("node[001-004,010]") and more text. The
// first host takes, in every bracket, the first number as written (zero
// padding included).
std::string first_host_of_nodelist(const std::string& nodelist) {
  std::string host;
  bool in_bracket = false, took_first = false;
  for (char c : nodelist) {
    if (in_bracket) {
      if (c == ']') {
        in_bracket = false;
      } else if (c == ',' || c == '-') {
        took_first = true;
      } else if (!took_first) {
        host += c;
      }
      continue;
    }
    if (c == ',') break;  // the next entry: the first one is complete
    if (c == '[') {
      in_bracket = true;
      took_first = false;
      continue;
    }
    host += c;
  }
  if (in_bracket) throw Error(std::string("environment: ") + kSlurmNodeListVar + "=\"" + nodelist + "\" has an unclosed '['");
  if (host.empty()) throw Error(std::string("environment: ") + kSlurmNodeListVar + "=\"" + nodelist + "\" names no host");
  return host;
}

RowRange rows_of_rank(int64_t rows, int rank, int world) {
  const int64_t base = rows / world, extra = rows % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, base + (rank < extra ? 1 : 0)};
}

int slurm_port(const std::string& job_id) {
  const int64_t id = parse_int(kSlurmJobIdVar, job_id);
  if (id < 0) throw Error(std::string("environment: ") + kSlurmJobIdVar + "=" + job_id + " is negative");
  return kSlurmPortBase + static_cast<int>(id % kSlurmPortSpan);
}

}  // namespace replay::dist
