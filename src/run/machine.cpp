#include "run/machine.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstddef>

namespace replay::run {

uint64_t physical_memory_bytes() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

std::optional<uint64_t> cuda_device_memory_bytes(int index) {
  // The three driver calls, by their C signatures (cuda.h: CUresult is an
  // enum with 0 = CUDA_SUCCESS, CUdevice an int). cuDeviceTotalMem needs no
  // context, so this costs no device memory.
  using InitFn = int (*)(unsigned int);
  using DeviceGetFn = int (*)(int*, int);
  using TotalMemFn = int (*)(size_t*, int);
  void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return std::nullopt;
  auto init = reinterpret_cast<InitFn>(::dlsym(lib, "cuInit"));
  auto device_get = reinterpret_cast<DeviceGetFn>(::dlsym(lib, "cuDeviceGet"));
  auto total_mem = reinterpret_cast<TotalMemFn>(::dlsym(lib, "cuDeviceTotalMem_v2"));
  std::optional<uint64_t> bytes;
  int device = 0;
  size_t total = 0;
  if (init && device_get && total_mem && init(0) == 0 && device_get(&device, index) == 0 &&
      total_mem(&total, device) == 0)
    bytes = total;
  ::dlclose(lib);
  return bytes;
}

}  // namespace replay::run
