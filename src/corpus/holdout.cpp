#include "corpus/holdout.h"

#include <cstdio>

#include "util/error.h"
#include "util/hash.h"

namespace replay::corpus {

namespace {

// The one definition of the LibreOffice help split. Changing the fraction or
// the seed changes which pages the corpora and the frozen tasks/help/ items
// contain: rebuild both.
const HoldoutRule kLibreOfficeHelp{"libreoffice-help", 0.3, 2026};

constexpr std::string_view kHelpRoot = "usr/share/libreoffice/help/";

}  // namespace

std::string HoldoutRule::describe() const {
  char line[256];
  std::snprintf(line, sizeof line, "%s: %g%% of pages by xxh3_64(page key, seed %llu) < fraction %g",
                name.c_str(), fraction * 100, (unsigned long long)seed, fraction);
  return line;
}

const HoldoutRule& holdout_rule(const std::string& name) {
  if (name == kLibreOfficeHelp.name) return kLibreOfficeHelp;
  throw Error("unknown holdout rule \"" + name + "\" (known: " + known_holdout_rules() + ")");
}

std::string known_holdout_rules() { return kLibreOfficeHelp.name; }

std::optional<std::string> help_page_key(std::string_view path) {
  while (path.substr(0, 2) == "./") path.remove_prefix(2);
  if (path.substr(0, kHelpRoot.size()) != kHelpRoot) return std::nullopt;
  path.remove_prefix(kHelpRoot.size());
  size_t slash = path.find('/');  // after the language: "eu/", "en-US/"
  if (slash == 0 || slash == std::string_view::npos || slash + 1 == path.size()) return std::nullopt;
  return std::string(path.substr(slash + 1));
}

bool is_held_out_page(const HoldoutRule& rule, std::string_view page_key) {
  const uint64_t h = hash::xxh3_64(page_key.data(), page_key.size(), rule.seed);
  return static_cast<double>(h) / 18446744073709551616.0 < rule.fraction;
}

bool is_held_out_file(const HoldoutRule& rule, std::string_view archive_path) {
  std::optional<std::string> key = help_page_key(archive_path);
  return key && is_held_out_page(rule, *key);
}

}  // namespace replay::corpus
