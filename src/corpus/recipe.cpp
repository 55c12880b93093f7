#include "corpus/recipe.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"
#include "util/toml_reader.h"

namespace replay::corpus {

namespace {

Registry parse_registry(TomlReader& s) {
  const std::string name = s.get_string("registry", "deb");
  if (name == "deb") return Registry::deb;
  if (name == "npm") return Registry::npm;
  s.fail("registry", "\"" + name + "\" is not \"deb\" or \"npm\"");
}

Format parse_source_format(TomlReader& s) {
  const std::string name = s.get_string("format", "text");
  try {
    return parse_format(name);
  } catch (const Error& e) {
    s.fail("format", e.what());
  }
}

// A count that must not be negative (min_chars).
size_t get_count(TomlReader& r, const std::string& key, size_t fallback) {
  const int64_t v = r.get_int(key, static_cast<int64_t>(fallback));
  if (v < 0) r.fail(key, "must be >= 0");
  return static_cast<size_t>(v);
}

// Reads every key first and checks for unknown ones before judging values:
// a misspelt key is the likelier cause of a "missing" value.
SourceSpec parse_source(TomlReader s, size_t domain_min) {
  SourceSpec spec;
  auto package = s.string_opt("package");
  spec.registry = parse_registry(s);
  spec.files.include = s.strings_opt("include").value_or(std::vector<std::string>{});
  spec.files.exclude = s.strings_opt("exclude").value_or(std::vector<std::string>{});
  spec.format = parse_source_format(s);
  spec.json_field = s.get_string("json_field", "");
  spec.convert.html_drop = s.strings_opt("html_drop").value_or(std::vector<std::string>{});
  spec.convert.split_before = s.get_string("split_before", "");
  spec.sample = s.get_double("sample", 1.0);
  spec.max_mb = s.get_double("max_mb", 0);
  spec.min_chars = get_count(s, "min_chars", domain_min);
  auto holdout = s.string_opt("holdout");
  s.string_opt("note");  // free text: sizes, provenance
  s.finish();
  if (!package) s.fail("package", "missing (the package to fetch)");
  spec.package = *package;
  if (spec.files.include.empty()) s.fail("include", "missing (file patterns)");
  if (!(spec.sample > 0 && spec.sample <= 1)) s.fail("sample", "must be in (0, 1]");
  if (!(spec.max_mb >= 0)) s.fail("max_mb", "must be >= 0");
  if (holdout) {
    try {
      spec.holdout = &holdout_rule(*holdout);
    } catch (const Error& e) {
      s.fail("holdout", e.what());
    }
  }
  return spec;
}

DomainSpec parse_domain(TomlReader d, const std::string& name) {
  DomainSpec domain;
  domain.name = name;
  domain.description = d.get_string("description", "");
  domain.min_chars = get_count(d, "min_chars", domain.min_chars);
  std::vector<TomlReader> sources = d.tables("sources");
  d.finish();
  if (sources.empty()) d.fail("sources", "missing: a domain needs one or more [[" + d.name("sources") + "]]");
  for (TomlReader& source : sources) domain.sources.push_back(parse_source(source, domain.min_chars));
  return domain;
}

// toml++ keeps keys sorted; domains are listed in the order the file gives them.
std::vector<std::string> keys_in_file_order(const toml::table& table) {
  std::vector<std::pair<uint32_t, std::string>> order;
  for (const auto& [key, node] : table) order.emplace_back(key.source().begin.line, std::string(key.str()));
  std::sort(order.begin(), order.end());
  std::vector<std::string> keys;
  for (auto& [line, key] : order) keys.push_back(std::move(key));
  return keys;
}

void check_domain_name(const TomlReader& domains, const std::string& name) {
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      domains.fail(name, "domain names may use letters, digits, '_' and '-' only");
}

Recipe recipe_from_toml(const toml::table& root, const std::string& file) {
  TomlReader r(&root, "", file);
  const toml::table* domains = r.table("domains");
  r.finish();
  if (!domains || domains->empty()) throw Error(file + ": no [domains.NAME] tables");
  TomlReader domains_reader(domains, "domains", file);
  Recipe recipe;
  recipe.path = file;
  for (const std::string& name : keys_in_file_order(*domains)) {
    check_domain_name(domains_reader, name);
    recipe.domains.push_back(parse_domain(domains_reader.child(name), name));
  }
  return recipe;
}

}  // namespace

const char* registry_name(Registry r) { return r == Registry::npm ? "npm" : "deb"; }

const DomainSpec* Recipe::find(const std::string& name) const {
  for (const auto& d : domains)
    if (d.name == name) return &d;
  return nullptr;
}

Recipe parse_recipe(const std::string& text, const std::string& source_name) {
  return recipe_from_toml(parse_toml_text(text, source_name), source_name);
}

Recipe load_recipe(const std::filesystem::path& path) {
  return recipe_from_toml(parse_toml_file(path.string()), path.string());
}

}  // namespace replay::corpus
