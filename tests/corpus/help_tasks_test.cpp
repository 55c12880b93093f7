// The LibreOffice help benchmark (corpus/help_tasks.h) and its holdout rule
// (corpus/holdout.h): fake help pages in small fake .deb packages go through
// the real corpus builder (the basque domain of corpora/default.toml) and the
// real task builder; no evaluation text may reach the corpus.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "corpus/builder.h"
#include "corpus/fetch.h"
#include "corpus/help_tasks.h"
#include "corpus/holdout.h"
#include "corpus/recipe.h"
#include "corpus_test_util.h"
#include "fixtures.h"
#include "replay_cli.h"
#include "util/fs.h"
#include "util/hash.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::corpus;

namespace {

const HoldoutRule& help_rule() { return holdout_rule("libreoffice-help"); }

std::string num(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "%03d", i);
  return b;
}

// One fake help page: a title and its description, a heading and its
// paragraph, two-sentence paragraphs, an untranslated and a short paragraph,
// and a paragraph every page shares (as embedded sections are shared).
std::string fake_page(int page, bool eu) {
  auto t = [&](const std::string& e, const std::string& n) { return eu ? e : n; };
  const std::string p = num(page);
  std::string html = "<html><head><title>x</title></head><body><div id=\"DisplayArea\">";
  html += "<h1 id=\"hd_id1\">" + t("Izenburua " + p + " orria", "Title of page " + p) + "</h1>";
  html += "<p id=\"par_id1\">" + t("Orriaren " + p + " azalpena hemen. Deskribapena " + p + " amaitzen da.",
                                   "Page " + p + " description here. The description " + p + " ends.") + "</p>";
  html += "<h2 id=\"hd_id2\">" + t("Goiburua " + p + " atalean", "Heading of section " + p) + "</h2>";
  for (int j = 2; j < 6; ++j) {
    const std::string q = p + "-" + num(j);
    html += "<p id=\"par_id" + std::to_string(j) + "\">" +
            t("Lehen esaldia " + q + " paragrafoan dago. Bigarren esaldia " + q + " paragrafoan amaitzen da.",
              "The first sentence is in paragraph " + q + ". The second sentence ends paragraph " + q + ".") +
            "</p>";
  }
  html += "<p id=\"par_id7\">Untranslated paragraph text " + p + " stays English.</p>";
  html += "<p id=\"par_id8\">" + t("Labur " + p, "Short " + p) + "</p>";
  html += "<p id=\"par_id9\">" + t("Partekatutako oharra orri guztietan agertzen da beti.",
                                   "A shared note appears on every page always.") + "</p>";
  return html + "</div></body></html>";
}

std::string page_key(int page) {
  return "text/" + std::string(page % 2 ? "swriter" : "scalc") + "/guide/page" + num(page) + ".html";
}

// Both packages with the pages `keep(i)` accepts among 0..n-1.
template <class Keep>
void write_fake_packages(const stdfs::path& cache, int n, Keep keep) {
  FileList eu, en;
  for (int i = 0; i < n; ++i) {
    if (!keep(i)) continue;
    eu.emplace_back("./usr/share/libreoffice/help/eu/" + page_key(i), fake_page(i, true));
    en.emplace_back("./usr/share/libreoffice/help/en-US/" + page_key(i), fake_page(i, false));
  }
  PackageCache pc(cache);
  fs::write_file_atomic(pc.cached_path("libreoffice-help-eu", Registry::deb), make_deb(eu));
  fs::write_file_atomic(pc.cached_path("libreoffice-help-en-us", Registry::deb), make_deb(en));
}

struct HelpFixture {
  TempDir dir{"help_tasks"};
  stdfs::path cache = dir.path / "cache";
  HelpTaskOptions options;
  explicit HelpFixture(int pages = 60) {
    write_fake_packages(cache, pages, [](int) { return true; });
    options.cache_dir = cache;
    options.out_dir = dir.path / "tasks";
    options.min_items = 1;
    options.log = nullptr;
  }
};

std::vector<nlohmann::json> read_jsonl(const stdfs::path& path) {
  std::vector<nlohmann::json> items;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) items.push_back(nlohmann::json::parse(line));
  return items;
}

}  // namespace

