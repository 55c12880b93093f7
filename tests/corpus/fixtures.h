// Small package fixtures built in memory with libarchive's writer, so the
// extraction path is tested end to end without any network.
#pragma once
#include <archive.h>
#include <archive_entry.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using FileList = std::vector<std::pair<std::string, std::string>>;  // (path, content)

enum class Container { tar_gz, tar_xz, ar };

inline std::string make_archive(const FileList& files, Container kind) {
  struct archive* a = archive_write_new();
  if (kind == Container::ar) {
    archive_write_set_format_ar_svr4(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    if (kind == Container::tar_gz) archive_write_add_filter_gzip(a);
    else archive_write_add_filter_xz(a);
  }
  size_t total = 1 << 16;
  for (const auto& f : files) total += f.second.size() + 1024;
  std::string buffer(total * 2, '\0');
  size_t used = 0;
  if (archive_write_open_memory(a, buffer.data(), buffer.size(), &used) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a));
  for (const auto& [path, content] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  buffer.resize(used);
  return buffer;
}

// A .deb: ar archive with debian-binary, control.tar.xz and data.tar.xz.
inline std::string make_deb(const FileList& files) {
  return make_archive({{"debian-binary", "2.0\n"},
                       {"control.tar.xz", make_archive({{"./control", "Package: x\n"}}, Container::tar_xz)},
                       {"data.tar.xz", make_archive(files, Container::tar_xz)}},
                      Container::ar);
}

// An npm pack: files under package/ in a .tgz.
inline std::string make_npm(const FileList& files) {
  FileList prefixed;
  for (const auto& [p, c] : files) prefixed.emplace_back("package/" + p, c);
  return make_archive(prefixed, Container::tar_gz);
}
