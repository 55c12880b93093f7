#include "analysis/plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>

#include "util/error.h"
#include "util/fs.h"

namespace replay::analysis {

namespace {

struct Rgb {
  double r, g, b;
};

// Tableau-10: distinguishable, and readable when printed in grey.
const Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                        {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
                        {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
                        {0.090, 0.745, 0.812}};
constexpr int kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// Viridis anchors: perceptually uniform, dark = low (= good) loss.
const Rgb kViridis[] = {{0.267, 0.005, 0.329}, {0.230, 0.322, 0.546}, {0.128, 0.567, 0.551},
                        {0.369, 0.789, 0.383}, {0.993, 0.906, 0.144}};

Rgb viridis(double t) {
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  int i = std::min(3, static_cast<int>(t));
  double f = t - i;
  const Rgb &a = kViridis[i], &b = kViridis[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

void set_color(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

// ---- Text for SVG (plot.h): recorded instead of drawn, written as <text>.
struct SvgText {
  double x, y, angle_deg, dy;  // anchor point, rotation, baseline offset from the anchor
  double size;
  bool bold;
  Rgb color;
  const char* anchor;  // start | middle | end
  std::string text;
};

struct TextSink {
  double size = 10;
  bool bold = false;
  std::vector<SvgText> texts;
};

const cairo_user_data_key_t kTextSinkKey{};

TextSink* text_sink(cairo_t* cr) { return static_cast<TextSink*>(cairo_get_user_data(cr, &kTextSinkKey)); }

void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  if (TextSink* sink = text_sink(cr)) sink->size = size, sink->bold = bold;
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t ext;
  cairo_text_extents(cr, text.c_str(), &ext);
  return ext.x_advance;
}

Rgb source_color(cairo_t* cr) {
  double r = 0, g = 0, b = 0, a = 1;
  cairo_pattern_get_rgba(cairo_get_source(cr), &r, &g, &b, &a);
  return {r, g, b};
}

// Draws text anchored at (x, y): halign 0 = left, 0.5 = centre, 1 = right;
// valign likewise from top (0) to bottom (1) using the font's ascent.
void draw_text(cairo_t* cr, double x, double y, const std::string& text, double halign,
               double valign, double angle = 0) {
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  const double dy = fe.ascent * (1 - valign) - fe.descent * valign;
  if (TextSink* sink = text_sink(cr)) {
    const char* anchor = halign < 0.25 ? "start" : halign > 0.75 ? "end" : "middle";
    sink->texts.push_back({x, y, angle * 180 / M_PI, dy, sink->size, sink->bold, source_color(cr), anchor, text});
    return;
  }
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -halign * text_width(cr, text), dy);
  cairo_show_text(cr, text.c_str());
  cairo_restore(cr);
}


std::string svg_text_elements(const std::vector<SvgText>& texts) {
  std::string out = "<g id=\"text\" font-family=\"DejaVu Sans, sans-serif\">\n";
  char buf[512];
  for (const auto& t : texts) {
    std::snprintf(buf, sizeof buf,
                  "<text transform=\"translate(%.2f,%.2f) rotate(%.1f)\" x=\"0\" y=\"%.2f\" font-size=\"%.1f\"%s "
                  "fill=\"rgb(%d,%d,%d)\" text-anchor=\"%s\">",
                  t.x, t.y, t.angle_deg, t.dy, t.size, t.bold ? " font-weight=\"bold\"" : "",
                  static_cast<int>(std::lround(t.color.r * 255)), static_cast<int>(std::lround(t.color.g * 255)),
                  static_cast<int>(std::lround(t.color.b * 255)), t.anchor);
    out += buf + xml_escape(t.text) + "</text>\n";
  }
  return out + "</g>\n";
}

// Cairo's SVG document with the recorded text added last (on top).
void add_svg_text(std::string& svg, const std::vector<SvgText>& texts) {
  size_t end = svg.rfind("</svg>");
  if (end == std::string::npos) throw Error("cairo wrote an SVG without </svg>");
  svg.insert(end, svg_text_elements(texts));
}

std::string tick_label(double v, double step) {
  char buf[32];
  int decimals = step >= 1 ? 0 : std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0;  // avoid "-0.00"
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Plot frame shared by the figures: background, title, plot rectangle.
struct Frame {
  double left, top, right, bottom;  // plot area in device units
  double width() const { return right - left; }
  double height() const { return bottom - top; }
};

void draw_background_and_title(cairo_t* cr, int width, int height, const std::string& title) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_set_source_rgb(cr, 0, 0, 0);
  set_font(cr, 17, true);
  draw_text(cr, width / 2.0, 14, title, 0.5, 0);
}

void draw_marker(cairo_t* cr, double x, double y, int shape, double r) {
  switch (shape % 3) {
    case 0: cairo_arc(cr, x, y, r, 0, 2 * M_PI); break;
    case 1: cairo_rectangle(cr, x - r, y - r, 2 * r, 2 * r); break;
    default:
      cairo_move_to(cr, x, y - r * 1.2);
      cairo_line_to(cr, x + r * 1.1, y + r * 0.8);
      cairo_line_to(cr, x - r * 1.1, y + r * 0.8);
      cairo_close_path(cr);
  }
  cairo_fill(cr);
}

// Half-width of point i's bar, 0 when it has none.
double half_width(const std::vector<double>& err, size_t i) {
  return i < err.size() && std::isfinite(err[i]) ? std::fabs(err[i]) : 0.0;
}

struct Bounds {
  double xmin, xmax, ymin, ymax;  // +-inf when no point is finite
};

// The finite points of every series with their error bars, and the vertical
// lines' x (already in plotting space: see to_plot_space).
Bounds data_bounds(const LineChart& chart) {
  Bounds b{INFINITY, -INFINITY, INFINITY, -INFINITY};
  for (const auto& s : chart.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      double dx = half_width(s.x_err, i), dy = half_width(s.y_err, i);
      b.xmin = std::min(b.xmin, s.x[i] - dx);
      b.xmax = std::max(b.xmax, s.x[i] + dx);
      b.ymin = std::min(b.ymin, s.y[i] - dy);
      b.ymax = std::max(b.ymax, s.y[i] + dy);
    }
  if (std::isfinite(b.xmin))
    for (const auto& v : chart.vertical_lines)
      if (std::isfinite(v.x)) b.xmin = std::min(b.xmin, v.x), b.xmax = std::max(b.xmax, v.x);
  return b;
}

// A log-x chart drawn as a linear one over log10(x): x <= 0 becomes a gap.
LineChart to_plot_space(const LineChart& chart) {
  if (!chart.log_x) return chart;
  LineChart c = chart;
  auto log_of = [](double x) { return x > 0 ? std::log10(x) : NAN; };
  for (auto& s : c.series) {
    for (double& x : s.x) x = log_of(x);
    s.x_err.clear();
  }
  for (auto& v : c.vertical_lines) v.x = log_of(v.x);
  return c;
}

// Bars with short caps, in the current colour.
template <typename Px, typename Py>
void draw_error_bars(cairo_t* cr, const Series& s, Px px, Py py) {
  cairo_set_line_width(cr, 1.2);
  const double cap = 4;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
    double x = px(s.x[i]), y = py(s.y[i]);
    if (double dy = half_width(s.y_err, i); dy > 0) {
      double lo = py(s.y[i] - dy), hi = py(s.y[i] + dy);
      cairo_move_to(cr, x, lo), cairo_line_to(cr, x, hi);
      cairo_move_to(cr, x - cap, lo), cairo_line_to(cr, x + cap, lo);
      cairo_move_to(cr, x - cap, hi), cairo_line_to(cr, x + cap, hi);
    }
    if (double dx = half_width(s.x_err, i); dx > 0) {
      double lo = px(s.x[i] - dx), hi = px(s.x[i] + dx);
      cairo_move_to(cr, lo, y), cairo_line_to(cr, hi, y);
      cairo_move_to(cr, lo, y - cap), cairo_line_to(cr, lo, y + cap);
      cairo_move_to(cr, hi, y - cap), cairo_line_to(cr, hi, y + cap);
    }
  }
  cairo_stroke(cr);
}

// An axis in plotting space: its range and its ticks (position, label).
struct Axis {
  double lo, hi;
  std::vector<std::pair<double, std::string>> ticks;
};

std::string general_label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Axis linear_axis(double lo, double hi) {
  Axis a{lo, hi, {}};
  auto t = nice_ticks(lo, hi);
  double step = t.size() > 1 ? t[1] - t[0] : 1;
  for (double v : t) a.ticks.emplace_back(v, tick_label(v, step));
  return a;
}

// lo, hi are log10 of the data range.
Axis log_axis(double lo, double hi) {
  Axis a{lo, hi, {}};
  for (double v : log_ticks(std::pow(10.0, lo), std::pow(10.0, hi))) a.ticks.emplace_back(std::log10(v), general_label(v));
  return a;
}

// The legend's entries (series with a label) and its width, 0 when none.
struct Legend {
  std::vector<size_t> entries;
  double width = 0;
  static constexpr double kRow = 18;
};

Legend legend_of(cairo_t* cr, const LineChart& chart) {
  Legend l;
  set_font(cr, 12);
  for (size_t i = 0; i < chart.series.size(); ++i)
    if (!chart.series[i].label.empty() && chart.series[i].in_legend) {
      l.entries.push_back(i);
      l.width = std::max(l.width, text_width(cr, chart.series[i].label) + 46);
    }
  return l;
}

int color_of(const Series& s, size_t position) { return s.color >= 0 ? s.color : static_cast<int>(position); }

void set_dash(cairo_t* cr, bool dashed) {
  double dash[] = {6, 4};
  cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
}

void draw_grid_and_axes(cairo_t* cr, const Frame& f, const Axis& xa, const Axis& ya, const LineChart& chart,
                        int height) {
  auto px = [&](double x) { return f.left + (x - xa.lo) / (xa.hi - xa.lo) * f.width(); };
  auto py = [&](double y) { return f.bottom - (y - ya.lo) / (ya.hi - ya.lo) * f.height(); };
  set_font(cr, 12);
  cairo_set_line_width(cr, 1);
  for (const auto& [v, label] : xa.ticks) {
    if (v < xa.lo || v > xa.hi) continue;
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, px(v), f.top), cairo_line_to(cr, px(v), f.bottom);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, px(v), f.bottom), cairo_line_to(cr, px(v), f.bottom + 5);
    cairo_stroke(cr);
    draw_text(cr, px(v), f.bottom + 8, label, 0.5, 0);
  }
  for (const auto& [v, label] : ya.ticks) {
    if (v < ya.lo || v > ya.hi) continue;
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, f.left, py(v)), cairo_line_to(cr, f.right, py(v));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, f.left - 5, py(v)), cairo_line_to(cr, f.left, py(v));
    cairo_stroke(cr);
    draw_text(cr, f.left - 8, py(v), label, 1, 0.5);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, f.left, f.top, f.width(), f.height());
  cairo_stroke(cr);
  set_font(cr, 13);
  draw_text(cr, (f.left + f.right) / 2, height - 22.0, chart.x_label, 0.5, 0);
  draw_text(cr, 16, (f.top + f.bottom) / 2, chart.y_label, 0.5, 0, -M_PI / 2);
}

