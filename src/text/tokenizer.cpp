#include "text/tokenizer.h"

#include <algorithm>

#include "text/bpe_model.h"
#include "text/piece_cache.h"
#include "util/error.h"
#include "util/hash.h"

namespace replay::text {

Tokenizer::Tokenizer(std::shared_ptr<const detail::Model> model) : model_(std::move(model)) {}

namespace {

inline void encode_piece(const detail::Model& m, detail::PieceCache& cache, std::string_view piece,
                         std::vector<TokenId>& out) {
  if (piece.size() == 1) {
    out.push_back(m.byte_token[static_cast<unsigned char>(piece[0])]);
    return;
  }
  const bool short_piece = piece.size() <= detail::HotPieces::kMaxLen;
  uint64_t w0 = 0, w1 = 0;
  uint64_t h = short_piece ? detail::HotPieces::hash_short(piece, w0, w1) : hash::xxh3_64(piece);
  if (short_piece && cache.hot.find(h, w0, w1, piece.size(), out)) return;
  size_t before = out.size();
  uint32_t count = 0;
  if (const TokenId* ids = cache.find(piece, h, count)) {
    out.insert(out.end(), ids, ids + count);
  } else {
    std::optional<TokenId> whole;
    if (m.whole_piece_lookup && (whole = m.find_token(piece)))
      out.push_back(*whole);
    else
      detail::bpe_merge_piece(m, piece, out);
    count = static_cast<uint32_t>(out.size() - before);
    cache.insert(piece, h, out.data() + before, count);
  }
  if (short_piece) cache.hot.put(h, w0, w1, piece.size(), out.data() + before, count);
}

}  // namespace

void Tokenizer::encode(std::string_view text, std::vector<TokenId>& out) const {
  const detail::Model& m = *model_;
  detail::PieceCache& cache = detail::PieceCache::for_thread(m.uid);
  m.pretokenizer->split(text, [&](std::string_view piece) { encode_piece(m, cache, piece, out); });
}

std::vector<TokenId> Tokenizer::encode(std::string_view text) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  encode(text, out);
  return out;
}

void Tokenizer::encode_with_special_tokens(std::string_view text, std::vector<TokenId>& out) const {
  const auto& specials = model_->specials;
  size_t pos = 0;
  while (pos < text.size()) {
    // Earliest special occurrence; the longest one wins at the same position.
    size_t best_at = std::string_view::npos;
    const SpecialToken* best = nullptr;
    for (const SpecialToken& s : specials) {
      size_t at = text.find(s.content, pos);
      if (at == std::string_view::npos) continue;
      if (at < best_at || (at == best_at && s.content.size() > best->content.size()))
        best_at = at, best = &s;
    }
    if (!best) break;
    encode(text.substr(pos, best_at - pos), out);
    out.push_back(best->id);
    pos = best_at + best->content.size();
  }
  if (pos < text.size()) encode(text.substr(pos), out);
}

void Tokenizer::encode_document(std::string_view text, std::vector<TokenId>& out) const {
  if (model_->bos) out.push_back(*model_->bos);
  encode(text, out);
}

std::string_view Tokenizer::token_bytes(TokenId id) const {
  const detail::Model& m = *model_;
  if (id >= m.kind.size() || m.kind[id] == 0)
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary of " + m.source +
                " (size " + std::to_string(m.kind.size()) + ")");
  return m.token_bytes[id];
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (TokenId id : ids) out += token_bytes(id);
  return out;
}

size_t Tokenizer::vocab_size() const { return model_->token_bytes.size(); }

bool Tokenizer::has_eot() const { return model_->eot.has_value(); }

TokenId Tokenizer::eot_id() const {
  if (!model_->eot)
    throw Error("tokenizer " + model_->source +
                " has no end-of-text token (<|endoftext|>, <|end_of_text|>, </s> or <eos>)");
  return *model_->eot;
}

bool Tokenizer::has_bos() const { return model_->bos.has_value(); }

TokenId Tokenizer::bos_id() const {
  if (!model_->bos)
    throw Error("tokenizer " + model_->source +
                " adds no beginning-of-sequence token (its post_processor has no TemplateProcessing)");
  return *model_->bos;
}

const std::vector<SpecialToken>& Tokenizer::special_tokens() const { return model_->specials; }
const std::string& Tokenizer::pattern() const { return model_->pattern; }
const std::string& Tokenizer::source() const { return model_->source; }
size_t Tokenizer::merge_count() const { return model_->merges.size(); }
std::string Tokenizer::fingerprint() const { return model_->fingerprint; }

}  // namespace replay::text
