// Helpers shared by the store tests: a scratch folder per test (TempDir), the
// message of an expected error (error_of), and a trivial byte tokenizer (one
// id per byte) whose output is easy to predict by hand.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "error_of.h"
#include "store/builder.h"
#include "temp_dir.h"

// id = byte + offset; EOT = offset + 256. offset >= 65280 forces 4-byte tokens.
inline replay::store::TokenizerHandle byte_tokenizer(uint32_t offset = 0) {
  replay::store::TokenizerHandle h;
  h.encode = [offset](std::string_view text, std::vector<uint32_t>& out) {
    for (unsigned char c : text) out.push_back(c + offset);
  };
  h.eot_id = offset + 256;
  h.vocab_size = offset + 257;
  h.fingerprint = "bytes+" + std::to_string(offset);
  return h;
}

inline std::vector<std::string> numbered_documents(int n, int min_len = 5, int spread = 60) {
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    std::string d = "doc " + std::to_string(i) + ":";
    int len = min_len + (i * 37) % spread;
    // Pseudo-random letters: regular patterns would repeat whole sequences.
    uint64_t state = 0x9E3779B97F4A7C15ull * (i + 1);
    for (int k = 0; k < len; ++k) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      d.push_back(static_cast<char>('a' + (state >> 33) % 26));
    }
    docs.push_back(d);
  }
  return docs;
}
