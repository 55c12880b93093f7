// Hugging Face tokenizer.json (byte-level BPE only): loading and saving.
//
// Supported: model.type "BPE" with vocab and merges ("a b" strings or
// [a, b] arrays), ignore_merges; pre_tokenizer ByteLevel (GPT-2 regex) or
// Sequence[Split(Regex, Isolated), ByteLevel(use_regex=false)]; added_tokens
// (all treated as special: plain text in encode(), matched by
// encode_with_special_tokens()); post_processor null, ByteLevel,
// TemplateProcessing adding one special token before $A (the BOS), or a
// Sequence of these. Anything else is refused with the key named, rather than
// silently encoding differently.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <tuple>

#include "text/bpe_model.h"
#include "text/byte_level.h"
#include "text/encodings.h"
#include "util/error.h"
#include "util/fs.h"

namespace replay::text {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

class HfReader {
 public:
  explicit HfReader(const stdfs::path& path) : file_(path.string()) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw Error(file_ + ": " + key + ": " + why);
  }

  const json& require(const json& obj, const std::string& parent, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) fail(parent + "." + key, "missing");
    return *it;
  }

  // Returns the pre-tokenization regex described by `pre`.
  std::string pattern(const json& pre) const {
    if (!pre.is_object()) fail("pre_tokenizer", "missing (byte-level BPE needs ByteLevel)");
    std::string type = pre.value("type", "");
    if (type == "ByteLevel") {
      check_byte_level(pre, "pre_tokenizer");
      if (!pre.value("use_regex", true))
        fail("pre_tokenizer.use_regex", "false without a Split before it is not supported");
      return std::string(kGpt2Pattern);
    }
    if (type != "Sequence") fail("pre_tokenizer.type", "unsupported type '" + type + "'");
    const json& list = require(pre, "pre_tokenizer", "pretokenizers");
    if (!list.is_array() || list.size() != 2 || list[0].value("type", "") != "Split" ||
        list[1].value("type", "") != "ByteLevel")
      fail("pre_tokenizer.pretokenizers", "only [Split(Regex), ByteLevel] is supported");
    const json& split = list[0];
    const json& pat = require(split, "pre_tokenizer.pretokenizers[0]", "pattern");
    if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string())
      fail("pre_tokenizer.pretokenizers[0].pattern", "expected {\"Regex\": \"...\"}");
    if (split.value("behavior", "Isolated") != "Isolated")
      fail("pre_tokenizer.pretokenizers[0].behavior", "only Isolated is supported");
    if (split.value("invert", false)) fail("pre_tokenizer.pretokenizers[0].invert", "must be false");
    check_byte_level(list[1], "pre_tokenizer.pretokenizers[1]");
    if (list[1].value("use_regex", true))
      fail("pre_tokenizer.pretokenizers[1].use_regex", "must be false after a Split");
    return pat["Regex"].get<std::string>();
  }

 private:
  void check_byte_level(const json& bl, const std::string& key) const {
    if (bl.value("add_prefix_space", false))
      fail(key + ".add_prefix_space", "true is not supported");
  }
  std::string file_;
};

// The id of TemplateProcessing's special token `name`, which must be one of
// the file's added tokens.
TokenId template_special_id(const HfReader& r, const json& proc, const std::string& key,
                            const std::string& name, const detail::Model& model) {
  const json& table = r.require(proc, key, "special_tokens");
  auto it = table.find(name);
  if (it == table.end()) r.fail(key + ".special_tokens", "no entry for '" + name + "'");
  const json& ids = r.require(*it, key + ".special_tokens." + name, "ids");
  if (!ids.is_array() || ids.size() != 1 || !ids[0].is_number_unsigned())
    r.fail(key + ".special_tokens." + name + ".ids", "expected exactly one id");
  auto id = ids[0].get<uint64_t>();
  if (id >= model.kind.size() || model.kind[id] != 2)
    r.fail(key + ".special_tokens." + name + ".ids", "id " + std::to_string(id) + " is not an added token");
  return static_cast<TokenId>(id);
}

// The BOS a TemplateProcessing adds: "single" must be [$A] or [SpecialToken, $A].
std::optional<TokenId> template_bos(const HfReader& r, const json& proc, const std::string& key,
                                    const detail::Model& model) {
  const json& single = r.require(proc, key, "single");
  const std::string where = key + ".single";
  const bool plain = single.is_array() && single.size() == 1 && single[0].contains("Sequence");
  const bool bos_then_a = single.is_array() && single.size() == 2 && single[0].contains("SpecialToken") &&
                          single[1].contains("Sequence");
  if (!plain && !bos_then_a)
    r.fail(where, "only [$A] or [<special token>, $A] is supported (tokens after the text are not)");
  if (plain) return std::nullopt;
  const json& special = single[0]["SpecialToken"];
  if (!special.is_object() || !special.contains("id") || !special["id"].is_string())
    r.fail(where + "[0].SpecialToken.id", "expected a token name");
  return template_special_id(r, proc, key, special["id"].get<std::string>(), model);
}

