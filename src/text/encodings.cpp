#include "text/encodings.h"

#include "util/error.h"

namespace replay::text {

std::vector<std::string> known_encodings() {
  return {"r50k_base", "p50k_base", "cl100k_base", "o200k_base"};
}

EncodingSpec encoding_spec(std::string_view name) {
  if (name == "r50k_base" || name == "p50k_base")
    return {std::string(name), std::string(kGpt2Pattern), {{"<|endoftext|>", 50256}}};
  if (name == "cl100k_base")
    return {std::string(name),
            std::string(kCl100kPattern),
            {{"<|endoftext|>", 100257},
             {"<|fim_prefix|>", 100258},
             {"<|fim_middle|>", 100259},
             {"<|fim_suffix|>", 100260},
             {"<|endofprompt|>", 100276}}};
  if (name == "o200k_base")
    return {std::string(name),
            std::string(kO200kPattern),
            {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}};
  std::string known;
  for (const auto& k : known_encodings()) known += (known.empty() ? "" : ", ") + k;
  throw Error("unknown tiktoken encoding '" + std::string(name) + "' (known: " + known + ")");
}

std::string pattern_by_name(std::string_view name_or_regex) {
  if (name_or_regex == "gpt2" || name_or_regex == "r50k" || name_or_regex == "r50k_base")
    return std::string(kGpt2Pattern);
  if (name_or_regex == "cl100k" || name_or_regex == "cl100k_base" || name_or_regex == "llama3")
    return std::string(kCl100kPattern);
  if (name_or_regex == "o200k" || name_or_regex == "o200k_base") return std::string(kO200kPattern);
  return std::string(name_or_regex);
}

}  // namespace replay::text
