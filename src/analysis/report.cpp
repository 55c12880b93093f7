#include "analysis/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "analysis/plot.h"
#include "analysis/task_scores.h"
#include "run/layout.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/staged_dir.h"

namespace replay::analysis {

namespace {

namespace stdfs = std::filesystem;

// ---- A small document model rendered to both Markdown and HTML, so the two
// reports cannot drift apart.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// A cell that reads as a number: "5.12632", "-0.04", "1/512", "0.350 ± 0.024",
// "1.182x", "+0.040 ± 0.030 (within noise)"; not an id such as "1bcc4b15"
// nor a sentence.
bool is_number_cell(const std::string& cell) {
  const char* begin = cell.c_str();
  char* end = nullptr;
  std::strtod(begin, &end);
  if (end == begin) return false;
  if (*end == '/') {  // a pool as a fraction, "1/512"
    const char* denominator = end + 1;
    std::strtod(denominator, &end);
    if (end == denominator) return false;
  }
  if (*end == 'x') ++end;  // a multiplier
  return *end == '\0' || *end == ' ' || *end == '%';
}

// Number columns are right-aligned (digits line up), text columns left: a
// column is a number column when every cell that is not empty, "n/a" or "-"
// reads as a number, and at least one does.
std::vector<bool> number_columns(const Table& t) {
  std::vector<bool> out(t.header.size(), false);
  for (size_t c = 0; c < t.header.size(); ++c) {
    bool any = false, all = true;
    for (const auto& row : t.rows) {
      if (c >= row.size() || row[c].empty() || row[c] == "n/a" || row[c] == "-") continue;
      bool number = is_number_cell(row[c]);
      any |= number, all &= number;
    }
    out[c] = any && all;
  }
  return out;
}

struct Block {
  enum Kind { Heading, Paragraph, TableBlock, Figure } kind;
  int level = 0;
  std::string text;  // heading / paragraph / figure caption
  Table table;
  std::string figure;  // base path without extension, relative to the report dir
};


std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string to_markdown(const std::vector<Block>& blocks) {
  std::string out;
  for (const auto& b : blocks) {
    switch (b.kind) {
      case Block::Heading: out += std::string(b.level, '#') + " " + b.text + "\n\n"; break;
      case Block::Paragraph: out += b.text + "\n\n"; break;
      case Block::TableBlock: {
        out += "|";
        for (const auto& h : b.table.header) out += " " + md_cell(h) + " |";
        out += "\n|";
        for (bool number : number_columns(b.table)) out += number ? "---:|" : ":---|";
        out += "\n";
        for (const auto& row : b.table.rows) {
          out += "|";
          for (const auto& c : row) out += " " + md_cell(c) + " |";
          out += "\n";
        }
        out += "\n";
        break;
      }
      case Block::Figure:
        out += "![" + b.text + "](" + b.figure + ".png)\n\n*" + b.text + "* ([SVG](" + b.figure +
               ".svg), [data as CSV](" + b.figure + ".csv))\n\n";
        break;
    }
  }
  return out;
}

std::string to_html(const std::string& title, const std::vector<Block>& blocks) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
      xml_escape(title) +
      "</title>\n<style>\nbody{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 "
      "1em;color:#222}\ntable{border-collapse:collapse;margin:1em 0}\nth,td{border:1px solid "
      "#ccc;padding:3px 8px;text-align:left}\nth{background:#f3f3f3}\n.num{text-align:right}\n"
      "img{max-width:100%}\nfigcaption{color:#555;font-style:italic}\n"
      "</style>\n</head>\n<body>\n";
  for (const auto& b : blocks) {
    switch (b.kind) {
      case Block::Heading: {
        std::string tag = "h" + std::to_string(b.level);
        out += "<" + tag + ">" + xml_escape(b.text) + "</" + tag + ">\n";
        break;
      }
      case Block::Paragraph: out += "<p>" + xml_escape(b.text) + "</p>\n"; break;
      case Block::TableBlock: {
        const std::vector<bool> number = number_columns(b.table);
        auto open = [&](const char* tag, size_t c) {
          return std::string("<") + tag + (c < number.size() && number[c] ? " class=\"num\">" : ">");
        };
        out += "<table>\n<tr>";
        for (size_t c = 0; c < b.table.header.size(); ++c) out += open("th", c) + xml_escape(b.table.header[c]) + "</th>";
        out += "</tr>\n";
        for (const auto& row : b.table.rows) {
          out += "<tr>";
          for (size_t c = 0; c < row.size(); ++c) out += open("td", c) + xml_escape(row[c]) + "</td>";
          out += "</tr>\n";
        }
        out += "</table>\n";
        break;
      }
      case Block::Figure:
        out += "<figure><img src=\"" + xml_escape(b.figure) + ".svg\" alt=\"" + xml_escape(b.text) +
               "\"><figcaption>" + xml_escape(b.text) + " (<a href=\"" + xml_escape(b.figure) +
               ".png\">PNG</a>, <a href=\"" + xml_escape(b.figure) + ".csv\">data as CSV</a>)</figcaption></figure>\n";
        break;
    }
  }
  return out + "</body>\n</html>\n";
}

// ---- Formatting helpers.
std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string general(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string opt_number(const std::optional<double>& v) { return v ? general(*v) : ""; }

// The target as titles show it: its domain ("math"), else its split name.
std::string target_name(const SweepData& data) {
  return data.target.domain.empty() ? data.target_split : data.target.domain;
}

std::string list_text(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string safe_file_name(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return out.substr(0, 60);
}

// "0.350 ± 0.024".
std::string value_se(double value, double se, int decimals = 3) {
  return fixed(value, decimals) + " ± " + fixed(se, decimals);
}

std::string final_loss_text(const RunRecord& r, const std::string& split) {
  auto it = r.final_metrics.find(split);
  return it == r.final_metrics.end() ? std::string() : fixed(it->second.loss, 5);
}

std::string rho_text(const RunRecord& r) { return opt_number(r.tag_number("rho")); }

// The run's name, with its status when it has not finished.
std::string run_label(const RunRecord& r) {
  return r.status == RunStatus::done ? r.name : r.name + " (" + run_status_name(r.status) + ")";
}

// A change cell: "+0.040 ± 0.030", noting a first evaluation after step 0
// and an effect within noise.
std::string change_cell(const TaskChange& c) {
  if (!c.has_change()) return "n/a (one evaluation, step " + std::to_string(c.final.step) + ")";
  Effect e = c.change();
  std::string notes;
  if (c.first.step != 0) notes = "from step " + std::to_string(c.first.step);
  if (e.within_noise()) notes += (notes.empty() ? "" : "; ") + std::string("within noise");
  return effect_text(e) + (notes.empty() ? "" : " (" + notes + ")");
}

std::string effect_cell(const std::optional<Effect>& e) {
  if (!e) return "n/a (needs two evaluations of every listed task)";
  return effect_text(*e) + (e->within_noise() ? " (within noise)" : "");
}


Series make_series(std::string label, bool line = true, bool markers = true, int color = -1) {
  Series s;
  s.label = std::move(label);
  s.line = line;
  s.markers = markers;
  s.color = color;
  return s;
}

// ---- Report assembly.
class ReportBuilder {
 public:
  ReportBuilder(const Registry& registry, const ReportOptions& options, const stdfs::path& dir)
      : registry_(registry), options_(options), dir_(dir) {}

  ReportResult build() {
    data_ = collect_sweep(registry_, options_.collect);
    load_tasks();  // refuses an unknown gain/forgetting task before anything is written
    result_.dir = options_.out_dir;
    result_.target = data_.target;
    result_.tasks.assign(task_names_.begin(), task_names_.end());
    heading(1, title());
    size_t done = 0;
    for (const auto& r : data_.runs) done += r.status == RunStatus::done;
    std::string target = data_.target.empty() ? "split " + data_.target_split + " (no store recorded)"
                                              : data_.target.label() + ", validation split " + data_.target_split;
    paragraph("Registry " + registry_.path().string() + "; " + std::to_string(data_.runs.size()) +
              " runs, " + std::to_string(done) + " done. Target: " + target +
              (data_.generic_split.empty() ? "" : "; generic split: " + data_.generic_split) +
              ". Losses are final validation losses in nats/token.");
    efficiency_section();
    heatmap_section();
    rho_section();
    tasks_section();
    runs_section();
    curves_section();
    return result_;
  }

  std::string title() const {
    return "Replay report: " + (data_.sweep.empty() ? std::string("all sweeps") : "sweep " + data_.sweep) +
           ", target " + target_name(data_);
  }
  const std::vector<Block>& blocks() const { return blocks_; }
  const SweepData& data() const { return data_; }

 private:
  void heading(int level, const std::string& text) { blocks_.push_back({Block::Heading, level, text, {}, ""}); }
  void paragraph(const std::string& text) { blocks_.push_back({Block::Paragraph, 0, text, {}, ""}); }
  void table(Table t) { blocks_.push_back({Block::TableBlock, 0, "", std::move(t), ""}); }

  template <typename Figure>
  void figure(const Figure& fig, const std::string& base, const std::string& caption) {
    std::string rel = "figures/" + base;
    write_figure(fig, dir_ / (rel + ".png"), options_.png_width, options_.png_height);
    write_figure(fig, dir_ / (rel + ".svg"), options_.png_width, options_.png_height);
    write_figure_csv(fig, dir_ / (rel + ".csv"));
    for (const char* ext : {".png", ".svg", ".csv"}) result_.figures.push_back(rel + ext);
    blocks_.push_back({Block::Figure, 0, caption, {}, rel});
  }

  void efficiency_section() {
    heading(2, "Data efficiency");
    int needed = options_.form == CurveForm::power ? 3 : 4;
    if (data_.reference.empty()) {
      // A sweep without reference runs by design (a continued-pretraining
      // rho sweep) must not read as a failed or pending fit.
      paragraph("This report has no finished reference runs (family=reference with an x tag) on this "
                "target, so no reference curve is fitted and no data-efficiency multiplier is computed. "
                "The schedules are compared by their losses directly.");
      loss_table();
      return;
    }
    if (static_cast<int>(data_.reference.size()) < needed) {
      paragraph("Not enough finished reference runs on this target to fit the reference curve (" +
                std::to_string(data_.reference.size()) + " of at least " + std::to_string(needed) +
                "); no multipliers.");
      loss_table();
      return;
    }
    FitOptions fo;
    fo.form = options_.form;
    fo.method = options_.method;
    CurveFit fit = fit_curve(data_.reference, fo);
    result_.fit = fit;
    fit_paragraphs(fit);
    result_.multipliers = paper_multipliers(fit, data_.schedules, data_.baselines);
    if (fit.usable_for_multipliers) {
      result_.fit_intervals = bootstrap_over_seeds(data_.reference_cells, result_.multipliers, fo, options_.bootstrap);
      paragraph("Uncertainty of the fit (docs/statistics.md): " + fit_intervals_text(*result_.fit_intervals) + ".");
    }
    heading(3, "Multipliers");
    if (!fit.usable_for_multipliers) {
      paragraph("No multiplier can be computed: " + fit.unusable_reason + ".");
    } else if (result_.multipliers.empty()) {
      paragraph("The sweep has none of the schedule pairs the paper compares (needs fine-tuning "
                "and/or mid-training runs with and without replay).");
    } else {
      multiplier_table();
      multiplier_figure();
    }
    schedules_table(fit);
    fit_figure(fit);
  }

  // The paper's comparisons: losses (mean +- SE over seeds), the multiplier
  // in the one wording of fit.h, and the paired loss difference when P and Q
  // share seeds.
  void multiplier_table() {
    Table t{{"schedule P", "over schedule Q", "loss P", "loss Q", "multiplier x(L_P)/x(L_Q)",
             "loss P - Q, paired", "note"}, {}};
    for (const auto& m : result_.multipliers) {
      std::string note = m.extrapolated ? "extrapolated: " + m.extrapolation : "";
      if (m.value && !m.interval && !m.interval_note.empty()) note += (note.empty() ? "" : "; ") + m.interval_note;
      t.rows.push_back({m.p, m.q, loss_text(m.seeds_p, m.loss_p), loss_text(m.seeds_q, m.loss_q),
                        multiplier_value_text(m), m.paired ? paired_text(*m.paired) : "", note});
    }
    table(t);
  }

  static std::string loss_text(const std::vector<SeedLoss>& seeds, double loss) {
    if (seeds.size() < 2) return fixed(loss, 5);
    return mean_se_text(mean_se(losses_of(seeds)), 5);
  }

  // The multipliers with their 95% intervals as error bars (log scale), when
  // any has an interval; the dashed line at 1 is "no effect".
  void multiplier_figure() {
    Series points = make_series("multiplier (95% interval)", false, true, 0);
    Series one = make_series("no effect (1x)", true, false, 1);
    one.dashed = true;
    std::string legend;  // the comparisons by number (long names would overlap in the figure)
    for (const auto& m : result_.multipliers) {
      if (!m.value || !m.interval) continue;
      double i = static_cast<double>(points.x.size() + 1);
      points.x.push_back(i);
      double mid = std::log(*m.value), lo = std::log(m.interval->lo), hi = std::log(m.interval->hi);
      // Symmetric bars in log space around the centre of the interval.
      points.y.push_back(mid);
      points.y_err.push_back(std::max(mid - lo, hi - mid));
      points.point_labels.push_back(std::to_string(points.x.size()));
      legend += (legend.empty() ? "" : "; ") + std::to_string(points.x.size()) + " = " + m.p + " over " + m.q;
    }
    if (points.x.empty()) return;
    one.x = {0.5, points.x.size() + 0.5};
    one.y = {0, 0};
    LineChart chart{"Data-efficiency multipliers with 95% intervals", "comparison", "ln multiplier", {one, points}};
    figure(chart, "multipliers",
           "Multipliers (ln scale) with error bars spanning their 95% bootstrap interval (the larger side); "
           "a bar crossing the dashed line at 0 (1x) is no measurable effect. " + legend);
  }

  void fit_paragraphs(const CurveFit& fit) {
    std::string law = options_.form == CurveForm::power ? "L(x) = A / x^B + C" : "L(x) = A / (x^B + D) + C";
    std::string params = "A = " + general(fit.A) + ", B = " + general(fit.B) + ", C = " + general(fit.C);
    if (options_.form == CurveForm::shifted_power) params += ", D = " + general(fit.D);
    paragraph("Reference fit " + law + " over " + std::to_string(fit.points.size()) +
              " pool sizes from the done reference runs of sweep(s) " + list_text(data_.reference_sweeps) +
              " (Levenberg-Marquardt, MINPACK lmdif, method " + fit_method_name(fit.method) + ": " +
              std::to_string(fit.starts) + " start(s), kept " + fit.start + "): " + params +
              "; residual sum of squares " + general(fit.rss) + "; " + std::to_string(fit.evaluations) +
              " evaluations; " + (fit.converged ? "converged" : "DID NOT CONVERGE") + " (" + fit.message + ").");
    if (fit.degenerate)
      paragraph("Warning: degenerate fit (" + fit.degenerate_reason +
                "). The multipliers remain well defined; the asymptote C has no meaning.");
    Table refs{{"pool x", "target loss", "fitted", "residual"}, {}};
    for (size_t i = 0; i < fit.points.size(); ++i)
      refs.rows.push_back({format_pool(fit.points[i].x), fixed(fit.points[i].loss, 5),
                           fixed(fit.predict(fit.points[i].x), 5), fixed(fit.residuals[i], 5)});
    table(refs);
  }

  // The schedules without a fit: their losses only.
  void loss_table() {
    if (data_.schedules.empty()) return;
    heading(3, "Schedules");
    Table s{{"schedule", "family", "rho", "alpha", "target loss", "generic loss"}, {}};
    for (const auto& sch : data_.schedules)
      s.rows.push_back({sch.name, sch.family, opt_number(sch.rho), opt_number(sch.alpha), loss_text(sch.seeds, sch.loss),
                        sch.generic_loss ? fixed(*sch.generic_loss, 5) : ""});
    table(s);
  }

  void schedules_table(const CurveFit& fit) {
    heading(3, "Schedules");
    Table s{{"schedule", "family", "rho", "alpha", "target loss", "generic loss",
             "implied pool x(L)", "over family baseline"}, {}};
    for (const auto& sch : data_.schedules) {
      Inverse inv = invert(fit, sch.loss);
      auto over = multiplier_over_baseline(fit, sch, data_.schedules, data_.baselines);
      std::string implied = !fit.usable_for_multipliers ? "none (the fit is unusable, see above)"
                            : !inv.ok()                  ? "none: " + inv.why_none
                            : format_significant(inv.x(), 4) +
                                  (inv.extrapolated ? " (extrapolated: " + inv.extrapolation + ")" : "");
      std::string over_text = !over ? "" : !fit.usable_for_multipliers ? "none" : multiplier_value_text(*over);
      s.rows.push_back({sch.name, sch.family, opt_number(sch.rho), opt_number(sch.alpha),
                        loss_text(sch.seeds, sch.loss), sch.generic_loss ? fixed(*sch.generic_loss, 5) : "",
                        implied, over_text});
    }
    table(s);
  }

  // Final target loss against the reference pool (log x): every reference
  // point (a point the law cannot fit is drawn all the same), the fitted law
  // over the points' range, and each schedule as a dashed line at its loss
  // with a marker at the pool the law implies for it (when there is one).
  // Error bars are +-1 SE over seeds where a cell has several.
  void fit_figure(const CurveFit& fit) {
    LineChart chart{"Reference fit: final " + target_name(data_) + " loss against target pool",
                    "target pool x (fraction of training sequences, log scale)", "final target loss (nats/token)", {}};
    chart.log_x = true;
    Series refs = make_series("reference runs (mean of seeds)", false, true, 0);
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& cell : data_.reference_cells) {
      MeanSe m = mean_se(losses_of(cell.seeds));
      refs.x.push_back(cell.x), refs.y.push_back(m.mean), refs.y_err.push_back(m.se.value_or(NAN));
      lo = std::min(lo, cell.x), hi = std::max(hi, cell.x);
    }
    for (const auto& s : data_.schedules)
      if (Inverse inv = invert(fit, s.loss); fit.usable_for_multipliers && inv.ok())
        lo = std::min(lo, inv.x()), hi = std::max(hi, inv.x());
    chart.series.push_back(fit_curve_series(fit, lo, hi));
    chart.series.push_back(refs);
    add_schedule_series(chart, fit, lo, hi);
    figure(chart, "reference_fit",
           "Final " + target_name(data_) + " loss against the target pool (log scale): reference runs, the fitted law " +
               (fit.usable_for_multipliers ? std::string("") : "(not usable for multipliers, see above) ") +
               "and each schedule at its loss (dashed), with a marker at the pool the reference would need for it; "
               "error bars +-1 SE over seeds where a cell has several");
  }

  Series fit_curve_series(const CurveFit& fit, double lo, double hi) const {
    Series line = make_series(fit.usable_for_multipliers ? "fitted law" : "fitted law (unusable)", true, false, 0);
    line.dashed = !fit.usable_for_multipliers;
    const int n = 120;
    for (int i = 0; i <= n; ++i) {
      double x = std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * i / n);
      line.x.push_back(x), line.y.push_back(fit.predict(x));
    }
    return line;
  }

  void add_schedule_series(LineChart& chart, const CurveFit& fit, double lo, double hi) const {
    // A legend entry without points, for the triangles in the schedules' colours.
    Series key = make_series("schedule at its implied pool", false, true, 7);
    key.marker = 2;
    int color = 1;
    bool any_placed = false;
    for (const auto& s : data_.schedules) {
      Inverse inv = invert(fit, s.loss);
      const bool placed = fit.usable_for_multipliers && inv.ok();
      Series level = make_series(s.name + (placed ? "" : " (no implied pool)"), true, false, color);
      level.dashed = true;
      level.x = {lo, hi}, level.y = {s.loss, s.loss};
      chart.series.push_back(level);
      if (placed) {
        any_placed = true;
        Series at = make_series(s.name + " at its implied pool", false, true, color);
        at.in_legend = false;  // its dashed line's entry names it
        at.marker = 2;
        at.x = {inv.x()}, at.y = {s.loss}, at.y_err = {mean_se(losses_of(s.seeds)).se.value_or(NAN)};
        chart.series.push_back(at);
      }
      color = color % 9 + 1;  // palette 1..9: 0 is the reference's
    }
    if (any_placed) chart.series.push_back(key);
  }

  void heatmap_section() {
    const RhoAlphaGrid grid = rho_alpha_grid(data_.schedules);
    if (grid.cells == 0) return;
    heading(2, "Schedule sweep: rho x alpha");
    if (grid.degenerate()) {
      paragraph("No rho x alpha heatmap: the mid-training and full runs span " + std::to_string(grid.rho.size()) +
                " value(s) of rho and " + std::to_string(grid.alpha.size()) +
                " of alpha, and a heatmap needs at least 2 of each (a single row or column is the line "
                "plot below).");
      return;
    }
    Heatmap map;
    map.title = "Final " + target_name(data_) + " loss over rho and alpha";
    map.value_label = "final " + target_name(data_) + " loss (nats/token)";
    map.x_label = "alpha (fraction of target data in stage 2)";
    map.y_label = "rho (replay fraction)";
    for (double a : grid.alpha) map.col_labels.push_back(general(a));
    for (double r : grid.rho) map.row_labels.push_back(general(r));
    map.values = grid.loss;
    figure(map, "heatmap_rho_alpha", "Final target loss over (rho, alpha); best cell outlined");
  }

  // The series a schedule with a rho tag belongs to on a rho axis: its
  // family, with mid-training and full runs only at alpha = 1 (the heatmap
  // shows the others); "" when it has none.
  static std::string rho_series(const std::string& family, const std::optional<double>& rho,
                                const std::optional<double>& alpha) {
    if (!rho || family == "reference") return "";
    if (family == "mid-training" || family == "full")
      return !alpha || *alpha == 1.0 ? "mid-training (alpha = 1)" : "";
    return family.empty() ? "no family" : family;
  }

  // One point per cell: its mean target loss, with +-1 SE bars over seeds
  // (none for one seed).
  void rho_section() {
    // Fine-tuning and mid-training first (their colours stay put), then any
    // other family with a rho tag (continued pretraining).
    struct Point {
      double rho, loss, se;
      bool operator<(const Point& o) const { return rho < o.rho; }
    };
    std::map<std::string, std::vector<Point>> points{{"fine-tuning", {}}, {"mid-training (alpha = 1)", {}}};
    std::vector<std::string> order{"fine-tuning", "mid-training (alpha = 1)"};
    bool bars = false;
    for (const auto& s : data_.schedules) {
      std::string series = rho_series(s.family, s.rho, s.alpha);
      if (series.empty()) continue;
      if (!points.count(series)) order.push_back(series);
      MeanSe m = mean_se(losses_of(s.seeds));
      bars |= m.se.has_value();
      points[series].push_back({*s.rho, s.loss, m.se.value_or(NAN)});
    }
    LineChart chart{"Final " + target_name(data_) + " loss against rho", "rho (replay fraction)",
                    "final " + target_name(data_) + " loss (nats/token)", {}};
    bool any = false;
    for (const auto& name : order) {
      auto& p = points[name];
      std::stable_sort(p.begin(), p.end());
      // An empty series keeps the colours in place but has no legend entry:
      // a continued-pretraining sweep must not list fine-tuning.
      Series series = make_series(p.empty() ? "" : name);
      for (const auto& pt : p) series.x.push_back(pt.rho), series.y.push_back(pt.loss), series.y_err.push_back(pt.se);
      any |= !p.empty();
      chart.series.push_back(std::move(series));
    }
    if (!any) return;
    heading(2, "Target loss against replay fraction");
    figure(chart, "target_loss_vs_rho",
           std::string("Final target loss against the replay fraction rho") +
               (bars ? " (mean over seeds, error bars +-1 SE)" : ""));
  }

  // ---- Downstream tasks (report.h, task_scores.h).

  // Each run's scores: the registry's, or its metrics.jsonl's when the
  // registry cannot have them: a file older than schema version 4 read as
  // it is, or a run still going (a sweep imports a run's metrics when it
  // ends). Ended runs are not reread: most reports have no tasks at all.
  void load_tasks() {
    const bool registry_has_tasks = registry_.schema_version() >= 4;
    for (const auto& r : data_.runs) {
      std::vector<TaskScoreRecord> scores = registry_.task_scores(r.id);
      bool ended = r.status != RunStatus::running && r.status != RunStatus::queued;
      stdfs::path metrics = resolve_run_dir(r.run_dir) / run::kMetricsFile;
      if (scores.empty() && !(registry_has_tasks && ended) && !r.run_dir.empty() && stdfs::exists(metrics))
        scores = read_metrics(metrics).tasks;
      if (scores.empty()) continue;
      for (const auto& s : scores) task_names_.insert(s.task);
      run_tasks_.push_back({&r, task_changes(scores), std::move(scores)});
    }
    check_task_list(options_.gain_tasks, "gain");
    check_task_list(options_.forgetting_tasks, "forgetting");
  }

  void check_task_list(const std::vector<std::string>& tasks, const std::string& role) const {
    for (const auto& task : tasks)
      if (!task_names_.count(task))
        throw Error("report: " + role + " task '" + task + "' is not scored by any run in this report (" +
                    (task_names_.empty() ? std::string("no run has task scores")
                                         : "tasks scored: " + list_text({task_names_.begin(), task_names_.end()})) +
                    ")");
  }

  void tasks_section() {
    if (run_tasks_.empty()) return;
    heading(2, "Downstream tasks");
    paragraph("Multiple-choice accuracy (the fraction of items whose highest-scoring choice is the gold one, "
              "± its standard error over items) at each run's latest evaluation of each task. The change is "
              "measured from the run's first evaluation of the task: step 0 (the starting weights) when the "
              "run scored it, otherwise the cell names the step. Its ± is sqrt(se_first² + se_final²), which "
              "treats the two evaluations as independent although they score the same items: per-item "
              "results are not in the metrics, and the paired SE would be smaller, so this SE is conservative. "
              "A change with |change| < 2 SE is marked within noise.");
    task_table();
    task_step_figures();
    task_rho_figure();
    gain_forgetting_section();
  }

  void task_table() {
    bool norm = false;
    for (const auto& rt : run_tasks_)
      for (const auto& [task, c] : rt.changes) norm |= c.final.acc_norm.has_value();
    Table t{{"run", "rho", "task", "step", "acc"}, {}};
    if (norm) t.header.push_back("acc_norm");
    t.header.push_back("change since first evaluation");
    t.header.push_back("target loss (" + data_.target_split + ")");
    if (!data_.generic_split.empty()) t.header.push_back("generic loss (" + data_.generic_split + ")");
    for (const auto& rt : run_tasks_)
      for (const auto& [task, c] : rt.changes) {
        std::vector<std::string> row{run_label(*rt.run), rho_text(*rt.run), task, std::to_string(c.final.step),
                                     value_se(c.final.acc, c.final.acc_stderr)};
        if (norm)
          row.push_back(c.final.acc_norm ? value_se(*c.final.acc_norm, c.final.acc_norm_stderr.value_or(NAN)) : "");
        row.push_back(change_cell(c));
        row.push_back(final_loss_text(*rt.run, data_.target_split));
        if (!data_.generic_split.empty()) row.push_back(final_loss_text(*rt.run, data_.generic_split));
        t.rows.push_back(std::move(row));
      }
    table(t);
  }

  static std::string series_label(const RunRecord& r) {
    std::string rho = rho_text(r);
    return rho.empty() ? r.name : r.name + " (rho " + rho + ")";
  }

  void task_step_figures() {
    for (const auto& task : task_names_) {
      LineChart chart{"Accuracy on " + task + " against step", "step", "accuracy (fraction of items)", {}};
      for (const auto& rt : run_tasks_) {
        std::map<int64_t, double> by_step;  // a rescored step (resumed run) counts once
        for (const auto& s : rt.scores)
          if (s.task == task) by_step[s.step] = s.acc;
        Series series = make_series(series_label(*rt.run));
        for (auto [step, acc] : by_step) series.x.push_back(static_cast<double>(step)), series.y.push_back(acc);
        if (!series.x.empty()) chart.series.push_back(std::move(series));
      }
      figure(chart, "task_accuracy_vs_step_" + safe_file_name(task),
             "Accuracy on " + task + " at each evaluation, one line per run");
    }
  }

  void task_rho_figure() {
    std::vector<std::string> groups;  // rho_series of the runs, in first-seen order
    for (const auto& rt : run_tasks_) {
      std::string g = rho_series(rt.run->tag("family"), rt.run->tag_number("rho"), rt.run->tag_number("alpha"));
      if (!g.empty() && std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
    }
    if (groups.empty()) return;
    LineChart chart{"Final task accuracy against rho", "rho (replay fraction)", "accuracy (fraction of items)", {}};
    for (const auto& task : task_names_)
      for (const auto& group : groups) {
        std::vector<std::tuple<double, double, double>> points;
        for (const auto& rt : run_tasks_) {
          const RunRecord& r = *rt.run;
          auto it = rt.changes.find(task);
          if (it == rt.changes.end() || rho_series(r.tag("family"), r.tag_number("rho"), r.tag_number("alpha")) != group)
            continue;
          points.emplace_back(*r.tag_number("rho"), it->second.final.acc, it->second.final.acc_stderr);
        }
        if (points.empty()) continue;
        std::sort(points.begin(), points.end());
        Series series = make_series(groups.size() > 1 ? task + " (" + group + ")" : task);
        for (auto [rho, acc, se] : points) series.x.push_back(rho), series.y.push_back(acc), series.y_err.push_back(se);
        chart.series.push_back(std::move(series));
      }
    figure(chart, "task_accuracy_vs_rho",
           "Final accuracy of each task against the replay fraction rho (error bars: one standard error)");
  }

  void gain_forgetting_section() {
    const auto &gain = options_.gain_tasks, &forgetting = options_.forgetting_tasks;
    if (gain.empty() && forgetting.empty()) return;
    heading(3, "Gain and forgetting");
    std::string what = gain.empty() ? "" : "Gain: the mean change over " + list_text(gain) + ". ";
    if (!forgetting.empty())
      what += "Forgetting: the mean change over " + list_text(forgetting) + " (negative = forgotten). ";
    paragraph(what + "The SE of a mean over n tasks is sqrt(sum of their SE²) / n; a mean change with "
              "|change| < 2 SE is within noise.");
    Table t{{"run", "rho"}, {}};
    if (!gain.empty()) t.header.push_back("gain");
    if (!forgetting.empty()) t.header.push_back("forgetting");
    int noise = 0, effects = 0;
    for (const auto& rt : run_tasks_) {
      std::vector<std::string> row{run_label(*rt.run), rho_text(*rt.run)};
      for (const auto* tasks : {&gain, &forgetting}) {
        if (tasks->empty()) continue;
        auto e = mean_change(rt.changes, *tasks);
        row.push_back(effect_cell(e));
        effects += e.has_value(), noise += e && e->within_noise();
      }
      t.rows.push_back(std::move(row));
    }
    table(t);
    if (effects > 0)
      paragraph(std::to_string(noise) + " of " + std::to_string(effects) +
                " mean changes above are within noise (|change| < 2 SE).");
    if (gain.empty() || forgetting.empty())
      paragraph("The gain_vs_forgetting figure needs both gain tasks and forgetting tasks.");
    else
      gain_forgetting_figure();
  }

  void gain_forgetting_figure() {
    Series runs = make_series("runs", false, true, 0);
    double xlo = 0, xhi = 0, ylo = 0, yhi = 0;  // the axes always show the origin (no change)
    for (const auto& rt : run_tasks_) {
      auto g = mean_change(rt.changes, options_.gain_tasks), f = mean_change(rt.changes, options_.forgetting_tasks);
      if (!g || !f) continue;
      runs.x.push_back(f->mean), runs.x_err.push_back(f->se), runs.y.push_back(g->mean), runs.y_err.push_back(g->se);
      std::string rho = rho_text(*rt.run);
      runs.point_labels.push_back(rho.empty() ? rt.run->name : "rho=" + rho);
      xlo = std::min(xlo, f->mean - f->se), xhi = std::max(xhi, f->mean + f->se);
      ylo = std::min(ylo, g->mean - g->se), yhi = std::max(yhi, g->mean + g->se);
    }
    if (runs.x.empty()) {
      paragraph("No run has two evaluations of every listed task: no gain_vs_forgetting figure.");
      return;
    }
    Series zero_x = make_series("", true, false, 7), zero_y = make_series("", true, false, 7);
    zero_x.dashed = zero_y.dashed = true;
    zero_x.x = {xlo, xhi}, zero_x.y = {0, 0};
    zero_y.x = {0, 0}, zero_y.y = {ylo, yhi};
    figure(LineChart{"Gain against forgetting (change since the first evaluation)",
                     "mean change on the forgetting tasks (accuracy)", "mean change on the gain tasks (accuracy)",
                     {zero_x, zero_y, runs}},
           "gain_vs_forgetting",
           "Each run's mean accuracy change on the gain tasks against the forgetting tasks (error bars: one "
           "conservative SE; dashed: no change)");
  }

  void runs_section() {
    heading(2, "Runs");
    Table t{{"run", "id", "status", "step", "target loss", "generic loss", "tokens/s",
             "branched from", "error"}, {}};
    for (const auto& r : data_.runs) {
      t.rows.push_back({r.name, r.id.substr(0, 12), run_status_name(r.status), std::to_string(r.step),
                        final_loss_text(r, data_.target_split),
                        data_.generic_split.empty() ? "" : final_loss_text(r, data_.generic_split),
                        r.tokens_per_s ? fixed(*r.tokens_per_s, 0) : "",
                        r.branched_from.empty() ? ""
                                                : r.branched_from.substr(0, 12) + " @ " +
                                                      std::to_string(r.branch_step),
                        r.error.substr(0, 120)});
    }
    table(t);
  }

  stdfs::path resolve_run_dir(const std::string& dir) const { return analysis::resolve_run_dir(registry_, dir); }

  // A run's evaluation history (its metrics.jsonl, else the registry's
  // evals) and training loss (metrics.jsonl only).
  struct RunCurves {
    std::vector<double> train_step, train_loss, target_step, target_loss, generic_step, generic_loss;
    bool empty() const { return train_step.empty() && target_step.empty() && generic_step.empty(); }
  };

  RunCurves curves_of(const RunRecord& r) const {
    RunCurves c;
    stdfs::path metrics = resolve_run_dir(r.run_dir) / run::kMetricsFile;
    if (!r.run_dir.empty() && stdfs::exists(metrics)) {
      RunMetrics m = read_metrics(metrics);
      for (const auto& s : m.steps) c.train_step.push_back(s.step), c.train_loss.push_back(s.loss);
      for (const auto& e : m.evals) {
        if (auto it = e.val.find(data_.target_split); it != e.val.end())
          c.target_step.push_back(e.step), c.target_loss.push_back(it->second);
        if (auto it = e.val.find(data_.generic_split); it != e.val.end())
          c.generic_step.push_back(e.step), c.generic_loss.push_back(it->second);
      }
      return c;
    }
    for (const auto& e : registry_.eval_history(r.id, data_.target_split))
      c.target_step.push_back(e.step), c.target_loss.push_back(e.loss);
    if (!data_.generic_split.empty())
      for (const auto& e : registry_.eval_history(r.id, data_.generic_split))
        c.generic_step.push_back(e.step), c.generic_loss.push_back(e.loss);
    return c;
  }

  std::string target_label() const { return "target validation (" + target_name(data_) + ")"; }
  std::string generic_label() const { return "generic validation (" + data_.generic_split + ")"; }

  void curves_section() {
    bool any = false;
    std::map<std::string, std::vector<std::pair<const RunRecord*, RunCurves>>> families;
    for (const auto& r : data_.runs) {
      RunCurves c = curves_of(r);
      if (c.empty()) continue;
      if (!any) heading(2, "Training curves");
      any = true;
      run_curve_figure(r, c);
      families[r.tag("family", "no family")].emplace_back(&r, std::move(c));
    }
    if (families.empty()) return;
    heading(2, "Runs of each family overlaid");
    for (const auto& [family, runs] : families) {
      family_overlay(family, runs, true);
      if (!data_.generic_split.empty()) family_overlay(family, runs, false);
    }
  }

  void run_curve_figure(const RunRecord& r, const RunCurves& c) {
    LineChart chart{"Run " + r.name + ": training and validation loss", "step", "loss (nats/token)", {}};
    Series train = make_series("train loss", true, false, 7);
    Series target = make_series(target_label(), true, true, 1);
    Series generic = make_series(generic_label(), true, true, 0);
    train.x = c.train_step, train.y = c.train_loss;
    target.x = c.target_step, target.y = c.target_loss;
    generic.x = c.generic_step, generic.y = c.generic_loss;
    for (auto* s : {&train, &target, &generic})
      if (!s->x.empty()) chart.series.push_back(*s);
    for (const auto& [step, phase] : stage_boundaries(r)) chart.vertical_lines.push_back({double(step), phase});
    figure(chart, "curves_" + safe_file_name(r.name) + "_" + r.id.substr(0, 8),
           "Run " + r.name + " (" + r.id.substr(0, 12) + ")" +
               (chart.vertical_lines.empty() ? "" : "; dashed: where its next stage starts"));
  }

  // One line per run of the family; each stage boundary once, naming the
  // runs it belongs to when they differ.
  void family_overlay(const std::string& family, const std::vector<std::pair<const RunRecord*, RunCurves>>& runs,
                      bool target) {
    const std::string what = target ? target_label() : generic_label();
    LineChart chart{"Family " + family + ": " + what + " loss", "step", what + " loss (nats/token)", {}};
    std::map<int64_t, std::pair<std::string, std::vector<std::string>>> boundaries;  // step -> phase, runs
    for (const auto& [run, c] : runs) {
      Series line = make_series(run->name, true, true);
      line.x = target ? c.target_step : c.generic_step;
      line.y = target ? c.target_loss : c.generic_loss;
      if (line.x.empty()) continue;
      chart.series.push_back(std::move(line));
      for (const auto& [step, phase] : stage_boundaries(*run)) {
        auto& b = boundaries[step];
        b.first = phase;
        b.second.push_back(run->name);
      }
    }
    if (chart.series.empty()) return;
    for (const auto& [step, b] : boundaries) {
      bool all = b.second.size() == chart.series.size();
      chart.vertical_lines.push_back({double(step), all ? b.first : b.first + ": " + list_text(b.second)});
    }
    figure(chart, std::string(target ? "family_target_" : "family_generic_") + safe_file_name(family),
           "Every run of family " + family + ": " + what + " loss against step" +
               (boundaries.empty() ? "" : "; dashed: where a run's next stage starts"));
  }

  const Registry& registry_;
  const ReportOptions& options_;
  stdfs::path dir_;
  SweepData data_;
  struct RunTasks {
    const RunRecord* run;  // in data_.runs
    std::map<std::string, TaskChange> changes;
    std::vector<TaskScoreRecord> scores;
  };
  std::vector<RunTasks> run_tasks_;  // runs with task scores, in report order
  std::set<std::string> task_names_;
  std::vector<Block> blocks_;
  ReportResult result_;
};

}  // namespace

std::map<int64_t, std::string> stage_boundaries(const RunRecord& r) {
  std::map<int64_t, std::string> out;
  nlohmann::json config = nlohmann::json::parse(r.config, nullptr, /*allow_exceptions=*/false);
  const nlohmann::json* phases = nullptr;
  if (config.is_object() && config.contains("schedule") && config["schedule"].is_object() &&
      config["schedule"].contains("phases") && config["schedule"]["phases"].is_array())
    phases = &config["schedule"]["phases"];
  if (phases)
    for (const auto& p : *phases)
      if (p.is_object() && p.value("first_step", int64_t{0}) > 0)
        out[p["first_step"].get<int64_t>()] = p.value("name", std::string("next phase")) + " starts";
  if (auto step = r.tag_number("stage2_step"); step && *step > 0)
    out.emplace(static_cast<int64_t>(*step), "stage 2 starts");
  return out;
}

ReportResult write_report(const Registry& registry, const ReportOptions& options) {
  if (options.out_dir.empty()) throw Error("report: no output directory given");
  stdfs::path out = options.out_dir;
  if (!out.has_filename()) out = out.parent_path();  // "reports/x/" -> "reports/x"
  // The whole directory appears at once; a previous report is replaced.
  StagedDir staged(out);
  stdfs::create_directories(staged.path() / "figures");
  ReportBuilder builder(registry, options, staged.path());
  ReportResult result = builder.build();
  fs::write_file_atomic(staged.path() / "report.md", to_markdown(builder.blocks()));
  fs::write_file_atomic(staged.path() / "report.html", to_html(builder.title(), builder.blocks()));
  staged.publish(StagedDir::Mode::replace);
  result.dir = out;
  result.markdown = out / "report.md";
  result.html = out / "report.html";
  return result;
}

}  // namespace replay::analysis
