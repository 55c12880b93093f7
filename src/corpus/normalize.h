// The one cleaning path every document goes through (recipe sources and
// users' own data alike), so that all corpora obey the same rules:
//  1. Encoding: valid UTF-8 is kept. Text with invalid sequences and no valid
//     multi-byte sequence at all is taken to be Latin-1 (legacy mail, old
//     text files) and transcoded; otherwise each invalid byte becomes U+FFFD.
//     A document where more than 1% of characters end up as U+FFFD is
//     dropped (binary or mis-declared data).
//  2. Newlines: CRLF and CR become LF; NUL and other C0 controls except tab,
//     LF and form feed are removed; trailing spaces on lines are removed;
//     more than one blank line in a row collapses to one.
//  3. Leading and trailing whitespace is trimmed; documents shorter than
//     `min_chars` bytes are dropped.
//  4. Exact duplicates (same text after 1-3, by 128-bit hash) are dropped by
//     a Deduplicator kept per domain.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

namespace replay::corpus {

enum class DropReason { kept, encoding, too_short, duplicate };

// Returns the cleaned text, or an empty optional-like result via `reason`.
// Pure: no state, usable from tests on inline strings.
std::string normalize_text(std::string_view raw, size_t min_chars, DropReason& reason);

// Repairs encoding only (step 1); sets `bad_fraction` to the share of U+FFFD.
std::string to_valid_utf8(std::string_view raw, double& bad_fraction);

bool is_valid_utf8(std::string_view s);

// Decodes Latin-1 (ISO-8859-1) bytes to UTF-8; Windows-1252's 0x80-0x9F
// punctuation (curly quotes, dashes) is mapped too, as mail labelled
// iso-8859-1 very often carries it.
std::string latin1_to_utf8(std::string_view s);

class Deduplicator {
 public:
  // True the first time a text is seen.
  bool insert(std::string_view text);
  size_t size() const { return seen_.size(); }

 private:
  struct Hash128 {
    uint64_t hi, lo;
    bool operator==(const Hash128& o) const { return hi == o.hi && lo == o.lo; }
  };
  struct HashOfHash {
    size_t operator()(const Hash128& h) const { return h.lo; }
  };
  std::unordered_set<Hash128, HashOfHash> seen_;
};

}  // namespace replay::corpus
