#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "analysis/plot.h"
#include "png_pixels.h"
#include "temp_dir.h"
#include "util/error.h"
#include "util/fs.h"

namespace stdfs = std::filesystem;
using namespace replay::analysis;
using png_pixels::count_pixels;

namespace {

uint32_t be32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

Heatmap sample_heatmap() {
  Heatmap map;
  map.title = "t";
  map.row_labels = {"0", "0.5"};
  map.col_labels = {"1", "0.5", "0.25"};
  map.values = {{3.5, 3.4, NAN}, {3.3, 3.45, 3.6}};
  return map;
}

}  // namespace

TEST(Plot, LineChartRendersPngOfTheRequestedSizeAndSvg) {
  LineChart chart{"Loss", "step", "loss", {}};
  Series s;
  s.label = "train";
  s.x = {0, 1, 2, 3};
  s.y = {5, 4, NAN, 3};  // NaN leaves a gap, not a crash
  chart.series.push_back(s);
  std::string png = render(chart, ImageFormat::png, 640, 480);
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(png, 16), 640u);
  EXPECT_EQ(be32(png, 20), 480u);
  std::string svg = render(chart, ImageFormat::svg, 640, 480);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("640"), std::string::npos);
  // The series colour (Tableau blue) is actually drawn.
  EXPECT_GT(count_pixels(png, 31, 119, 180), 100);
}

TEST(Plot, HeatmapOutlinesTheBestCell) {
  Heatmap map = sample_heatmap();
  std::string with = render(map, ImageFormat::png, 600, 400);
  map.outline_min = false;
  std::string without = render(map, ImageFormat::png, 600, 400);
  // The outline colour (0.85, 0.1, 0.1) appears only when outlining.
  EXPECT_GT(count_pixels(with, 217, 26, 26), 200);
  EXPECT_EQ(count_pixels(without, 217, 26, 26), 0);
  map.values.pop_back();
  EXPECT_THROW(render(map, ImageFormat::png, 600, 400), replay::Error);
}

TEST(Plot, WritesFilesByExtension) {
  TempDir tmp("plot");
  const stdfs::path dir = tmp.path / "figures";  // write_figure creates the folder
  write_figure(sample_heatmap(), dir / "h.png", 500, 300);
  write_figure(sample_heatmap(), dir / "h.svg", 500, 300);
  EXPECT_EQ(replay::fs::read_file(dir / "h.png").substr(1, 3), "PNG");
  EXPECT_NE(replay::fs::read_file(dir / "h.svg").find("<svg"), std::string::npos);
  EXPECT_THROW(write_figure(sample_heatmap(), dir / "h.jpg"), replay::Error);
  EXPECT_FALSE(stdfs::exists(dir / "h.jpg"));
}

TEST(Plot, NiceTicks) {
  auto unit = nice_ticks(0, 1, 5);
  const double expected[] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
  ASSERT_EQ(unit.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(unit[i], expected[i], 1e-12);
  auto t = nice_ticks(2.93, 3.71, 6);
  ASSERT_FALSE(t.empty());
  EXPECT_GE(t.front(), 2.93);
  EXPECT_LE(t.back(), 3.71);
  EXPECT_NEAR(t[1] - t[0], 0.2, 1e-12);  // 0.78 / 6 = 0.13 rounds up to 0.2
  EXPECT_FALSE(std::signbit(nice_ticks(-1, 1, 4)[2]));
  EXPECT_TRUE(nice_ticks(1, 1).empty());
}

TEST(Plot, ErrorBarsAreDrawnInTheSeriesColour) {
  LineChart chart{"Accuracy", "rho", "acc", {}};
  Series s;
  s.x = {0, 0.5, 0.9};
  s.y = {0.30, 0.35, 0.33};
  s.line = false;
  s.markers = false;  // only the bars can put the series colour on the image
  chart.series.push_back(s);
  EXPECT_EQ(count_pixels(render(chart, ImageFormat::png, 600, 400), 31, 119, 180), 0);
  chart.series[0].y_err = {0.02, 0.02, NAN};  // NaN: no bar for that point
  chart.series[0].x_err = {0.05};             // shorter than x: the others have none
  std::string png = render(chart, ImageFormat::png, 600, 400);
  EXPECT_GT(count_pixels(png, 31, 119, 180), 100);
  EXPECT_NE(render(chart, ImageFormat::svg, 600, 400).find("<svg"), std::string::npos);
}