template <typename Px, typename Py>
void draw_series(cairo_t* cr, const Series& s, int ci, const Frame& f, Px px, Py py) {
  set_color(cr, kPalette[ci % kPaletteSize]);
  size_t n = std::min(s.x.size(), s.y.size());
  auto finite = [&](size_t i) { return std::isfinite(s.x[i]) && std::isfinite(s.y[i]); };
  if (s.line) {
    cairo_set_line_width(cr, 2);
    set_dash(cr, s.dashed);
    bool pen_down = false;
    for (size_t i = 0; i < n; ++i) {
      if (!finite(i)) {
        pen_down = false;
        continue;
      }
      if (pen_down) cairo_line_to(cr, px(s.x[i]), py(s.y[i]));
      else cairo_move_to(cr, px(s.x[i]), py(s.y[i]));
      pen_down = true;
    }
    cairo_stroke(cr);
    set_dash(cr, false);
  }
  draw_error_bars(cr, s, px, py);
  if (s.markers)
    for (size_t i = 0; i < n; ++i)
      if (finite(i)) draw_marker(cr, px(s.x[i]), py(s.y[i]), s.marker >= 0 ? s.marker : ci, 4.5);
  set_font(cr, 11);
  for (size_t i = 0; i < n && i < s.point_labels.size(); ++i)
    if (finite(i) && !s.point_labels[i].empty()) {
      bool right_half = px(s.x[i]) > (f.left + f.right) / 2;
      draw_text(cr, px(s.x[i]) + (right_half ? -8 : 8), py(s.y[i]) - 6, s.point_labels[i], right_half ? 1 : 0, 1);
    }
}

