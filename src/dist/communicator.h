// The process group of a data-parallel job (c10d: a TCPStore rendezvous and
// a Gloo process group), behind the few operations the trainer needs. Built
// only for a world of more than one: a world of one has no communicator and
// takes the single-process code path.
//
// Rules every caller keeps: collectives match by call order alone, so every
// rank issues the same ones in the same order; a rank that dies closes its
// sockets and the others' next collective fails at once (replay::Error
// naming this rank and the operation); a rank that hangs makes the others
// fail after `timeout` (the collective timeout). Waits for rank 0's file
// writes (checkpoints, evaluations it alone does) use the longer
// `write_timeout` instead, so a slow checkpoint never trips the collective
// timeout; they go through the store, which lives in rank 0 (or torchrun's
// agent), so a rank 0 that dies ends them at once too.
//
// Backends: Gloo always, for CPU tensors (the loss and stop-flag reductions,
// barriers). When the run's device is CUDA and the libtorch has NCCL (a pip
// CUDA wheel, torch >= 2; never Debian's CPU libtorch 1.13), each rank first
// makes GPU LOCAL_RANK its current device, and a ProcessGroupNCCL reduces
// CUDA tensors (the gradient all-reduce); without NCCL, Gloo reduces them
// (through host memory). backend() says which reduces CUDA tensors.
//
// The Gloo device: the interface GLOO_SOCKET_IFNAME names when set; else
// the loopback address when the master is on this machine's loopback
// (127.x, localhost: `replay launch`); else the default device (this
// host's name as it resolves), which is what multi-node jobs need.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/world.h"

namespace replay::dist {

// Defaults, stated once: the collective timeout (`replay train
// --dist-timeout` overrides it) and the wait for rank 0's writes.
inline constexpr std::chrono::seconds kDefaultTimeout{300};
inline constexpr std::chrono::seconds kWriteTimeout{3600};

class Communicator {
 public:
  // Connects to the rendezvous store and builds the process group (rank 0
  // serves the store unless the world uses the agent store). Throws
  // replay::Error naming the master when the others do not show up within
  // `timeout`. Requires world.distributed(). `device`: the run's device type
  // (kCUDA: the local GPU and NCCL, as above).
  Communicator(const World& world, std::chrono::seconds timeout, torch::DeviceType device = torch::kCPU);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  const World& world() const { return world_; }
  std::chrono::seconds timeout() const { return timeout_; }
  // "nccl" when NCCL reduces CUDA tensors, else "gloo".
  const char* backend() const;

  // In place: the mean over ranks of `flat` (a contiguous tensor). Gloo has
  // no AVG: the sum over ranks, then divided by the world size.
  void all_reduce_mean(torch::Tensor& flat, const std::string& what);
  // The sum over ranks of each value (in double), in place.
  void all_reduce_sum(std::vector<double>& values, const std::string& what);
  // The largest value over ranks (e.g. "did any rank get a stop signal").
  int64_t all_reduce_max(int64_t value, const std::string& what);
  // Optimizer-state sharding (train/sharded_optimizer.h). `flat` holds
  // world-size equal shards of `shard_size` elements, contiguous, rank r's at
  // [r * shard_size, (r + 1) * shard_size); every rank passes its own shard
  // filled in and gets every other rank's, in place. Gloo's allgather, which
  // gathers into a temporary of its own and copies out: called on pieces of
  // the shards (64 MiB per rank) so that the temporary stays small.
  void all_gather_shards(torch::Tensor& flat, int64_t shard_size, const std::string& what);
  // Every rank passes its shard (`mine`, the same size on every rank); rank 0
  // gets them all, rank r's at [r * mine.numel(), ...) of one new tensor, the
  // others an undefined tensor. Gloo's gather, in pieces as above.
  torch::Tensor gather_shards_to_rank0(const torch::Tensor& mine, const std::string& what);
  // Every rank waits for every other (collective timeout).
  void barrier(const std::string& what);
  // Rank 0 calls it after doing `what` alone (writing a checkpoint, its
  // evaluation); the other ranks call it to wait, up to kWriteTimeout.
  // Every rank calls it, in the same order.
  void rank0_done(const std::string& what);
  // Rank 0 hands a value to every other rank (through the store): rank 0
  // passes it and gets it back; the others pass anything and get rank 0's.
  std::string share_from_rank0(const std::string& key, const std::string& value);

 private:
  struct Impl;
  World world_;
  std::chrono::seconds timeout_;
  int64_t sequence_ = 0;  // numbers the store keys of rank0_done and share_from_rank0
  std::unique_ptr<Impl> impl_;
};

}  // namespace replay::dist
