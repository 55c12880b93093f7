// Byte streams with transparent (de)compression, so that every reader and
// writer of documents works in bounded memory whatever the file's encoding.
// The compression is chosen by the file name: ".gz" (zlib, concatenated
// members allowed) and ".zst" (zstd frames); anything else is plain bytes.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "util/fs.h"

namespace replay::corpus {

enum class Compression { none, gzip, zstd };

// ".gz" -> gzip, ".zst" -> zstd, otherwise none.
Compression compression_of(const std::filesystem::path& path);

// The file name without a trailing ".gz"/".zst": "a.jsonl.zst" -> "a.jsonl".
std::string strip_compression_suffix(const std::string& name);

// Decompresses gzip or zstd held in memory (archive members); throws
// replay::Error naming `what` on corrupt input.
std::string decompress(std::string_view data, Compression kind, const std::string& what);

// Reads a file in chunks, decompressing as it goes.
class InputStream {
 public:
  explicit InputStream(const std::filesystem::path& path);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Appends up to `max` decompressed bytes to `out`; returns 0 at the end.
  size_t read(std::string& out, size_t max);
  // One line without its '\n' (and without a trailing '\r'); false at end.
  bool read_line(std::string& line);
  const std::filesystem::path& path() const { return path_; }

  class Decoder;  // gzip or zstd; defined in streams.cpp

 private:
  bool fill();  // appends to `buffer_`; false when no more bytes come
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::unique_ptr<Decoder> decoder_;
  std::string buffer_;  // decompressed bytes not yet handed out
  size_t pos_ = 0;
};

// Writes a file atomically (replay::fs::AtomicFile), zstd-compressing it when
// the name ends in ".zst". Nothing appears under the final name before commit().
class OutputStream {
 public:
  explicit OutputStream(const std::filesystem::path& path, int zstd_level = 6);
  ~OutputStream();
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;

  void write(std::string_view bytes);
  void commit();
  uint64_t uncompressed_bytes() const { return raw_bytes_; }

 private:
  void flush_compressed(bool end);
  fs::AtomicFile file_;
  void* cstream_ = nullptr;  // ZSTD_CStream*, null when writing plain bytes
  std::string pending_;      // uncompressed bytes waiting for the compressor
  std::string out_buffer_;
  uint64_t raw_bytes_ = 0;
};

}  // namespace replay::corpus
