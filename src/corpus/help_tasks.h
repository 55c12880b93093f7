// A Basque multiple-choice benchmark from Debian's LibreOffice help
// (docs/corpora.md, "The help_* benchmark"). libreoffice-help-eu and
// libreoffice-help-en-us hold the same pages with the same paragraph ids
// (`par_id...`, `hd_id...`); only pages held out by the "libreoffice-help"
// rule (holdout.h) are used, the pages the basque corpus leaves out.
//
// Pipeline: fetch both packages (fetch.h) -> parse every page, keeping the
// text of each element whose id starts with "par_id" or "hd_id" -> align eu/en
// by (page key, id) on held-out pages -> drop untranslated (eu == en), short
// (< min_chars bytes, headings < 3), long (> max_chars bytes in either
// language, when max_chars is set) and duplicate paragraphs, and every
// paragraph or choice sentence whose Basque text occurs anywhere in the
// text of a training page (html_to_text, as the corpus converts it:
// embedded sections, notes) -> tasks. Headings used as contexts are exempt:
// page titles are link texts on other pages.
//
// Tasks (each in 4 files: Basque "_eu" and English "_en" twins built from the
// same ids, same label, distractors the aligned texts of the same distractor
// ids; "_hard" and "_easy" distractors):
//   help_next_sentence: a paragraph of >= 2 sentences (in both languages) up
//     to its last sentence; choices: its last sentence and the last sentences
//     of 3 other paragraphs. Hard: same module (text/<module>/...); easy:
//     other modules.
//   help_title_description: context "<title>:" (a page's h1) or "<heading>:"
//     (an h2..h6 whose heading text is unique); choices: the first paragraph
//     after it and 3 such paragraphs of other pages. Hard: sibling pages (same
//     folder; the same module when the folder has fewer than 3); easy: other
//     modules.
//   help_translation: context "English: <en>\nEuskaraz:" (the "_en" twin:
//     "Euskaraz: <eu>\nEnglish:"); choices: the aligned paragraph and 3 others.
//     Hard: the same page; easy: other modules.
// A family with more than max_items questions keeps max_items of them, the
// first by xxh3_64(id, seed) (every family but translation stays below).
// Distractors are length-matched: 3 of the 8 candidates nearest in length
// (bytes, Basque text), chosen by a hash of (seed, item id, candidate id).
// The gold position is xxh3_64(item id, seed) % 4. Everything is a function
// of the two packages, the holdout rule and the seed.
//
// Output folder (written whole through StagedDir, replacing an old one):
//   <task>.jsonl   one item per line:
//                  {"id": "<page key>#<id>", "context": "...", "choices": [4 strings], "label": k}
//   <task>.toml    name, items (the JSONL's file name), description,
//                  metrics = ["acc", "acc_norm"], [template] context = "{context}",
//                  choice_list = "choices", choice = " {choice}", label = "label"
//   MANIFEST.json  {"format": "replay-help-tasks-1", "seed", "packages": [{name, version}],
//                  "holdout": {rule, fraction, seed, pages, held_out_pages},
//                  "aligned_paragraphs", "min_chars", "max_items", "max_chars"
//                  (only when set), "baseline"
//                  (a sentence), "tasks": [{name, items, jsonl, xxh128,
//                  longest_choice_acc}]}; xxh128 is hash::xxh128_hex of the
//                  JSONL bytes; longest_choice_acc the accuracy of always
//                  picking the longest choice (bytes; first on ties).
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace replay::corpus {

struct HelpParagraph {
  std::string id;    // "par_id3155525", "hd_id3147407"
  std::string text;  // whitespace collapsed, trimmed
  int level = 0;     // 1..6 for h1..h6, 0 otherwise
};

// The id'd elements of one help page in document order; an id seen twice
// keeps its first element; an id'd element's descendants are not visited.
std::vector<HelpParagraph> parse_help_page(std::string_view html);

// Splits before the last sentence: "A b. C d." -> {"A b.", "C d."}. A
// sentence ends at '.', '!' or '?' (after a word of >= 2 letters for '.'),
// then a space, then an uppercase letter or digit. Empty pair when the text
// has one sentence.
std::pair<std::string, std::string> split_last_sentence(std::string_view text);

struct TaskItem {
  std::string id;
  std::string context;
  std::vector<std::string> choices;
  int label = 0;
};

struct Task {
  std::string name;         // "help_next_sentence_eu_hard"
  std::string description;
  std::vector<TaskItem> items;
};

struct HelpTaskOptions {
  std::filesystem::path cache_dir = "data/cache/packages";
  std::filesystem::path out_dir;
  uint64_t seed = 1;
  std::string eu_package = "libreoffice-help-eu";
  std::string en_package = "libreoffice-help-en-us";
  std::string holdout = "libreoffice-help";  // a rule name of holdout.h
  size_t min_chars = 20;    // shorter paragraphs and sentences are dropped
  size_t max_chars = 0;     // longer paragraphs are dropped (0: no limit); small models'
                            // contexts: help paragraphs reach ~700 bytes
  size_t min_items = 1000;  // a task with fewer items is an error naming it
  size_t max_items = 2000;  // larger tasks keep this many items, chosen by a hash of (seed, id)
  std::FILE* log = stderr;  // progress lines; nullptr for silence
};

struct HelpTaskSummary {
  std::filesystem::path out_dir;
  size_t pages = 0;           // help pages in the Basque package
  size_t held_out_pages = 0;  // of those, held out
  size_t aligned = 0;         // paragraphs kept after alignment and filters
  std::vector<std::pair<std::string, size_t>> items;  // task name -> items
};

// The held-out page keys of the two packages' pages, sorted: what the
// benchmark reads and the corpus builder skips.
std::vector<std::string> held_out_help_pages(const HelpTaskOptions& options);

// Builds every task and writes the output folder. Throws replay::Error naming
// the package when one cannot be fetched, the rule when no page is held out,
// and the task when it has fewer than min_items items.
HelpTaskSummary build_help_tasks(const HelpTaskOptions& options);

}  // namespace replay::corpus
