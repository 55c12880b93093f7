// File helpers shared by every stage: atomic writes (nothing half-written is
// ever visible under the final name), whole-file reads and read-only mmaps.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace replay::fs {

namespace stdfs = std::filesystem;

// Writes to "<path>.tmp-<pid>" and only on commit() fsyncs, renames onto
// `path` and fsyncs the directory. Destroyed without commit(), the temporary
// is removed, so a crash or an exception never leaves a partial file behind.
class AtomicFile {
 public:
  explicit AtomicFile(const stdfs::path& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  uint64_t bytes_written() const { return bytes_; }
  void commit();
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
  stdfs::path tmp_;
  std::FILE* file_ = nullptr;
  uint64_t bytes_ = 0;
};

void write_file_atomic(const stdfs::path& path, std::string_view content);

// Checks, before any work, that a command can write its output at `path`;
// throws replay::Error naming `key` (the config key or option that chose the
// path), the path and the reason: a parent that is a regular file, an
// existing entry of the wrong kind, a folder that refuses new entries
// (permissions, a read-only or pseudo file system such as /proc). Nothing is
// left behind: the test creates and removes one probe folder in the nearest
// existing folder, which is the only reliable test (root passes access(2)
// even where mkdir(2) fails).
enum class OutputKind { directory, file };
void check_output_path(const stdfs::path& path, OutputKind kind, const std::string& key);

// Reads a whole file; throws replay::Error naming the path on failure.
std::string read_file(const stdfs::path& path);

// fsync on a directory, so that a rename inside it survives a power cut.
void fsync_dir(const stdfs::path& dir);
// fsync on a file already written and closed; throws replay::Error naming it.
void fsync_file(const stdfs::path& path);

// Read-only memory map of a whole file (empty files map to size 0).
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const stdfs::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const stdfs::path& path() const { return path_; }

 private:
  void release();
  stdfs::path path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Reads `files` front to back into the page cache on a background thread,
// as `cat files > /dev/null` would, so that a consumer of their memory maps
// (the model loaders) finds the pages there instead of faulting each one in
// from disk: mapped reads fault page by page with small read-ahead, while
// sequential read() gets the kernel's full read-ahead (measured: a cold
// 1.3 GB checkpoint load took 3.4-5 s through faults alone, against 1.2 s for
// cat). Errors are ignored: the consumer reads the files itself and reports
// them. The destructor stops the thread after its current chunk.
class ReadAhead {
 public:
  explicit ReadAhead(std::vector<stdfs::path> files);
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

 private:
  std::jthread thread_;
};

}  // namespace replay::fs
