// The CLI convention of docs/cli.md, through the real binary: old flag
// spellings still work with a warning, `--version`, exit 2 for usage errors,
// arguments checked before any work, defaults that chain (`tokenizer train`
// writes what `data build` reads; `report` writes under runs/reports/), and
// `--json` on `data info` and `model info`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/fake_sweep.h"
#include "replay_cli.h"
#include "temp_dir.h"

namespace stdfs = std::filesystem;

namespace {

// The binary run in `dir` (as a newcomer runs it from the repository root),
// stdout alone (stderr dropped) when `stdout_only`.
CliResult run_in(const stdfs::path& dir, const std::string& args, bool stdout_only = false) {
  const std::string command = "cd '" + dir.string() + "' && " + REPLAY_BINARY + " " + args +
                              (stdout_only ? " 2>/dev/null" : " 2>&1");
  return run_shell(command);
}

const std::string kSweep = std::string(REPLAY_SOURCE_DIR) + "/configs/micro/demo.toml";

}  // namespace

TEST(CliConvention, VersionFlagAndSubcommandAgree) {
  const CliResult flag = run_replay("--version");
  EXPECT_EQ(flag.status, 0) << flag.out;
  EXPECT_EQ(flag.out.rfind("replay ", 0), 0u) << flag.out;
  const CliResult cmd = run_replay("version");
  EXPECT_EQ(cmd.status, 0) << cmd.out;
  EXPECT_EQ(flag.out, cmd.out);
}

TEST(CliConvention, UsageErrorsExitTwo) {
  const CliResult bare = run_replay("");
  EXPECT_EQ(bare.status, 2) << bare.out;
  EXPECT_NE(bare.out.find("Subcommands"), std::string::npos) << "a bare replay prints the help: " << bare.out;
  EXPECT_EQ(run_replay("no-such-command").status, 2);
  EXPECT_EQ(run_replay("data build --no-such-flag").status, 2);
  EXPECT_EQ(run_replay("data info").status, 2);  // a required argument missing
  EXPECT_EQ(run_replay("model info tiny --seq").status, 2);
  // Help is not an error.
  EXPECT_EQ(run_replay("data --help").status, 0);
}