// Labels go one row lower per line, so neighbouring lines' labels do not
// overlap, and to the left of a line in the right quarter of the plot.
template <typename Px>
void draw_vertical_lines(cairo_t* cr, const LineChart& chart, const Frame& f, Px px) {
  int row = 0;
  for (const auto& v : chart.vertical_lines) {
    if (!std::isfinite(v.x)) continue;
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    cairo_set_line_width(cr, 1.5);
    set_dash(cr, true);
    cairo_move_to(cr, px(v.x), f.top), cairo_line_to(cr, px(v.x), f.bottom);
    cairo_stroke(cr);
    set_dash(cr, false);
    set_font(cr, 11);
    const bool left = px(v.x) > f.left + 0.75 * f.width();
    draw_text(cr, px(v.x) + (left ? -4 : 4), f.top + 4 + 14 * row++, v.label, left ? 1 : 0, 0);
  }
}

// Beside the plot area (its right edge at f.right), never over the data.
void draw_legend(cairo_t* cr, const LineChart& chart, const Legend& legend, const Frame& f) {
  if (legend.entries.empty()) return;
  double bx = f.right + 12, by = f.top, box_h = Legend::kRow * legend.entries.size() + 8;
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_rectangle(cr, bx, by, legend.width, box_h);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  set_font(cr, 12);
  for (size_t k = 0; k < legend.entries.size(); ++k) {
    const auto& s = chart.series[legend.entries[k]];
    int ci = color_of(s, legend.entries[k]);
    double cy = by + 4 + Legend::kRow * (k + 0.5);
    set_color(cr, kPalette[ci % kPaletteSize]);
    if (s.line) {
      cairo_set_line_width(cr, 2);
      set_dash(cr, s.dashed);
      cairo_move_to(cr, bx + 6, cy), cairo_line_to(cr, bx + 32, cy);
      cairo_stroke(cr);
      set_dash(cr, false);
    }
    if (s.markers) draw_marker(cr, bx + 19, cy, s.marker >= 0 ? s.marker : ci, 4);
    cairo_set_source_rgb(cr, 0, 0, 0);
    draw_text(cr, bx + 38, cy, s.label, 0, 0.5);
  }
}

