// The one way Replay prints a duration (progress lines, ETAs, "done in",
// "finished in"), so that a trainer, a sweep and a demo read alike.
#pragma once
#include <string>

namespace replay {

// A duration for humans, to the precision that matters at its size:
//   under 10 s    tenths:                      "0.4s", "9.5s"
//   under 1 min   whole seconds:               "45s"
//   under 1 h     minutes and seconds:         "3m02s"
//   from 1 h      hours and minutes (rounded): "1h05m", "26h00m"
// Each value is rounded before its form is chosen (59.6 s is "1m00s").
// Negative, NaN or infinite seconds (an ETA not known yet) print "?".
std::string format_duration(double seconds);

}  // namespace replay
