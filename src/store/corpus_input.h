// Glue between the store builder and the rest of the data layer: documents
// from corpus files/folders (replay::corpus::DocumentReader) and the real
// tokenizer (replay::text::Tokenizer), plus the "every domain of a recipe
// output" convention used by `replay data build --all`.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "store/builder.h"
#include "text/tokenizer.h"

namespace replay::store {

// Documents of every input in order (each a file or folder DocumentReader
// understands). Opening checks that every input exists, naming the missing one.
OpenDocuments corpus_documents(std::vector<std::filesystem::path> inputs,
                               std::string text_field = "text");

// Wraps a tokenizer (shared, thread-safe) for build_store.
TokenizerHandle tokenizer_handle(const text::Tokenizer& tokenizer);

// Domains in a corpora folder: <domain>.jsonl[.zst|.gz] files, sorted by name.
// Throws if the folder is missing or holds none.
std::vector<std::pair<std::string, std::filesystem::path>> find_domain_corpora(
    const std::filesystem::path& corpora_dir);

}  // namespace replay::store
