#include "corpus/help_tasks.h"

#include <gumbo.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdarg>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "corpus/archive.h"
#include "corpus/convert.h"
#include "corpus/fetch.h"
#include "corpus/progress_log.h"
#include "corpus/holdout.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/staged_dir.h"

namespace replay::corpus {

namespace stdfs = std::filesystem;

namespace {

// ---------------------------------------------------------------- parsing

int heading_level(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_H1: return 1;
    case GUMBO_TAG_H2: return 2;
    case GUMBO_TAG_H3: return 3;
    case GUMBO_TAG_H4: return 4;
    case GUMBO_TAG_H5: return 5;
    case GUMBO_TAG_H6: return 6;
    default: return 0;
  }
}

// Text of a subtree, whitespace (and U+00A0) collapsed to single spaces.
void collect_text(const GumboNode* node, std::string& out, bool& space) {
  if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_WHITESPACE || node->type == GUMBO_NODE_CDATA) {
    for (const char* p = node->v.text.text; *p; ++p) {
      unsigned char c = static_cast<unsigned char>(*p);
      bool nbsp = c == 0xC2 && static_cast<unsigned char>(p[1]) == 0xA0;
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || nbsp) {
        p += nbsp;
        space = true;
        continue;
      }
      if (space && !out.empty()) out.push_back(' ');
      space = false;
      out.push_back(static_cast<char>(c));
    }
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT) return;
  const GumboElement& el = node->v.element;
  if (el.tag == GUMBO_TAG_SCRIPT || el.tag == GUMBO_TAG_STYLE) return;
  if (el.tag == GUMBO_TAG_BR) space = true;
  for (unsigned i = 0; i < el.children.length; ++i)
    collect_text(static_cast<const GumboNode*>(el.children.data[i]), out, space);
}

void collect_paragraphs(const GumboNode* node, std::vector<HelpParagraph>& out, std::set<std::string>& seen) {
  if (node->type != GUMBO_NODE_ELEMENT && node->type != GUMBO_NODE_DOCUMENT) return;
  const GumboVector& kids =
      node->type == GUMBO_NODE_DOCUMENT ? node->v.document.children : node->v.element.children;
  if (node->type == GUMBO_NODE_ELEMENT) {
    const GumboAttribute* id = gumbo_get_attribute(&node->v.element.attributes, "id");
    std::string_view v = id ? id->value : "";
    if (v.rfind("par_id", 0) == 0 || v.rfind("hd_id", 0) == 0) {
      if (!seen.insert(std::string(v)).second) return;
      HelpParagraph p{std::string(v), "", heading_level(node->v.element.tag)};
      bool space = false;
      collect_text(node, p.text, space);
      out.push_back(std::move(p));
      return;
    }
  }
  for (unsigned i = 0; i < kids.length; ++i)
    collect_paragraphs(static_cast<const GumboNode*>(kids.data[i]), out, seen);
}

bool is_upper_start(std::string_view s) {
  if (s.empty()) return false;
  unsigned char c = static_cast<unsigned char>(s[0]);
  if (std::isupper(c) || std::isdigit(c)) return true;
  // Latin-1 supplement capitals (À..Þ) as UTF-8: C3 80..C3 9E.
  return c == 0xC3 && s.size() > 1 && static_cast<unsigned char>(s[1]) >= 0x80 &&
         static_cast<unsigned char>(s[1]) <= 0x9E;
}

// Whether text[i] ('.', '!', '?') ends a sentence.
bool ends_sentence(std::string_view text, size_t i) {
  if (i + 2 >= text.size() || text[i + 1] != ' ' || !is_upper_start(text.substr(i + 2))) return false;
  if (text[i] != '.') return true;
  size_t letters = 0;
  for (size_t j = i; j > 0 && std::isalpha(static_cast<unsigned char>(text[j - 1])); --j) ++letters;
  return letters >= 2;
}

