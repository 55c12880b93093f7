// c10d's headers compile their Gloo parts only with USE_C10D_GLOO. Debian's
// Torch CMake config passes it; a config that does not still links a
// libtorch built with Gloo (the symbols are checked at link time).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include "dist/communicator.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
// NCCL where the libtorch has it: a pip CUDA wheel's Torch config defines
// USE_C10D_NCCL for its users; Debian's CPU libtorch 1.13 has no NCCL, and
// this build there is Gloo only, as before.
#if defined(USE_C10D_NCCL) && TORCH_VERSION_MAJOR >= 2
#define REPLAY_HAVE_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <cstdlib>
#include <exception>

#include "util/error.h"

namespace replay::dist {

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;  // always: CPU tensors (losses, flags, barriers)
#ifdef REPLAY_HAVE_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;   // when the run's device is CUDA: CUDA tensors
#endif

  // The group for a tensor: NCCL for a CUDA tensor when there is one, else Gloo.
  auto allreduce(std::vector<torch::Tensor>& tensors, const c10d::AllreduceOptions& options = {}) {
#ifdef REPLAY_HAVE_NCCL
    if (nccl && tensors.front().is_cuda()) return nccl->allreduce(tensors, options);
#endif
    return group->allreduce(tensors, options);
  }
};

namespace {

std::string rank_prefix(const World& w) { return "rank " + std::to_string(w.rank) + "/" + std::to_string(w.size); }

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

std::shared_ptr<::gloo::transport::Device> gloo_device(const World& w) {
  if (const char* ifname = std::getenv(kGlooIfnameVar); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(w.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname(w.master_addr);
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<c10d::Store> connect_store(const World& w, std::chrono::seconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(w.master_port);
  options.isServer = w.is_rank0() && !w.agent_store;
  // Every rank names the world size and "waits for workers": a client
  // counts itself in only then, and the server waits for that count, up to
  // the timeout (after which it goes on; the process group's rendezvous then
  // fails). c10::optional in 1.13, std:: in 2.x.
  options.numWorkers = static_cast<size_t>(w.size);
  options.waitWorkers = true;
  options.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(w.master_addr, options);
  if (!w.store_prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(w.store_prefix, store);
  return store;
}

// Runs a c10d call; its failure becomes an Error naming this rank, the
// operation and the likely cause.
template <class F>
void guarded(const World& w, const std::string& what, std::chrono::seconds timeout, F&& call) {
  try {
    call();
  } catch (const std::exception& e) {
    std::string message = e.what();
    if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) message = c10->what_without_backtrace();
    throw Error(rank_prefix(w) + ": " + what + " failed: another rank stopped, or did not answer within " +
                std::to_string(timeout.count()) + " s (" + message + ")");
  }
}

}  // namespace

namespace {

#ifdef REPLAY_HAVE_NCCL
// Every rank of a machine on its own GPU: LOCAL_RANK's, set as the current
// device before anything is put on "cuda" (the trainer's device has no index).
void use_local_gpu(const World& w) {
  const int gpus = static_cast<int>(c10::cuda::device_count());
  if (w.local_rank >= gpus)
    throw Error(rank_prefix(w) + ": local rank " + std::to_string(w.local_rank) + " needs GPU " +
                std::to_string(w.local_rank) + " but this machine has " + std::to_string(gpus) +
                ": start at most one rank per GPU");
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(w.local_rank));
}
#endif

}  // namespace

Communicator::Communicator(const World& world, std::chrono::seconds timeout, torch::DeviceType device)
    : world_(world), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  if (!world.distributed()) throw Error("internal: a communicator for a world of one");
#ifdef REPLAY_HAVE_NCCL
  if (device == torch::kCUDA) use_local_gpu(world_);
#endif
  guarded(world_, "the rendezvous at " + world_.master_addr + ":" + std::to_string(world_.master_port), timeout_,
          [&] {
            impl_->store = connect_store(world_, timeout_);
            auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(timeout_));
            options->devices.push_back(gloo_device(world_));
            impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, world_.rank, world_.size, options);
#ifdef REPLAY_HAVE_NCCL
            if (device != torch::kCUDA) return;
            auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
            nccl_options->timeout = std::chrono::milliseconds(timeout_);
            // Its own key space in the store, beside Gloo's rendezvous keys.
            impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
                c10::make_intrusive<c10d::PrefixStore>("nccl", impl_->store), world_.rank, world_.size, nccl_options);
#else
            (void)device;  // no NCCL in this libtorch: Gloo reduces CUDA tensors too (through host memory)
#endif
          });
}

