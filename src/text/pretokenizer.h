// Regex pre-tokenization with PCRE2 (JIT, UTF-8, Unicode properties): splits
// text into the pieces that BPE then encodes independently, exactly like
// tiktoken's findall over pat_str.
//
// Input may be arbitrary bytes. The pattern is compiled with
// PCRE2_MATCH_INVALID_UTF, so invalid UTF-8 never matches anything; bytes
// that no match covers are emitted as their own pieces ("gaps"), so every
// input byte lands in exactly one piece and decode(encode(x)) == x.
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>
#include <string_view>

namespace replay::text {

class Pretokenizer {
 public:
  // Throws replay::Error with PCRE2's message and offset if it does not compile.
  explicit Pretokenizer(std::string pattern);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  const std::string& pattern() const { return pattern_; }

  // Calls on_piece(std::string_view) for each piece, in order, covering `text`.
  template <class OnPiece>
  void split(std::string_view text, OnPiece&& on_piece) const;

 private:
  struct ThreadState {
    pcre2_match_data* match = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    ThreadState();
    ~ThreadState();
  };
  static ThreadState& thread_state();
  [[noreturn]] void match_failed(int rc) const;

  std::string pattern_;
  pcre2_code* code_ = nullptr;
};

template <class OnPiece>
void Pretokenizer::split(std::string_view text, OnPiece&& on_piece) const {
  ThreadState& ts = thread_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.match);
  size_t covered = 0;  // bytes [0, covered) already emitted
  size_t pos = 0;
  while (pos < n) {
    int rc = pcre2_jit_match(code_, subject, n, pos, 0, ts.match, ts.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) match_failed(rc);
    size_t start = ov[0], end = ov[1];
    if (start > covered) on_piece(text.substr(covered, start - covered));
    if (end == start) {  // an empty match (possible with user regexes): step one byte
      covered = start;
      pos = start + 1;
      continue;
    }
    on_piece(text.substr(start, end - start));
    covered = pos = end;
  }
  if (covered < n) on_piece(text.substr(covered));
}

}  // namespace replay::text