TEST(Holdout, PageKeyIsThePathBelowTheLanguageRoot) {
  EXPECT_EQ(help_page_key("usr/share/libreoffice/help/eu/text/swriter/guide/x.html"), "text/swriter/guide/x.html");
  EXPECT_EQ(help_page_key("./usr/share/libreoffice/help/en-US/text/swriter/guide/x.html"),
            "text/swriter/guide/x.html");
  EXPECT_FALSE(help_page_key("usr/share/doc/x.html"));
  EXPECT_FALSE(help_page_key("usr/share/libreoffice/help/eu/"));
  // Same page, same verdict, whatever the language.
  int held = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "text/shared/page" + std::to_string(i) + ".html";
    bool eu = is_held_out_file(help_rule(), "usr/share/libreoffice/help/eu/" + key);
    EXPECT_EQ(eu, is_held_out_file(help_rule(), "usr/share/libreoffice/help/en-US/" + key)) << key;
    EXPECT_EQ(eu, is_held_out_page(help_rule(), key)) << key;
    held += eu;
  }
  EXPECT_NEAR(held / 2000.0, help_rule().fraction, 0.04);
  EXPECT_FALSE(is_held_out_file(help_rule(), "usr/share/doc/page.html"));
}

TEST(Holdout, RecipeKeyNamesARuleAndUnknownNamesAreErrors) {
  Recipe r = parse_recipe(
      "[domains.b]\n[[domains.b.sources]]\npackage = \"p\"\ninclude = \"**\"\nholdout = \"libreoffice-help\"\n", "r.toml");
  ASSERT_NE(r.domains[0].sources[0].holdout, nullptr);
  EXPECT_EQ(r.domains[0].sources[0].holdout, &help_rule());
  std::string e = error_of([] {
    parse_recipe("[domains.b]\n[[domains.b.sources]]\npackage = \"p\"\ninclude = \"**\"\nholdout = \"nope\"\n", "r.toml");
  });
  EXPECT_NE(e.find("r.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("holdout"), std::string::npos) << e;
  EXPECT_NE(e.find("nope"), std::string::npos) << e;
  EXPECT_NE(e.find("libreoffice-help"), std::string::npos) << e;
  // The default recipe holds the benchmark's pages out of the basque corpus.
  Recipe def = load_recipe(stdfs::path(REPLAY_SOURCE_DIR) / "corpora/default.toml");
  ASSERT_NE(def.find("basque"), nullptr);
  for (const auto& src : def.find("basque")->sources) EXPECT_EQ(src.holdout, &help_rule()) << src.package;
}

TEST(HelpTasks, ParsesIdElementsAndSplitsTheLastSentence) {
  auto pars = parse_help_page(
      "<h1 id=\"hd_id1\">Title <a name=\"x\"></a>here</h1><p>no id</p>"
      "<p id=\"par_id2\" class=\"paragraph\">One&nbsp;two\n  <span class=\"menuitem\">Tools - Options</span>.</p>"
      "<div id=\"par_id3\"><p id=\"par_id4\">inner</p></div><p id=\"par_id2\">again</p>");
  ASSERT_EQ(pars.size(), 3u);
  EXPECT_EQ(pars[0].id, "hd_id1");
  EXPECT_EQ(pars[0].text, "Title here");
  EXPECT_EQ(pars[0].level, 1);
  EXPECT_EQ(pars[1].text, "One two Tools - Options.");
  EXPECT_EQ(pars[1].level, 0);
  EXPECT_EQ(pars[2].id, "par_id3");  // descendants of an id'd element are its text
  EXPECT_EQ(pars[2].text, "inner");
  EXPECT_EQ(split_last_sentence("Aukeratu hau. Gero egin klik. Amaitu da!"),
            std::make_pair(std::string("Aukeratu hau. Gero egin klik."), std::string("Amaitu da!")));
  EXPECT_EQ(split_last_sentence("Idatzi 1. Zerrenda hasteko."), std::make_pair(std::string(), std::string()));
  EXPECT_EQ(split_last_sentence("Only one sentence. with lower case."), std::make_pair(std::string(), std::string()));
}

// The basque domain of the real recipe (corpora/default.toml), built by the
// real corpus builder from the fixture's packages.
static DomainSummary build_basque_corpus(const HelpFixture& fx) {
  Recipe recipe = load_recipe(stdfs::path(REPLAY_SOURCE_DIR) / "corpora/default.toml");
  BuildOptions bo;
  bo.cache_dir = fx.cache;
  bo.out_dir = fx.dir.path / "corpora";
  bo.log = nullptr;
  return build_domain(*recipe.find("basque"), bo);
}

// The proof of no leakage: the real basque recipe and the real builders.
TEST(HelpTasks, NoEvaluationTextReachesTheBasqueCorpus) {
  HelpFixture fx;
  DomainSummary corpus = build_basque_corpus(fx);
  std::vector<Document> docs = read_all(corpus.output);
  build_help_tasks(fx.options);
  std::set<std::string> eval_texts;
  for (const char* task : {"help_next_sentence_eu_hard", "help_title_description_eu_easy", "help_translation_eu_hard"})
    for (const auto& item : read_jsonl(fx.options.out_dir / (std::string(task) + ".jsonl"))) {
      for (const auto& c : item["choices"]) eval_texts.insert(c.get<std::string>());
      std::string ctx = item["context"];
      if (std::string(task).find("translation") == std::string::npos)
        eval_texts.insert(ctx.substr(0, ctx.size() - (ctx.back() == ':')));
    }
  ASSERT_GT(eval_texts.size(), 20u);
  ASSERT_GT(docs.size(), 20u);
  for (const auto& doc : docs)
    for (const auto& text : eval_texts) EXPECT_EQ(doc.text.find(text), std::string::npos) << text << " in " << doc.source;
  // The shared paragraph is on training pages: it is in the corpus, not in the tasks.
  EXPECT_FALSE(eval_texts.count("Partekatutako oharra orri guztietan agertzen da beti."));
}

// One rule, two users: the pages the benchmark reads are exactly the pages
// the corpus leaves out.
TEST(HelpTasks, HeldOutPagesAreExactlyThePagesTheCorpusSkips) {
  HelpFixture fx;
  DomainSummary corpus = build_basque_corpus(fx);
  std::set<std::string> in_corpus;
  for (const auto& doc : read_all(corpus.output)) in_corpus.insert(*help_page_key(doc.source.substr(doc.source.find(':') + 1)));
  std::vector<std::string> held = held_out_help_pages(fx.options);
  ASSERT_GE(held.size(), 8u);
  EXPECT_EQ(corpus.sources[0].held_out, held.size());
  for (int i = 0; i < 60; ++i) {
    const bool is_held = std::find(held.begin(), held.end(), page_key(i)) != held.end();
    EXPECT_NE(is_held, in_corpus.count(page_key(i)) == 1) << page_key(i);
    EXPECT_EQ(is_held, is_held_out_page(help_rule(), page_key(i))) << page_key(i);
  }
}

TEST(HelpTasks, TwinsShareIdsAndLabelsAndTheManifestDescribesTheFiles) {
  HelpFixture fx;
  HelpTaskSummary s = build_help_tasks(fx.options);
  ASSERT_EQ(s.items.size(), 12u);
  auto manifest = nlohmann::json::parse(fs::read_file(fx.options.out_dir / "MANIFEST.json"));
  EXPECT_EQ(manifest["packages"][0]["name"], "libreoffice-help-eu");
  EXPECT_EQ(manifest["holdout"]["rule"], "libreoffice-help");
  for (const auto& t : manifest["tasks"]) {
    const std::string name = t["name"];
    const stdfs::path jsonl = fx.options.out_dir / t["jsonl"].get<std::string>();
    EXPECT_EQ(t["xxh128"], hash::xxh128_hex(fs::read_file(jsonl))) << name;
    auto items = read_jsonl(jsonl);
    EXPECT_EQ(items.size(), t["items"].get<size_t>()) << name;
    EXPECT_TRUE(stdfs::exists(fx.options.out_dir / (name + ".toml"))) << name;
    std::string twin = name;
    twin.replace(twin.find("_eu_") != std::string::npos ? twin.find("_eu_") : twin.find("_en_"), 4,
                 name.find("_eu_") != std::string::npos ? "_en_" : "_eu_");
    auto twin_items = read_jsonl(fx.options.out_dir / (twin + ".jsonl"));
    ASSERT_EQ(items.size(), twin_items.size()) << name;
    for (size_t i = 0; i < items.size(); ++i) {
      EXPECT_EQ(items[i]["id"], twin_items[i]["id"]);
      EXPECT_EQ(items[i]["label"], twin_items[i]["label"]);
      ASSERT_EQ(items[i]["choices"].size(), 4u);
      std::set<std::string> distinct(items[i]["choices"].begin(), items[i]["choices"].end());
      EXPECT_EQ(distinct.size(), 4u) << items[i];
    }
  }
  std::string toml = fs::read_file(fx.options.out_dir / "help_next_sentence_eu_hard.toml");
  EXPECT_NE(toml.find("name = \"help_next_sentence_eu_hard\"\nitems = \"help_next_sentence_eu_hard.jsonl\"\n"),
            std::string::npos) << toml;
  EXPECT_NE(toml.find("[template]\ncontext = \"{context}\"\nchoice_list = \"choices\"\nchoice = \" {choice}\"\n"
                      "label = \"label\"\n"), std::string::npos) << toml;
}

// The page number a fixture text is from: its first 3-digit run.
int fixture_page(const std::string& text) {
  for (size_t i = 0; i + 3 <= text.size(); ++i)
    if (std::isdigit((unsigned char)text[i]) && std::isdigit((unsigned char)text[i + 1]) &&
        std::isdigit((unsigned char)text[i + 2]))
      return std::stoi(text.substr(i, 3));
  return -1;
}

// Hard distractors come from near the item (same module / same page), easy
// ones from other modules: the fixture's modules alternate with the page number.
TEST(HelpTasks, HardDistractorsAreNearAndEasyOnesFar) {
  HelpFixture fx;
  build_help_tasks(fx.options);
  struct Case { const char* task; bool hard; bool same_page; };
  for (Case c : {Case{"help_next_sentence_eu_hard", true, false}, Case{"help_next_sentence_en_easy", false, false},
                 Case{"help_title_description_eu_hard", true, false},
                 Case{"help_title_description_eu_easy", false, false},
                 Case{"help_translation_eu_hard", true, true}, Case{"help_translation_en_easy", false, false}}) {
    auto items = read_jsonl(fx.options.out_dir / (std::string(c.task) + ".jsonl"));
    ASSERT_FALSE(items.empty()) << c.task;
    for (const auto& item : items) {
      const int page = fixture_page(item["id"]);
      const int label = item["label"];
      EXPECT_EQ(fixture_page(item["choices"][label]), page) << c.task << item;
      for (int k = 0; k < 4; ++k) {
        if (k == label) continue;
        const int other = fixture_page(item["choices"][k]);
        if (c.same_page) {
          EXPECT_EQ(other, page) << c.task << item;
        } else if (c.hard) {
          EXPECT_EQ(other % 2, page % 2) << c.task << item;
        } else {
          EXPECT_NE(other % 2, page % 2) << c.task << item;
        }
        if (!c.same_page && std::string(c.task).find("title") != std::string::npos) {
          EXPECT_NE(other, page) << c.task << item;  // other pages, not the item's own
        }
      }
    }
  }
}

// --max-chars: a paragraph longer than the limit in either language is no
// item and no choice anywhere (the fixture's description paragraphs are
// 52-58 bytes, its other paragraphs 87-89: translation items lose them).
TEST(HelpTasks, MaxCharsDropsLongParagraphsEverywhere) {
  HelpFixture fx;
  const HelpTaskSummary all = build_help_tasks(fx.options);
  EXPECT_FALSE(nlohmann::json::parse(fs::read_file(fx.options.out_dir / "MANIFEST.json")).contains("max_chars"));
  fx.options.max_chars = 60;
  fx.options.min_items = 0;  // one short paragraph per page leaves translation no same-page distractor
  const HelpTaskSummary capped = build_help_tasks(fx.options);
  EXPECT_LT(capped.aligned, all.aligned);
  EXPECT_EQ(nlohmann::json::parse(fs::read_file(fx.options.out_dir / "MANIFEST.json"))["max_chars"], 60);
  for (size_t t = 0; t < capped.items.size(); ++t) {
    const auto& [name, count] = capped.items[t];
    if (name.find("translation") == std::string::npos) EXPECT_GT(count, 0u) << name;
    EXPECT_LE(count, all.items[t].second) << name;
    for (const auto& item : read_jsonl(fx.options.out_dir / (name + ".jsonl"))) {
      for (const auto& choice : item["choices"]) EXPECT_LE(choice.get<std::string>().size(), 60u) << name << item;
      // Translation contexts frame the paragraph: "English: <en>\nEuskaraz:".
      EXPECT_LE(item["context"].get<std::string>().size(), 60u + 20u) << name << item;
    }
  }
}

TEST(HelpTasks, SameSeedSameBytesOtherSeedOtherLabels) {
  HelpFixture fx;
  build_help_tasks(fx.options);
  const std::string first = fs::read_file(fx.options.out_dir / "MANIFEST.json");
  build_help_tasks(fx.options);  // replaces the folder
  EXPECT_EQ(fs::read_file(fx.options.out_dir / "MANIFEST.json"), first);
  fx.options.seed = 7;
  build_help_tasks(fx.options);
  auto a = read_jsonl(fx.options.out_dir / "help_next_sentence_eu_easy.jsonl");
  EXPECT_NE(fs::read_file(fx.options.out_dir / "MANIFEST.json"), first);
  std::set<int> labels;
  for (const auto& item : a) labels.insert(item["label"].get<int>());
  EXPECT_GE(labels.size(), 3u);  // the gold position moves around
}

TEST(HelpTasks, BadInputsAreErrorsThatNameTheCause) {
  HelpFixture fx;
  HelpTaskOptions o = fx.options;
  o.en_package = "replay-no-such-package-zz9";
  std::string e = error_of([&] { build_help_tasks(o); });
  EXPECT_NE(e.find("replay-no-such-package-zz9"), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(o.out_dir));

  o = fx.options;
  o.min_items = 100000;
  e = error_of([&] { build_help_tasks(o); });
  EXPECT_NE(e.find("task help_next_sentence_eu_hard"), std::string::npos) << e;
  EXPECT_NE(e.find("fewer than the 100000"), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(o.out_dir));

  // Packages whose pages are all training pages: nothing to evaluate on.
  write_fake_packages(fx.cache, 60, [](int i) { return !is_held_out_page(help_rule(), page_key(i)); });
  e = error_of([&] { build_help_tasks(fx.options); });
  EXPECT_NE(e.find("no page of libreoffice-help-eu and libreoffice-help-en-us is held out"), std::string::npos) << e;

  // A package without help pages.
  PackageCache pc(fx.cache);
  fs::write_file_atomic(pc.cached_path("libreoffice-help-en-us", Registry::deb),
                        make_deb({{"./usr/share/doc/x/README", "nothing"}}));
  e = error_of([&] { build_help_tasks(fx.options); });
  EXPECT_NE(e.find("libreoffice-help-en-us): no help pages"), std::string::npos) << e;
}

TEST(HelpTasks, CommandLineBuildsTheFolderAndReportsCounts) {
  HelpFixture fx;
  const stdfs::path out = fx.dir.path / "cli";
  CliResult r = run_replay("tasks build-help --quiet --min-items 1 --seed 3 --out " + out.string() + " --cache " +
                           fx.cache.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("help_title_description_en_easy"), std::string::npos) << r.out;
  auto manifest = nlohmann::json::parse(fs::read_file(out / "MANIFEST.json"));
  EXPECT_EQ(manifest["seed"], 3);
  EXPECT_EQ(manifest["tasks"].size(), 12u);
  r = run_replay("tasks build-help --out " + (fx.dir.path / "cli2").string() + " --cache " + fx.cache.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("fewer than the 1000 required"), std::string::npos) << r.out;
  EXPECT_FALSE(stdfs::exists(fx.dir.path / "cli2"));
}

// The frozen benchmark (tasks/help/MANIFEST.json) is what the builder makes
// from the cached packages: same item counts, same hashes. Skipped when the
// packages are not in the repository's cache (data/cache/packages).
TEST(HelpTasks, FrozenManifestIsReproduced) {
  const stdfs::path root(REPLAY_SOURCE_DIR);
  const stdfs::path cache = root / "data/cache/packages";
  PackageCache pc(cache);
  if (!stdfs::exists(pc.cached_path("libreoffice-help-eu", Registry::deb)) ||
      !stdfs::exists(pc.cached_path("libreoffice-help-en-us", Registry::deb)))
    GTEST_SKIP() << "libreoffice-help-eu/-en-us are not in " << cache;
  auto frozen = nlohmann::json::parse(fs::read_file(root / "tasks/help/MANIFEST.json"));
  TempDir dir("help_frozen");
  HelpTaskOptions o;
  o.cache_dir = cache;
  o.out_dir = dir.path / "help";
  o.seed = frozen["seed"].get<uint64_t>();
  o.log = nullptr;
  build_help_tasks(o);
  auto built = nlohmann::json::parse(fs::read_file(o.out_dir / "MANIFEST.json"));
  if (built["packages"] != frozen["packages"])
    GTEST_SKIP() << "cached packages " << built["packages"] << " differ from the frozen " << frozen["packages"];
  EXPECT_EQ(built, frozen);
}
