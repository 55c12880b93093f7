#include "store/corpus_input.h"

#include <algorithm>
#include <memory>

#include "corpus/documents.h"
#include "util/error.h"

namespace replay::store {

namespace stdfs = std::filesystem;

namespace {
class CorpusSource : public DocumentSource {
 public:
  CorpusSource(std::vector<stdfs::path> inputs, std::string field)
      : inputs_(std::move(inputs)), field_(std::move(field)) {}
  bool next(std::string& text) override {
    while (true) {
      if (!reader_) {
        if (index_ >= inputs_.size()) return false;
        reader_ = std::make_unique<corpus::DocumentReader>(inputs_[index_++], field_);
      }
      if (reader_->next(doc_)) {
        text.swap(doc_.text);
        return true;
      }
      reader_.reset();
    }
  }

 private:
  std::vector<stdfs::path> inputs_;
  std::string field_;
  size_t index_ = 0;
  std::unique_ptr<corpus::DocumentReader> reader_;
  corpus::Document doc_;
};
}  // namespace

OpenDocuments corpus_documents(std::vector<stdfs::path> inputs, std::string text_field) {
  if (inputs.empty()) throw Error("no input corpus given");
  // Fail before any work if an input is missing or holds no document files.
  for (const auto& in : inputs) corpus::DocumentReader probe(in, text_field);
  return [inputs = std::move(inputs), field = std::move(text_field)] {
    return std::make_unique<CorpusSource>(inputs, field);
  };
}

TokenizerHandle tokenizer_handle(const text::Tokenizer& tokenizer) {
  TokenizerHandle h;
  if (!tokenizer.has_eot())
    throw Error("tokenizer " + tokenizer.source() +
                " has no end-of-text token; a store needs one to join documents");
  h.encode = [tokenizer](std::string_view text, std::vector<uint32_t>& out) {
    tokenizer.encode(text, out);
  };
  h.eot_id = tokenizer.eot_id();
  if (tokenizer.has_bos()) h.bos_id = tokenizer.bos_id();
  h.vocab_size = tokenizer.vocab_size();
  h.fingerprint = tokenizer.fingerprint();
  return h;
}

std::vector<std::pair<std::string, stdfs::path>> find_domain_corpora(const stdfs::path& dir) {
  if (!stdfs::is_directory(dir))
    throw Error("corpora folder " + dir.string() + " does not exist (run `replay corpus build` first)");
  std::vector<std::pair<std::string, stdfs::path>> found;
  for (const auto& entry : stdfs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string name = entry.path().filename().string();
    for (const char* ext : {".jsonl.zst", ".jsonl.gz", ".jsonl"}) {
      std::string e = ext;
      if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) {
        found.emplace_back(name.substr(0, name.size() - e.size()), entry.path());
        break;
      }
    }
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 1; i < found.size(); ++i)
    if (found[i].first == found[i - 1].first)
      throw Error("domain " + found[i].first + " has two corpus files in " + dir.string() + ": " +
                  found[i - 1].second.filename().string() + " and " +
                  found[i].second.filename().string());
  if (found.empty())
    throw Error("no <domain>.jsonl[.zst|.gz] corpus files in " + dir.string());
  return found;
}

}  // namespace replay::store
