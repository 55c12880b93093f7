#include "model/config.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/toml_reader.h"

namespace replay::model {

namespace {

// name -> (preset). Paper sizes from spec section 2; vocabulary of the Llama-3
// tokenizer there. CPU sizes use the 3.5x MLP ratio of the paper's presets.
ModelConfig make(int64_t dim, int64_t ffn, int64_t layers, int64_t heads, int64_t kv,
                 int64_t head_dim, int64_t vocab, int64_t seq) {
  ModelConfig c;
  c.dim = dim;
  c.ffn_dim = ffn;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv;
  c.head_dim = head_dim;
  c.vocab_size = vocab;
  c.max_seq_len = seq;
  return c;
}

const std::vector<std::pair<std::string, ModelConfig>>& presets() {
  static const auto table = [] {
    std::vector<std::pair<std::string, ModelConfig>> t;
    constexpr int64_t kLlama3Vocab = 128256;
    t.emplace_back("150m4k", make(512, 1792, 6, 8, 8, 64, kLlama3Vocab, 4096));
    t.emplace_back("300m4k", make(768, 2688, 12, 12, 12, 64, kLlama3Vocab, 4096));
    t.emplace_back("600m4k", make(1024, 3584, 24, 16, 8, 64, kLlama3Vocab, 4096));
    t.emplace_back("1_4b4k", make(2048, 7168, 16, 16, 8, 128, kLlama3Vocab, 4096));
    t.emplace_back("1_9b4k", make(2048, 7168, 24, 16, 8, 128, kLlama3Vocab, 4096));
    ModelConfig l8 = make(4096, 14336, 32, 32, 8, 128, kLlama3Vocab, 131072);
    l8.rope_theta = 500000.0;
    l8.rope_scaling = RopeScaling{8.0, 1.0, 4.0, 8192};
    t.emplace_back("llama-3.1-8b", l8);
    // The paper's models use the reference init (spec: paper.md section 2).
    for (auto& [name, c] : t) c.init = InitRecipe::reference;
    // ~0.95M non-embedding parameters (2.0M with the LM head) at vocab 8192.
    t.emplace_back("micro", make(128, 448, 4, 4, 4, 32, 8192, 256));
    // GPT-2 small's shape as a Llama: the SwiGLU width 2048 keeps GPT-2's
    // 2 x 768 x 3072 MLP parameter count.
    t.emplace_back("gpt2-124m", make(768, 2048, 12, 12, 12, 64, 50257, 1024));
    // For tests: grouped-query attention on, everything small.
    t.emplace_back("tiny", make(64, 160, 2, 4, 2, 16, 256, 64));
    return t;
  }();
  return table;
}

template <typename T>
T parse_number(const std::string& key, const std::string& text, const std::string& where) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty())
    throw Error(where + ": key '" + key + "' expects a number, got '" + text + "'");
  return value;
}

// Every overridable field, with typed setters from TOML nodes and from text.
struct Field {
  enum Kind { kInt, kFloat, kBool, kString } kind;
  std::function<void(ModelConfig&, int64_t)> set_int;
  std::function<void(ModelConfig&, double)> set_float;
  std::function<void(ModelConfig&, bool)> set_bool;
  std::function<void(ModelConfig&, const std::string&, const std::string&)> set_string;  // value, where
};

