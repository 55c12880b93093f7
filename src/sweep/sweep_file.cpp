#include "sweep/sweep_file.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

#include "util/error.h"
#include "util/fs.h"

namespace replay::sweep {

namespace {

struct Axis {
  std::string key;
  std::vector<std::string> values;  // TOML text of each value
};

std::string toml_text(const toml::node& node) {
  std::ostringstream out;
  out << toml::toml_formatter{node, toml::format_flags::none};
  return out.str();
}

// A value as it reads in a run name or a tag: strings without quotes.
std::string plain_text(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  if (auto f = node.as_floating_point()) {
    std::ostringstream out;
    out << f->get();
    return out.str();
  }
  return toml_text(node);
}

std::string last_segment(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& key, const std::string& what) {
  throw Error(file.string() + ": " + key + ": " + what);
}

void check_keys(const toml::table& table, const std::set<std::string>& known,
                const std::filesystem::path& file, const std::string& prefix) {
  for (const auto& [key, value] : table)
    if (!known.count(std::string(key.str())))
      fail(file, prefix + std::string(key.str()), "unknown key");
}

const toml::table* table_at(const toml::table& parent, const std::string& key,
                            const std::filesystem::path& file, const std::string& where) {
  const toml::node* node = parent.get(key);
  if (!node) return nullptr;
  if (!node->is_table()) fail(file, where + key, "must be a table");
  return node->as_table();
}

std::vector<std::string> overrides_of(const toml::table* set, const std::filesystem::path& file,
                                      const std::string& where) {
  std::vector<std::string> out;
  if (!set) return out;
  for (const auto& [key, value] : *set) {
    if (value.is_table()) fail(file, where + std::string(key.str()), "use a dotted key string, not a table");
    out.push_back(std::string(key.str()) + "=" + toml_text(value));
  }
  return out;
}

std::vector<Axis> axes_of(const toml::table* table, const std::filesystem::path& file,
                          const std::string& where, std::vector<std::vector<std::string>>* labels) {
  std::vector<Axis> axes;
  if (!table) return axes;
  for (const auto& [key, value] : *table) {
    const toml::array* values = value.as_array();
    if (!values || values->empty())
      fail(file, where + std::string(key.str()), "must be a non-empty array of values");
    Axis axis{std::string(key.str()), {}};
    std::vector<std::string> plain;
    for (const auto& v : *values) {
      axis.values.push_back(toml_text(v));
      plain.push_back(plain_text(v));
    }
    labels->push_back(plain);
    axes.push_back(std::move(axis));
  }
  return axes;
}

void expand_group(const toml::table& group, size_t index, const std::vector<std::string>& common,
                  const std::filesystem::path& file, std::vector<RunSpec>& runs) {
  const std::string where = "group[" + std::to_string(index) + "].";
  check_keys(group, {"name", "tags", "set", "grid", "zip"}, file, where);
  std::string prefix = group["name"].value_or(std::string("run") + std::to_string(index));

  std::map<std::string, std::string> tags;
  if (const toml::table* t = table_at(group, "tags", file, where))
    for (const auto& [key, value] : *t) tags[std::string(key.str())] = plain_text(value);

  std::vector<std::string> base = common;
  for (auto& o : overrides_of(table_at(group, "set", file, where), file, where + "set."))
    base.push_back(o);

  std::vector<std::vector<std::string>> grid_labels, zip_labels;
  auto grid = axes_of(table_at(group, "grid", file, where), file, where + "grid.", &grid_labels);
  auto zip = axes_of(table_at(group, "zip", file, where), file, where + "zip.", &zip_labels);
  size_t zip_rows = zip.empty() ? 1 : zip.front().values.size();
  for (const auto& axis : zip)
    if (axis.values.size() != zip_rows)
      fail(file, where + "zip." + axis.key, "zipped axes must have the same length");

  // Cartesian product over grid axes (first axis slowest), times zip rows.
  std::vector<size_t> counter(grid.size(), 0);
  while (true) {
    for (size_t row = 0; row < zip_rows; ++row) {
      RunSpec run{prefix, base, tags};
      auto add = [&](const Axis& axis, const std::string& plain, size_t i) {
        run.overrides.push_back(axis.key + "=" + axis.values[i]);
        run.tags[last_segment(axis.key)] = plain;
        run.name += "-" + last_segment(axis.key) + "=" + plain;
      };
      for (size_t a = 0; a < grid.size(); ++a) add(grid[a], grid_labels[a][counter[a]], counter[a]);
      for (size_t a = 0; a < zip.size(); ++a) add(zip[a], zip_labels[a][row], row);
      runs.push_back(std::move(run));
    }
    size_t a = grid.size();
    while (a > 0) {
      --a;
      if (++counter[a] < grid[a].values.size()) break;
      counter[a] = 0;
      if (a == 0) return;
    }
    if (grid.empty()) return;
  }
}

}  // namespace

SweepSpec parse_sweep(const std::string& toml_text_in, const std::filesystem::path& file,
                      const std::vector<std::string>& extra_overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text_in, file.string());
  } catch (const toml::parse_error& e) {
    throw Error(file.string() + ":" + std::to_string(e.source().begin.line) + ": " +
                std::string(e.description()));
  }
  check_keys(root, {"name", "base", "set", "group"}, file, "");
  SweepSpec spec;
  spec.file = file;
  auto name = root["name"].value<std::string>();
  if (!name || name->empty()) fail(file, "name", "missing (the sweep's name in the registry)");
  spec.name = *name;
  auto base = root["base"].value<std::string>();
  if (!base) fail(file, "base", "missing (path of the base run config)");
  spec.base = std::filesystem::path(*base).is_absolute() ? std::filesystem::path(*base)
                                                         : file.parent_path() / *base;

  std::vector<std::string> common = overrides_of(table_at(root, "set", file, ""), file, "set.");
  common.insert(common.end(), extra_overrides.begin(), extra_overrides.end());

  const toml::array* groups = root["group"].as_array();
  if (!groups || groups->empty()) fail(file, "group", "missing: a sweep needs at least one [[group]]");
  for (size_t i = 0; i < groups->size(); ++i) {
    const toml::table* group = (*groups)[i].as_table();
    if (!group) fail(file, "group[" + std::to_string(i) + "]", "must be a table");
    expand_group(*group, i, common, file, spec.runs);
  }
  std::set<std::string> names;
  for (const auto& run : spec.runs)
    if (!names.insert(run.name).second)
      throw Error(file.string() + ": two runs are both named '" + run.name +
                  "': give the groups distinct names");
  return spec;
}

SweepSpec load_sweep(const std::filesystem::path& file, const std::vector<std::string>& extra_overrides) {
  return parse_sweep(fs::read_file(file), file, extra_overrides);
}

}  // namespace replay::sweep
