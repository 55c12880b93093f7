#include "corpus/fetch.h"

#include <unistd.h>

#include <sys/wait.h>

#include <cstdlib>
#include <vector>

#include "util/error.h"
#include "util/fs.h"

namespace replay::corpus {

namespace stdfs = std::filesystem;

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out.push_back(c);
  }
  return out + "'";
}

// The tool's last `n` non-empty output lines, joined with " | ".
std::string last_lines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    if (eol > pos) lines.push_back(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : " | ") + lines[i];
  return out.empty() ? "(no output)" : out;
}

}  // namespace

bool is_valid_package_name(const std::string& p, Registry registry) {
  if (p.empty() || p.size() > 214) return false;
  auto ok_char = [](char c, bool npm) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '-' || c == '.' || (npm ? (c == '_') : (c == '+'));
  };
  if (registry == Registry::deb) {
    if (!std::isalnum(static_cast<unsigned char>(p[0]))) return false;
    for (char c : p)
      if (!ok_char(c, false)) return false;
    return true;
  }
  std::string_view rest = p;
  if (rest[0] == '@') {  // @scope/name
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash < 2) return false;
    for (char c : rest.substr(1, slash - 1))
      if (!ok_char(c, true)) return false;
    rest.remove_prefix(slash + 1);
  }
  if (rest.empty() || rest[0] == '.' || rest[0] == '_') return false;
  for (char c : rest)
    if (!ok_char(c, true)) return false;
  return true;
}

stdfs::path PackageCache::cached_path(const std::string& package, Registry registry) const {
  if (registry == Registry::deb) return dir_ / "deb" / (package + ".deb");
  std::string flat = package;
  if (!flat.empty() && flat[0] == '@') flat.erase(0, 1);
  for (size_t p; (p = flat.find('/')) != std::string::npos;) flat.replace(p, 1, "__");
  return dir_ / "npm" / (flat + ".tgz");
}

FetchResult PackageCache::fetch(const std::string& package, Registry registry) const {
  FetchResult result;
  result.archive = cached_path(package, registry);
  if (stdfs::is_regular_file(result.archive)) {
    result.cache_hit = true;
    result.bytes = stdfs::file_size(result.archive);
    return result;
  }
  if (!is_valid_package_name(package, registry))
    throw Error(std::string("invalid ") + registry_name(registry) + " package name \"" + package + "\"");
  // Download into a private folder, then move the one file into place: a
  // failed or interrupted download never looks like a cached package.
  // Absolute: the command changes directory before writing its log.
  stdfs::path tmp = stdfs::absolute(dir_ / ("tmp-" + std::to_string(::getpid())));
  stdfs::remove_all(tmp);
  stdfs::create_directories(tmp);
  stdfs::path log = tmp / "fetch.log";
  std::string cmd = registry == Registry::deb
                        ? "cd " + shell_quote(tmp.string()) + " && apt-get download " + shell_quote(package)
                        : "npm pack " + shell_quote(package) + " --pack-destination " +
                              shell_quote(tmp.string()) + " --silent --no-fund --no-audit";
  cmd += " > " + shell_quote(log.string()) + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::string output = stdfs::exists(log) ? fs::read_file(log) : "";
  stdfs::remove(log);
  std::vector<stdfs::path> files;
  for (const auto& e : stdfs::directory_iterator(tmp))
    if (e.is_regular_file()) files.push_back(e.path());
  if (rc != 0 || files.size() != 1) {
    stdfs::remove_all(tmp);
    throw Error(std::string("cannot fetch ") + registry_name(registry) + " package \"" + package + "\" (" +
                (registry == Registry::deb ? "apt-get download" : "npm pack") + " exit " +
                std::to_string(WEXITSTATUS(rc)) + "): " + last_lines(output, 3));
  }
  stdfs::create_directories(result.archive.parent_path());
  stdfs::rename(files[0], result.archive);
  fs::fsync_dir(result.archive.parent_path());
  stdfs::remove_all(tmp);
  result.bytes = stdfs::file_size(result.archive);
  return result;
}

}  // namespace replay::corpus
