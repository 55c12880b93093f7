// Documents on disk: the one open format every stage exchanges (JSONL with a
// `text` and a `source` field, optionally zstd-compressed), plus plain-text
// and Parquet files for users' own data. Reading and writing are streaming:
// memory stays bounded by the largest single document (or Parquet page),
// never by the corpus.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace replay::corpus {

struct Document {
  std::string text;
  std::string source;  // where it came from, e.g. "fortunes:usr/share/games/fortunes/art"
};

// Streams documents from a file or a folder (recursively, in sorted path
// order so that the result is deterministic). Recognized files:
//   .jsonl / .json, each optionally .gz / .zst (Dolma's .json.gz): one JSON
//       object per line; the text is in `text_field`, the source in "source"
//       when present (otherwise "<file>:<line>"). Blank lines are skipped.
//   .parquet (Hugging Face datasets): the string column `text_field`, one
//       document per row, null rows skipped; source = "<file>:<row>", rows
//       counted from 1. The subset of Parquet read is in corpus/parquet.h.
//   .txt / .txt.gz / .txt.zst : one document per file; source = the path.
// In a folder, other files are ignored, and so is a bare ".json" (mostly
// metadata there, e.g. a Hugging Face download's dataset_info.json; Dolma's
// ".json.gz" is read); a file named explicitly must have one of these
// extensions. Errors (replay::Error) name the file and line: missing
// path, invalid JSON, missing or non-string field, no documents files found.
// Parquet footers (magic, schema, the column, codecs) are all checked by the
// constructor, before any document is read.
class DocumentReader {
 public:
  explicit DocumentReader(const std::filesystem::path& path, std::string text_field = "text");
  ~DocumentReader();
  DocumentReader(DocumentReader&&) noexcept;
  DocumentReader& operator=(DocumentReader&&) noexcept;

  // Fills `doc` with the next document; false when all files are done.
  bool next(Document& doc);
  // The files this reader walks, in order.
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  struct State;
  std::vector<std::filesystem::path> files_;
  std::string text_field_;
  size_t file_index_ = 0;
  std::unique_ptr<State> state_;  // the open file, if any
};

// True when `path` names a file DocumentReader understands.
bool is_document_file(const std::filesystem::path& path);

// Writes JSONL lines {"text":...,"source":...}, zstd-compressed when the path
// ends in ".zst". Atomic: the file appears under its name only on finish();
// destroyed before finish(), it leaves nothing behind.
class DocumentWriter {
 public:
  explicit DocumentWriter(const std::filesystem::path& path);
  ~DocumentWriter();
  DocumentWriter(const DocumentWriter&) = delete;
  DocumentWriter& operator=(const DocumentWriter&) = delete;

  void write(const Document& doc);
  void finish();
  uint64_t documents() const { return documents_; }
  uint64_t text_bytes() const { return text_bytes_; }  // UTF-8 bytes of text only

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint64_t documents_ = 0;
  uint64_t text_bytes_ = 0;
};

}  // namespace replay::corpus
