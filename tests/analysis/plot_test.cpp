#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "analysis/plot.h"
#include "png_pixels.h"
#include "svg_text.h"
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

// The SVG is well-formed XML whose text is real <text> (title, axis labels,
// tick labels, legend), not glyph outlines.
TEST(Plot, SvgCarriesRealText) {
  LineChart chart{"Loss & <friends>", "step", "loss (nats/token)", {}};
  Series s;
  s.label = "target validation (math)";
  s.x = {0, 10, 20};
  s.y = {5, 4, 3};
  chart.series.push_back(s);
  std::string svg = render(chart, ImageFormat::svg, 640, 480);
  svg_text::Parsed parsed = svg_text::parse(svg);
  ASSERT_TRUE(parsed.well_formed) << parsed.error;
  for (const char* text : {"Loss & <friends>", "step", "loss (nats/token)", "target validation (math)", "10", "4.0"})
    EXPECT_TRUE(parsed.has(text)) << text << "\n" << svg.substr(svg.find("<g id=\"text\""));
  EXPECT_EQ(svg.find("glyph"), std::string::npos);  // no outlined glyphs left
  // A heatmap's cell values are text too.
  parsed = svg_text::parse(render(sample_heatmap(), ImageFormat::svg, 600, 400));
  ASSERT_TRUE(parsed.well_formed) << parsed.error;
  EXPECT_TRUE(parsed.has("3.300"));
  EXPECT_TRUE(parsed.has("-"));  // the cell without a run
  // The PNG still shows the text (dark title pixels at the top).
  std::string png = render(chart, ImageFormat::png, 640, 480);
  EXPECT_GT(count_pixels(png, 0, 0, 0), 50);
}

// The legend sits beside the plot, right of every tick label of the x axis,
// so a point in the top-right corner stays visible.
TEST(Plot, LegendIsOutsideTheData) {
  LineChart chart{"t", "x", "y", {}};
  Series s;
  s.label = "a long legend entry";
  s.line = false;
  s.x = {0, 100};
  s.y = {0, 100};
  chart.series.push_back(s);
  svg_text::Parsed parsed = svg_text::parse(render(chart, ImageFormat::svg, 640, 480));
  const svg_text::Text* legend = parsed.find("a long legend entry");
  const svg_text::Text* last_tick = parsed.find("100");
  ASSERT_TRUE(legend && last_tick);
  EXPECT_GT(legend->x, last_tick->x + 20);
  // Without a legend entry the plot takes the width.
  chart.series[0].in_legend = false;
  parsed = svg_text::parse(render(chart, ImageFormat::svg, 640, 480));
  ASSERT_TRUE(parsed.find("100"));
  EXPECT_GT(parsed.find("100")->x, 580);
}

TEST(Plot, LogAxisTicksAndVerticalLines) {
  EXPECT_EQ(log_ticks(0.0015, 0.02), (std::vector<double>{0.002, 0.005, 0.01, 0.02}));
  EXPECT_EQ(log_ticks(0.5, 5000), (std::vector<double>{1, 10, 100, 1000}));
  EXPECT_TRUE(log_ticks(0, 1).empty());
  LineChart chart{"fit", "pool", "loss", {}};
  chart.log_x = true;
  Series s;
  s.label = "reference";
  s.x = {0.001953125, 0.00390625, 0.0078125, 0.015625, -1};  // x <= 0 cannot be drawn on a log axis
  s.y = {5.28, 5.14, 5.14, 4.93, 9};
  chart.series.push_back(s);
  chart.vertical_lines.push_back({0.005, "stage 2 starts"});
  std::string svg = render(chart, ImageFormat::svg, 640, 480);
  svg_text::Parsed parsed = svg_text::parse(svg);
  ASSERT_TRUE(parsed.well_formed);
  for (const char* text : {"0.002", "0.005", "0.01", "stage 2 starts"}) EXPECT_TRUE(parsed.has(text)) << text;
  EXPECT_FALSE(parsed.has("9.0"));  // the skipped point does not stretch the y axis
  // Ticks are evenly spaced in log10: 0.002 -> 0.02 spans one decade.
  const double x2 = parsed.find("0.002")->x, x5 = parsed.find("0.005")->x, x10 = parsed.find("0.01")->x;
  EXPECT_NEAR((x5 - x2) / (x10 - x2), std::log10(2.5) / std::log10(5.0), 1e-3);
  std::string png = render(chart, ImageFormat::png, 640, 480);
  EXPECT_GT(count_pixels(png, 89, 89, 89), 100);  // the dashed grey line is drawn
}

TEST(Plot, FigureDataAsCsv) {
  LineChart chart{"t", "step", "loss, nats", {}};
  Series a;
  a.label = "run \"a\"";
  a.x = {1, 2, 3};
  a.y = {4.5, NAN, 3.25};
  a.y_err = {0.1};
  Series b;
  b.x = {1};
  b.y = {2};
  chart.series = {a, b};
  chart.vertical_lines.push_back({2, "stage 2 starts"});
  EXPECT_EQ(figure_csv(chart),
            "series,step,\"loss, nats\",\"loss, nats error\"\n"
            "\"run \"\"a\"\"\",1,4.5,0.1\n"
            "\"run \"\"a\"\"\",3,3.25,\n"
            "series 2,1,2,\n"
            "stage 2 starts,2,,\n");
  Heatmap map = sample_heatmap();
  map.x_label = "alpha";
  map.y_label = "rho";
  map.value_label = "loss";
  EXPECT_EQ(figure_csv(map), "rho,alpha,loss\n0,1,3.5\n0,0.5,3.4\n0,0.25,\n0.5,1,3.3\n0.5,0.5,3.45\n0.5,0.25,3.6\n");
  TempDir tmp("csv");
  write_figure_csv(map, tmp.path / "figures" / "h.csv");
  EXPECT_EQ(replay::fs::read_file(tmp.path / "figures" / "h.csv"), figure_csv(map));
}
