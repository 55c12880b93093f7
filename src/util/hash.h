// Content hashes and checksums (xxHash XXH3, from Debian's libxxhash): fast
// enough to checksum every shard on open, stable across machines.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace replay::hash {

uint64_t xxh3_64(const void* data, size_t size, uint64_t seed = 0);
inline uint64_t xxh3_64(std::string_view s) { return xxh3_64(s.data(), s.size()); }

// 128-bit content hash as 32 lowercase hex digits: run ids, fingerprints.
std::string xxh128_hex(std::string_view data);

std::string to_hex(uint64_t value);  // 16 lowercase hex digits

// Streaming 64-bit hash for data that does not fit in memory at once.
class Hasher64 {
 public:
  explicit Hasher64(uint64_t seed = 0);
  ~Hasher64();
  Hasher64(const Hasher64&) = delete;
  Hasher64& operator=(const Hasher64&) = delete;
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  void* state_;
};

}  // namespace replay::hash
