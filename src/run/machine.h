// Facts about the machine a run is admitted on, read without torch (the run
// layer does not link it): host memory, and a CUDA device's memory through
// the driver library when one is installed.
#pragma once
#include <cstdint>
#include <optional>

namespace replay::run {

// Physical memory of this machine in bytes; 0 when unknown.
uint64_t physical_memory_bytes();

// Total memory of CUDA device `index` (as numbered after
// CUDA_VISIBLE_DEVICES), from the driver (libcuda.so.1, opened at run time
// so that CPU builds need no CUDA); nullopt when there is no driver, no such
// device, or the driver fails.
std::optional<uint64_t> cuda_device_memory_bytes(int index);

}  // namespace replay::run
