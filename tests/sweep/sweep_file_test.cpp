#include <gtest/gtest.h>

#include "sweep/sweep_file.h"
#include "util/error.h"

using replay::sweep::parse_sweep;

namespace {

std::string error_of(const std::string& text) {
  try {
    parse_sweep(text, "/x/s.toml");
  } catch (const replay::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(SweepFile, GridIsACartesianProductAndZipGoesTogether) {
  auto spec = parse_sweep(R"(
name = "s"
base = "base.toml"
set = { "train.steps" = 10 }
[[group]]
name = "mid"
tags = { family = "mid-training" }
set = { "schedule.protocol" = "mid-training" }
grid = { "schedule.rho" = [0.0, 0.5], "schedule.alpha" = [1.0, 0.5, 0.25] }
[[group]]
name = "ref"
zip = { "schedule.f" = [0.25, 0.5], "schedule.e" = [8, 4] }
)",
                          "/x/s.toml", {"seed=3"});
  EXPECT_EQ(spec.name, "s");
  EXPECT_EQ(spec.base, std::filesystem::path("/x/base.toml"));
  ASSERT_EQ(spec.runs.size(), 2u * 3u + 2u);
  // Every run carries the common overrides first, then its group's, then its axes.
  const auto& first = spec.runs[0];
  EXPECT_EQ(first.overrides.front(), "train.steps=10");
  EXPECT_EQ(first.overrides[1], "seed=3");
  EXPECT_EQ(first.tags.at("family"), "mid-training");
  std::set<std::pair<std::string, std::string>> cells;
  for (int i = 0; i < 6; ++i) cells.insert({spec.runs[i].tags.at("rho"), spec.runs[i].tags.at("alpha")});
  EXPECT_EQ(cells.size(), 6u);
  // Zipped axes pair values by position.
  EXPECT_EQ(spec.runs[6].tags.at("f"), "0.25");
  EXPECT_EQ(spec.runs[6].tags.at("e"), "8");
  EXPECT_EQ(spec.runs[7].tags.at("f"), "0.5");
  EXPECT_EQ(spec.runs[7].tags.at("e"), "4");
  EXPECT_NE(std::find(spec.runs[7].overrides.begin(), spec.runs[7].overrides.end(), "schedule.e=4"),
            spec.runs[7].overrides.end());
}

TEST(SweepFile, BadInputNamesTheKey) {
  EXPECT_NE(error_of("name = \"s\"\nbase = \"b\"\ncolour = 1\n[[group]]\n").find("/x/s.toml: unknown key 'colour' (known: "),
            std::string::npos);
  EXPECT_NE(error_of("name = \"s\"\n[[group]]\n").find("base"), std::string::npos);
  EXPECT_NE(error_of("name = \"s\"\nbase = \"b\"\n").find("group"), std::string::npos);
  EXPECT_NE(error_of("name = \"s\"\nbase = \"b\"\n[[group]]\nzip = { a = [1, 2], b = [1] }\n")
                .find("same length"),
            std::string::npos);
  EXPECT_NE(error_of("name = \"s\"\nbase = \"b\"\n[[group]]\ngrid = { a = [] }\n").find("group[0].grid.a"),
            std::string::npos);
  EXPECT_NE(error_of("name = \"s\"\nbase = \"b\"\n[[group]]\nname = \"g\"\n[[group]]\nname = \"g\"\n")
                .find("two runs are both named"),
            std::string::npos);
  EXPECT_NE(error_of("name = \"s\"\nbase = \"b\"\n[[group]]\nname = \"g\"\nx = 1\n").find("group[0].x"),
            std::string::npos);
}
