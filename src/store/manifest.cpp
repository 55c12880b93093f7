#include "store/manifest.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/hash.h"

namespace replay::store {

using nlohmann::json;

namespace {

json split_to_json(const SplitInfo& s) {
  json shards = json::array();
  for (const auto& sh : s.shards)
    shards.push_back({{"file", sh.file},
                      {"sequences", sh.sequences},
                      {"checksum", hash::to_hex(sh.checksum)}});
  json j = {{"sequences", s.sequences},         {"documents", s.documents},
            {"text_bytes", s.text_bytes},       {"dropped_tokens", s.dropped_tokens},
            {"sequences_per_shard", s.sequences_per_shard}, {"shards", shards}};
  if (s.max_token_id) j["max_token_id"] = *s.max_token_id;
  return j;
}

// Typed lookup that names the key and file on failure.
template <typename T>
T need(const json& obj, const char* key, const std::string& what) {
  if (!obj.is_object() || !obj.contains(key))
    throw Error(what + ": missing key \"" + key + "\"");
  try {
    return obj.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(what + ": key \"" + key + "\" has the wrong type");
  }
}

uint64_t parse_hex(const std::string& s, const std::string& what) {
  if (s.size() != 16 || s.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw Error(what + ": invalid checksum \"" + s + "\"");
  return std::stoull(s, nullptr, 16);
}

// The optional "max_token_id" of split `name`: below `vocab_size`, since a
// larger one could only index past the end of a model's embedding.
std::optional<uint32_t> max_token_id_from_json(const json& j, const std::string& name,
                                               uint64_t vocab_size, const std::string& what) {
  if (!j.contains("max_token_id")) return std::nullopt;
  const auto max = need<uint32_t>(j, "max_token_id", what);
  if (max >= vocab_size)
    throw Error(what + ": key \"splits." + name + ".max_token_id\" = " + std::to_string(max) +
                " is not below \"tokenizer.vocab_size\" = " + std::to_string(vocab_size) +
                " (the store holds ids no model of this vocabulary can embed; rebuild it)");
  return max;
}

SplitInfo split_from_json(const json& j, const std::string& what) {
  SplitInfo s;
  s.sequences = need<uint64_t>(j, "sequences", what);
  s.documents = need<uint64_t>(j, "documents", what);
  s.text_bytes = need<uint64_t>(j, "text_bytes", what);
  s.dropped_tokens = need<uint64_t>(j, "dropped_tokens", what);
  s.sequences_per_shard = need<uint64_t>(j, "sequences_per_shard", what);
  for (const auto& sh : need<json>(j, "shards", what)) {
    ShardInfo info;
    info.file = need<std::string>(sh, "file", what);
    if (info.file.find('/') != std::string::npos || info.file.empty() || info.file[0] == '.')
      throw Error(what + ": invalid shard file name \"" + info.file + "\"");
    info.sequences = need<uint64_t>(sh, "sequences", what);
    info.checksum = parse_hex(need<std::string>(sh, "checksum", what), what);
    s.shards.push_back(std::move(info));
  }
  return s;
}

}  // namespace

uint32_t Manifest::max_token_id() const {
  if (!max_token_id_recorded()) return static_cast<uint32_t>(vocab_size - 1);
  return std::max(*train.max_token_id, *val.max_token_id);
}

std::string manifest_to_json(const Manifest& m) {
  json j = {
      {"format", "replay-token-store"},
      {"version", m.version},
      {"domain", m.domain},
      {"tokenizer", {{"fingerprint", m.tokenizer_fingerprint},
                     {"vocab_size", m.vocab_size},
                     {"eot_id", m.eot_id}}},
      {"seq_len", m.seq_len},
      {"token_bytes", m.token_bytes},
      {"split_rule", {{"seed", m.split_rule.seed},
                      {"val_sequences_requested", m.split_rule.val_sequences_requested},
                      {"val_max_fraction", m.split_rule.val_max_fraction},
                      {"val_dropped_duplicates", m.split_rule.val_dropped_duplicates},
                      {"val_doc_sequences", m.split_rule.val_doc_sequences},
                      {"description", m.split_rule.description}}},
      {"splits", {{"train", split_to_json(m.train)}, {"val", split_to_json(m.val)}}},
      {"inputs", m.inputs},
      {"input_documents", m.input_documents},
      {"input_bytes", m.input_bytes},
  };
  if (m.bos_id) j["tokenizer"]["bos_id"] = *m.bos_id;
  return j.dump(2) + "\n";
}

Manifest manifest_from_json(const std::string& text, const std::string& what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(what + ": invalid JSON: " + e.what());
  }
  if (need<std::string>(j, "format", what) != "replay-token-store")
    throw Error(what + ": not a replay token store manifest (key \"format\")");
  Manifest m;
  m.version = need<uint32_t>(j, "version", what);
  if (m.version != kFormatVersion)
    throw Error(what + ": unsupported store version " + std::to_string(m.version));
  m.domain = need<std::string>(j, "domain", what);
  const json& tok = need<json>(j, "tokenizer", what);
  m.tokenizer_fingerprint = need<std::string>(tok, "fingerprint", what);
  m.vocab_size = need<uint64_t>(tok, "vocab_size", what);
  if (m.vocab_size == 0) throw Error(what + ": key \"tokenizer.vocab_size\" is 0");
  m.eot_id = need<uint32_t>(tok, "eot_id", what);
  if (tok.contains("bos_id")) m.bos_id = need<uint32_t>(tok, "bos_id", what);
  m.seq_len = need<uint32_t>(j, "seq_len", what);
  m.token_bytes = need<uint32_t>(j, "token_bytes", what);
  const json& rule = need<json>(j, "split_rule", what);
  m.split_rule.seed = need<uint64_t>(rule, "seed", what);
  m.split_rule.val_sequences_requested = need<uint64_t>(rule, "val_sequences_requested", what);
  m.split_rule.val_max_fraction = need<double>(rule, "val_max_fraction", what);
  m.split_rule.val_dropped_duplicates = need<uint64_t>(rule, "val_dropped_duplicates", what);
  if (rule.contains("val_doc_sequences"))
    m.split_rule.val_doc_sequences = need<uint64_t>(rule, "val_doc_sequences", what);
  m.split_rule.description = need<std::string>(rule, "description", what);
  const json& splits = need<json>(j, "splits", what);
  m.train = split_from_json(need<json>(splits, "train", what), what);
  m.val = split_from_json(need<json>(splits, "val", what), what);
  m.train.max_token_id = max_token_id_from_json(splits.at("train"), "train", m.vocab_size, what);
  m.val.max_token_id = max_token_id_from_json(splits.at("val"), "val", m.vocab_size, what);
  m.inputs = need<std::vector<std::string>>(j, "inputs", what);
  m.input_documents = need<uint64_t>(j, "input_documents", what);
  m.input_bytes = need<uint64_t>(j, "input_bytes", what);
  return m;
}

}  // namespace replay::store
