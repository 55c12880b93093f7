// Typed, strict access to one TOML table of a config (shared by every stage
// that parses a table of the run config): every read names
// the full key ("optim.lr") and the file in its error, wrong types are errors
// (an integer is accepted where a float is expected, never the reverse), and
// finish() rejects any key nobody asked for, so typos never pass silently.
#pragma once
#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace replay {

class TomlReader {
 public:
  // `prefix` is the table's dotted name ("" for the root), `file` the config
  // path used in messages. A null table behaves as an empty one.
  TomlReader(const toml::table* table, std::string prefix, std::string file);

  std::optional<int64_t> int_opt(const std::string& key);
  std::optional<double> double_opt(const std::string& key);
  std::optional<std::string> string_opt(const std::string& key);
  std::optional<bool> bool_opt(const std::string& key);

  int64_t get_int(const std::string& key, int64_t fallback) { return int_opt(key).value_or(fallback); }
  double get_double(const std::string& key, double fallback) { return double_opt(key).value_or(fallback); }
  std::string get_string(const std::string& key, const std::string& fallback) {
    return string_opt(key).value_or(fallback);
  }
  bool get_bool(const std::string& key, bool fallback) { return bool_opt(key).value_or(fallback); }

  // An array of strings; a lone string counts as an array of one, so
  // `include = "*.txt"` and `include = ["*.txt", "*.md"]` both read.
  std::optional<std::vector<std::string>> strings_opt(const std::string& key);
  // A value that may take more than one type (a boolean or a table, say):
  // the node as is, marked as read; null when absent.
  const toml::node* node(const std::string& key);

  // A sub-table that some other stage parses: marked as known here, returned
  // as is (null when absent). Throws when the key holds a non-table.
  const toml::table* table(const std::string& key);
  // The reader of sub-table `key`, named "<this table>.key" (an absent table
  // reads as an empty one). Throws when the key holds a non-table.
  TomlReader child(const std::string& key) { return TomlReader(table(key), name(key), file_); }
  // An array (of tables, as [[key]]); null when absent.
  const toml::array* array(const std::string& key);
  // One reader per table of the array `key` ([[key]]), named "key[i]"
  // (0-based); empty when absent. Throws when an element is not a table.
  std::vector<TomlReader> tables(const std::string& key);
  // The table itself, for tables whose keys are data rather than settings
  // (a map of overrides, say); null when absent. Marks nothing as read.
  const toml::table* raw() const { return table_; }
  // Whether the key is present, without marking it as read.
  bool has(const std::string& key) const { return table_ && table_->contains(key); }

  // Marks a key as handled without reading it (owned by another stage).
  void allow(const std::string& key) { seen_.insert(key); }

  // Throws naming the first key that was never read or allowed, followed by
  // the keys that were: "file: unknown key 'optim.lrr' (known: beta1, lr, ...)".
  void finish() const;

  // "optim.lr" style name, for messages about a value of this table.
  std::string name(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }
  const std::string& file() const { return file_; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

 private:
  const toml::node* find(const std::string& key);
  const toml::table* table_;
  std::string prefix_;
  std::string file_;
  std::set<std::string> seen_;
};

// Parses a TOML document. Syntax errors are replay::Error in one format for
// every config file of the project: "<file>:<line>:<column>: <what>".
// A missing file is an error naming it.
toml::table parse_toml_file(const std::string& path);
toml::table parse_toml_text(std::string_view text, const std::string& name);

// Applies a `--set key=value` override to a parsed document: the dotted key
// path is created as needed; the value is parsed as a TOML value (number,
// bool, string in quotes, array, inline table) and otherwise taken as a bare
// string, so `out=runs/x` and `train.steps=10` both work.
void apply_override(toml::table& root, const std::string& assignment);

}  // namespace replay