// ---------------------------------------------------------------- reading

const PathFilter kHelpPages{{"usr/share/libreoffice/help/*/text/**/*.html"}, {}};

struct Package {
  std::string name;
  std::string version;
  stdfs::path archive;
};

Package fetch_package(const PackageCache& cache, const std::string& name, std::FILE* log) {
  FetchResult r = cache.fetch(name, Registry::deb);
  Package p{name, control_field(read_deb_control(r.archive), "Version"), r.archive};
  logf(log, "[help] %s %s (%.1f MB, %s)\n", name.c_str(), p.version.c_str(), r.bytes / 1e6,
       r.cache_hit ? "cache hit" : "downloaded");
  return p;
}

using PageMap = std::map<std::string, std::vector<HelpParagraph>>;  // page key -> paragraphs

// The Basque text of the training pages (html_to_text of each, as the corpus
// converts them): an evaluation paragraph or sentence found anywhere in it,
// even inside a longer paragraph (embedded sections, notes), is dropped.
class TrainingText {
 public:
  void add(std::string_view page_text) {
    blob_ += page_text;
    blob_ += "\n\n";
  }
  bool contains(std::string_view s) const {
    return memmem(blob_.data(), blob_.size(), s.data(), s.size()) != nullptr;
  }

 private:
  std::string blob_;
};

// Held-out pages of `archive`, parsed; the texts of the other pages go into
// `training` when given.
PageMap read_pages(const Package& pkg, const HoldoutRule& rule, TrainingText* training, size_t& all_pages) {
  PageMap held;
  for_each_archive_file(pkg.archive, kHelpPages, [&](ArchiveFile& f) {
    std::optional<std::string> key = help_page_key(f.path);
    if (!key) return;
    ++all_pages;
    const bool held_out = is_held_out_page(rule, *key);
    if (!held_out && !training) return;
    if (held_out)
      held[*key] = parse_help_page(f.content);
    else
      training->add(html_to_text(f.content));
  });
  return held;
}

// ---------------------------------------------------------------- alignment

struct Entry {
  std::string id;    // "<page key>#<par_id>"
  std::string page;  // page key
  std::string eu, en;
  int level = 0;
  size_t pos = 0;    // index in the page's Basque paragraph list
};

struct Aligned {
  std::vector<Entry> entries;  // by page key, then page order
  size_t pages = 0;
};

// Headings are not looked up in the training text: page titles are link
// texts on other pages; what they introduce (a paragraph) is.
// A paragraph longer than max_chars (0: no limit) in either language is
// dropped here, before any family sees it, so it is neither a context nor a
// choice anywhere and the twins stay aligned.
bool keep_pair(const HelpParagraph& eu, const std::string& en, const HelpTaskOptions& o, const TrainingText& training) {
  const size_t min = eu.level > 0 ? 3 : o.min_chars;
  const bool short_enough = o.max_chars == 0 || (eu.text.size() <= o.max_chars && en.size() <= o.max_chars);
  return eu.text != en && eu.text.size() >= min && en.size() >= min && short_enough &&
         (eu.level > 0 || !training.contains(eu.text));
}

Aligned align(const PageMap& eu, const PageMap& en, const HelpTaskOptions& o, const TrainingText& training) {
  Aligned out;
  std::unordered_set<std::string> seen_eu, seen_en;  // paragraph dedup (headings are judged per task)
  for (const auto& [key, eu_pars] : eu) {
    auto it = en.find(key);
    if (it == en.end()) continue;
    ++out.pages;
    std::map<std::string, const std::string*> en_text;
    for (const auto& p : it->second) en_text[p.id] = &p.text;
    for (size_t i = 0; i < eu_pars.size(); ++i) {
      const HelpParagraph& p = eu_pars[i];
      auto e = en_text.find(p.id);
      if (e == en_text.end() || !keep_pair(p, *e->second, o, training)) continue;
      if (p.level == 0 && (!seen_eu.insert(p.text).second || !seen_en.insert(*e->second).second)) continue;
      out.entries.push_back({key + "#" + p.id, key, p.text, *e->second, p.level, i});
    }
  }
  return out;
}

