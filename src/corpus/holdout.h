// Evaluation holdouts: which files of a package are kept out of every
// training corpus because a benchmark is built from them. One rule, two
// users: the corpus builder (a recipe source's `holdout = "NAME"` key drops
// the held-out files) and the benchmark builder (help_tasks.h uses only the
// held-out files) both call is_held_out_file() with the same HoldoutRule.
//
// A rule holds out a page when the xxh3_64 hash of its page key, seeded with
// the rule's seed and read as a fraction of 2^64, is below `fraction`. The
// page key is the file's path relative to its language root, so the same
// page is held out in every language:
//   usr/share/libreoffice/help/eu/text/swriter/guide/x.html
//   usr/share/libreoffice/help/en-US/text/swriter/guide/x.html
//   -> page key "text/swriter/guide/x.html"
// Files outside a help language root (no "usr/share/libreoffice/help/<lang>/")
// have no page key and are never held out.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace replay::corpus {

struct HoldoutRule {
  std::string name;       // the recipe's value: holdout = "libreoffice-help"
  double fraction = 0;    // share of pages held out, in (0, 1)
  uint64_t seed = 0;      // hash seed; changing it changes the whole split
  std::string describe() const;  // "libreoffice-help: 20% of pages by xxh3_64(page key, seed 2026)"
};

// The rules known by name. "libreoffice-help": the LibreOffice help pages
// (libreoffice-help-eu, libreoffice-help-en-us) behind the help_* tasks.
// Throws replay::Error naming the unknown name and the known ones.
const HoldoutRule& holdout_rule(const std::string& name);
std::string known_holdout_rules();  // "libreoffice-help" for error messages

// "text/swriter/guide/x.html" for a path inside a help language root
// (leading "./" allowed), nullopt otherwise.
std::optional<std::string> help_page_key(std::string_view archive_path);

// Whether the page with this key is held out by `rule`.
bool is_held_out_page(const HoldoutRule& rule, std::string_view page_key);

// Whether a file of a package (its path inside the archive) is held out.
bool is_held_out_file(const HoldoutRule& rule, std::string_view archive_path);

}  // namespace replay::corpus
