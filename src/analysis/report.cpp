#include "analysis/report.h"


#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "analysis/metrics.h"
#include "analysis/plot.h"
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

struct Block {
  enum Kind { Heading, Paragraph, TableBlock, Figure } kind;
  int level = 0;
  std::string text;  // heading / paragraph / figure caption
  Table table;
  std::string figure;  // base path without extension, relative to the report dir
};

std::string html_escape(const std::string& s) {
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
        for (size_t i = 0; i < b.table.header.size(); ++i) out += "---|";
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
               ".svg))\n\n";
        break;
    }
  }
  return out;
}

std::string to_html(const std::string& title, const std::vector<Block>& blocks) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
      html_escape(title) +
      "</title>\n<style>\nbody{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 "
      "1em;color:#222}\ntable{border-collapse:collapse;margin:1em 0}\nth,td{border:1px solid "
      "#ccc;padding:3px 8px;text-align:right}\nth{background:#f3f3f3}\ntd:first-child,th:first-"
      "child{text-align:left}\nimg{max-width:100%}\nfigcaption{color:#555;font-style:italic}\n"
      "</style>\n</head>\n<body>\n";
  for (const auto& b : blocks) {
    switch (b.kind) {
      case Block::Heading: {
        std::string tag = "h" + std::to_string(b.level);
        out += "<" + tag + ">" + html_escape(b.text) + "</" + tag + ">\n";
        break;
      }
      case Block::Paragraph: out += "<p>" + html_escape(b.text) + "</p>\n"; break;
      case Block::TableBlock:
        out += "<table>\n<tr>";
        for (const auto& h : b.table.header) out += "<th>" + html_escape(h) + "</th>";
        out += "</tr>\n";
        for (const auto& row : b.table.rows) {
          out += "<tr>";
          for (const auto& c : row) out += "<td>" + html_escape(c) + "</td>";
          out += "</tr>\n";
        }
        out += "</table>\n";
        break;
      case Block::Figure:
        out += "<figure><img src=\"" + html_escape(b.figure) + ".svg\" alt=\"" + html_escape(b.text) +
               "\"><figcaption>" + html_escape(b.text) + " (<a href=\"" + html_escape(b.figure) +
               ".png\">PNG</a>)</figcaption></figure>\n";
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
    result_.dir = options_.out_dir;
    result_.target = data_.target;
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
    result_.figures.push_back(rel + ".png");
    result_.figures.push_back(rel + ".svg");
    blocks_.push_back({Block::Figure, 0, caption, {}, rel});
  }

  void efficiency_section() {
    heading(2, "Data efficiency");
    int needed = options_.form == CurveForm::power ? 3 : 4;
    if (static_cast<int>(data_.reference.size()) < needed) {
      paragraph("Not enough finished reference runs on this target to fit the reference curve (" +
                std::to_string(data_.reference.size()) + " of at least " + std::to_string(needed) +
                "); no multipliers.");
      return;
    }
    FitOptions fo;
    fo.form = options_.form;
    fo.method = options_.method;
    CurveFit fit = fit_curve(data_.reference, fo);
    result_.fit = fit;
    fit_paragraphs(fit);
    result_.multipliers = paper_multipliers(fit, data_.schedules, data_.baselines);
    heading(3, "Multipliers");
    if (!fit.usable_for_multipliers) {
      paragraph("No multiplier can be computed: " + fit.unusable_reason + ".");
    } else if (result_.multipliers.empty()) {
      paragraph("The sweep has none of the schedule pairs the paper compares (needs fine-tuning "
                "and/or mid-training runs with and without replay).");
    } else {
      Table t{{"schedule P", "over schedule Q", "loss P", "loss Q", "multiplier x(L_P)/x(L_Q)", "note"}, {}};
      for (const auto& m : result_.multipliers)
        t.rows.push_back({m.p, m.q, fixed(m.loss_p, 5), fixed(m.loss_q, 5), multiplier_value_text(m),
                          m.extrapolated ? "extrapolated: " + m.extrapolation : ""});
      table(t);
    }
    schedules_table(fit);
    if (fit.usable_for_multipliers) fit_figure(fit);
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
                        fixed(sch.loss, 5), sch.generic_loss ? fixed(*sch.generic_loss, 5) : "",
                        implied, over_text});
    }
    table(s);
  }

  void fit_figure(const CurveFit& fit) {
    std::set<std::string> headline;
    for (const auto& m : result_.multipliers) headline.insert(m.p), headline.insert(m.q);
    Series refs = make_series("reference runs", false, true, 0);
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& p : fit.points) {
      refs.x.push_back(std::log(p.x));
      refs.y.push_back(p.loss > fit.C ? std::log(p.loss - fit.C) : NAN);
      lo = std::min(lo, std::log(p.x)), hi = std::max(hi, std::log(p.x));
    }
    Series sched = make_series("schedules (implied pool)", false, true, 3);
    sched.marker = 2;
    for (const auto& s : data_.schedules) {
      Inverse inv = invert(fit, s.loss);
      if (!inv.ok()) continue;
      sched.x.push_back(*inv.log_x);
      sched.y.push_back(std::log(s.loss - fit.C));
      bool named = false;
      for (const auto& h : headline) named |= h.find("(" + s.name + ")") != std::string::npos;
      sched.point_labels.push_back(named ? s.name : "");
      lo = std::min(lo, *inv.log_x), hi = std::max(hi, *inv.log_x);
    }
    Series line = make_series("fit", true, false, 0);
    for (int i = 0; i <= 80; ++i) {
      double lx = lo + (hi - lo) * i / 80.0;
      double excess = fit.predict(std::exp(lx)) - fit.C;
      line.x.push_back(lx);
      line.y.push_back(excess > 0 ? std::log(excess) : NAN);
    }
    LineChart chart{"Reference fit: log excess loss against log pool size", "ln x (target pool, fraction of training)",
                    "ln(L - C)", {line, refs, sched}};
    figure(chart, "reference_fit",
           "Reference fit in log-log space (points: reference runs; fitted law; schedules placed at "
           "the pool the reference would need for their loss)");
  }

  void heatmap_section() {
    std::set<double> rhos;
    std::set<double, std::greater<>> alphas;
    std::map<std::pair<double, double>, double> cells;
    for (const auto& s : data_.schedules) {
      if (!(s.family == "mid-training" || s.family == "full") || !s.rho || !s.alpha) continue;
      rhos.insert(*s.rho);
      alphas.insert(*s.alpha);
      auto key = std::make_pair(*s.rho, *s.alpha);
      auto it = cells.find(key);
      if (it == cells.end() || s.loss < it->second) cells[key] = s.loss;
    }
    if (cells.size() < 2) return;
    heading(2, "Schedule sweep: rho x alpha");
    Heatmap map;
    map.title = "Final target loss (" + target_name(data_) + ")";
    map.x_label = "alpha (fraction of target data in stage 2)";
    map.y_label = "rho (replay fraction)";
    for (double a : alphas) map.col_labels.push_back(general(a));
    for (double r : rhos) {
      map.row_labels.push_back(general(r));
      std::vector<double> row;
      for (double a : alphas) {
        auto it = cells.find({r, a});
        row.push_back(it == cells.end() ? NAN : it->second);
      }
      map.values.push_back(row);
    }
    figure(map, "heatmap_rho_alpha", "Final target loss over (rho, alpha); best cell outlined");
  }

  void rho_section() {
    Series ft = make_series("fine-tuning"), mt = make_series("mid-training (alpha = 1)");
    std::vector<std::pair<double, double>> ftp, mtp;
    for (const auto& s : data_.schedules) {
      if (!s.rho) continue;
      if (s.family == "fine-tuning") ftp.emplace_back(*s.rho, s.loss);
      if ((s.family == "mid-training" || s.family == "full") && (!s.alpha || *s.alpha == 1.0))
        mtp.emplace_back(*s.rho, s.loss);
    }
    if (ftp.empty() && mtp.empty()) return;
    std::sort(ftp.begin(), ftp.end());
    std::sort(mtp.begin(), mtp.end());
    for (auto [r, l] : ftp) ft.x.push_back(r), ft.y.push_back(l);
    for (auto [r, l] : mtp) mt.x.push_back(r), mt.y.push_back(l);
    heading(2, "Target loss against replay fraction");
    figure(LineChart{"Final target loss against rho (" + target_name(data_) + ")",
                     "rho (replay fraction)", "target loss (nats/token)", {ft, mt}},
           "target_loss_vs_rho", "Final target loss against the replay fraction rho");
  }

  void runs_section() {
    heading(2, "Runs");
    Table t{{"run", "id", "status", "step", "target loss", "generic loss", "tokens/s",
             "branched from", "error"}, {}};
    for (const auto& r : data_.runs) {
      auto loss = [&](const std::string& split) {
        auto it = r.final_metrics.find(split);
        return it == r.final_metrics.end() ? std::string() : fixed(it->second.loss, 5);
      };
      t.rows.push_back({r.name, r.id.substr(0, 12), run_status_name(r.status), std::to_string(r.step),
                        loss(data_.target_split),
                        data_.generic_split.empty() ? "" : loss(data_.generic_split),
                        r.tokens_per_s ? fixed(*r.tokens_per_s, 0) : "",
                        r.branched_from.empty() ? ""
                                                : r.branched_from.substr(0, 12) + " @ " +
                                                      std::to_string(r.branch_step),
                        r.error.substr(0, 120)});
    }
    table(t);
  }

  // A relative run directory is taken relative to the registry's folder
  // (where the sweep keeps its runs), falling back to the working directory.
  stdfs::path resolve_run_dir(const std::string& dir) const {
    stdfs::path p(dir);
    if (p.is_absolute() || dir.empty()) return p;
    stdfs::path beside = registry_.path().parent_path() / p;
    return stdfs::exists(beside) ? beside : p;
  }

  void curves_section() {
    bool any = false;
    for (const auto& r : data_.runs) {
      LineChart chart{"Run " + r.name + ": training and validation loss", "step", "loss (nats/token)", {}};
      Series train = make_series("train loss", true, false, 7);
      Series target = make_series("val " + data_.target_split, true, true, 1);
      Series generic = make_series("val " + data_.generic_split, true, true, 0);
      stdfs::path metrics = resolve_run_dir(r.run_dir) / run::kMetricsFile;
      if (!r.run_dir.empty() && stdfs::exists(metrics)) {
        RunMetrics m = read_metrics(metrics);
        for (const auto& s : m.steps) train.x.push_back(s.step), train.y.push_back(s.loss);
        for (const auto& e : m.evals) {
          if (auto it = e.val.find(data_.target_split); it != e.val.end())
            target.x.push_back(e.step), target.y.push_back(it->second);
          if (auto it = e.val.find(data_.generic_split); it != e.val.end())
            generic.x.push_back(e.step), generic.y.push_back(it->second);
        }
      } else {  // no run directory here: the registry's eval history
        for (const auto& e : registry_.eval_history(r.id, data_.target_split))
          target.x.push_back(e.step), target.y.push_back(e.loss);
        if (!data_.generic_split.empty())
          for (const auto& e : registry_.eval_history(r.id, data_.generic_split))
            generic.x.push_back(e.step), generic.y.push_back(e.loss);
      }
      if (train.x.empty() && target.x.empty() && generic.x.empty()) continue;
      if (!any) heading(2, "Training curves");
      any = true;
      for (auto* s : {&train, &target, &generic})
        if (!s->x.empty()) chart.series.push_back(*s);
      figure(chart, "curves_" + safe_file_name(r.name) + "_" + r.id.substr(0, 8),
             "Run " + r.name + " (" + r.id.substr(0, 12) + ")");
    }
  }

  const Registry& registry_;
  const ReportOptions& options_;
  stdfs::path dir_;
  SweepData data_;
  std::vector<Block> blocks_;
  ReportResult result_;
};

}  // namespace

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