// ---------------------------------------------------------------- items

struct Cand {
  std::string id;  // the item id it comes from
  std::string page;
  std::string eu, en;
};

struct Question {
  std::string id;
  std::string ctx_eu, ctx_en;
  size_t answer = 0;  // index in the pool
};

using Scope = bool (*)(const Cand& answer, const Cand& other);

std::string module_of(const std::string& page) {  // "text/swriter/guide/x.html" -> "swriter"
  size_t a = page.find('/');
  size_t b = page.find('/', a + 1);
  return a == std::string::npos ? page : page.substr(a + 1, b == std::string::npos ? b : b - a - 1);
}

std::string folder_of(const std::string& page) { return page.substr(0, page.rfind('/')); }

bool same_module(const Cand& a, const Cand& o) { return module_of(a.page) == module_of(o.page); }
bool other_module(const Cand& a, const Cand& o) { return !same_module(a, o); }
bool same_page(const Cand& a, const Cand& o) { return a.page == o.page; }
bool sibling_page(const Cand& a, const Cand& o) { return a.page != o.page && folder_of(a.page) == folder_of(o.page); }
bool module_other_page(const Cand& a, const Cand& o) { return a.page != o.page && same_module(a, o); }

uint64_t mix(uint64_t seed, const std::string& a, const std::string& b = "") {
  const std::string key = a + "\x1f" + b;
  return hash::xxh3_64(key.data(), key.size(), seed);
}

// 3 distractors: of the 8 candidates in `scope` nearest in Basque length,
// the 3 first by hash. Empty when fewer than 3 candidates.
std::vector<size_t> pick_distractors(const std::vector<Cand>& pool, const Question& q, Scope scope,
                                     uint64_t seed) {
  const Cand& ans = pool[q.answer];
  std::vector<std::tuple<size_t, uint64_t, size_t>> c;  // (length distance, hash, index)
  for (size_t i = 0; i < pool.size(); ++i) {
    const Cand& o = pool[i];
    if (i == q.answer || !scope(ans, o) || o.eu == ans.eu || o.en == ans.en) continue;
    size_t d = o.eu.size() > ans.eu.size() ? o.eu.size() - ans.eu.size() : ans.eu.size() - o.eu.size();
    c.emplace_back(d, mix(seed, q.id, o.id), i);
  }
  if (c.size() < 3) return {};
  const size_t near = std::min<size_t>(8, c.size());
  std::partial_sort(c.begin(), c.begin() + near, c.end());
  std::sort(c.begin(), c.begin() + near, [](const auto& x, const auto& y) { return std::get<1>(x) < std::get<1>(y); });
  return {std::get<2>(c[0]), std::get<2>(c[1]), std::get<2>(c[2])};
}

TaskItem make_item(const std::vector<Cand>& pool, const Question& q, const std::vector<size_t>& distractors,
                   bool english, uint64_t seed) {
  TaskItem item;
  item.id = q.id;
  item.context = english ? q.ctx_en : q.ctx_eu;
  item.label = static_cast<int>(hash::xxh3_64(q.id.data(), q.id.size(), seed) % 4);
  for (size_t d : distractors) item.choices.push_back(english ? pool[d].en : pool[d].eu);
  const Cand& ans = pool[q.answer];
  item.choices.insert(item.choices.begin() + item.label, english ? ans.en : ans.eu);
  return item;
}

struct Family {
  std::string name;         // "help_next_sentence"
  std::string description;  // "{lang}" is replaced by "Basque" / "English"
  std::vector<Cand> pool;
  std::vector<Question> questions;
  std::vector<Scope> hard;  // first scope with 3 candidates wins
  Scope easy = other_module;
};

