// The pre-tokenization regexes and special tokens of the known GPT-family
// encodings, copied verbatim from tiktoken (npm tiktoken, encoders/*.json,
// field pat_str), so that ids match the reference implementations exactly.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/tokenizer.h"

namespace replay::text {

// GPT-2 / r50k_base / p50k_base.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// cl100k_base (GPT-3.5/4); also Llama 3's pattern.
inline constexpr std::string_view kCl100kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// o200k_base (GPT-4o).
inline constexpr std::string_view kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct EncodingSpec {
  std::string name;
  std::string pattern;
  std::vector<std::pair<std::string, TokenId>> special_tokens;
};

// r50k_base, p50k_base, cl100k_base, o200k_base; throws replay::Error listing
// the known names otherwise.
EncodingSpec encoding_spec(std::string_view name);
std::vector<std::string> known_encodings();

// A pattern by short name for trained tokenizers: "gpt2" (= "r50k"),
// "cl100k", "o200k"; any other string is taken as a regex itself.
std::string pattern_by_name(std::string_view name_or_regex);

}  // namespace replay::text