// The BOS that `post` (the file's post_processor) prepends to one text, if any.
// ByteLevel post-processing only adjusts offsets, so it changes no id.
std::optional<TokenId> post_processor_bos(const HfReader& r, const json& post, const std::string& key,
                                          const detail::Model& model) {
  if (post.is_null()) return std::nullopt;
  if (!post.is_object()) r.fail(key, "expected an object or null");
  const std::string type = post.value("type", "");
  if (type == "ByteLevel") return std::nullopt;
  if (type == "TemplateProcessing") return template_bos(r, post, key, model);
  if (type != "Sequence") r.fail(key + ".type", "unsupported type '" + type + "'");
  const json& list = r.require(post, key, "processors");
  if (!list.is_array()) r.fail(key + ".processors", "expected an array");
  std::optional<TokenId> bos;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item = key + ".processors[" + std::to_string(i) + "]";
    auto found = post_processor_bos(r, list[i], item, model);
    if (found && bos) r.fail(item, "a second template adding a token before the text");
    if (found) bos = found;
  }
  return bos;
}

std::string to_bytes(const HfReader& r, const std::string& key, const std::string& token) {
  auto bytes = byte_level_to_bytes(token);
  if (!bytes) r.fail(key, "token '" + token + "' is not in the byte-level alphabet");
  return *bytes;
}

// Every id of the file (vocabulary and added tokens), checked before the
// model allocates by id. Entries with malformed ids are refused later, by key.
void check_hf_ids(const std::string& file, const json& root, const json& vocab) {
  std::vector<detail::TokenIdEntry> entries;
  for (const auto& [token, value] : vocab.items())
    if (value.is_number_unsigned()) entries.push_back({token, value.get<uint64_t>()});
  if (root.contains("added_tokens") && root["added_tokens"].is_array())
    for (const json& t : root["added_tokens"])
      entries.push_back({t["content"].get<std::string>(), t["id"].get<uint64_t>()});
  detail::check_token_ids(file, entries);
}

}  // namespace

Tokenizer Tokenizer::load_hf(const stdfs::path& path) {
  if (!stdfs::exists(path)) throw Error("tokenizer file not found: " + path.string());
  std::string text = fs::read_file(path);
  if (text.empty()) throw Error("tokenizer file is empty: " + path.string());
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
  HfReader r(path);
  if (!root.is_object()) r.fail("(root)", "expected a JSON object");
  if (root.contains("normalizer") && !root["normalizer"].is_null())
    r.fail("normalizer", "normalizers are not supported (byte-level BPE has none)");
  const json& model_json = r.require(root, "(root)", "model");
  if (model_json.value("type", "BPE") != "BPE")
    r.fail("model.type", "only BPE is supported, found '" + model_json.value("type", "") + "'");
  if (model_json.value("byte_fallback", false))
    r.fail("model.byte_fallback", "SentencePiece-style byte fallback is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model_json.contains(key) && !model_json[key].is_null() && model_json[key] != "")
      r.fail(std::string("model.") + key, "not supported");

  detail::Model model;
  model.source = path.string();
  model.pattern = r.pattern(root.contains("pre_tokenizer") ? root["pre_tokenizer"] : json());
  model.whole_piece_lookup = model_json.value("ignore_merges", false);

  // Added tokens first: some files also list them in the vocabulary.
  std::vector<TokenId> added_ids;
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (size_t i = 0; i < root["added_tokens"].size(); ++i) {
      const json& t = root["added_tokens"][i];
      std::string key = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_unsigned() ||
          !t.contains("content") || !t["content"].is_string())
        r.fail(key, "expected {\"id\": <n>, \"content\": \"...\"}");
      added_ids.push_back(t["id"].get<TokenId>());
    }
  }
  const json& vocab = r.require(model_json, "model", "vocab");
  if (!vocab.is_object() || vocab.empty()) r.fail("model.vocab", "expected a non-empty object");
  check_hf_ids(path.string(), root, vocab);
  for (const auto& [token, value] : vocab.items()) {
    if (!value.is_number_unsigned()) r.fail("model.vocab", "id of '" + token + "' is not an integer");
    auto id = value.get<TokenId>();
    if (std::find(added_ids.begin(), added_ids.end(), id) != added_ids.end()) continue;
    try {
      model.add_token(id, to_bytes(r, "model.vocab", token));
    } catch (const Error& e) {
      r.fail("model.vocab", e.what());
    }
  }
  if (!added_ids.empty())
    for (const json& t : root["added_tokens"])
      model.add_special(t["id"].get<TokenId>(), t["content"].get<std::string>());

  const json& merges = r.require(model_json, "model", "merges");
  if (!merges.is_array()) r.fail("model.merges", "expected an array");
  // With ignore_merges (tiktoken-derived files: Llama 3, and ours saved from
  // rank files), consecutive merges producing the same token share one
  // priority, leftmost winning among them: that is tiktoken's rule, which
  // these files are converted from. Otherwise each merge has its own index.
  const bool group_same_result = model.whole_piece_lookup;
  uint32_t priority = 0;
  std::optional<TokenId> last_result;
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    std::string key = "model.merges[" + std::to_string(i) + "]";
    std::string left, right;
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        r.fail(key, "expected \"left right\", found '" + s + "'");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      r.fail(key, "expected \"left right\" or [left, right]");
    }
    auto a = model.find_token(to_bytes(r, key, left));
    auto b = model.find_token(to_bytes(r, key, right));
    if (!a || !b) r.fail(key, "'" + left + "' or '" + right + "' is not in model.vocab");
    auto result = model.find_token(model.token_bytes[*a] + model.token_bytes[*b]);
    if (!result) r.fail(key, "the merged token '" + left + right + "' is not in model.vocab");
    uint32_t p = (group_same_result && last_result && *last_result == *result) ? priority - 1 : priority++;
    model.add_merge(*a, *b, p);
    last_result = result;
  }
  model.bos = post_processor_bos(r, root.contains("post_processor") ? root["post_processor"] : json(),
                                 "post_processor", model);
  model.finalize();
  return Tokenizer(std::make_shared<const detail::Model>(std::move(model)));
}