std::string replace_lang(std::string s, const std::string& lang) {
  for (size_t at; (at = s.find("{lang}")) != std::string::npos;) s.replace(at, 6, lang);
  return s;
}

// The 4 tasks of a family: {eu, en} x {hard, easy}, one item set.
std::vector<Task> make_tasks(const Family& f, uint64_t seed) {
  std::vector<Task> tasks;
  for (const char* lang : {"eu", "en"})
    for (const char* variant : {"hard", "easy"})
      tasks.push_back({f.name + "_" + lang + "_" + variant,
                       replace_lang(f.description, lang == std::string("eu") ? "Basque" : "English") +
                           (variant == std::string("hard") ? " Hard: distractors from nearby pages."
                                                           : " Easy: distractors from other modules."),
                       {}});
  for (const Question& q : f.questions) {
    std::vector<size_t> hard;
    for (Scope s : f.hard)
      if (!(hard = pick_distractors(f.pool, q, s, seed)).empty()) break;
    std::vector<size_t> easy = pick_distractors(f.pool, q, f.easy, seed);
    if (hard.empty() || easy.empty()) continue;
    tasks[0].items.push_back(make_item(f.pool, q, hard, false, seed));
    tasks[1].items.push_back(make_item(f.pool, q, easy, false, seed));
    tasks[2].items.push_back(make_item(f.pool, q, hard, true, seed));
    tasks[3].items.push_back(make_item(f.pool, q, easy, true, seed));
  }
  return tasks;
}

Family next_sentence_family(const Aligned& a, size_t min_chars, const TrainingText& training) {
  Family f{"help_next_sentence",
           "LibreOffice help ({lang}): choose the last sentence of a paragraph.", {}, {}, {same_module}};
  std::unordered_set<std::string> seen_eu, seen_en;
  for (const Entry& e : a.entries) {
    if (e.level != 0) continue;
    auto [ctx_eu, last_eu] = split_last_sentence(e.eu);
    auto [ctx_en, last_en] = split_last_sentence(e.en);
    if (last_eu.size() < min_chars || last_en.size() < min_chars || ctx_eu.size() < min_chars ||
        ctx_en.size() < min_chars || last_eu == last_en || training.contains(last_eu) || training.contains(ctx_eu))
      continue;
    if (!seen_eu.insert(last_eu).second || !seen_en.insert(last_en).second) continue;
    f.questions.push_back({e.id, ctx_eu, ctx_en, f.pool.size()});
    f.pool.push_back({e.id, e.page, last_eu, last_en});
  }
  return f;
}

Family title_description_family(const Aligned& a) {
  Family f{"help_title_description",
           "LibreOffice help ({lang}): choose the paragraph that follows a page title or heading.",
           {}, {}, {sibling_page, module_other_page}};
  std::map<std::string, int> heading_count;
  for (const Entry& e : a.entries)
    if (e.level > 0) ++heading_count[e.eu];
  for (size_t i = 0; i + 1 < a.entries.size(); ++i) {
    const Entry& h = a.entries[i];
    const Entry& p = a.entries[i + 1];
    if (h.level == 0 || heading_count[h.eu] != 1 || p.level != 0 || p.page != h.page || p.pos != h.pos + 1) continue;
    f.questions.push_back({h.id, h.eu + ":", h.en + ":", f.pool.size()});
    f.pool.push_back({p.id, p.page, p.eu, p.en});
  }
  return f;
}

Family translation_family(const Aligned& a) {
  Family f{"help_translation",
           "LibreOffice help: choose the {lang} translation of a paragraph.", {}, {}, {same_page}};
  for (const Entry& e : a.entries) {
    if (e.level != 0) continue;
    // The "_eu" task answers in Basque, the "_en" twin in English.
    f.questions.push_back({e.id, "English: " + e.en + "\nEuskaraz:", "Euskaraz: " + e.eu + "\nEnglish:", f.pool.size()});
    f.pool.push_back({e.id, e.page, e.eu, e.en});
  }
  return f;
}

