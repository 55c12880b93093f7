#include "util/toml_reader.h"

#include <gtest/gtest.h>

#include "error_of.h"

using replay::parse_toml_text;
using replay::TomlReader;

TEST(TomlReader, StringsAcceptAnArrayOrALoneString) {
  const toml::table t = parse_toml_text("one = \"a\"\nmany = [\"a\", \"b\"]\nmixed = [\"a\", 1]\n", "c.toml");
  TomlReader r(&t, "x", "c.toml");
  EXPECT_EQ(r.strings_opt("one"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(r.strings_opt("many"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.strings_opt("absent"), std::nullopt);
  EXPECT_EQ(error_of([&] { r.strings_opt("mixed"); }),
            "c.toml: x.mixed: expected only strings in the array, got an integer");
}

TEST(TomlReader, ArrayOfTablesGivesOneNamedReaderPerTable) {
  const toml::table t = parse_toml_text("[[group]]\nname = \"a\"\n[[group]]\nnme = \"b\"\n", "c.toml");
  TomlReader r(&t, "", "c.toml");
  std::vector<TomlReader> groups = r.tables("group");
  r.finish();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].get_string("name", ""), "a");
  EXPECT_NO_THROW(groups[0].finish());
  EXPECT_EQ(groups[1].name("nme"), "group[1].nme");
  EXPECT_TRUE(r.tables("absent").empty());
  const toml::table bad = parse_toml_text("group = [1]\n", "c.toml");
  EXPECT_EQ(error_of([&] { TomlReader(&bad, "", "c.toml").tables("group"); }),
            "c.toml: group[0]: expected a table, got an integer");
}

TEST(TomlReader, FinishNamesTheUnknownKeyAndTheKnownOnes) {
  const toml::table t = parse_toml_text("[optim]\nlr = 1\nlrr = 2\n[empty]\nx = 1\n", "c.toml");
  TomlReader root(&t, "", "c.toml");
  TomlReader optim = root.child("optim");
  optim.double_opt("lr");
  optim.double_opt("beta1");
  EXPECT_EQ(error_of([&] { optim.finish(); }), "c.toml: unknown key 'optim.lrr' (known: beta1, lr)");
  EXPECT_EQ(error_of([&] { root.child("empty").finish(); }), "c.toml: unknown key 'empty.x' (none expected here)");
  EXPECT_EQ(error_of([&] { root.finish(); }), "(no error)");  // both tables were asked for
}

TEST(TomlReader, ChildOfAbsentTableReadsAsEmptyAndNodeMarksAsRead) {
  const toml::table t = parse_toml_text("flag = true\n", "c.toml");
  TomlReader r(&t, "", "c.toml");
  TomlReader none = r.child("none");
  EXPECT_EQ(none.int_opt("k"), std::nullopt);
  EXPECT_EQ(none.raw(), nullptr);
  ASSERT_NE(r.node("flag"), nullptr);
  EXPECT_TRUE(r.node("flag")->is_boolean());
  EXPECT_NO_THROW(r.finish());
}

TEST(ParseToml, SyntaxErrorsAreFileLineColumn) {
  const std::string e = error_of([] { parse_toml_text("a = 1\nb = = 2\n", "c.toml"); });
  EXPECT_EQ(e.rfind("c.toml:2:", 0), 0u) << e;
}
