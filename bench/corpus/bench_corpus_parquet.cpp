// Parquet read speed: every row of one string column, first through
// ParquetReader alone (decompression + decoding, values as views), then
// through DocumentReader (each row copied into a Document, as import does).
// Usage: bench_corpus_parquet FILE.parquet [COLUMN] [REPS]
// Prints MB/s of file bytes and of text bytes; the best of REPS (default 3)
// because the machine is shared.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "corpus/documents.h"
#include "corpus/parquet.h"
#include "util/error.h"

namespace {

using replay::corpus::DocumentReader;
using replay::corpus::ParquetReader;

struct Pass {
  double seconds = 0;
  double cpu_seconds = 0;  // steadier than wall time on a shared machine
  uint64_t rows = 0;
  uint64_t text_bytes = 0;
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double cpu_since(std::clock_t c0) { return double(std::clock() - c0) / CLOCKS_PER_SEC; }

Pass read_values(const std::string& path, const std::string& column) {
  auto t0 = std::chrono::steady_clock::now();
  std::clock_t c0 = std::clock();
  ParquetReader reader(path, column);
  Pass p;
  std::string_view value;
  bool is_null = false;
  while (reader.next(value, is_null)) {
    ++p.rows;
    p.text_bytes += value.size();
  }
  p.seconds = since(t0);
  p.cpu_seconds = cpu_since(c0);
  return p;
}

Pass read_documents(const std::string& path, const std::string& column) {
  auto t0 = std::chrono::steady_clock::now();
  std::clock_t c0 = std::clock();
  DocumentReader reader(path, column);
  replay::corpus::Document doc;
  Pass p;
  while (reader.next(doc)) {
    ++p.rows;
    p.text_bytes += doc.text.size();
  }
  p.seconds = since(t0);
  p.cpu_seconds = cpu_since(c0);
  return p;
}

template <class Fn>
void report(const char* what, Fn&& pass, int reps, double file_mb) {
  Pass best;
  for (int i = 0; i < reps; ++i) {
    Pass p = pass();
    if (i == 0 || p.seconds < best.seconds) best = p;
  }
  std::printf("%-16s %9llu rows  %7.1f MB text  %6.3f s  %6.1f MB/s file  %6.1f MB/s text  "
              "%6.1f file MB per CPU-s\n", what, (unsigned long long)best.rows, best.text_bytes / 1e6,
              best.seconds, file_mb / best.seconds, best.text_bytes / 1e6 / best.seconds,
              file_mb / best.cpu_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE.parquet [COLUMN] [REPS]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::string column = argc > 2 ? argv[2] : "text";
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  try {
    const double file_mb = std::filesystem::file_size(path) / 1e6;
    std::printf("%s: %.1f MB\n", path.c_str(), file_mb);
    report("ParquetReader", [&] { return read_values(path, column); }, reps, file_mb);
    report("DocumentReader", [&] { return read_documents(path, column); }, reps, file_mb);
  } catch (const replay::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