// Keeps at most `max` questions, chosen by a hash of their ids.
void cap_questions(Family& f, size_t max, uint64_t seed) {
  if (f.questions.size() <= max) return;
  std::sort(f.questions.begin(), f.questions.end(),
            [&](const Question& x, const Question& y) { return mix(seed, x.id) < mix(seed, y.id); });
  f.questions.resize(max);
  std::sort(f.questions.begin(), f.questions.end(), [](const Question& x, const Question& y) { return x.id < y.id; });
}

}  // namespace

std::vector<HelpParagraph> parse_help_page(std::string_view html) {
  GumboOutput* output = gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size());
  std::vector<HelpParagraph> out;
  std::set<std::string> seen;
  collect_paragraphs(output->document, out, seen);
  gumbo_destroy_output(&kGumboDefaultOptions, output);
  return out;
}

std::pair<std::string, std::string> split_last_sentence(std::string_view text) {
  for (size_t i = text.size(); i-- > 0;) {
    if ((text[i] == '.' || text[i] == '!' || text[i] == '?') && ends_sentence(text, i))
      return {std::string(text.substr(0, i + 1)), std::string(text.substr(i + 2))};
  }
  return {};
}

namespace {

// ---------------------------------------------------------------- output

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string task_toml(const Task& t) {
  return "name = " + toml_string(t.name) + "\nitems = " + toml_string(t.name + ".jsonl") +
         "\ndescription = " + toml_string(t.description) +
         "\nmetrics = [\"acc\", \"acc_norm\"]\n\n[template]\ncontext = \"{context}\"\n"
         "choice_list = \"choices\"\nchoice = \" {choice}\"\nlabel = \"label\"\n";
}

std::string task_jsonl(const Task& t) {
  std::string out;
  for (const TaskItem& item : t.items) {
    nlohmann::ordered_json j;
    j["id"] = item.id;
    j["context"] = item.context;
    j["choices"] = item.choices;
    j["label"] = item.label;
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return out;
}

// Accuracy of always choosing the longest choice (bytes; the first on ties).
double longest_choice_accuracy(const Task& t) {
  size_t right = 0;
  for (const TaskItem& item : t.items) {
    size_t best = 0;
    for (size_t i = 1; i < item.choices.size(); ++i)
      if (item.choices[i].size() > item.choices[best].size()) best = i;
    right += static_cast<int>(best) == item.label;
  }
  return t.items.empty() ? 0 : static_cast<double>(right) / t.items.size();
}

nlohmann::ordered_json write_tasks(const stdfs::path& dir, const std::vector<Task>& tasks) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Task& t : tasks) {
    const std::string jsonl = task_jsonl(t);
    fs::write_file_atomic(dir / (t.name + ".jsonl"), jsonl);
    fs::write_file_atomic(dir / (t.name + ".toml"), task_toml(t));
    nlohmann::ordered_json j;
    j["name"] = t.name;
    j["items"] = t.items.size();
    j["jsonl"] = t.name + ".jsonl";
    j["xxh128"] = hash::xxh128_hex(jsonl);
    j["longest_choice_acc"] = std::round(longest_choice_accuracy(t) * 10000) / 10000;
    list.push_back(j);
  }
  return list;
}

nlohmann::ordered_json manifest(const HelpTaskOptions& o, const std::vector<Package>& packages,
                                const HoldoutRule& rule, const HelpTaskSummary& s) {
  nlohmann::ordered_json m;
  m["format"] = "replay-help-tasks-1";
  m["seed"] = o.seed;
  m["packages"] = nlohmann::ordered_json::array();
  for (const Package& p : packages) m["packages"].push_back({{"name", p.name}, {"version", p.version}});
  m["holdout"] = {{"rule", rule.name}, {"fraction", rule.fraction}, {"seed", rule.seed},
                  {"pages", s.pages}, {"held_out_pages", s.held_out_pages}};
  m["aligned_paragraphs"] = s.aligned;
  m["min_chars"] = o.min_chars;
  m["max_items"] = o.max_items;
  if (o.max_chars > 0) m["max_chars"] = o.max_chars;  // absent: no limit (the frozen benchmark)
  m["baseline"] = "longest_choice_acc: always choose the longest choice (bytes, first on ties); chance is 0.25";
  return m;
}