RopeScaling& scaling(ModelConfig& c) {
  if (!c.rope_scaling) c.rope_scaling = RopeScaling{};
  return *c.rope_scaling;
}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> table = [] {
    std::map<std::string, Field> t;
    auto int_field = [&](const char* name, int64_t ModelConfig::*member) {
      t[name] = Field{Field::kInt, [member](ModelConfig& c, int64_t v) { c.*member = v; }, {}, {}, {}};
    };
    auto float_field = [&](const char* name, double ModelConfig::*member) {
      t[name] = Field{Field::kFloat, {}, [member](ModelConfig& c, double v) { c.*member = v; }, {}, {}};
    };
    int_field("dim", &ModelConfig::dim);
    int_field("n_layers", &ModelConfig::n_layers);
    int_field("n_heads", &ModelConfig::n_heads);
    int_field("n_kv_heads", &ModelConfig::n_kv_heads);
    int_field("head_dim", &ModelConfig::head_dim);
    int_field("ffn_dim", &ModelConfig::ffn_dim);
    int_field("vocab_size", &ModelConfig::vocab_size);
    int_field("max_seq_len", &ModelConfig::max_seq_len);
    float_field("rope_theta", &ModelConfig::rope_theta);
    float_field("norm_eps", &ModelConfig::norm_eps);
    float_field("init_std", &ModelConfig::init_std);
    t["tie_embeddings"] =
        Field{Field::kBool, {}, {}, [](ModelConfig& c, bool v) { c.tie_embeddings = v; }, {}};
    t["init"] = Field{Field::kString, {}, {}, {}, [](ModelConfig& c, const std::string& v, const std::string& where) {
                        c.init = init_recipe_from_name(v, where);
                      }};
    t["rope_scaling.factor"] =
        Field{Field::kFloat, {}, [](ModelConfig& c, double v) { scaling(c).factor = v; }, {}, {}};
    t["rope_scaling.low_freq_factor"] = Field{
        Field::kFloat, {}, [](ModelConfig& c, double v) { scaling(c).low_freq_factor = v; }, {}, {}};
    t["rope_scaling.high_freq_factor"] = Field{
        Field::kFloat, {}, [](ModelConfig& c, double v) { scaling(c).high_freq_factor = v; }, {}, {}};
    t["rope_scaling.original_max_position"] =
        Field{Field::kInt,
              [](ModelConfig& c, int64_t v) { scaling(c).original_max_position = v; },
              {},
              {},
              {}};
    return t;
  }();
  return table;
}

std::string known_keys() {
  std::string out = "preset, rope_scaling";
  for (const auto& [name, field] : fields())
    if (name.find('.') == std::string::npos) out += ", " + name;
  return out;
}

// Sets every field of `fields()` under `prefix` ("" for [model],
// "rope_scaling." for [model.rope_scaling]) that the table of `r` holds.
void read_fields(TomlReader& r, ModelConfig& c, const std::string& prefix) {
  for (const auto& [name, field] : fields()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string key = name.substr(prefix.size());
    if (key.find('.') != std::string::npos) continue;  // a sub-table's field
    switch (field.kind) {
      case Field::kInt:
        if (auto v = r.int_opt(key)) field.set_int(c, *v);
        break;
      case Field::kFloat:
        if (auto v = r.double_opt(key)) field.set_float(c, *v);
        break;
      case Field::kBool:
        if (auto v = r.bool_opt(key)) field.set_bool(c, *v);
        break;
      case Field::kString:
        if (auto v = r.string_opt(key)) field.set_string(c, *v, r.file() + ": " + r.name(key));
        break;
    }
  }
}

ModelConfig preset_of(TomlReader& r) {
  const std::string name = r.get_string("preset", "micro");
  try {
    return preset(name);
  } catch (const Error& e) {
    r.fail("preset", e.what());
  }
}

// `rope_scaling = false` drops a preset's scaling, `true` keeps it (or adds
// the default one); a table sets its fields.
void read_rope_scaling(TomlReader& r, ModelConfig& c) {
  const toml::node* node = r.node("rope_scaling");
  if (!node) return;
  if (auto flag = node->value_exact<bool>()) {
    if (*flag) c.rope_scaling = c.rope_scaling.value_or(RopeScaling{});
    else c.rope_scaling.reset();
    return;
  }
  if (!node->is_table()) r.fail("rope_scaling", "expected a table or true/false");
  if (!c.rope_scaling) c.rope_scaling = RopeScaling{};
  TomlReader table = r.child("rope_scaling");
  read_fields(table, c, "rope_scaling.");
  table.finish();
}

}  // namespace

std::string init_recipe_name(InitRecipe recipe) { return recipe == InitRecipe::hf ? "hf" : "reference"; }

InitRecipe init_recipe_from_name(const std::string& name, const std::string& where) {
  if (name == "hf") return InitRecipe::hf;
  if (name == "reference") return InitRecipe::reference;
  throw Error(where + ": expected \"reference\" or \"hf\", got '" + name + "'");
}

