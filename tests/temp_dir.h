// The one scratch folder of the test suites: a fresh, empty directory,
// removed with everything in it when the TempDir goes out of scope.
//
// Unique per process and per test: the name holds the tag, the pid, the
// running test's suite and name (when there is one: SetUpTestSuite has none)
// and a counter, so tests run in parallel processes (ctest -j runs every test
// in its own process) and several TempDirs of one test never share a folder.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") : path(std::filesystem::temp_directory_path() / unique_name(tag)) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;  // a destructor must not throw; leftovers are in /tmp
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path path;

 private:
  static std::string unique_name(const std::string& tag) {
    static std::atomic<int> counter{0};
    std::string name = "replay-" + tag + "-" + std::to_string(::getpid());
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info())
      name += std::string("-") + info->test_suite_name() + "." + info->name();
    name += "-" + std::to_string(counter++);
    for (char& c : name)  // parameterized tests have '/' in their names
      if (c == '/') c = '_';
    return name;
  }
};
