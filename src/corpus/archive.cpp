#include "corpus/archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "corpus/streams.h"
#include "util/error.h"

namespace replay::corpus {

namespace {

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

ArchivePtr new_reader() {
  ArchivePtr a(archive_read_new(), &archive_read_free);
  archive_read_support_filter_all(a.get());
  archive_read_support_format_ar(a.get());
  archive_read_support_format_tar(a.get());
  return a;
}

std::string clean_name(const char* raw) {
  std::string name = raw ? raw : "";
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  while (!name.empty() && name[0] == '/') name.erase(0, 1);
  return name;
}

// Streams the current member of `outer` into a nested reader.
struct NestedSource {
  struct archive* outer;
  char buffer[1 << 16];
};

la_ssize_t nested_read(struct archive*, void* client, const void** out) {
  auto* src = static_cast<NestedSource*>(client);
  *out = src->buffer;
  return archive_read_data(src->outer, src->buffer, sizeof src->buffer);
}

class Walker {
 public:
  // `member`: the .deb member walked inside ("data.tar" or "control.tar").
  Walker(const std::string& archive_name, const PathFilter& filter,
         const std::function<void(ArchiveFile&)>& visit, std::string member = "data.tar")
      : name_(archive_name), member_(std::move(member)), filter_(filter), visit_(visit) {}

  // `is_outer`: a .deb's inner data.tar is walked with is_outer = false.
  void walk(struct archive* a, bool is_outer) {
    struct archive_entry* entry;
    for (;;) {
      int rc = archive_read_next_header(a, &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) fail(a, "");
      std::string path = clean_name(archive_entry_pathname(entry));
      bool is_ar = (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_AR;
      if (is_outer && is_ar) {
        if (path.rfind(member_, 0) == 0) {
          walk_nested(a, path);
          saw_data_ = true;
        }
        continue;  // debian-binary, control.tar.*
      }
      if (archive_entry_filetype(entry) != AE_IFREG || !filter_.matches(path)) continue;
      ArchiveFile file{path, read_member(a, path)};
      if (compression_of(path) == Compression::gzip)
        file.content = decompress(file.content, Compression::gzip, name_ + ":" + path);
      visit_(file);
      ++visited_;
    }
  }
  void check_deb(struct archive* a) {
    bool is_ar = (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_AR;
    if (is_ar && !saw_data_) throw Error(name_ + ": .deb without a " + member_ + " member");
    if (!is_ar && member_ != "data.tar") throw Error(name_ + ": not a .deb (no " + member_ + ")");
  }
  size_t visited() const { return visited_; }

 private:
  [[noreturn]] void fail(struct archive* a, const std::string& member) {
    const char* why = archive_error_string(a);
    throw Error("corrupt or unreadable archive " + name_ + (member.empty() ? "" : ":" + member) +
                ": " + (why ? why : "unknown error"));
  }

  std::string read_member(struct archive* a, const std::string& path) {
    std::string content;
    char buf[1 << 16];
    for (;;) {
      la_ssize_t n = archive_read_data(a, buf, sizeof buf);
      if (n < 0) fail(a, path);
      if (n == 0) break;
      content.append(buf, static_cast<size_t>(n));
    }
    return content;
  }

  void walk_nested(struct archive* outer, const std::string& member) {
    ArchivePtr inner = new_reader();
    auto src = std::make_unique<NestedSource>();
    src->outer = outer;
    if (archive_read_open(inner.get(), src.get(), nullptr, nested_read, nullptr) != ARCHIVE_OK)
      fail(inner.get(), member);
    try {
      walk(inner.get(), false);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (inside " + member + ")");
    }
  }

  std::string name_;
  std::string member_;
  const PathFilter& filter_;
  const std::function<void(ArchiveFile&)>& visit_;
  size_t visited_ = 0;
  bool saw_data_ = false;
};

}  // namespace

namespace {

size_t walk_archive(const std::filesystem::path& archive_path, const PathFilter& filter,
                    const std::function<void(ArchiveFile&)>& visit, const std::string& member) {
  if (!std::filesystem::is_regular_file(archive_path))
    throw Error("archive not found: " + archive_path.string());
  ArchivePtr a = new_reader();
  if (archive_read_open_filename(a.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    const char* why = archive_error_string(a.get());
    throw Error("cannot open archive " + archive_path.string() + ": " + (why ? why : "unknown"));
  }
  Walker walker(archive_path.string(), filter, visit, member);
  walker.walk(a.get(), true);
  walker.check_deb(a.get());
  return walker.visited();
}

}  // namespace

size_t for_each_archive_file(const std::filesystem::path& archive_path, const PathFilter& filter,
                             const std::function<void(ArchiveFile&)>& visit) {
  return walk_archive(archive_path, filter, visit, "data.tar");
}

std::string read_deb_control(const std::filesystem::path& archive_path) {
  std::string control;
  bool found = false;
  walk_archive(archive_path, PathFilter{{"control"}, {}}, [&](ArchiveFile& f) {
    if (f.path != "control") return;
    control = std::move(f.content);
    found = true;
  }, "control.tar");
  if (!found) throw Error(archive_path.string() + ": .deb without a control file");
  return control;
}

std::string control_field(const std::string& control, const std::string& field) {
  const std::string prefix = field + ":";
  size_t pos = 0;
  while (pos < control.size()) {
    size_t end = control.find('\n', pos);
    if (end == std::string::npos) end = control.size();
    if (control.compare(pos, prefix.size(), prefix) == 0) {
      size_t b = pos + prefix.size();
      while (b < end && control[b] == ' ') ++b;
      return control.substr(b, end - b);
    }
    pos = end + 1;
  }
  return "";
}

}  // namespace replay::corpus
