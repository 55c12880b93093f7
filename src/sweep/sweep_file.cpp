#include "sweep/sweep_file.h"

#include <toml++/toml.h>

#include <set>
#include <sstream>

#include "util/error.h"
#include "util/toml_reader.h"

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

// The overrides of a `set` table: "key=<TOML value>", in key order.
std::vector<std::string> overrides_of(const TomlReader& set) {
  std::vector<std::string> out;
  if (!set.raw()) return out;
  for (const auto& [key, value] : *set.raw()) {
    if (value.is_table()) set.fail(std::string(key.str()), "use a dotted key string, not a table");
    out.push_back(std::string(key.str()) + "=" + toml_text(value));
  }
  return out;
}

// The axes of a `grid` or `zip` table; `labels` gets each axis' values as
// they read in run names.
std::vector<Axis> axes_of(const TomlReader& table, std::vector<std::vector<std::string>>& labels) {
  std::vector<Axis> axes;
  if (!table.raw()) return axes;
  for (const auto& [key, value] : *table.raw()) {
    const toml::array* values = value.as_array();
    if (!values || values->empty()) table.fail(std::string(key.str()), "must be a non-empty array of values");
    Axis axis{std::string(key.str()), {}};
    std::vector<std::string> plain;
    for (const auto& v : *values) {
      axis.values.push_back(toml_text(v));
      plain.push_back(plain_text(v));
    }
    labels.push_back(plain);
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::map<std::string, std::string> tags_of(const TomlReader& table) {
  std::map<std::string, std::string> tags;
  if (table.raw())
    for (const auto& [key, value] : *table.raw()) tags[std::string(key.str())] = plain_text(value);
  return tags;
}

void expand_group(TomlReader group, size_t index, const std::vector<std::string>& common,
                  std::vector<RunSpec>& runs) {
  const std::string prefix = group.get_string("name", "run" + std::to_string(index));
  const std::map<std::string, std::string> tags = tags_of(group.child("tags"));
  std::vector<std::string> base = common;
  for (auto& o : overrides_of(group.child("set"))) base.push_back(o);
  std::vector<std::vector<std::string>> grid_labels, zip_labels;
  const TomlReader zip_table = group.child("zip");
  auto grid = axes_of(group.child("grid"), grid_labels);
  auto zip = axes_of(zip_table, zip_labels);
  group.finish();
  size_t zip_rows = zip.empty() ? 1 : zip.front().values.size();
  for (const auto& axis : zip)
    if (axis.values.size() != zip_rows) zip_table.fail(axis.key, "zipped axes must have the same length");

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

SweepSpec sweep_from_toml(const toml::table& root, const std::filesystem::path& file,
                          const std::vector<std::string>& extra_overrides) {
  TomlReader r(&root, "", file.string());
  const auto name = r.string_opt("name");
  const auto base = r.string_opt("base");
  std::vector<std::string> common = overrides_of(r.child("set"));
  std::vector<TomlReader> groups = r.tables("group");
  r.finish();
  if (!name || name->empty()) r.fail("name", "missing (the sweep's name in the registry)");
  if (!base) r.fail("base", "missing (path of the base run config)");
  if (groups.empty()) r.fail("group", "missing: a sweep needs at least one [[group]]");
  SweepSpec spec;
  spec.file = file;
  spec.name = *name;
  spec.base = std::filesystem::path(*base).is_absolute() ? std::filesystem::path(*base)
                                                         : file.parent_path() / *base;
  common.insert(common.end(), extra_overrides.begin(), extra_overrides.end());
  for (size_t i = 0; i < groups.size(); ++i) expand_group(groups[i], i, common, spec.runs);
  std::set<std::string> names;
  for (const auto& run : spec.runs)
    if (!names.insert(run.name).second)
      throw Error(file.string() + ": two runs are both named '" + run.name +
                  "': give the groups distinct names");
  return spec;
}

}  // namespace

SweepSpec parse_sweep(const std::string& toml_text_in, const std::filesystem::path& file,
                      const std::vector<std::string>& extra_overrides) {
  return sweep_from_toml(parse_toml_text(toml_text_in, file.string()), file, extra_overrides);
}

SweepSpec load_sweep(const std::filesystem::path& file, const std::vector<std::string>& extra_overrides) {
  return sweep_from_toml(parse_toml_file(file.string()), file, extra_overrides);
}

}  // namespace replay::sweep
