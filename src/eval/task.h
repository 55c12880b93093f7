// Multiple-choice task files for `replay eval` (docs/eval.md): a TOML file
// naming a JSONL file of items and the templates that turn each item into a
// context and its choices, so that a task's prompt format is a property of
// the file, never of the code (spec finetune.md section 4).
//
// The TOML file (every key below; any other key is an error):
//
//   name = "xcopa_eu"                 # required; names the output files
//   items = "xcopa_eu.jsonl"          # required; relative to the TOML's folder
//   description = "..."               # optional
//   metrics = ["acc"]                 # optional subset of ["acc", "acc_norm"]; default both
//   [template]
//   context = "{premise|strip}{question|map:connector}"   # required
//   choices = [" {choice1|lower_first}", " {choice2|lower_first}"]
//   # either `choices` (one template per choice) or both of:
//   # choice_list = "choices"         # an item field holding an array of strings
//   # choice = " {choice}"            # applied to each element ({choice} = the element)
//   label = "label"                   # required: item field with the 0-based gold index
//   [maps.connector]                  # optional named maps used by `map:NAME`
//   cause = " Izan ere,"
//   effect = " Beraz,"
//
// The JSONL file: one JSON object per line (blank lines skipped). An item's
// `id` field (string or integer) is kept as its id; without one, the id is
// its 1-based line number. The label field must be an integer in
// [0, number of choices).
//
// Templates: literal text with placeholders `{field}` or `{field|op|op...}`
// (ops apply left to right); `{{` and `}}` are literal braces. A field is a
// string (numbers are written as JSON writes them). Ops:
//   strip          whitespace removed at both ends
//   rstrip_period  one trailing '.' removed (after nothing else)
//   lower_first    first character lower-cased (ASCII, and UTF-8 Latin-1
//                  Supplement / Latin Extended-A capitals: É -> é, Ž -> ž)
//   map:NAME       the value looked up in [maps.NAME]
// An unknown field, op, map or map key is a replay::Error naming the task
// file, the item's line and the template; a bad template (unknown op or map)
// is caught when the task file is read, before any item.
//
// The generic pre-rendered form (items already hold the strings):
//   items: {"id": "...", "context": "...", "choices": ["...", ...], "label": k}
//   [template] context = "{context}", choice_list = "choices",
//              choice = " {choice}", label = "label"
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace replay::eval {

// One rendered item: the context and the continuation of each choice.
struct TaskItem {
  std::string id;
  int64_t line = 0;  // 1-based line in the items file
  std::string context;
  std::vector<std::string> choices;
  int64_t gold = 0;
};

struct Task {
  std::string name, description;
  std::filesystem::path file, items_file;
  bool acc = true, acc_norm = true;  // the metrics reported
  std::vector<TaskItem> items;
};

using Maps = std::map<std::string, std::map<std::string, std::string>>;

// Renders one template against a JSON object item. `where` prefixes every
// error ("tasks/x.toml: items line 3: template.context"). `extra` holds
// fields that are not in the item ({choice} of choice_list).
std::string render_template(const std::string& text, const nlohmann::json& item, const Maps& maps,
                            const std::string& where, const nlohmann::json* extra = nullptr);

// Checks a template's syntax, ops and map names without an item.
void check_template(const std::string& text, const Maps& maps, const std::string& where);

// The first character of `text` lower-cased (see lower_first above).
std::string lower_first(const std::string& text);

// Reads a task file and renders its items (only the first `limit` when
// limit > 0). Throws replay::Error naming the file, key, line or value.
Task load_task(const std::filesystem::path& toml_file, int64_t limit = 0);

// The number of Unicode code points of UTF-8 `text` (Python's len()).
int64_t utf8_length(const std::string& text);

}  // namespace replay::eval