void ModelConfig::validate(const std::string& where) const {
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) throw Error(where + ": " + key + " must be positive, got " + std::to_string(v));
  };
  positive("dim", dim);
  positive("n_layers", n_layers);
  positive("n_heads", n_heads);
  positive("n_kv_heads", n_kv_heads);
  positive("head_dim", head_dim);
  positive("ffn_dim", ffn_dim);
  positive("vocab_size", vocab_size);
  positive("max_seq_len", max_seq_len);
  if (n_kv_heads > n_heads || n_heads % n_kv_heads != 0)
    throw Error(where + ": n_kv_heads (" + std::to_string(n_kv_heads) +
                ") must divide n_heads (" + std::to_string(n_heads) + ")");
  if (head_dim % 2 != 0)
    throw Error(where + ": head_dim must be even for rotary embeddings, got " +
                std::to_string(head_dim));
  if (!(rope_theta > 1.0)) throw Error(where + ": rope_theta must be > 1");
  if (!(norm_eps > 0.0)) throw Error(where + ": norm_eps must be positive");
  // Above 1 every activation saturates and the model cannot learn (Llama
  // models use 0.02); such a run would "train" to exit 0 on a dead model.
  if (!(init_std >= 0.0 && init_std <= 1.0))
    throw Error(where + ": init_std must be in [0, 1] (Llama models use 0.02), got " + std::to_string(init_std));
  if (rope_scaling) {
    const RopeScaling& s = *rope_scaling;
    if (!(s.factor >= 1.0)) throw Error(where + ": rope_scaling.factor must be >= 1");
    if (!(s.low_freq_factor > 0.0))
      throw Error(where + ": rope_scaling.low_freq_factor must be positive");
    if (!(s.high_freq_factor > s.low_freq_factor))
      throw Error(where + ": rope_scaling.high_freq_factor must exceed low_freq_factor");
    if (s.original_max_position <= 0)
      throw Error(where + ": rope_scaling.original_max_position must be positive");
  }
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [name, c] : presets()) names.push_back(name);
  return names;
}

ModelConfig preset(const std::string& name) {
  for (const auto& [n, c] : presets())
    if (n == name) return c;
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model preset '" + name + "' (known: " + known + ")");
}

void set_field(ModelConfig& c, const std::string& key, const std::string& value,
               const std::string& where) {
  if (key == "rope_scaling") {
    if (value == "none" || value == "false") {
      c.rope_scaling.reset();
      return;
    }
    if (value == "llama3") {
      c.rope_scaling = RopeScaling{};
      return;
    }
    throw Error(where + ": rope_scaling accepts 'none' or 'llama3', got '" + value + "'");
  }
  auto it = fields().find(key);
  if (it == fields().end())
    throw Error(where + ": unknown key '" + key + "' (known: " + known_keys() + ")");
  const Field& f = it->second;
  switch (f.kind) {
    case Field::kInt: return f.set_int(c, parse_number<int64_t>(key, value, where));
    case Field::kFloat: return f.set_float(c, parse_number<double>(key, value, where));
    case Field::kBool:
      if (value == "true" || value == "1") return f.set_bool(c, true);
      if (value == "false" || value == "0") return f.set_bool(c, false);
      throw Error(where + ": key '" + key + "' must be true or false, got '" + value + "'");
    case Field::kString: return f.set_string(c, value, where + ": key '" + key + "'");
  }
}

ModelConfig config_from_toml(const toml::table& table, const std::string& file) {
  TomlReader r(&table, "model", file);
  ModelConfig c = preset_of(r);
  read_fields(r, c, "");
  read_rope_scaling(r, c);
  r.finish();
  c.validate(file + " [model]");
  return c;
}

