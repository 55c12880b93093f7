#include "util/fs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace replay::fs {

namespace {
std::string errno_text() { return std::strerror(errno); }
}  // namespace

AtomicFile::AtomicFile(const stdfs::path& path) : path_(path) {
  if (path_.has_parent_path()) stdfs::create_directories(path_.parent_path());
  tmp_ = path_;
  tmp_ += ".tmp-" + std::to_string(::getpid());
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw Error("cannot create " + tmp_.string() + ": " + errno_text());
}

AtomicFile::~AtomicFile() {
  if (file_) {
    std::fclose(file_);
    std::error_code ignored;
    stdfs::remove(tmp_, ignored);
  }
}

void AtomicFile::write(const void* data, size_t size) {
  if (!file_) throw Error("write after commit: " + path_.string());
  if (size && std::fwrite(data, 1, size, file_) != size)
    throw Error("cannot write " + tmp_.string() + ": " + errno_text());
  bytes_ += size;
}

void AtomicFile::commit() {
  if (!file_) throw Error("double commit: " + path_.string());
  bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  std::string why = ok ? "" : errno_text();
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    if (why.empty()) why = errno_text();
    std::error_code ignored;
    stdfs::remove(tmp_, ignored);
    throw Error("cannot finish writing " + path_.string() + ": " + why);
  }
  fsync_dir(path_.has_parent_path() ? path_.parent_path() : stdfs::path("."));
}

namespace {

// The folder that will hold `path`'s new entries: the nearest existing
// ancestor, which must be a folder.
stdfs::path existing_parent(const stdfs::path& path, const std::string& key) {
  stdfs::path p = stdfs::absolute(path).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  std::error_code ec;
  for (stdfs::path up = p.parent_path();; up = up.parent_path()) {
    const auto st = stdfs::status(up, ec);
    if (stdfs::exists(st)) {
      if (!stdfs::is_directory(st))
        throw Error(key + ": cannot write " + path.string() + ": " + up.string() + " is a file, not a folder");
      return up;
    }
    if (up == up.root_path()) return up;
  }
}

void probe_writable(const stdfs::path& dir, const stdfs::path& path, const std::string& key) {
  const stdfs::path probe = dir / (".replay-probe-" + std::to_string(::getpid()));
  if (::mkdir(probe.c_str(), 0700) != 0) {
    throw Error(key + ": cannot write " + path.string() + ": cannot create entries in " + dir.string() + " (" +
                errno_text() + ")");
  }
  ::rmdir(probe.c_str());
}

}  // namespace

void check_output_path(const stdfs::path& path, OutputKind kind, const std::string& key) {
  if (path.empty()) throw Error(key + ": the output path is empty");
  std::error_code ec;
  const auto st = stdfs::status(path, ec);
  if (stdfs::exists(st)) {
    const bool is_dir = stdfs::is_directory(st);
    if (kind == OutputKind::directory && !is_dir)
      throw Error(key + ": " + path.string() + " exists and is not a folder");
    if (kind == OutputKind::file && is_dir) throw Error(key + ": " + path.string() + " is a folder, not a file");
    probe_writable(is_dir ? path : existing_parent(path, key), path, key);
    return;
  }
  probe_writable(existing_parent(path, key), path, key);
}

void write_file_atomic(const stdfs::path& path, std::string_view content) {
  AtomicFile file(path);
  file.write(content);
  file.commit();
}

std::string read_file(const stdfs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open " + path.string() + ": " + errno_text());
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw Error("cannot read " + path.string());
  return out;
}

void fsync_dir(const stdfs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: some filesystems refuse directory fds
  ::fsync(fd);
  ::close(fd);
}

void fsync_file(const stdfs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open " + path.string() + " to fsync it: " + errno_text());
  int rc = ::fsync(fd);
  std::string why = rc != 0 ? errno_text() : "";
  ::close(fd);
  if (rc != 0) throw Error("fsync failed for " + path.string() + ": " + why);
}

MappedFile::MappedFile(const stdfs::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error("cannot open " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error("cannot stat " + path.string() + ": " + errno_text());
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error("cannot mmap " + path.string() + ": " + errno_text());
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void MappedFile::release() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

ReadAhead::ReadAhead(std::vector<stdfs::path> files)
    : thread_([files = std::move(files)](std::stop_token stop) {
        std::vector<char> chunk(8u << 20);
        for (const auto& file : files) {
          const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0) continue;
          while (!stop.stop_requested() && ::read(fd, chunk.data(), chunk.size()) > 0) {
          }
          ::close(fd);
        }
      }) {}

ReadAhead::~ReadAhead() = default;  // jthread: request_stop, then join

}  // namespace replay::fs