void draw_line_chart(cairo_t* cr, const LineChart& original, int width, int height) {
  draw_background_and_title(cr, width, height, original.title);
  const LineChart chart = to_plot_space(original);
  const Bounds b = data_bounds(chart);
  double xmin = b.xmin, xmax = b.xmax, ymin = b.ymin, ymax = b.ymax;
  if (!std::isfinite(xmin)) {  // nothing to draw: say so instead of an empty box
    set_font(cr, 14);
    draw_text(cr, width / 2.0, height / 2.0, "no data", 0.5, 0.5);
    return;
  }
  if (xmax - xmin < 1e-12) xmin -= 0.5, xmax += 0.5;
  if (ymax - ymin < 1e-12) ymin -= 0.5, ymax += 0.5;
  double ypad = 0.05 * (ymax - ymin), xpad = 0.03 * (xmax - xmin);
  const Axis xa = chart.log_x ? log_axis(xmin - xpad, xmax + xpad) : linear_axis(xmin - xpad, xmax + xpad);
  const Axis ya = linear_axis(ymin - ypad, ymax + ypad);
  set_font(cr, 12);
  double ylab_w = 0;
  for (const auto& t : ya.ticks) ylab_w = std::max(ylab_w, text_width(cr, t.second));
  const Legend legend = legend_of(cr, chart);
  const double right = width - 20.0 - (legend.entries.empty() ? 0 : legend.width + 12);
  const Frame f{ylab_w + 48, 46, std::max(right, ylab_w + 148), height - 58.0};
  auto px = [&](double x) { return f.left + (x - xa.lo) / (xa.hi - xa.lo) * f.width(); };
  auto py = [&](double y) { return f.bottom - (y - ya.lo) / (ya.hi - ya.lo) * f.height(); };
  draw_grid_and_axes(cr, f, xa, ya, chart, height);
  cairo_save(cr);  // series clipped to the plot area
  cairo_rectangle(cr, f.left, f.top, f.width(), f.height());
  cairo_clip(cr);
  draw_vertical_lines(cr, chart, f, px);
  for (size_t si = 0; si < chart.series.size(); ++si)
    draw_series(cr, chart.series[si], color_of(chart.series[si], si), f, px, py);
  cairo_restore(cr);
  draw_legend(cr, chart, legend, f);
}