std::string to_hf_config_json(const ModelConfig& c, const std::string& torch_dtype, const HfTokenIds& token_ids) {
  nlohmann::ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.ffn_dim;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_seq_len;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling->factor},
                         {"low_freq_factor", c.rope_scaling->low_freq_factor},
                         {"high_freq_factor", c.rope_scaling->high_freq_factor},
                         {"original_max_position_embeddings",
                          c.rope_scaling->original_max_position}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["rms_norm_eps"] = c.norm_eps;
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["initializer_range"] = c.init_std;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["mlp_bias"] = false;
  if (token_ids.bos) j["bos_token_id"] = *token_ids.bos;
  if (token_ids.eos) j["eos_token_id"] = *token_ids.eos;
  j["torch_dtype"] = torch_dtype;
  return j.dump(2);
}

namespace {

// One RoPE dict (rope_scaling, or v5's rope_parameters): "default" means no
// scaling, "llama3" the Llama-3 rescaling; anything else is refused rather
// than silently computed as something it is not.
std::optional<RopeScaling> rope_scaling_of(const nlohmann::json& rope, const std::string& where) {
  if (rope.is_null()) return std::nullopt;
  const std::string type = rope.value("rope_type", rope.value("type", std::string()));
  if (type.empty()) throw Error(where + ": no rope_type (or legacy type) given");
  if (type == "default") return std::nullopt;
  if (type != "llama3")
    throw Error(where + ": unsupported RoPE type '" + type + "' (supported: default, llama3)");
  return RopeScaling{rope.at("factor").get<double>(), rope.at("low_freq_factor").get<double>(),
                     rope.at("high_freq_factor").get<double>(),
                     rope.at("original_max_position_embeddings").get<int64_t>()};
}

void read_hf_rope(const nlohmann::json& j, ModelConfig& c, const std::string& where) {
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    const auto& rope = j["rope_parameters"];
    c.rope_theta = rope.value("rope_theta", j.value("rope_theta", 10000.0));
    c.rope_scaling = rope_scaling_of(rope, where + ": rope_parameters");
    return;
  }
  c.rope_theta = j.value("rope_theta", 10000.0);
  if (j.contains("rope_scaling")) c.rope_scaling = rope_scaling_of(j["rope_scaling"], where + ": rope_scaling");
}

}  // namespace

ModelConfig from_hf_config_json(const std::string& text, const std::string& where) {
  ModelConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.dim = j.at("hidden_size").get<int64_t>();
    c.ffn_dim = j.at("intermediate_size").get<int64_t>();
    c.n_layers = j.at("num_hidden_layers").get<int64_t>();
    c.n_heads = j.at("num_attention_heads").get<int64_t>();
    c.n_kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                       ? j["num_key_value_heads"].get<int64_t>()
                       : c.n_heads;
    c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null()
                     ? j["head_dim"].get<int64_t>()
                     : c.dim / std::max<int64_t>(c.n_heads, 1);
    c.vocab_size = j.at("vocab_size").get<int64_t>();
    c.max_seq_len = j.at("max_position_embeddings").get<int64_t>();
    read_hf_rope(j, c, where);
    c.norm_eps = j.value("rms_norm_eps", 1e-5);
    c.tie_embeddings = j.value("tie_word_embeddings", false);
    c.init_std = j.value("initializer_range", 0.02);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": bad model config: " + e.what());
  }
  c.validate(where);
  return c;
}

std::vector<std::string> architecture_differences(const ModelConfig& a, const ModelConfig& b) {
  std::vector<std::string> out;
  auto differ = [&](const char* key, const auto& x, const auto& y) {
    if (x != y) out.push_back(std::string(key) + ": " + nlohmann::json(x).dump() + " vs " + nlohmann::json(y).dump());
  };
  differ("dim", a.dim, b.dim);
  differ("n_layers", a.n_layers, b.n_layers);
  differ("n_heads", a.n_heads, b.n_heads);
  differ("n_kv_heads", a.n_kv_heads, b.n_kv_heads);
  differ("head_dim", a.head_dim, b.head_dim);
  differ("ffn_dim", a.ffn_dim, b.ffn_dim);
  differ("vocab_size", a.vocab_size, b.vocab_size);
  differ("rope_theta", a.rope_theta, b.rope_theta);
  differ("norm_eps", a.norm_eps, b.norm_eps);
  differ("tie_embeddings", a.tie_embeddings, b.tie_embeddings);
  differ("rope_scaling", to_json(a)["rope_scaling"], to_json(b)["rope_scaling"]);
  return out;
}

