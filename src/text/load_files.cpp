// Loaders for tiktoken rank files and GPT-2 encoder.json + vocab.bpe, and the
// format auto-detection behind Tokenizer::load.
#include <nlohmann/json.hpp>

#include <optional>

#include "text/bpe_model.h"
#include "text/byte_level.h"
#include "text/encodings.h"
#include "util/base64.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/lines.h"

namespace replay::text {

namespace stdfs = std::filesystem;

namespace {

std::string read_nonempty(const stdfs::path& path) {
  if (!stdfs::exists(path)) throw Error("tokenizer file not found: " + path.string());
  if (stdfs::is_directory(path)) throw Error("expected a file, found a directory: " + path.string());
  std::string text = fs::read_file(path);
  if (text.empty()) throw Error("tokenizer file is empty: " + path.string());
  return text;
}

std::shared_ptr<const detail::Model> finish(detail::Model&& model) {
  model.finalize();
  return std::make_shared<const detail::Model>(std::move(model));
}

}  // namespace

namespace {

struct RankLine {
  std::string bytes;
  uint64_t rank;
};

// The lines of a rank file, parsed but not yet added: their ranks (= ids)
// are checked first. `ids` gets each line's base64 text and rank.
std::vector<RankLine> parse_rank_file(const stdfs::path& rank_file, std::vector<detail::TokenIdEntry>& ids) {
  std::string text = read_nonempty(rank_file);
  std::vector<RankLine> lines;
  for_each_line(text, [&](size_t line_no, std::string_view line) {
    if (line.empty()) return;
    size_t space = line.find(' ');
    auto bad = [&](const std::string& why) {
      return Error(rank_file.string() + ":" + std::to_string(line_no) + ": " + why);
    };
    if (space == std::string_view::npos) throw bad("expected '<base64> <rank>'");
    std::optional<std::string> bytes = decode_base64(line.substr(0, space));
    if (!bytes || bytes->empty()) throw bad("invalid base64 token");
    std::string_view rank_text = line.substr(space + 1);
    uint64_t rank = 0;
    if (rank_text.empty() || rank_text.size() > 9) throw bad("invalid rank");
    for (char c : rank_text) {
      if (c < '0' || c > '9') throw bad("invalid rank '" + std::string(rank_text) + "'");
      rank = rank * 10 + static_cast<uint64_t>(c - '0');
    }
    ids.push_back({std::string(line.substr(0, space)), rank});
    lines.push_back({std::move(*bytes), rank});
  });
  return lines;
}

}  // namespace

Tokenizer Tokenizer::load_tiktoken(const stdfs::path& rank_file, std::string_view encoding) {
  EncodingSpec spec = encoding_spec(encoding);
  std::vector<detail::TokenIdEntry> ids;
  std::vector<RankLine> lines = parse_rank_file(rank_file, ids);
  // The specials' ids are this build's constants, not the file's: unchecked.
  detail::check_token_ids(rank_file.string(), ids);
  detail::Model model;
  model.source = rank_file.string();
  model.pattern = spec.pattern;
  model.whole_piece_lookup = true;  // tiktoken emits a piece that is a token directly
  for (RankLine& line : lines) model.add_token(static_cast<TokenId>(line.rank), std::move(line.bytes));
  for (auto& [content, id] : spec.special_tokens) model.add_special(id, content);
  model.derive_merges_from_ranks();
  return Tokenizer(finish(std::move(model)));
}

Tokenizer Tokenizer::load_gpt2(const stdfs::path& encoder_json, const stdfs::path& vocab_bpe) {
  std::string enc_text = read_nonempty(encoder_json);
  std::string bpe_text = read_nonempty(vocab_bpe);
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(enc_text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(encoder_json.string() + ": invalid JSON: " + e.what());
  }
  if (!enc.is_object() || enc.empty())
    throw Error(encoder_json.string() + ": expected a JSON object mapping tokens to ids");
  std::vector<detail::TokenIdEntry> ids;
  for (const auto& [token, value] : enc.items()) {
    if (!value.is_number_unsigned())
      throw Error(encoder_json.string() + ": id of token '" + token + "' is not a non-negative integer");
    ids.push_back({token, value.get<uint64_t>()});
  }
  detail::check_token_ids(encoder_json.string(), ids);
  detail::Model model;
  model.source = encoder_json.string();
  model.pattern = std::string(kGpt2Pattern);
  std::optional<TokenId> eot;
  for (const auto& [token, value] : enc.items()) {
    auto id = value.get<TokenId>();
    if (token == "<|endoftext|>") {
      eot = id;
      continue;
    }
    auto bytes = byte_level_to_bytes(token);
    if (!bytes) throw Error(encoder_json.string() + ": token '" + token + "' is not byte-level");
    model.add_token(id, std::move(*bytes));
  }
  if (eot) model.add_special(*eot, "<|endoftext|>");

  model.source = vocab_bpe.string();
  uint32_t priority = 0;
  for_each_line(bpe_text, [&](size_t line_no, std::string_view line) {
    if (line.empty() || line.starts_with("#version")) return;
    size_t space = line.find(' ');
    auto where = vocab_bpe.string() + ":" + std::to_string(line_no) + ": ";
    if (space == std::string_view::npos) throw Error(where + "expected '<left> <right>'");
    auto left = byte_level_to_bytes(line.substr(0, space));
    auto right = byte_level_to_bytes(line.substr(space + 1));
    if (!left || !right) throw Error(where + "merge is not byte-level");
    auto a = model.find_token(*left), b = model.find_token(*right);
    if (!a || !b || !model.add_merge(*a, *b, priority++))
      throw Error(where + "merge '" + std::string(line) + "' uses or makes a token not in " +
                  encoder_json.filename().string());
  });
  if (priority == 0) throw Error(vocab_bpe.string() + ": no merges");
  model.source = encoder_json.parent_path().string();
  return Tokenizer(finish(std::move(model)));
}

Tokenizer Tokenizer::load(const stdfs::path& path) {
  if (!stdfs::exists(path)) throw Error("tokenizer not found: " + path.string());
  if (stdfs::is_directory(path)) {
    if (stdfs::exists(path / "tokenizer.json")) return load_hf(path / "tokenizer.json");
    if (stdfs::exists(path / "encoder.json") || stdfs::exists(path / "vocab.bpe"))
      return load_gpt2(path / "encoder.json", path / "vocab.bpe");
    throw Error("no tokenizer in directory " + path.string() +
                " (expected tokenizer.json, or encoder.json + vocab.bpe)");
  }
  std::string name = path.filename().string();
  if (path.extension() == ".tiktoken") {
    std::string stem = path.stem().string();
    for (const auto& known : known_encodings())
      if (stem == known) return load_tiktoken(path, stem);
    throw Error("cannot tell the encoding of " + path.string() +
                " from its name; name it r50k_base/p50k_base/cl100k_base/o200k_base.tiktoken "
                "or give the encoding explicitly");
  }
  if (name == "encoder.json") return load_gpt2(path, path.parent_path() / "vocab.bpe");
  if (name == "vocab.bpe") return load_gpt2(path.parent_path() / "encoder.json", path);
  return load_hf(path);
}

}  // namespace replay::text