TEST(CliConvention, OldSweepFlagsWarnAndStillApply) {
  TempDir dir("cliconv");
  const std::string blocker = (dir.path / "blocker").string();
  std::ofstream(blocker) << "a regular file";
  // The old name sets the same value as the new one: the output check names the new flag.
  for (const char* flag : {"--registry", "--db"}) {
    const CliResult r = run_replay("sweep " + kSweep + " " + flag + " " + blocker + "/registry.sqlite");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("--db"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("is a file"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("deprecated") != std::string::npos, std::string(flag) == "--registry") << r.out;
  }
  for (const char* flag : {"--runs-dir", "--runs"}) {
    const CliResult r = run_replay("sweep " + kSweep + " " + flag + " " + blocker + "/runs");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("--runs"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("is a file"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("deprecated") != std::string::npos, std::string(flag) == "--runs-dir") << r.out;
  }
  const CliResult old = run_replay("sweep " + kSweep + " --list --registry x.sqlite --runs-dir x");
  EXPECT_EQ(old.status, 0) << old.out;
  EXPECT_NE(old.out.find("warning: --registry is deprecated, use --db"), std::string::npos) << old.out;
  EXPECT_NE(old.out.find("warning: --runs-dir is deprecated, use --runs"), std::string::npos) << old.out;
  // Hidden from the help, which shows the new names.
  const CliResult help = run_replay("sweep --help");
  EXPECT_EQ(help.out.find("--registry"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--db"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--runs"), std::string::npos) << help.out;
}

TEST(CliConvention, DemoRefusesAnUnknownDomainBeforeAnyWork) {
  TempDir dir("cliconv");
  const CliResult r = run_in(dir.path, "demo --domain physics");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("physics"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("math, code, basque, qa"), std::string::npos) << r.out;
  EXPECT_TRUE(stdfs::is_empty(dir.path)) << "nothing written: no data/, no runs/";
}

// A small English-like corpus: enough distinct text for a 300-token BPE and
// a store of 16-token sequences.
void write_corpus(const stdfs::path& file) {
  const char* words[] = {"the", "model", "learns", "from", "replayed", "data", "while", "training",
                         "on", "a", "new", "domain", "and", "keeps", "what", "it", "knew"};
  std::ofstream out(file);
  for (int doc = 0; doc < 300; ++doc) {
    std::string text;
    for (int w = 0; w < 24; ++w) text += std::string(w ? " " : "") + words[(doc * 7 + w * w) % 17];
    out << nlohmann::json{{"text", text + "."}}.dump() << "\n";
  }
}

TEST(CliConvention, TokenizerTrainWritesWhatDataBuildReads) {
  TempDir dir("cliconv");
  write_corpus(dir.path / "docs.jsonl");
  const CliResult train = run_in(dir.path, "tokenizer train docs.jsonl --vocab-size 300 --sample-mb 1 --threads 1");
  ASSERT_EQ(train.status, 0) << train.out;
  EXPECT_TRUE(stdfs::exists(dir.path / "data/tokenizer/tokenizer.json")) << train.out;
  EXPECT_FALSE(stdfs::exists(dir.path / "tokenizer.json")) << "never the working directory's root";

  const std::string build_args = "data build --domain prose docs.jsonl -o data/stores/prose --seq-len 16 "
                                 "--val-sequences 2 --threads 1";
  const CliResult build = run_in(dir.path, build_args);  // no -t: the default tokenizer
  ASSERT_EQ(build.status, 0) << build.out;

  const CliResult info = run_in(dir.path, "data info --json data/stores/prose -t data/tokenizer/tokenizer.json",
                                /*stdout_only=*/true);
  ASSERT_EQ(info.status, 0) << info.out;
  const auto j = nlohmann::json::parse(info.out);
  ASSERT_EQ(j.at("stores").size(), 1u) << info.out;
  const auto& s = j["stores"][0];
  EXPECT_EQ(s.at("domain"), "prose");
  EXPECT_EQ(s.at("seq_len"), 16);
  EXPECT_EQ(s.at("checksums_ok"), true);
  EXPECT_EQ(s.at("splits").at("val").at("sequences"), 2);
  EXPECT_GT(s.at("splits").at("train").at("sequences").get<int>(), 0);
  EXPECT_LT(s.at("max_token_id").get<int>(), s.at("vocab_size").get<int>());
  for (const char* key : {"store", "tokenizer_fingerprint", "eot_id", "input_documents", "input_bytes", "split_rule"})
    EXPECT_TRUE(s.contains(key)) << key << " in " << info.out;

  // A store that fails is listed with its error, and the status says so.
  const CliResult bad = run_in(dir.path, "data info --json data/stores/prose missing-store", true);
  EXPECT_EQ(bad.status, 1) << bad.out;
  const auto jb = nlohmann::json::parse(bad.out);
  ASSERT_EQ(jb.at("stores").size(), 2u);
  EXPECT_EQ(jb["stores"][1].at("store"), "missing-store");
  EXPECT_TRUE(jb["stores"][1].contains("error"));
}

TEST(CliConvention, ModelInfoJson) {
  const CliResult r = run_replay("model info tiny --json --seq 64 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("model"), "tiny");
  EXPECT_EQ(j.at("seq"), 64);
  const auto& p = j.at("parameters");
  EXPECT_GT(p.at("total").get<int64_t>(), 0);
  EXPECT_EQ(p.at("total").get<int64_t>() * 4, j.at("weights_bytes_fp32").get<int64_t>());
  EXPECT_GT(j.at("train_flops_per_token").get<double>(), 6.0 * p.at("non_embedding_with_head").get<double>());
  EXPECT_TRUE(j.at("config").contains("n_layers")) << r.out;
  // The text output says the same total.
  const CliResult text = run_replay("model info tiny --seq 64");
  std::string total = std::to_string(p.at("total").get<int64_t>());
  for (int i = static_cast<int>(total.size()) - 3; i > 0; i -= 3) total.insert(i, ",");
  EXPECT_NE(text.out.find(total), std::string::npos) << text.out;
}

TEST(CliConvention, ReportWritesUnderRunsReportsByDefault) {
  TempDir dir("cliconv");
  fake::build_sweep(dir.path / "runs");  // runs/registry.sqlite, the default --db
  const CliResult r = run_in(dir.path, "report finemath-micro");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(stdfs::exists(dir.path / "runs/reports/finemath-micro/report.md")) << r.out;
  EXPECT_FALSE(stdfs::exists(dir.path / "reports")) << "never the working directory's root";
}