struct Inputs {
  std::vector<Package> packages;  // eu, en
  PageMap eu, en;
  TrainingText training;  // Basque text of the pages that are not held out
  size_t eu_pages = 0, en_pages = 0;
};

Inputs read_inputs(const HelpTaskOptions& o, const HoldoutRule& rule, bool training) {
  PackageCache cache(o.cache_dir);
  Inputs in;
  in.packages = {fetch_package(cache, o.eu_package, o.log), fetch_package(cache, o.en_package, o.log)};
  in.eu = read_pages(in.packages[0], rule, training ? &in.training : nullptr, in.eu_pages);
  in.en = read_pages(in.packages[1], rule, nullptr, in.en_pages);
  for (size_t i = 0; i < 2; ++i) {
    if ((i == 0 ? in.eu_pages : in.en_pages) == 0)
      throw Error(in.packages[i].archive.string() + " (" + in.packages[i].name +
                  "): no help pages (usr/share/libreoffice/help/<lang>/text/**/*.html)");
  }
  return in;
}

}  // namespace

std::vector<std::string> held_out_help_pages(const HelpTaskOptions& options) {
  const HoldoutRule& rule = holdout_rule(options.holdout);
  Inputs in = read_inputs(options, rule, false);
  std::vector<std::string> pages;
  for (const auto& [key, paragraphs] : in.eu)
    if (in.en.count(key)) pages.push_back(key);
  return pages;
}

HelpTaskSummary build_help_tasks(const HelpTaskOptions& o) {
  const HoldoutRule& rule = holdout_rule(o.holdout);
  fs::check_output_path(o.out_dir, fs::OutputKind::directory, "--out");
  Inputs in = read_inputs(o, rule, true);
  HelpTaskSummary s;
  s.out_dir = o.out_dir;
  s.pages = in.eu_pages;
  Aligned aligned = align(in.eu, in.en, o, in.training);
  s.held_out_pages = aligned.pages;
  s.aligned = aligned.entries.size();
  if (aligned.pages == 0)
    throw Error("holdout rule " + rule.describe() + ": no page of " + o.eu_package + " and " + o.en_package +
                " is held out, so there is nothing to build tasks from");
  logf(o.log, "[help] %zu pages, %zu held out (%s); %zu aligned paragraphs and headings\n", s.pages,
       s.held_out_pages, rule.describe().c_str(), s.aligned);
  std::vector<Task> tasks;
  for (Family f : {next_sentence_family(aligned, o.min_chars, in.training), title_description_family(aligned),
                   translation_family(aligned)}) {
    cap_questions(f, o.max_items, o.seed);
    for (Task& t : make_tasks(f, o.seed)) {
      if (t.items.size() < o.min_items)
        throw Error("task " + t.name + ": " + std::to_string(t.items.size()) + " items, fewer than the " +
                    std::to_string(o.min_items) + " required (holdout " + rule.describe() + ")");
      s.items.emplace_back(t.name, t.items.size());
      tasks.push_back(std::move(t));
    }
  }
  StagedDir staged(o.out_dir);
  nlohmann::ordered_json m = manifest(o, in.packages, rule, s);
  m["tasks"] = write_tasks(staged.path(), tasks);
  fs::write_file_atomic(staged.path() / "MANIFEST.json", m.dump(2) + "\n");
  staged.publish(StagedDir::Mode::replace);
  return s;
}

}  // namespace replay::corpus
