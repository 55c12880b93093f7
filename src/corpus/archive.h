// Reads files out of package archives without unpacking them to disk:
// a Debian .deb (an `ar` archive whose data.tar.{xz,zst,gz,bz2} member is read
// as a stream by a second libarchive reader) or an npm .tgz (files under
// package/). Only regular files whose path matches the filter are read into
// memory, one at a time; members ending in ".gz" are decompressed.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "corpus/glob.h"

namespace replay::corpus {

struct ArchiveFile {
  std::string path;     // inside the package, without a leading "./"
  std::string content;  // decompressed when the member ends in ".gz"
};

// Calls `visit` for every matching file, in archive order. Throws
// replay::Error naming the archive (and member) when it is missing, not an
// archive, or corrupt. Returns the number of files visited.
size_t for_each_archive_file(const std::filesystem::path& archive, const PathFilter& filter,
                             const std::function<void(ArchiveFile&)>& visit);

// The control file of a .deb (./control inside its control.tar member):
// "Package: NAME\nVersion: 1.2-3\n...". Throws replay::Error naming the
// archive when it is not a .deb or has no control file.
std::string read_deb_control(const std::filesystem::path& archive);

// The value of one field of a control file ("" when absent).
std::string control_field(const std::string& control, const std::string& field);

}  // namespace replay::corpus