const char* Communicator::backend() const {
#ifdef REPLAY_HAVE_NCCL
  if (impl_->nccl) return "nccl";
#endif
  return "gloo";
}

Communicator::~Communicator() = default;

void Communicator::all_reduce_mean(torch::Tensor& flat, const std::string& what) {
  guarded(world_, what, timeout_, [&] {
    std::vector<torch::Tensor> tensors{flat};
    impl_->allreduce(tensors)->wait();
  });
  flat.div_(world_.size);
}

void Communicator::all_reduce_sum(std::vector<double>& values, const std::string& what) {
  torch::Tensor t = torch::tensor(values, torch::kFloat64);
  guarded(world_, what, timeout_, [&] {
    std::vector<torch::Tensor> tensors{t};
    impl_->group->allreduce(tensors)->wait();
  });
  const double* data = t.data_ptr<double>();
  values.assign(data, data + values.size());
}

int64_t Communicator::all_reduce_max(int64_t value, const std::string& what) {
  torch::Tensor t = torch::tensor({value}, torch::kInt64);
  guarded(world_, what, timeout_, [&] {
    std::vector<torch::Tensor> tensors{t};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::MAX;
    impl_->group->allreduce(tensors, options)->wait();
  });
  return t.item<int64_t>();
}

namespace {
// Gloo gathers into a flat temporary of world size x the elements of one
// call: the shards go in pieces of at most this many elements (64 MiB of
// fp32 per rank), so that the temporary stays small next to the model.
constexpr int64_t kGatherPiece = int64_t{1} << 24;
}  // namespace

void Communicator::all_gather_shards(torch::Tensor& flat, int64_t shard_size, const std::string& what) {
  if (flat.dim() != 1 || !flat.is_contiguous() || flat.numel() != shard_size * world_.size)
    throw Error("internal: all_gather_shards needs a contiguous 1-D tensor of world size x shard size");
  for (int64_t from = 0; from < shard_size; from += kGatherPiece) {
    const int64_t n = std::min(kGatherPiece, shard_size - from);
    std::vector<torch::Tensor> inputs{flat.narrow(0, shard_size * world_.rank + from, n)};
    std::vector<std::vector<torch::Tensor>> outputs(1);
    for (int r = 0; r < world_.size; ++r) outputs[0].push_back(flat.narrow(0, shard_size * r + from, n));
    guarded(world_, what, timeout_, [&] { impl_->group->allgather(outputs, inputs)->wait(); });
  }
}

torch::Tensor Communicator::gather_shards_to_rank0(const torch::Tensor& mine, const std::string& what) {
  const torch::Tensor input = mine.reshape({-1}).contiguous();
  const int64_t size = input.numel();
  torch::Tensor all;
  if (world_.is_rank0()) all = torch::empty({size * world_.size}, input.options());
  for (int64_t from = 0; from < size; from += kGatherPiece) {
    const int64_t n = std::min(kGatherPiece, size - from);
    std::vector<torch::Tensor> inputs{input.narrow(0, from, n)};
    std::vector<std::vector<torch::Tensor>> outputs;
    if (world_.is_rank0()) {
      outputs.emplace_back();
      for (int r = 0; r < world_.size; ++r) outputs[0].push_back(all.narrow(0, size * r + from, n));
    }
    guarded(world_, what, timeout_, [&] {
      c10d::GatherOptions options;
      options.rootRank = 0;
      impl_->group->gather(outputs, inputs, options)->wait();
    });
  }
  return all;
}

void Communicator::barrier(const std::string& what) {
  guarded(world_, what, timeout_, [&] { impl_->group->barrier()->wait(); });
}

void Communicator::rank0_done(const std::string& what) {
  const std::string key = "replay/rank0/" + std::to_string(sequence_++);
  guarded(world_, "waiting for rank 0: " + what, kWriteTimeout, [&] {
    if (world_.is_rank0()) {
      impl_->store->set(key, std::vector<uint8_t>{1});
    } else {
      impl_->store->wait({key}, std::chrono::milliseconds(kWriteTimeout));
    }
  });
}

std::string Communicator::share_from_rank0(const std::string& name, const std::string& value) {
  const std::string key = "replay/share/" + std::to_string(sequence_++) + "/" + name;
  if (world_.is_rank0()) {
    guarded(world_, "sharing " + name, timeout_,
            [&] { impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end())); });
    return value;
  }
  std::vector<uint8_t> bytes;
  guarded(world_, "waiting for rank 0's " + name, kWriteTimeout, [&] {
    impl_->store->wait({key}, std::chrono::milliseconds(kWriteTimeout));
    bytes = impl_->store->get(key);
  });
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace replay::dist
