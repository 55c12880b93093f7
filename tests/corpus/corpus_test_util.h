// Test helpers of the corpus (and store) suites: a scratch folder per test
// (TempDir), gzip for fixtures, every document of a corpus file, and the
// message of an expected replay::Error.
#pragma once
#include "error_of.h"
#include "temp_dir.h"
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "corpus/documents.h"
#include "util/error.h"

// gzip-compresses `data` (a .gz member or file for fixtures).
inline std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = data.size();
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = out.size();
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Every document of a corpus file or folder, in reading order.
inline std::vector<replay::corpus::Document> read_all(const std::filesystem::path& path,
                                                      const std::string& field = "text") {
  replay::corpus::DocumentReader reader(path, field);
  std::vector<replay::corpus::Document> docs;
  replay::corpus::Document doc;
  while (reader.next(doc)) docs.push_back(doc);
  return docs;
}
