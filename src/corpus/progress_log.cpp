#include "corpus/progress_log.h"

#include <cstdarg>

namespace replay::corpus {

void logf(std::FILE* log, const char* fmt, ...) {
  if (!log) return;
  va_list args;
  va_start(args, fmt);
  std::vfprintf(log, fmt, args);
  va_end(args);
  std::fflush(log);
}

}  // namespace replay::corpus