void draw_heatmap(cairo_t* cr, const Heatmap& map, int width, int height) {
  draw_background_and_title(cr, width, height, map.title);
  size_t rows = map.row_labels.size(), cols = map.col_labels.size();
  if (map.values.size() != rows)
    throw Error("heatmap '" + map.title + "': " + std::to_string(map.values.size()) +
                " value rows for " + std::to_string(rows) + " row labels");
  for (const auto& r : map.values)
    if (r.size() != cols)
      throw Error("heatmap '" + map.title + "': a value row has " + std::to_string(r.size()) +
                  " cells for " + std::to_string(cols) + " column labels");
  double vmin = INFINITY, vmax = -INFINITY;
  size_t best_r = 0, best_c = 0;
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      double v = map.values[r][c];
      if (!std::isfinite(v)) continue;
      if (v < vmin) vmin = v, best_r = r, best_c = c;
      vmax = std::max(vmax, v);
    }
  if (rows == 0 || cols == 0 || !std::isfinite(vmin)) {
    set_font(cr, 14);
    cairo_set_source_rgb(cr, 0, 0, 0);
    draw_text(cr, width / 2.0, height / 2.0, "no data", 0.5, 0.5);
    return;
  }
  set_font(cr, 12);
  double label_w = 0;
  for (const auto& l : map.row_labels) label_w = std::max(label_w, text_width(cr, l));
  Frame f{label_w + 50, 50, width - 110.0, height - 58.0};
  double cw = f.width() / cols, ch = f.height() / rows;
  auto norm = [&](double v) { return vmax > vmin ? (v - vmin) / (vmax - vmin) : 0.5; };

  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) {
      double v = map.values[r][c], x = f.left + c * cw, y = f.top + r * ch;
      if (std::isfinite(v)) {
        Rgb col = viridis(norm(v));
        set_color(cr, col);
      } else {
        cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
      }
      cairo_rectangle(cr, x, y, cw, ch);
      cairo_fill(cr);
      char buf[32];
      if (std::isfinite(v)) std::snprintf(buf, sizeof buf, "%.*f", map.decimals, v);
      else std::snprintf(buf, sizeof buf, "-");
      Rgb col = std::isfinite(v) ? viridis(norm(v)) : Rgb{1, 1, 1};
      double luminance = 0.299 * col.r + 0.587 * col.g + 0.114 * col.b;
      if (luminance < 0.5) cairo_set_source_rgb(cr, 1, 1, 1);
      else cairo_set_source_rgb(cr, 0, 0, 0);
      set_font(cr, std::min(16.0, std::max(9.0, ch / 3.5)));
      draw_text(cr, x + cw / 2, y + ch / 2, buf, 0.5, 0.5);
    }
  // Thin white cell borders, then the best cell's outline on top.
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_set_line_width(cr, 1.5);
  for (size_t r = 0; r <= rows; ++r) {
    cairo_move_to(cr, f.left, f.top + r * ch);
    cairo_line_to(cr, f.right, f.top + r * ch);
  }
  for (size_t c = 0; c <= cols; ++c) {
    cairo_move_to(cr, f.left + c * cw, f.top);
    cairo_line_to(cr, f.left + c * cw, f.bottom);
  }
  cairo_stroke(cr);
  if (map.outline_min) {
    cairo_set_source_rgb(cr, 0.85, 0.1, 0.1);
    cairo_set_line_width(cr, 4);
    cairo_rectangle(cr, f.left + best_c * cw + 2, f.top + best_r * ch + 2, cw - 4, ch - 4);
    cairo_stroke(cr);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  set_font(cr, 12);
  for (size_t r = 0; r < rows; ++r)
    draw_text(cr, f.left - 6, f.top + (r + 0.5) * ch, map.row_labels[r], 1, 0.5);
  for (size_t c = 0; c < cols; ++c)
    draw_text(cr, f.left + (c + 0.5) * cw, f.bottom + 6, map.col_labels[c], 0.5, 0);
  set_font(cr, 13);
  draw_text(cr, (f.left + f.right) / 2, height - 22.0, map.x_label, 0.5, 0);
  draw_text(cr, 16, (f.top + f.bottom) / 2, map.y_label, 0.5, 0, -M_PI / 2);

  // Colour bar with its range.
  double bx = f.right + 30, bw = 18;
  const int steps = 64;
  for (int i = 0; i < steps; ++i) {
    set_color(cr, viridis(1.0 - (i + 0.5) / steps));
    cairo_rectangle(cr, bx, f.top + i * f.height() / steps, bw, f.height() / steps + 0.5);
    cairo_fill(cr);
  }
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, bx, f.top, bw, f.height());
  cairo_stroke(cr);
  set_font(cr, 11);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", map.decimals, vmax);
  draw_text(cr, bx + bw + 4, f.top, buf, 0, 0.5);
  std::snprintf(buf, sizeof buf, "%.*f", map.decimals, vmin);
  draw_text(cr, bx + bw + 4, f.bottom, buf, 0, 0.5);
}

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

