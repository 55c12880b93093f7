#include "util/toml_reader.h"

#include <cmath>
#include <filesystem>

#include "util/error.h"

namespace replay {

namespace {
std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
  }
}
}  // namespace

namespace {
[[noreturn]] void throw_parse_error(const toml::parse_error& e, const std::string& name) {
  const auto& where = e.source().begin;
  throw Error(name + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
              std::string(e.description()));
}
}  // namespace

toml::table parse_toml_text(std::string_view text, const std::string& name) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw_parse_error(e, name);
  }
}

toml::table parse_toml_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path + ": no such file");
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw_parse_error(e, path);
  }
}

TomlReader::TomlReader(const toml::table* table, std::string prefix, std::string file)
    : table_(table), prefix_(std::move(prefix)), file_(std::move(file)) {}

void TomlReader::fail(const std::string& key, const std::string& what) const {
  throw Error(file_ + ": " + name(key) + ": " + what);
}

const toml::node* TomlReader::find(const std::string& key) {
  seen_.insert(key);
  return table_ ? table_->get(key) : nullptr;
}

std::optional<int64_t> TomlReader::int_opt(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return std::nullopt;
  if (auto v = node->value_exact<int64_t>()) return *v;
  // 1e3 written for an integer is a common slip; accept exact whole floats.
  if (auto d = node->value_exact<double>(); d && std::isfinite(*d) && *d == std::floor(*d) &&
                                            std::fabs(*d) < 9.0e15) {
    return static_cast<int64_t>(*d);
  }
  fail(key, "expected an integer, got " + type_name(*node));
}

std::optional<double> TomlReader::double_opt(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return std::nullopt;
  if (auto v = node->value_exact<double>()) return *v;
  if (auto v = node->value_exact<int64_t>()) return static_cast<double>(*v);
  fail(key, "expected a number, got " + type_name(*node));
}

std::optional<std::string> TomlReader::string_opt(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return std::nullopt;
  if (auto v = node->value_exact<std::string>()) return *v;
  fail(key, "expected a string, got " + type_name(*node));
}

std::optional<bool> TomlReader::bool_opt(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return std::nullopt;
  if (auto v = node->value_exact<bool>()) return *v;
  fail(key, "expected true or false, got " + type_name(*node));
}

const toml::table* TomlReader::table(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return nullptr;
  if (const toml::table* t = node->as_table()) return t;
  fail(key, "expected a table ([" + name(key) + "]), got " + type_name(*node));
}

std::optional<std::vector<std::string>> TomlReader::strings_opt(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return std::nullopt;
  if (auto v = node->value_exact<std::string>()) return std::vector<std::string>{*v};
  const toml::array* items = node->as_array();
  if (!items) fail(key, "expected a string or an array of strings, got " + type_name(*node));
  std::vector<std::string> out;
  for (const toml::node& item : *items) {
    auto v = item.value_exact<std::string>();
    if (!v) fail(key, "expected only strings in the array, got " + type_name(item));
    out.push_back(*v);
  }
  return out;
}

const toml::node* TomlReader::node(const std::string& key) { return find(key); }

std::vector<TomlReader> TomlReader::tables(const std::string& key) {
  std::vector<TomlReader> out;
  const toml::node* node = find(key);
  if (!node) return out;
  const toml::array* items = node->as_array();
  if (!items) fail(key, "expected tables ([[" + name(key) + "]]), got " + type_name(*node));
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string element = key + "[" + std::to_string(i) + "]";
    const toml::table* t = (*items)[i].as_table();
    if (!t) fail(element, "expected a table, got " + type_name((*items)[i]));
    out.emplace_back(t, name(element), file_);
  }
  return out;
}

const toml::array* TomlReader::array(const std::string& key) {
  const toml::node* node = find(key);
  if (!node) return nullptr;
  if (const toml::array* a = node->as_array()) return a;
  fail(key, "expected an array of tables ([[" + name(key) + "]]), got " + type_name(*node));
}

void TomlReader::finish() const {
  if (!table_) return;
  for (const auto& [key, node] : *table_) {
    std::string k(key.str());
    if (seen_.count(k)) continue;
    std::string known;
    for (const std::string& s : seen_) known += (known.empty() ? "" : ", ") + s;
    throw Error(file_ + ": unknown key '" + name(k) + "' (" + (known.empty() ? "none expected here" : "known: " + known) + ")");
  }
}

void apply_override(toml::table& root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error("--set '" + assignment + "': expected key=value, e.g. train.steps=10");
  }
  std::string path = assignment.substr(0, eq);
  std::string value = assignment.substr(eq + 1);

  toml::table* table = &root;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error("--set '" + assignment + "': empty key component");
    if (dot == std::string::npos) {
      // Parse the value as TOML; anything that is not valid TOML is a string.
      toml::table parsed;
      try {
        parsed = toml::parse("v = " + value);
      } catch (const toml::parse_error&) {
        parsed = toml::table{};
        parsed.insert("v", value);
      }
      parsed.get("v")->visit([&](auto& node) { table->insert_or_assign(part, node); });
      return;
    }
    toml::node* next = table->get(part);
    if (!next) {
      table->insert(part, toml::table{});
      next = table->get(part);
    }
    if (!next->is_table()) {
      throw Error("--set '" + assignment + "': '" + path.substr(0, dot) + "' is not a table");
    }
    table = next->as_table();
    start = dot + 1;
  }
}

}  // namespace replay
