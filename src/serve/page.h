// The dashboard page, one self-contained HTML document (no network: its CSS
// and JavaScript are inline, its charts are SVG drawn by that script). The
// script polls the JSON API of server.h every REFRESH_MS (3 s, stated once in
// the script and shown in the page's status line) and redraws:
//   - the runs table: sweep, run, id, status, step / total, ETA, final losses
//     (each row <tr class="run" data-run-id="ID">; a click selects the run);
//   - the selected sweep's overlays: target and generic validation loss of
//     every run, each run's stage boundaries marked in its colour;
//   - the selected run's curves: training loss and every validation split
//     against step, its stage boundaries as dashed vertical lines; beside
//     them the sweep's (rho, alpha) heatmap of final target loss;
//   - the fit of the sweep's target: A, B, C with their 95% intervals and
//     the multipliers with theirs (drawn as points with bars, 1 marked).
// Charts are <svg class="chart"> with real <text> labels.
#pragma once

namespace replay::serve {

extern const char* const kDashboardPage;

}  // namespace replay::serve
