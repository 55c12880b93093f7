// Progress lines of the corpus builders (corpus build, tasks build-help):
// printf-style to `log`, flushed at once so a long build shows where it is;
// a null `log` is a quiet build.
#pragma once
#include <cstdio>

namespace replay::corpus {

void logf(std::FILE* log, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace replay::corpus