namespace {

// What load_hf() reads back as the same BOS (none: null).
template <class Quote>
std::string post_processor_json(const detail::Model& m, const Quote& quote) {
  if (!m.bos) return "null";
  const std::string name = quote(m.token_bytes[*m.bos]);
  return "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": " + name +
         ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"SpecialToken\": "
         "{\"id\": " + name + ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
         "{\"SpecialToken\": {\"id\": " + name + ", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
         "\"special_tokens\": {" + name + ": {\"id\": " + name + ", \"ids\": [" + std::to_string(*m.bos) +
         "], \"tokens\": [" + name + "]}}}";
}

}  // namespace

void Tokenizer::save(const stdfs::path& tokenizer_json) const {
  const detail::Model& m = *model_;
  // Assembled by hand: the vocabulary is 10^5 entries in id order, and
  // nlohmann's ordered object inserts in linear time per key.
  auto quote = [&](const std::string& s) {
    try {
      return json(s).dump();
    } catch (const json::exception& e) {  // e.g. a special token that is not valid UTF-8
      throw Error("cannot write " + tokenizer_json.string() + ": " + e.what());
    }
  };
  std::string out;
  out.reserve(64 * m.token_bytes.size());
  out += "{\n \"version\": \"1.0\",\n \"truncation\": null,\n \"padding\": null,\n \"added_tokens\": [";
  for (size_t i = 0; i < m.specials.size(); ++i)
    out += std::string(i ? "," : "") + "\n  {\"id\": " + std::to_string(m.specials[i].id) +
           ", \"content\": " + quote(m.specials[i].content) +
           ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
           "\"special\": true}";
  out += "\n ],\n \"normalizer\": null,\n \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [";
  out += "{\"type\": \"Split\", \"pattern\": {\"Regex\": " + quote(m.pattern) +
         "}, \"behavior\": \"Isolated\", \"invert\": false}, ";
  out += "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]},\n";
  out += " \"post_processor\": " + post_processor_json(m, quote) + ",\n";
  out += " \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n";
  out += " \"model\": {\n  \"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
         "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
         "\"byte_fallback\": false, \"ignore_merges\": ";
  out += m.whole_piece_lookup ? "true" : "false";
  out += ",\n  \"vocab\": {";
  bool first = true;
  for (TokenId id = 0; id < m.token_bytes.size(); ++id) {
    if (m.kind[id] != 1) continue;
    out += first ? "\n   " : ",\n   ";
    first = false;
    out += quote(bytes_to_byte_level(m.token_bytes[id])) + ": " + std::to_string(id);
  }
  out += "\n  },\n  \"merges\": [";
  std::vector<std::tuple<uint32_t, TokenId, TokenId>> order;
  order.reserve(m.merges.size());
  m.merges.for_each([&](TokenId a, TokenId b, detail::Merge mg) { order.emplace_back(mg.priority, a, b); });
  std::sort(order.begin(), order.end());
  first = true;
  for (const auto& [p, a, b] : order) {
    out += first ? "\n   [" : ",\n   [";
    first = false;
    out += quote(bytes_to_byte_level(m.token_bytes[a])) + ", " + quote(bytes_to_byte_level(m.token_bytes[b])) + "]";
  }
  out += "\n  ]\n }\n}\n";
  fs::write_file_atomic(tokenizer_json, out);
}

}  // namespace replay::text
