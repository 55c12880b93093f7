#include "corpus/documents.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "corpus/parquet.h"
#include "corpus/streams.h"
#include "util/error.h"

namespace replay::corpus {

namespace stdfs = std::filesystem;

namespace {

enum class FileKind { jsonl, text, parquet, other };

FileKind kind_of(const stdfs::path& path) {
  if (is_parquet_file(path)) return FileKind::parquet;
  std::string name = strip_compression_suffix(path.filename().string());
  auto ends = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  // Dolma and `datasets.to_json` name JSON lines ".json" (often ".json.gz").
  if (ends(".jsonl") || ends(".json")) return FileKind::jsonl;
  if (ends(".txt")) return FileKind::text;
  return FileKind::other;
}

// In a folder walk, a bare ".json" is more often metadata (a Hugging Face
// download's dataset_info.json, state.json) than documents: only compressed
// ones (Dolma's .json.gz) are taken; named explicitly, any is read.
bool is_walked_document(const stdfs::path& path) {
  const FileKind kind = kind_of(path);
  if (kind == FileKind::other) return false;
  return !(path.extension() == ".json");
}

std::vector<stdfs::path> list_document_files(const stdfs::path& path) {
  std::error_code ec;
  auto status = stdfs::status(path, ec);
  if (ec || !stdfs::exists(status)) throw Error("no such file or folder: " + path.string());
  std::vector<stdfs::path> files;
  if (stdfs::is_directory(status)) {
    for (const auto& entry : stdfs::recursive_directory_iterator(
             path, stdfs::directory_options::follow_directory_symlink)) {
      if (entry.is_regular_file() && is_walked_document(entry.path()))
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw Error("no document files (.jsonl, .txt, each optionally .gz/.zst; .json.gz/.json.zst; .parquet) "
                  "in folder " + path.string());
  } else {
    if (kind_of(path) == FileKind::other)
      throw Error("unsupported document file " + path.string() +
                  " (expected .jsonl, .json or .txt, optionally .gz or .zst, or .parquet)");
    files.push_back(path);
  }
  return files;
}

}  // namespace

bool is_document_file(const stdfs::path& path) { return kind_of(path) != FileKind::other; }

struct DocumentReader::State {
  State(const stdfs::path& p, const std::string& field) : kind(kind_of(p)), path(p.string()) {
    if (kind == FileKind::parquet) parquet = std::make_unique<ParquetReader>(p, field);
    else stream = std::make_unique<InputStream>(p);
  }
  FileKind kind;
  std::string path;
  std::unique_ptr<InputStream> stream;     // .jsonl and .txt
  std::unique_ptr<ParquetReader> parquet;  // .parquet
  uint64_t line_number = 0;                // or row number, for Parquet
  bool text_done = false;
  std::string line;
};

namespace {

// The next non-null row of a Parquet file; source "<file>:<row>", rows
// counted from 1 like lines.
bool next_parquet_row(ParquetReader& reader, uint64_t& row, const std::string& file, Document& doc) {
  std::string_view value;
  bool is_null = false;
  while (reader.next(value, is_null)) {
    ++row;
    if (is_null) continue;
    doc.text.assign(value);
    doc.source = file + ":" + std::to_string(row);
    return true;
  }
  return false;
}

}  // namespace

DocumentReader::DocumentReader(const stdfs::path& path, std::string text_field)
    : files_(list_document_files(path)), text_field_(std::move(text_field)) {
  // A Parquet footer is cheap to read: check them all now, so that a wrong
  // --field or a truncated file fails before hours of earlier input.
  for (const auto& file : files_)
    if (kind_of(file) == FileKind::parquet) ParquetReader(file, text_field_);
}

DocumentReader::~DocumentReader() = default;
DocumentReader::DocumentReader(DocumentReader&&) noexcept = default;
DocumentReader& DocumentReader::operator=(DocumentReader&&) noexcept = default;

bool DocumentReader::next(Document& doc) {
  for (;;) {
    if (!state_) {
      if (file_index_ >= files_.size()) return false;
      state_ = std::make_unique<State>(files_[file_index_++], text_field_);
    }
    State& s = *state_;
    const std::string& file = s.path;
    if (s.kind == FileKind::parquet) {
      if (next_parquet_row(*s.parquet, s.line_number, file, doc)) return true;
      state_.reset();
      continue;
    }
    if (s.kind == FileKind::text) {
      if (s.text_done) {
        state_.reset();
        continue;
      }
      doc.text.clear();
      while (s.stream->read(doc.text, 1 << 20) > 0) {
      }
      doc.source = file;
      s.text_done = true;
      return true;
    }
    // JSONL: one object per line.
    if (!s.stream->read_line(s.line)) {
      state_.reset();
      continue;
    }
    ++s.line_number;
    if (s.line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = file + ":" + std::to_string(s.line_number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s.line);
    } catch (const nlohmann::json::parse_error& e) {
      if (s.line_number == 1 && s.line.find_first_not_of(" \t") == s.line.find('['))
        throw Error("invalid JSON at " + where + ": a JSON array file? Expected JSON lines, one object per line");
      throw Error("invalid JSON at " + where + ": " + e.what());
    }
    if (!j.is_object())
      throw Error("expected a JSON object at " + where +
                  (j.is_array() ? " (JSON lines hold one object per line, not an array)" : ""));
    auto it = j.find(text_field_);
    if (it == j.end()) throw Error("missing field \"" + text_field_ + "\" at " + where);
    if (!it->is_string()) throw Error("field \"" + text_field_ + "\" is not a string at " + where);
    doc.text = it->get<std::string>();
    auto src = j.find("source");
    doc.source = (src != j.end() && src->is_string()) ? src->get<std::string>() : where;
    return true;
  }
}

struct DocumentWriter::Impl {
  explicit Impl(const stdfs::path& p) : out(p) {}
  OutputStream out;
  bool finished = false;
};

DocumentWriter::DocumentWriter(const stdfs::path& path) : impl_(std::make_unique<Impl>(path)) {}
DocumentWriter::~DocumentWriter() = default;

void DocumentWriter::write(const Document& doc) {
  if (impl_->finished) throw Error("DocumentWriter: write after finish");
  nlohmann::json j = {{"text", doc.text}, {"source", doc.source}};
  // Invalid UTF-8 would make the file unreadable as JSON; the corpus path
  // repairs text before this point, so `replace` is only a safety net.
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  impl_->out.write(line);
  ++documents_;
  text_bytes_ += doc.text.size();
}

void DocumentWriter::finish() {
  if (impl_->finished) return;
  impl_->out.commit();
  impl_->finished = true;
}

}  // namespace replay::corpus
