#include "util/duration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using replay::format_duration;

TEST(FormatDuration, TenthsUnderTenSeconds) {
  EXPECT_EQ(format_duration(0), "0.0s");
  EXPECT_EQ(format_duration(0.04), "0.0s");
  EXPECT_EQ(format_duration(0.35), "0.4s");
  EXPECT_EQ(format_duration(9.5), "9.5s");
  EXPECT_EQ(format_duration(9.96), "10s");  // rounds up out of the tenths form
}

TEST(FormatDuration, SecondsThenMinutesThenHours) {
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(59.6), "1m00s");
  EXPECT_EQ(format_duration(182), "3m02s");
  EXPECT_EQ(format_duration(3599.4), "59m59s");
  EXPECT_EQ(format_duration(3599.6), "1h00m");
  EXPECT_EQ(format_duration(3900), "1h05m");
  EXPECT_EQ(format_duration(3929), "1h05m");   // minutes are rounded, not cut
  EXPECT_EQ(format_duration(3931), "1h06m");
  EXPECT_EQ(format_duration(93600), "26h00m");  // no days: hours keep counting
}

TEST(FormatDuration, UnknownIsAQuestionMark) {
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(std::nan("")), "?");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "?");
}
