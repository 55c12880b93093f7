#include "text/bpe_model.h"

#include <algorithm>
#include <atomic>
#include <queue>
#include <tuple>

#include "util/error.h"
#include "util/hash.h"

namespace replay::text::detail {

size_t StringHash::operator()(std::string_view s) const {
  return static_cast<size_t>(hash::xxh3_64(s));
}

void PairTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  size_t capacity = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  size_ = 0;
  for (const Slot& s : old)
    if (s.key != kEmpty) insert(static_cast<TokenId>(s.key >> 32), static_cast<TokenId>(s.key), s.merge);
}

void PairTable::insert(TokenId a, TokenId b, Merge m) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  uint64_t k = key(a, b);
  for (size_t i = mix(k) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == k) {
      if (m.priority < s.merge.priority) s.merge = m;
      return;
    }
    if (s.key == kEmpty) {
      s.key = k;
      s.merge = m;
      ++size_;
      return;
    }
  }
}

void check_token_ids(const std::string& file, const std::vector<TokenIdEntry>& entries) {
  const TokenIdEntry* largest = nullptr;
  for (const TokenIdEntry& e : entries) {
    if (e.id >= kMaxTokenId)
      throw Error(file + ": token '" + e.token + "' has id " + std::to_string(e.id) +
                  ", above the largest supported id " + std::to_string(kMaxTokenId - 1));
    if (!largest || e.id > largest->id) largest = &e;
  }
  if (largest && largest->id >= entries.size() + kTokenIdSlack)
    throw Error(file + ": token '" + largest->token + "' has id " + std::to_string(largest->id) +
                " but the file has only " + std::to_string(entries.size()) +
                " tokens (ids must be dense: at most " + std::to_string(kTokenIdSlack) + " unused ids)");
}

void Model::add_token(TokenId id, std::string bytes) {
  if (id == ~TokenId{0}) throw Error(source + ": token id out of range");
  if (id >= token_bytes.size()) {
    token_bytes.resize(id + 1);
    kind.resize(id + 1, 0);
  }
  if (kind[id] != 0) throw Error(source + ": token id " + std::to_string(id) + " appears twice");
  if (bytes.empty()) throw Error(source + ": token id " + std::to_string(id) + " is empty");
  auto [it, inserted] = bytes_to_id.emplace(bytes, id);
  if (!inserted)
    throw Error(source + ": tokens " + std::to_string(it->second) + " and " + std::to_string(id) +
                " have the same bytes");
  token_bytes[id] = std::move(bytes);
  kind[id] = 1;
}

void Model::add_special(TokenId id, std::string content) {
  if (content.empty()) throw Error(source + ": special token " + std::to_string(id) + " is empty");
  if (id >= token_bytes.size()) {
    token_bytes.resize(id + 1);
    kind.resize(id + 1, 0);
  }
  if (kind[id] == 2) throw Error(source + ": special token id " + std::to_string(id) + " appears twice");
  if (kind[id] == 1) {
    // Some files list specials in the vocabulary too (GPT-2's encoder.json
    // has <|endoftext|> = 50256): the special meaning wins.
    if (token_bytes[id] != content)
      throw Error(source + ": special token '" + content + "' reuses id " + std::to_string(id) +
                  " of another token");
    bytes_to_id.erase(token_bytes[id]);
  }
  token_bytes[id] = content;
  kind[id] = 2;
  specials.push_back({std::move(content), id});
}

bool Model::add_merge(TokenId a, TokenId b, uint32_t priority) {
  std::string joined = token_bytes[a] + token_bytes[b];
  auto result = find_token(joined);
  if (!result) return false;
  merges.insert(a, b, Merge{priority, *result});
  return true;
}

void Model::derive_merges_from_ranks() {
  for (TokenId id = 0; id < token_bytes.size(); ++id) {
    if (kind[id] != 1) continue;
    std::string_view t = token_bytes[id];
    for (size_t cut = 1; cut < t.size(); ++cut) {
      auto left = find_token(t.substr(0, cut));
      if (!left) continue;
      auto right = find_token(t.substr(cut));
      if (right) merges.insert(*left, *right, Merge{id, id});
    }
  }
}

namespace {

void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }

std::string compute_fingerprint(const Model& m) {
  std::string s = "replay-bpe-v1";
  s.push_back('\0');
  put_u32(s, static_cast<uint32_t>(m.pattern.size()));
  s += m.pattern;
  s.push_back(m.whole_piece_lookup ? '\1' : '\0');
  put_u32(s, static_cast<uint32_t>(m.token_bytes.size()));
  for (size_t id = 0; id < m.token_bytes.size(); ++id) {
    s.push_back(static_cast<char>(m.kind[id]));
    put_u32(s, static_cast<uint32_t>(m.token_bytes[id].size()));
    s += m.token_bytes[id];
  }
  // Merge priorities enter only through their order (dense ranks), so a rank
  // file and its tokenizer.json (merge indices) hash the same.
  std::vector<std::tuple<uint32_t, TokenId, TokenId>> merges;
  merges.reserve(m.merges.size());
  m.merges.for_each([&](TokenId a, TokenId b, Merge mg) { merges.emplace_back(mg.priority, a, b); });
  std::sort(merges.begin(), merges.end());
  uint32_t dense = 0;
  for (size_t i = 0; i < merges.size(); ++i) {
    if (i > 0 && std::get<0>(merges[i]) != std::get<0>(merges[i - 1])) ++dense;
    put_u32(s, dense);
    put_u32(s, std::get<1>(merges[i]));
    put_u32(s, std::get<2>(merges[i]));
  }
  if (m.bos) {
    s += "bos";
    put_u32(s, *m.bos);
  }
  return hash::xxh128_hex(s);
}

