// Builds domain corpora: fetch each recipe source, read the chosen files out
// of its archive, convert, normalize, deduplicate within the domain, and
// write data/corpora/<domain>.jsonl.zst atomically. Users' own documents
// (`replay corpus import`) go through the same CorpusSink.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "corpus/documents.h"
#include "corpus/normalize.h"
#include "corpus/recipe.h"

namespace replay::corpus {

struct SourceStats {
  std::string label;            // package name or input path
  uint64_t files = 0;           // files read from the archive / folder
  uint64_t documents = 0;       // kept
  uint64_t bytes = 0;           // UTF-8 text bytes kept
  uint64_t dropped_short = 0;
  uint64_t dropped_duplicate = 0;
  uint64_t dropped_encoding = 0;
  uint64_t dropped_cap = 0;     // over max_mb
  uint64_t held_out = 0;        // files skipped by the source's holdout rule (not counted in `files`)
  uint64_t download_bytes = 0;  // archive size
  bool cache_hit = false;
};

struct DomainSummary {
  std::string domain;
  std::filesystem::path output;
  uint64_t documents = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  std::vector<SourceStats> sources;
};

// Normalization + per-domain dedup + the atomic writer, in one place.
class CorpusSink {
 public:
  explicit CorpusSink(const std::filesystem::path& output) : writer_(output) {}
  // Cleans `raw` and writes it unless it is dropped; counts into `stats`.
  bool add(std::string_view raw, const std::string& source, size_t min_chars, SourceStats& stats);
  void finish() { writer_.finish(); }

 private:
  DocumentWriter writer_;
  Deduplicator dedup_;
  Document doc_;
};

struct BuildOptions {
  std::filesystem::path cache_dir = "data/cache/packages";
  std::filesystem::path out_dir = "data/corpora";
  std::FILE* log = stderr;  // progress lines; nullptr for silence
};

// Output file for a domain: OUT/<domain>.jsonl.zst.
std::filesystem::path corpus_path(const std::filesystem::path& out_dir, const std::string& domain);

DomainSummary build_domain(const DomainSpec& domain, const BuildOptions& options);

// Imports files or folders (see DocumentReader) as domain `name`.
DomainSummary import_documents(const std::string& name, const std::vector<std::filesystem::path>& inputs,
                               const std::string& text_field, size_t min_chars,
                               const std::filesystem::path& out_dir);

// Human-readable table: documents, MB, per source, drops.
std::string format_summary(const DomainSummary& summary);

}  // namespace replay::corpus