std::string render_with(const std::function<void(cairo_t*)>& draw, ImageFormat format, int width,
                        int height) {
  std::string out;
  cairo_surface_t* surface =
      format == ImageFormat::png
          ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height)
          : cairo_svg_surface_create_for_stream(append_to_string, &out, width, height);
  cairo_t* cr = cairo_create(surface);
  TextSink sink;
  if (format == ImageFormat::svg) cairo_set_user_data(cr, &kTextSinkKey, &sink, nullptr);
  try {
    draw(cr);
  } catch (...) {
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    throw;
  }
  cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  if (format == ImageFormat::png && status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_write_to_png_stream(surface, append_to_string, &out);
  cairo_surface_finish(surface);  // flushes the SVG stream
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  if (status != CAIRO_STATUS_SUCCESS)
    throw Error(std::string("cairo rendering failed: ") + cairo_status_to_string(status));
  if (format == ImageFormat::svg) add_svg_text(out, sink.texts);
  return out;
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

ImageFormat image_format_for(const std::filesystem::path& file) {
  auto ext = file.extension().string();
  if (ext == ".png") return ImageFormat::png;
  if (ext == ".svg") return ImageFormat::svg;
  throw Error("cannot tell the image format of " + file.string() + " (use .png or .svg)");
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  double raw = (hi - lo) / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    ticks.push_back(std::round(v / step) * step + 0.0);  // + 0.0: no "-0"
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> ticks;
  if (!(hi > lo) || !(lo > 0) || !std::isfinite(hi)) return ticks;
  const int first = static_cast<int>(std::floor(std::log10(lo))), last = static_cast<int>(std::ceil(std::log10(hi)));
  const bool between = last - first < 3;  // a narrow range needs 2x and 5x to show any tick
  for (int e = first; e <= last; ++e)
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !between) continue;
      // Dividing by an exact power of ten gives the double nearest 0.002, not 2 * 0.001.
      double v = e >= 0 ? m * std::pow(10.0, e) : m / std::pow(10.0, -e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
    }
  return ticks;
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
  return out + "\n";
}

}  // namespace

