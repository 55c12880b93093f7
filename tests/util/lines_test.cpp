#include "util/lines.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

using replay::for_each_line;

namespace {
std::vector<std::pair<size_t, std::string>> numbered(std::string_view text) {
  std::vector<std::pair<size_t, std::string>> out;
  for_each_line(text, [&](size_t n, std::string_view line) { out.emplace_back(n, line); });
  return out;
}
}  // namespace

TEST(ForEachLine, EveryLineWithItsNumberCrStripped) {
  using Lines = std::vector<std::pair<size_t, std::string>>;
  EXPECT_EQ(numbered("a\r\n\nb"), (Lines{{1, "a"}, {2, ""}, {3, "b"}}));
  EXPECT_EQ(numbered("a\n"), (Lines{{1, "a"}}));  // a trailing '\n' starts no line
  EXPECT_EQ(numbered("\n\n"), (Lines{{1, ""}, {2, ""}}));
  EXPECT_TRUE(numbered("").empty());
  EXPECT_EQ(numbered("x\ry\n"), (Lines{{1, "x\ry"}}));  // only a '\r' before '\n' goes
}

TEST(ForEachLine, CallbackWithoutNumbersSeesTheSameLines) {
  std::vector<std::string> lines;
  for_each_line("one\r\ntwo\n\nfour", [&](std::string_view line) { lines.emplace_back(line); });
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "", "four"}));
}
