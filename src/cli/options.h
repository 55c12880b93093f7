// The CLI convention (docs/cli.md), stated once: the flag names that mean the
// same thing in every subcommand, and the helpers that add them, so that no
// command spells `--runs`, `--db`, `-o/--out` or `-t/--tokenizer` its own way.
// Default paths are owned by the stage that uses them (run/layout.h,
// analysis/registry.h, text/tokenizer.h); the helpers only show them.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace replay::cli {

inline constexpr const char* kRunsFlag = "--runs";               // a runs folder (run/layout.h)
inline constexpr const char* kDbFlag = "--db";                   // a run registry file
inline constexpr const char* kOutFlag = "-o,--out";              // the one thing a command writes
inline constexpr const char* kTokenizerFlag = "-t,--tokenizer";  // a tokenizer file or folder
inline constexpr const char* kJsonFlag = "--json";               // machine-readable output on stdout
inline constexpr const char* kVersion = "0.1.0";

// Exit codes (main.cpp): 0 done, 1 an error (replay::Error naming what),
// 2 a usage error (bad flag or value, unknown or missing subcommand), 128+n a
// signal, fs::kLockHeldExit a folder held by another process.
inline constexpr int kUsageExit = 2;

// A hidden old spelling of a flag that stores into the same variable and
// prints one warning line naming the new spelling, so scripts written
// against the old name keep working while they are moved over.
template <typename T>
CLI::Option* add_deprecated_alias(CLI::App* cmd, const std::string& old_name, T& variable,
                                  const std::string& new_name) {
  auto* option = cmd->add_option(old_name, variable, "Deprecated: use " + new_name);
  option->group("");  // hidden from --help
  option->check(CLI::Validator(
      [old_name, new_name](std::string&) {
        std::fprintf(stderr, "replay: warning: %s is deprecated, use %s\n", old_name.c_str(), new_name.c_str());
        return std::string();
      },
      "", "deprecated"));
  return option;
}

inline CLI::Option* add_runs_option(CLI::App* cmd, std::string& runs) {
  return cmd->add_option(kRunsFlag, runs, "Runs folder (run directories, registry, reports)")->capture_default_str();
}

// `db` left empty means "the registry of the runs folder" (<runs>/registry.sqlite),
// so that `--runs X` alone keeps runs and their registry together.
inline CLI::Option* add_db_option(CLI::App* cmd, std::string& db) {
  return cmd->add_option(kDbFlag, db, "Run registry (SQLite file; default: registry.sqlite in the runs folder)");
}

inline CLI::Option* add_json_flag(CLI::App* cmd, bool& json) {
  return cmd->add_flag(kJsonFlag, json, "Print one JSON document on stdout instead of the text");
}

}  // namespace replay::cli
