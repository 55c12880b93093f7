#include "corpus/recipe.h"

#include <algorithm>
#include <set>
#include <toml++/toml.h>

#include "util/error.h"
#include "util/fs.h"

namespace replay::corpus {

namespace {

// Throws on a key outside `allowed`, naming where it was found.
void check_keys(const toml::table& table, const std::set<std::string>& allowed, const std::string& where) {
  for (const auto& [key, value] : table) {
    if (!allowed.count(std::string(key.str()))) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw Error(where + ": unknown key \"" + std::string(key.str()) + "\" (allowed: " + list + ")");
    }
  }
}

std::string get_string(const toml::table& t, const char* key, const std::string& where, bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) throw Error(where + ": missing key \"" + key + "\"");
    return "";
  }
  auto v = n->value<std::string>();
  if (!v) throw Error(where + ": key \"" + key + "\" must be a string");
  return *v;
}

double get_number(const toml::table& t, const char* key, const std::string& where, double fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  auto v = n->value<double>();
  if (!v) throw Error(where + ": key \"" + key + "\" must be a number");
  return *v;
}

std::vector<std::string> get_strings(const toml::table& t, const char* key, const std::string& where) {
  std::vector<std::string> out;
  const toml::node* n = t.get(key);
  if (!n) return out;
  if (auto s = n->value<std::string>()) return {*s};
  const toml::array* arr = n->as_array();
  if (!arr) throw Error(where + ": key \"" + key + "\" must be a string or an array of strings");
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    if (!s) throw Error(where + ": key \"" + key + "\" must contain only strings");
    out.push_back(*s);
  }
  return out;
}

SourceSpec parse_source(const toml::table& t, const std::string& where, size_t domain_min) {
  check_keys(t, {"package", "registry", "include", "exclude", "format", "json_field", "html_drop",
                 "split_before", "sample", "max_mb", "min_chars", "note"},
             where);
  SourceSpec s;
  s.package = get_string(t, "package", where, true);
  std::string reg = get_string(t, "registry", where, false);
  if (reg.empty() || reg == "deb") s.registry = Registry::deb;
  else if (reg == "npm") s.registry = Registry::npm;
  else throw Error(where + ": registry \"" + reg + "\" is not \"deb\" or \"npm\"");
  s.files.include = get_strings(t, "include", where);
  s.files.exclude = get_strings(t, "exclude", where);
  if (s.files.include.empty()) throw Error(where + ": missing key \"include\" (file patterns)");
  std::string fmt = get_string(t, "format", where, false);
  try {
    s.format = parse_format(fmt.empty() ? "text" : fmt);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  s.json_field = get_string(t, "json_field", where, false);
  s.convert.html_drop = get_strings(t, "html_drop", where);
  s.convert.split_before = get_string(t, "split_before", where, false);
  s.sample = get_number(t, "sample", where, 1.0);
  if (!(s.sample > 0 && s.sample <= 1)) throw Error(where + ": sample must be in (0, 1]");
  s.max_mb = get_number(t, "max_mb", where, 0);
  if (s.max_mb < 0) throw Error(where + ": max_mb must be >= 0");
  double mc = get_number(t, "min_chars", where, static_cast<double>(domain_min));
  if (mc < 0) throw Error(where + ": min_chars must be >= 0");
  s.min_chars = static_cast<size_t>(mc);
  get_string(t, "note", where, false);  // free text: sizes, provenance
  return s;
}

}  // namespace

const char* registry_name(Registry r) { return r == Registry::npm ? "npm" : "deb"; }

const DomainSpec* Recipe::find(const std::string& name) const {
  for (const auto& d : domains)
    if (d.name == name) return &d;
  return nullptr;
}

Recipe parse_recipe(const std::string& text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw Error(source_name + ":" + std::to_string(e.source().begin.line) + ": invalid TOML: " +
                std::string(e.description()));
  }
  check_keys(root, {"domains"}, source_name);
  const toml::table* domains = root["domains"].as_table();
  if (!domains || domains->empty()) throw Error(source_name + ": no [domains.NAME] tables");
  Recipe recipe;
  recipe.path = source_name;
  // toml++ keeps keys sorted; list domains in the order the file gives them.
  std::vector<std::pair<uint32_t, std::string>> order;
  for (const auto& [key, node] : *domains) order.emplace_back(key.source().begin.line, std::string(key.str()));
  std::sort(order.begin(), order.end());
  for (const auto& [line, name] : order) {
    const toml::node& node = *domains->get(name);
    std::string where = source_name + ": [domains." + name + "]";
    for (char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
        throw Error(where + ": domain names may use letters, digits, '_' and '-' only");
    const toml::table* dt = node.as_table();
    if (!dt) throw Error(where + ": must be a table");
    check_keys(*dt, {"description", "min_chars", "sources"}, where);
    DomainSpec d;
    d.name = name;
    d.description = get_string(*dt, "description", where, false);
    d.min_chars = static_cast<size_t>(get_number(*dt, "min_chars", where, 32));
    const toml::array* sources = (*dt)["sources"].as_array();
    if (!sources || sources->empty()) throw Error(where + ": no [[domains." + name + ".sources]]");
    for (size_t i = 0; i < sources->size(); ++i) {
      const toml::table* st = sources->get(i)->as_table();
      std::string swhere = where + " source " + std::to_string(i + 1);
      if (!st) throw Error(swhere + ": must be a table");
      d.sources.push_back(parse_source(*st, swhere, d.min_chars));
    }
    recipe.domains.push_back(std::move(d));
  }
  return recipe;
}

Recipe load_recipe(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw Error("recipe not found: " + path.string());
  return parse_recipe(fs::read_file(path), path.string());
}

}  // namespace replay::corpus