std::string figure_csv(const LineChart& chart) {
  bool x_err = false, y_err = false;
  for (const auto& s : chart.series) x_err |= !s.x_err.empty(), y_err |= !s.y_err.empty();
  std::vector<std::string> header{"series", chart.x_label, chart.y_label};
  if (x_err) header.push_back(chart.x_label + " error");
  if (y_err) header.push_back(chart.y_label + " error");
  std::string out = csv_row(header);
  for (size_t si = 0; si < chart.series.size(); ++si) {
    const Series& s = chart.series[si];
    const std::string name = s.label.empty() ? "series " + std::to_string(si + 1) : s.label;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      std::vector<std::string> row{name, csv_number(s.x[i]), csv_number(s.y[i])};
      if (x_err) row.push_back(i < s.x_err.size() ? csv_number(s.x_err[i]) : "");
      if (y_err) row.push_back(i < s.y_err.size() ? csv_number(s.y_err[i]) : "");
      out += csv_row(row);
    }
  }
  for (const auto& v : chart.vertical_lines) {
    std::vector<std::string> row{v.label, csv_number(v.x), ""};
    row.resize(header.size());
    out += csv_row(row);
  }
  return out;
}

std::string figure_csv(const Heatmap& map) {
  std::string out = csv_row({map.y_label, map.x_label, map.value_label});
  for (size_t r = 0; r < map.row_labels.size() && r < map.values.size(); ++r)
    for (size_t c = 0; c < map.col_labels.size() && c < map.values[r].size(); ++c)
      out += csv_row({map.row_labels[r], map.col_labels[c], csv_number(map.values[r][c])});
  return out;
}

void write_figure_csv(const LineChart& chart, const std::filesystem::path& file) {
  fs::write_file_atomic(file, figure_csv(chart));
}

void write_figure_csv(const Heatmap& map, const std::filesystem::path& file) {
  fs::write_file_atomic(file, figure_csv(map));
}

std::string render(const LineChart& chart, ImageFormat format, int width, int height) {
  return render_with([&](cairo_t* cr) { draw_line_chart(cr, chart, width, height); }, format,
                     width, height);
}

std::string render(const Heatmap& map, ImageFormat format, int width, int height) {
  return render_with([&](cairo_t* cr) { draw_heatmap(cr, map, width, height); }, format, width,
                     height);
}

void write_figure(const LineChart& chart, const std::filesystem::path& file, int width, int height) {
  fs::write_file_atomic(file, render(chart, image_format_for(file), width, height));
}

void write_figure(const Heatmap& map, const std::filesystem::path& file, int width, int height) {
  fs::write_file_atomic(file, render(map, image_format_for(file), width, height));
}

}  // namespace replay::analysis
