// load_task(): the TOML task file and its JSONL items (format in task.h).
#include <set>

#include "eval/task.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/lines.h"
#include "util/toml_reader.h"

namespace replay::eval {

namespace {

using nlohmann::json;

struct Templates {
  std::string context;
  std::vector<std::string> choices;   // one template per choice, or empty
  std::string choice_list, choice;    // the list form
  std::string label;
  Maps maps;
};

std::string required_string(TomlReader& r, const std::string& key) {
  auto v = r.string_opt(key);
  if (!v) r.fail(key, "required key is missing");
  return *v;
}

Maps read_maps(TomlReader& root) {
  Maps maps;
  const toml::table* t = root.table("maps");
  if (!t) return maps;
  for (const auto& [name, node] : *t) {
    const std::string key = "maps." + std::string(name.str());
    const auto* table = node.as_table();
    if (!table) root.fail(key, "must be a table of strings");
    auto& map = maps[std::string(name.str())];
    for (const auto& [k, v] : *table) {
      const auto s = v.value<std::string>();
      if (!s) root.fail(key + "." + std::string(k.str()), "must be a string");
      map[std::string(k.str())] = *s;
    }
  }
  return maps;
}

Templates read_templates(TomlReader& root) {
  Templates t;
  t.maps = read_maps(root);
  if (!root.has("template")) root.fail("template", "required table [template] is missing");
  TomlReader r = root.child("template");
  t.context = required_string(r, "context");
  t.label = required_string(r, "label");
  t.choices = r.strings_opt("choices").value_or(std::vector<std::string>{});
  t.choice_list = r.get_string("choice_list", "");
  t.choice = r.get_string("choice", "");
  r.finish();
  const bool listed = !t.choice_list.empty() || !t.choice.empty();
  if (r.has("choices") && listed) r.fail("choices", "give either choices or choice_list + choice, not both");
  if (r.has("choices") && t.choices.empty()) r.fail("choices", "must hold at least one template");
  if (!r.has("choices") && (t.choice_list.empty() || t.choice.empty()))
    r.fail(t.choice_list.empty() ? "choice_list" : "choice",
           "required: either choices = [...] or both choice_list and choice");
  const std::string where = r.file();
  check_template(t.context, t.maps, where + ": template.context");
  for (size_t i = 0; i < t.choices.size(); ++i)
    check_template(t.choices[i], t.maps, where + ": template.choices[" + std::to_string(i) + "]");
  if (!t.choice.empty()) check_template(t.choice, t.maps, where + ": template.choice");
  return t;
}

void read_metrics(TomlReader& r, Task& task) {
  const auto metrics = r.strings_opt("metrics");
  if (!metrics) return;
  task.acc = task.acc_norm = false;
  for (const auto& m : *metrics) {
    if (m == "acc") task.acc = true;
    else if (m == "acc_norm") task.acc_norm = true;
    else r.fail("metrics", "unknown metric '" + m + "' (known: acc, acc_norm)");
  }
  if (metrics->empty()) r.fail("metrics", "must name at least one of acc, acc_norm");
}

std::vector<std::string> render_choices(const Templates& t, const json& item, const std::string& where) {
  std::vector<std::string> out;
  for (size_t i = 0; i < t.choices.size(); ++i)
    out.push_back(render_template(t.choices[i], item, t.maps, where + ": template.choices[" + std::to_string(i) + "]"));
  if (!t.choice_list.empty()) {
    if (!item.contains(t.choice_list) || !item[t.choice_list].is_array())
      throw Error(where + ": field '" + t.choice_list + "' (template.choice_list) must be an array of strings");
    for (const auto& element : item[t.choice_list]) {
      if (!element.is_string())
        throw Error(where + ": field '" + t.choice_list + "' holds a non-string: " + element.dump());
      const json extra = {{"choice", element}};
      out.push_back(render_template(t.choice, item, t.maps, where + ": template.choice", &extra));
    }
  }
  if (out.empty()) throw Error(where + ": no choices (field '" + t.choice_list + "' is empty)");
  return out;
}

TaskItem render_item(const Templates& t, const json& item, int64_t line, const std::string& where) {
  TaskItem out;
  out.line = line;
  if (!item.is_object()) throw Error(where + ": an item must be a JSON object");
  if (item.contains("id")) out.id = item["id"].is_string() ? item["id"].get<std::string>() : item["id"].dump();
  else out.id = std::to_string(line);
  out.context = render_template(t.context, item, t.maps, where + ": template.context");
  out.choices = render_choices(t, item, where);
  if (!item.contains(t.label)) throw Error(where + ": label field '" + t.label + "' is missing");
  const json& label = item[t.label];
  if (!label.is_number_integer()) throw Error(where + ": label field '" + t.label + "' must be an integer, got " + label.dump());
  out.gold = label.get<int64_t>();
  if (out.gold < 0 || out.gold >= static_cast<int64_t>(out.choices.size()))
    throw Error(where + ": label " + std::to_string(out.gold) + " is out of range for " +
                std::to_string(out.choices.size()) + " choices");
  return out;
}

void read_items(const Templates& t, Task& task, int64_t limit) {
  const std::string text = fs::read_file(task.items_file);
  std::set<std::string> ids;
  const std::string prefix = task.file.string() + ": items " + task.items_file.string() + " line ";
  for_each_line(text, [&](size_t line, std::string_view content) {
    if (limit > 0 && static_cast<int64_t>(task.items.size()) >= limit) return;
    if (content.find_first_not_of(" \t") == std::string_view::npos) return;
    const std::string where = prefix + std::to_string(line);
    json item;
    try {
      item = json::parse(content);
    } catch (const json::exception& e) {
      throw Error(where + ": invalid JSON: " + e.what());
    }
    TaskItem rendered = render_item(t, item, static_cast<int64_t>(line), where);
    if (!ids.insert(rendered.id).second) throw Error(where + ": duplicate id '" + rendered.id + "'");
    task.items.push_back(std::move(rendered));
  });
  if (task.items.empty()) throw Error(task.file.string() + ": items file " + task.items_file.string() + " has no items");
}

}  // namespace

Task load_task(const std::filesystem::path& toml_file, int64_t limit) {
  const toml::table doc = parse_toml_file(toml_file.string());
  TomlReader r(&doc, "", toml_file.string());
  Task task;
  task.file = toml_file;
  task.name = required_string(r, "name");
  if (task.name.empty() || task.name.find_first_of("/\\") != std::string::npos || task.name[0] == '.')
    r.fail("name", "must be a plain file name, got '" + task.name + "'");
  task.items_file = toml_file.parent_path() / required_string(r, "items");
  task.description = r.get_string("description", "");
  read_metrics(r, task);
  const Templates t = read_templates(r);
  r.finish();
  if (!std::filesystem::is_regular_file(task.items_file))
    r.fail("items", "no such file " + task.items_file.string());
  read_items(t, task, limit);
  return task;
}

}  // namespace replay::eval
