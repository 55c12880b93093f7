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

// seeds = 3 repeats every cell three times: names and tags say the seed, the
// varied streams are set, and the runs of a cell share every other override.
TEST(SweepFile, SeedsRepeatEveryCell) {
  auto spec = parse_sweep(R"(
name = "s"
base = "base.toml"
seeds = 3
[[group]]
name = "mid"
grid = { "schedule.rho" = [0.0, 0.5] }
[[group]]
name = "ref"
seeds = [7, 9]
vary = ["pool"]
)",
                          "/x/s.toml");
  ASSERT_EQ(spec.runs.size(), 2u * 3u + 2u);
  EXPECT_EQ(spec.runs[0].name, "mid-rho=0-seed=1");
  EXPECT_EQ(spec.runs[2].name, "mid-rho=0-seed=3");
  EXPECT_EQ(spec.runs[3].name, "mid-rho=0.5-seed=1");
  for (int i = 0; i < 6; ++i) {
    const std::string seed = std::to_string(i % 3 + 1);
    EXPECT_EQ(spec.runs[i].tags.at("seed"), seed);
    // Default vary: init and data; pool follows the base config.
    const std::vector<std::string> tail(spec.runs[i].overrides.end() - 2, spec.runs[i].overrides.end());
    EXPECT_EQ(tail, (std::vector<std::string>{"seeds.init=" + seed, "seeds.data=" + seed}));
    // The same cell: everything but the seeds agrees with the cell's first run.
    const auto& first = spec.runs[i - i % 3];
    EXPECT_EQ(std::vector<std::string>(spec.runs[i].overrides.begin(), spec.runs[i].overrides.end() - 2),
              std::vector<std::string>(first.overrides.begin(), first.overrides.end() - 2));
    EXPECT_EQ(spec.runs[i].tags.at("rho"), first.tags.at("rho"));
  }
  // A group's seeds and vary replace the sweep's.
  EXPECT_EQ(spec.runs[6].name, "ref-seed=7");
  EXPECT_EQ(spec.runs[7].overrides, (std::vector<std::string>{"seeds.pool=9"}));

  // --seeds N replaces every group's seeds with 1..N.
  auto cli = parse_sweep("name = \"s\"\nbase = \"b\"\n[[group]]\nname = \"g\"\n", "/x/s.toml", {}, 2);
  ASSERT_EQ(cli.runs.size(), 2u);
  EXPECT_EQ(cli.runs[1].name, "g-seed=2");
  EXPECT_EQ(cli.runs[1].tags.at("seed"), "2");
  // Without seeds every run is there once, untagged.
  auto none = parse_sweep("name = \"s\"\nbase = \"b\"\n[[group]]\nname = \"g\"\n", "/x/s.toml");
  ASSERT_EQ(none.runs.size(), 1u);
  EXPECT_EQ(none.runs[0].name, "g");
  EXPECT_FALSE(none.runs[0].tags.contains("seed"));
}

TEST(SweepFile, BadSeedsNameFileAndKey) {
  const std::string head = "name = \"s\"\nbase = \"b\"\n";
  auto expect = [&](const std::string& text, const std::string& needle) {
    const std::string msg = error_of(text);
    EXPECT_NE(msg.find("/x/s.toml: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
  };
  expect(head + "seeds = 0\n[[group]]\n", "seeds: a count must be in [1, 1000], got 0");
  expect(head + "seeds = -2\n[[group]]\n", "seeds: a count must be in [1, 1000], got -2");
  expect(head + "seeds = 2.5\n[[group]]\n", "seeds: expected a count");
  expect(head + "seeds = []\n[[group]]\n", "seeds: expected a count");
  expect(head + "seeds = [1, -1]\n[[group]]\n", "seeds: every seed must be an integer >= 0, got -1");
  expect(head + "seeds = [1, 1.5]\n[[group]]\n", "seeds: every seed must be an integer >= 0, got 1.5");
  expect(head + "seeds = [4, 4]\n[[group]]\n", "seeds: seed 4 is listed twice");
  expect(head + "[[group]]\nseeds = 2\nvary = [\"init\", \"order\"]\n",
         "group[0].vary: 'order' is not a seed stream (init, data, pool)");
  expect(head + "vary = []\n[[group]]\n", "vary: must name at least one");
  expect(head + "seeds = 2\n[[group]]\nset = { \"seeds.data\" = 5 }\n",
         "group[0].seeds: 'seeds.data=5' would be overwritten");
  try {
    parse_sweep(head + "[[group]]\n", "/x/s.toml", {}, 0);
    FAIL() << "no error";
  } catch (const replay::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--seeds: must be in [1, 1000], got 0"), std::string::npos) << e.what();
  }
}

// A float tag is the exact value (the registry stores it as a number); the
// run name keeps its short label.
TEST(SweepFile, FloatTagsKeepTheExactValue) {
  auto spec = parse_sweep(R"(
name = "s"
base = "base.toml"
[[group]]
name = "ref"
tags = { scale = 0.1234567891, label = "0.5" }
grid = { "schedule.f" = [0.001953125, 0.5] }
)",
                          "/x/s.toml");
  ASSERT_EQ(spec.runs.size(), 2u);
  EXPECT_EQ(spec.runs[0].name, "ref-f=0.00195312");
  EXPECT_EQ(spec.runs[0].tags.at("f"), "0.001953125");
  EXPECT_EQ(std::stod(spec.runs[0].tags.at("f")), 0.001953125);
  EXPECT_EQ(spec.runs[1].tags.at("f"), "0.5");
  EXPECT_EQ(spec.runs[0].tags.at("scale"), "0.1234567891");
  EXPECT_EQ(spec.runs[0].tags.at("label"), "0.5");  // a string stays as written
}
