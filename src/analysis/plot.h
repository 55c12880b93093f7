// Report figures drawn with cairo: one drawing routine per figure kind,
// rendered onto an SVG surface or an image surface saved as PNG, so both
// files of a figure always show the same picture.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace replay::analysis {

enum class ImageFormat { png, svg };
ImageFormat image_format_for(const std::filesystem::path& file);  // by extension; throws

struct Series {
  std::string label;  // legend entry ("" = not in the legend)
  std::vector<double> x, y;  // non-finite points are skipped (gaps in the line)
  bool line = true;
  bool markers = true;
  bool dashed = false;
  int color = -1;   // palette index; -1 = the series' position
  int marker = -1;  // 0 circle, 1 square, 2 triangle; -1 = follows the colour
  std::vector<std::string> point_labels;  // optional text beside each point
  // Optional half-widths of error bars (e.g. standard errors) per point, in
  // the series' colour; missing or non-finite entries draw no bar. The axes
  // cover the bars.
  std::vector<double> x_err, y_err;
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;
};

// Matrix of values (rows top to bottom, columns left to right) with each
// value printed in its cell; the lowest value (the best loss) is outlined.
struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // NaN = no run: drawn as an empty cell
  int decimals = 3;
  bool outline_min = true;
};

// Rendered file contents (PNG bytes or SVG text).
std::string render(const LineChart& chart, ImageFormat format, int width, int height);
std::string render(const Heatmap& map, ImageFormat format, int width, int height);

// Renders and writes atomically; the format follows the extension.
void write_figure(const LineChart& chart, const std::filesystem::path& file, int width = 800,
                  int height = 560);
void write_figure(const Heatmap& map, const std::filesystem::path& file, int width = 800,
                  int height = 560);

// "Nice" axis ticks covering [lo, hi] (about `target` of them, steps of
// 1, 2 or 5 times a power of ten). Exposed for tests.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

}  // namespace replay::analysis
