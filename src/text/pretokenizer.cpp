#include "text/pretokenizer.h"

#include "util/error.h"

namespace replay::text {

namespace {
std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}
}  // namespace

Pretokenizer::Pretokenizer(std::string pattern) : pattern_(std::move(pattern)) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset,
                        nullptr);
  if (!code_)
    throw Error("invalid pre-tokenization regex at offset " + std::to_string(offset) + ": " +
                pcre2_message(error) + " (pattern: " + pattern_ + ")");
  int rc = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  if (rc != 0) {
    pcre2_code_free(code_);
    throw Error("PCRE2 JIT cannot compile the pre-tokenization regex: " + pcre2_message(rc));
  }
}

Pretokenizer::~Pretokenizer() { pcre2_code_free(code_); }

// Long runs (a megabyte of spaces or letters) backtrack deeply in patterns
// like \s+(?!\S); the default 32 KiB JIT stack would fail on them.
Pretokenizer::ThreadState::ThreadState() {
  match = pcre2_match_data_create(1, nullptr);
  context = pcre2_match_context_create(nullptr);
  stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
  if (!match || !context || !stack) throw Error("out of memory creating PCRE2 match state");
  pcre2_jit_stack_assign(context, nullptr, stack);
}

Pretokenizer::ThreadState::~ThreadState() {
  pcre2_jit_stack_free(stack);
  pcre2_match_context_free(context);
  pcre2_match_data_free(match);
}

Pretokenizer::ThreadState& Pretokenizer::thread_state() {
  thread_local ThreadState state;
  return state;
}

void Pretokenizer::match_failed(int rc) const {
  throw Error("pre-tokenization regex failed: " + pcre2_message(rc) + " (pattern: " + pattern_ +
              ")");
}

}  // namespace replay::text
