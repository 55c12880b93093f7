#include "sweep/sweep_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

#include "util/error.h"
#include "util/toml_reader.h"

namespace replay::sweep {

namespace {

struct Axis {
  std::string key;
  std::vector<std::string> values;  // TOML text of each value
  std::vector<std::string> tags;    // tag_text of each value
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

// A value as a tag holds it: plain_text, except that a float is its
// shortest text that reads back as the same double ("0.001953125" where a
// name reads "0.00195312"), so a number tag in the registry is the value.
std::string tag_text(const toml::node& node) {
  if (auto f = node.as_floating_point()) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f->get());
    if (ec == std::errc()) return std::string(buf, end);
  }
  return plain_text(node);
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
    Axis axis{std::string(key.str()), {}, {}};
    std::vector<std::string> plain;
    for (const auto& v : *values) {
      axis.values.push_back(toml_text(v));
      axis.tags.push_back(tag_text(v));
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
    for (const auto& [key, value] : *table.raw()) tags[std::string(key.str())] = tag_text(value);
  return tags;
}

// The `seeds` and `vary` keys of a sweep or a group (sweep_file.h).
struct SeedAxis {
  std::vector<int64_t> seeds;  // empty: every run once, as configured
  std::vector<std::string> vary{"init", "data"};
};

// `seeds = N` above this is a typo, not an experiment.
constexpr int64_t kMaxSeedCount = 1000;

std::vector<int64_t> first_seeds(int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = 1; i <= n; ++i) out.push_back(i);
  return out;
}

std::vector<int64_t> seeds_of(TomlReader& r) {
  const toml::node* node = r.node("seeds");
  if (auto count = node->as_integer()) {
    if (count->get() < 1 || count->get() > kMaxSeedCount)
      r.fail("seeds", "a count must be in [1, " + std::to_string(kMaxSeedCount) + "], got " + toml_text(*node));
    return first_seeds(count->get());
  }
  const toml::array* list = node->as_array();
  if (!list || list->empty())
    r.fail("seeds", "expected a count (seeds = 3: seeds 1, 2, 3) or a non-empty list of seeds (seeds = [7, 8]), got " +
                        toml_text(*node));
  std::vector<int64_t> out;
  for (const auto& v : *list) {
    auto seed = v.as_integer();
    if (!seed || seed->get() < 0) r.fail("seeds", "every seed must be an integer >= 0, got " + toml_text(v));
    if (std::find(out.begin(), out.end(), seed->get()) != out.end())
      r.fail("seeds", "seed " + toml_text(v) + " is listed twice");
    out.push_back(seed->get());
  }
  return out;
}

// `inherited`: the sweep's axis (or the default) that a group's keys replace.
SeedAxis seed_axis_of(TomlReader& r, SeedAxis axis) {
  if (r.has("seeds")) axis.seeds = seeds_of(r);
  if (auto vary = r.strings_opt("vary")) {
    if (vary->empty()) r.fail("vary", "must name at least one seed stream: init, data, pool");
    std::set<std::string> seen;
    for (const auto& stream : *vary) {
      if (stream != "init" && stream != "data" && stream != "pool")
        r.fail("vary", "'" + stream + "' is not a seed stream (init, data, pool)");
      if (!seen.insert(stream).second) r.fail("vary", "'" + stream + "' is listed twice");
    }
    axis.vary = *vary;
  }
  return axis;
}

// Every cell once per seed: its overrides, then the varied streams' seeds.
std::vector<RunSpec> repeat_over_seeds(std::vector<RunSpec> cells, const SeedAxis& axis, const TomlReader& where) {
  if (axis.seeds.empty()) return cells;
  std::vector<RunSpec> out;
  for (const auto& cell : cells) {
    for (const auto& o : cell.overrides)
      for (const auto& stream : axis.vary)
        if (o.rfind("seeds." + stream + "=", 0) == 0)
          where.fail("seeds", "'" + o + "' would be overwritten by the seeds (they vary seeds." + stream +
                                  "): drop the override or take '" + stream + "' out of vary");
    for (int64_t n : axis.seeds) {
      RunSpec run = cell;
      const std::string seed = std::to_string(n);
      for (const auto& stream : axis.vary) run.overrides.push_back("seeds." + stream + "=" + seed);
      run.tags["seed"] = seed;
      run.name += "-seed=" + seed;
      out.push_back(std::move(run));
    }
  }
  return out;
}

// Cartesian product over grid axes (first axis slowest), times zip rows.
std::vector<RunSpec> cells_of(const RunSpec& start, const std::vector<Axis>& grid,
                              const std::vector<std::vector<std::string>>& grid_labels, const std::vector<Axis>& zip,
                              const std::vector<std::vector<std::string>>& zip_labels) {
  const size_t zip_rows = zip.empty() ? 1 : zip.front().values.size();
  std::vector<RunSpec> cells;
  std::vector<size_t> counter(grid.size(), 0);
  while (true) {
    for (size_t row = 0; row < zip_rows; ++row) {
      RunSpec run = start;
      auto add = [&](const Axis& axis, const std::string& plain, size_t i) {
        run.overrides.push_back(axis.key + "=" + axis.values[i]);
        run.tags[last_segment(axis.key)] = axis.tags[i];
        run.name += "-" + last_segment(axis.key) + "=" + plain;
      };
      for (size_t a = 0; a < grid.size(); ++a) add(grid[a], grid_labels[a][counter[a]], counter[a]);
      for (size_t a = 0; a < zip.size(); ++a) add(zip[a], zip_labels[a][row], row);
      cells.push_back(std::move(run));
    }
    size_t a = grid.size();
    while (a > 0) {
      --a;
      if (++counter[a] < grid[a].values.size()) break;
      counter[a] = 0;
      if (a == 0) return cells;
    }
    if (grid.empty()) return cells;
  }
}

void expand_group(TomlReader group, size_t index, const std::vector<std::string>& common, const SeedAxis& sweep_seeds,
                  std::optional<int64_t> cli_seeds, std::vector<RunSpec>& runs) {
  const std::string prefix = group.get_string("name", "run" + std::to_string(index));
  const std::map<std::string, std::string> tags = tags_of(group.child("tags"));
  std::vector<std::string> base = common;
  for (auto& o : overrides_of(group.child("set"))) base.push_back(o);
  std::vector<std::vector<std::string>> grid_labels, zip_labels;
  const TomlReader zip_table = group.child("zip");
  auto grid = axes_of(group.child("grid"), grid_labels);
  auto zip = axes_of(zip_table, zip_labels);
  SeedAxis seeds = seed_axis_of(group, sweep_seeds);
  if (cli_seeds) seeds.seeds = first_seeds(*cli_seeds);
  group.finish();
  const size_t zip_rows = zip.empty() ? 1 : zip.front().values.size();
  for (const auto& axis : zip)
    if (axis.values.size() != zip_rows) zip_table.fail(axis.key, "zipped axes must have the same length");
  auto cells = cells_of(RunSpec{prefix, base, tags}, grid, grid_labels, zip, zip_labels);
  for (auto& run : repeat_over_seeds(std::move(cells), seeds, group)) runs.push_back(std::move(run));
}

SweepSpec sweep_from_toml(const toml::table& root, const std::filesystem::path& file,
                          const std::vector<std::string>& extra_overrides, std::optional<int64_t> cli_seeds) {
  if (cli_seeds && (*cli_seeds < 1 || *cli_seeds > kMaxSeedCount))
    throw Error("--seeds: must be in [1, " + std::to_string(kMaxSeedCount) + "], got " + std::to_string(*cli_seeds));
  TomlReader r(&root, "", file.string());
  const auto name = r.string_opt("name");
  const auto base = r.string_opt("base");
  std::vector<std::string> common = overrides_of(r.child("set"));
  std::vector<TomlReader> groups = r.tables("group");
  const SeedAxis seeds = seed_axis_of(r, SeedAxis{});
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
  for (size_t i = 0; i < groups.size(); ++i) expand_group(groups[i], i, common, seeds, cli_seeds, spec.runs);
  std::set<std::string> names;
  for (const auto& run : spec.runs)
    if (!names.insert(run.name).second)
      throw Error(file.string() + ": two runs are both named '" + run.name +
                  "': give the groups distinct names");
  return spec;
}

}  // namespace

SweepSpec parse_sweep(const std::string& toml_text_in, const std::filesystem::path& file,
                      const std::vector<std::string>& extra_overrides, std::optional<int64_t> seeds) {
  return sweep_from_toml(parse_toml_text(toml_text_in, file.string()), file, extra_overrides, seeds);
}

SweepSpec load_sweep(const std::filesystem::path& file, const std::vector<std::string>& extra_overrides,
                     std::optional<int64_t> seeds) {
  return sweep_from_toml(parse_toml_file(file.string()), file, extra_overrides, seeds);
}

}  // namespace replay::sweep