ParamCounts count_params(const ModelConfig& c) {
  ParamCounts p;
  p.embedding = c.vocab_size * c.dim;
  p.lm_head = c.tie_embeddings ? 0 : c.vocab_size * c.dim;
  const int64_t attention = c.dim * c.n_heads * c.head_dim * 2 +      // q, o
                            c.dim * c.n_kv_heads * c.head_dim * 2;    // k, v
  const int64_t mlp = 3 * c.dim * c.ffn_dim;
  p.per_layer = attention + mlp + 2 * c.dim;
  p.final_norm = c.dim;
  p.non_embedding = c.n_layers * p.per_layer + p.final_norm;
  p.non_embedding_with_head = p.non_embedding + c.vocab_size * c.dim;
  p.total = p.embedding + p.lm_head + p.non_embedding;
  return p;
}

double train_flops_per_token(const ModelConfig& c, int64_t seq_len) {
  const ParamCounts p = count_params(c);
  return 6.0 * static_cast<double>(p.non_embedding_with_head) +
         12.0 * static_cast<double>(c.n_layers * c.n_heads * c.head_dim) *
             static_cast<double>(seq_len);
}

int64_t loss_chunk_rows(int64_t vocab, int64_t rows, bool on_gpu) {
  const int64_t budget = on_gpu ? (int64_t{1} << 28) : (int64_t{1} << 22);  // fp32 logits
  return std::clamp<int64_t>(budget / std::max<int64_t>(vocab, 1), 512, std::max<int64_t>(rows, 1));
}

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"dim", c.dim},
                      {"n_layers", c.n_layers},
                      {"n_heads", c.n_heads},
                      {"n_kv_heads", c.n_kv_heads},
                      {"head_dim", c.head_dim},
                      {"ffn_dim", c.ffn_dim},
                      {"vocab_size", c.vocab_size},
                      {"max_seq_len", c.max_seq_len},
                      {"rope_theta", c.rope_theta},
                      {"norm_eps", c.norm_eps},
                      {"tie_embeddings", c.tie_embeddings},
                      {"init_std", c.init_std}};
  // Written only when not the default ("hf"), so the descriptions, and so the
  // run ids, of every run made before the recipe existed stay the same.
  if (c.init != InitRecipe::hf) j["init"] = init_recipe_name(c.init);
  j["rope_scaling"] = nullptr;
  if (c.rope_scaling) {
    j["rope_scaling"] = {{"factor", c.rope_scaling->factor},
                         {"low_freq_factor", c.rope_scaling->low_freq_factor},
                         {"high_freq_factor", c.rope_scaling->high_freq_factor},
                         {"original_max_position", c.rope_scaling->original_max_position}};
  }
  return j;
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& where) {
  ModelConfig c;
  try {
    c.dim = j.at("dim").get<int64_t>();
    c.n_layers = j.at("n_layers").get<int64_t>();
    c.n_heads = j.at("n_heads").get<int64_t>();
    c.n_kv_heads = j.at("n_kv_heads").get<int64_t>();
    c.head_dim = j.at("head_dim").get<int64_t>();
    c.ffn_dim = j.at("ffn_dim").get<int64_t>();
    c.vocab_size = j.at("vocab_size").get<int64_t>();
    c.max_seq_len = j.at("max_seq_len").get<int64_t>();
    c.rope_theta = j.at("rope_theta").get<double>();
    c.norm_eps = j.at("norm_eps").get<double>();
    c.tie_embeddings = j.at("tie_embeddings").get<bool>();
    c.init_std = j.at("init_std").get<double>();
    // Descriptions written before the field existed used Hugging Face's init.
    c.init = init_recipe_from_name(j.value("init", std::string("hf")), where + ": init");
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
      const auto& s = j["rope_scaling"];
      c.rope_scaling = RopeScaling{s.at("factor").get<double>(), s.at("low_freq_factor").get<double>(),
                                   s.at("high_freq_factor").get<double>(),
                                   s.at("original_max_position").get<int64_t>()};
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": bad model description: " + e.what());
  }
  c.validate(where);
  return c;
}

}  // namespace replay::model
