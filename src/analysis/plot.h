// Report figures drawn with cairo: one drawing routine per figure kind,
// rendered onto an SVG surface or an image surface saved as PNG, so both
// files of a figure always show the same picture.
//
// Text in SVG. Cairo 1.16's SVG surface (Debian 12) writes every glyph as an
// outline, so an SVG could not be searched, copied from or read by a screen
// reader. The drawing routines lay text out with cairo's metrics either way;
// for SVG, each piece of text is kept out of cairo and written afterwards as
// a real <text> element (DejaVu Sans, the same size, colour, anchor and
// rotation), on top of the picture. PNG is cairo's rendering throughout.
//
// Data. Every figure's numbers can be written as CSV (write_figure_csv):
// one row per plotted point, in long form, with a header that names the
// series column and the axes (their labels carry the units).
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace replay::analysis {

enum class ImageFormat { png, svg };
ImageFormat image_format_for(const std::filesystem::path& file);  // by extension; throws

struct Series {
  std::string label;  // legend entry ("" = not in the legend) and the series' name in the CSV
  bool in_legend = true;  // false: named in the CSV only (e.g. a marker its line's entry stands for)
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

// A dashed vertical line across the plot (e.g. the step where stage 2
// starts), labelled at its top.
struct VerticalLine {
  double x = 0;
  std::string label;
};

// The legend sits to the right of the plot area, never over the data.
struct LineChart {
  LineChart() = default;
  LineChart(std::string title, std::string x_label, std::string y_label, std::vector<Series> series = {})
      : title(std::move(title)), x_label(std::move(x_label)), y_label(std::move(y_label)), series(std::move(series)) {}

  std::string title, x_label, y_label;
  std::vector<Series> series;
  // Logarithmic x axis (ticks at 1, 2, 5 times powers of ten); points with
  // x <= 0 are skipped, and x error bars are not drawn.
  bool log_x = false;
  std::vector<VerticalLine> vertical_lines;
};

// Matrix of values (rows top to bottom, columns left to right) with each
// value printed in its cell; the lowest value (the best loss) is outlined.
struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::vector<double>> values;  // NaN = no run: drawn as an empty cell
  int decimals = 3;
  bool outline_min = true;
  std::string value_label = "value";  // what the cells hold, with units (the CSV's header)
};

// Rendered file contents (PNG bytes or SVG text).
std::string render(const LineChart& chart, ImageFormat format, int width, int height);
std::string render(const Heatmap& map, ImageFormat format, int width, int height);

// Renders and writes atomically; the format follows the extension.
void write_figure(const LineChart& chart, const std::filesystem::path& file, int width = 800,
                  int height = 560);
void write_figure(const Heatmap& map, const std::filesystem::path& file, int width = 800,
                  int height = 560);

// The plotted numbers as CSV (RFC 4180 quoting). Line chart: "series,<x
// label>,<y label>" plus "<label> error" columns when any series has error
// bars, one row per point (non-finite points left out) and one row per
// vertical line (series = its label, y empty). Heatmap: "<y label>,<x
// label>,<value label>", one row per cell, an empty value for no run.
std::string figure_csv(const LineChart& chart);
std::string figure_csv(const Heatmap& map);
void write_figure_csv(const LineChart& chart, const std::filesystem::path& file);
void write_figure_csv(const Heatmap& map, const std::filesystem::path& file);

// Ticks for a log axis covering [lo, hi] (lo > 0): the powers of ten inside,
// with 2x and 5x between them when fewer than three decades are covered.
std::vector<double> log_ticks(double lo, double hi);

// "Nice" axis ticks covering [lo, hi] (about `target` of them, steps of
// 1, 2 or 5 times a power of ten). Exposed for tests.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// Text for XML and HTML (&, <, >, "), as the SVG writer and the report's
// HTML both need it.
std::string xml_escape(const std::string& s);

}  // namespace replay::analysis
