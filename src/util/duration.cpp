#include "util/duration.h"

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace replay {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  char buf[48];
  const double tenths = std::round(seconds * 10) / 10;
  if (tenths < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", tenths);
    return buf;
  }
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    const auto minutes = static_cast<long long>(std::llround(seconds / 60));
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", minutes / 60, minutes % 60);
  }
  return buf;
}

}  // namespace replay