std::atomic<uint64_t> next_uid{1};

}  // namespace

void Model::finalize() {
  for (int b = 0; b < 256; ++b) {
    auto id = find_token(std::string(1, static_cast<char>(b)));
    if (!id) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", b);
      throw Error(source + ": vocabulary has no token for byte " + hex +
                  " (byte-level BPE needs all 256 bytes)");
    }
    byte_token[b] = *id;
  }
  std::sort(specials.begin(), specials.end(),
            [](const SpecialToken& a, const SpecialToken& b) { return a.id < b.id; });
  for (std::string_view name : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"}) {
    auto it = std::find_if(specials.begin(), specials.end(),
                           [&](const SpecialToken& s) { return s.content == name; });
    if (it != specials.end()) {
      eot = it->id;
      break;
    }
  }
  try {
    pretokenizer = std::make_unique<Pretokenizer>(pattern);
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
  fingerprint = compute_fingerprint(*this);
  uid = next_uid.fetch_add(1);
}

namespace {

constexpr uint32_t kNoMerge = ~uint32_t{0};

// Quadratic but cache-friendly: the common case (pieces of a few bytes).
void merge_small(const Model& model, std::string_view piece, std::vector<TokenId>& out) {
  constexpr size_t kMax = 256;
  TokenId ids[kMax];
  uint32_t pri[kMax];
  TokenId res[kMax];
  size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) ids[i] = model.byte_token[static_cast<unsigned char>(piece[i])];
  auto update = [&](size_t i) {
    const Merge* m = model.merges.find(ids[i], ids[i + 1]);
    pri[i] = m ? m->priority : kNoMerge;
    res[i] = m ? m->result : 0;
  };
  for (size_t i = 0; i + 1 < n; ++i) update(i);
  while (n > 1) {
    uint32_t best = kNoMerge;
    size_t at = 0;
    for (size_t i = 0; i + 1 < n; ++i)
      if (pri[i] < best) best = pri[i], at = i;
    if (best == kNoMerge) break;
    ids[at] = res[at];
    for (size_t i = at + 1; i + 1 < n; ++i) ids[i] = ids[i + 1];
    for (size_t i = at + 1; i + 2 < n; ++i) pri[i] = pri[i + 1], res[i] = res[i + 1];
    --n;
    if (at > 0) update(at - 1);
    if (at + 1 < n) update(at);
  }
  out.insert(out.end(), ids, ids + n);
}

// O(n log n): a doubly linked list of parts and a min-heap of candidate
// merges ordered by (priority, position); stale entries are skipped on pop.
void merge_heap(const Model& model, std::string_view piece, std::vector<TokenId>& out) {
  size_t n = piece.size();
  std::vector<TokenId> ids(n);
  std::vector<uint32_t> prev(n), next(n);
  constexpr uint32_t kNone = ~uint32_t{0};
  for (size_t i = 0; i < n; ++i) {
    ids[i] = model.byte_token[static_cast<unsigned char>(piece[i])];
    prev[i] = i == 0 ? kNone : static_cast<uint32_t>(i - 1);
    next[i] = i + 1 == n ? kNone : static_cast<uint32_t>(i + 1);
  }
  struct Candidate {
    uint32_t priority, pos;
    TokenId left, right, result;
    bool operator>(const Candidate& o) const {
      return priority != o.priority ? priority > o.priority : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto offer = [&](uint32_t pos) {
    if (pos == kNone || next[pos] == kNone) return;
    if (const Merge* m = model.merges.find(ids[pos], ids[next[pos]]))
      heap.push({m->priority, pos, ids[pos], ids[next[pos]], m->result});
  };
  for (uint32_t i = 0; i + 1 < n; ++i) offer(i);
  std::vector<uint8_t> alive(n, 1);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    uint32_t r = next[c.pos];
    if (!alive[c.pos] || r == kNone || ids[c.pos] != c.left || ids[r] != c.right) continue;
    ids[c.pos] = c.result;
    alive[r] = 0;
    next[c.pos] = next[r];
    if (next[r] != kNone) prev[next[r]] = c.pos;
    offer(prev[c.pos]);
    offer(c.pos);
  }
  for (uint32_t i = 0; i != kNone; i = next[i]) out.push_back(ids[i]);
}

}  // namespace

void bpe_merge_piece(const Model& model, std::string_view piece, std::vector<TokenId>& out,
                     size_t heap_threshold) {
  if (piece.empty()) return;
  if (piece.size() <= std::min<size_t>(heap_threshold, 256))
    merge_small(model, piece, out);
  else
    merge_heap(model, piece, out);
}

}  // namespace replay::text::detail
