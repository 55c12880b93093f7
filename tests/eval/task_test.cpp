// Task files (src/eval/task.h): template rendering for the shipped XCOPA-eu
// and COPA-en files, the generic pre-rendered form, and errors that name the
// file, key, line or value.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "error_of.h"
#include "eval/task.h"
#include "temp_dir.h"
#include "util/error.h"
#include "util/fs.h"

using namespace replay::eval;
namespace stdfs = std::filesystem;

namespace {

const stdfs::path kSource = REPLAY_SOURCE_DIR;

// `toml` (a file name) and its items, written into `dir`; returns the TOML path.
stdfs::path write_task(const stdfs::path& dir, const std::string& toml, const std::string& toml_text,
                       const std::string& items_text, const std::string& items_name = "items.jsonl") {
  replay::fs::write_file_atomic(dir / toml, toml_text);
  replay::fs::write_file_atomic(dir / items_name, items_text);
  return dir / toml;
}

const char* kCopaItem =
    R"({"premise": "The man broke his toe.", "choice1": "He dropped a hammer on his foot.", "choice2": "He got a hole in his sock.", "question": "cause", "label": 0})";

std::string generic_toml(const std::string& template_extra = "") {
  return "name = \"generic\"\nitems = \"items.jsonl\"\n[template]\ncontext = \"{context}\"\n"
         "choice_list = \"choices\"\nchoice = \" {choice}\"\nlabel = \"label\"\n" + template_extra;
}

}  // namespace

TEST(EvalTask, XcopaEuRendersAsTheSpecSays) {
  const TempDir tmp("xcopa");
  stdfs::copy_file(kSource / "tasks" / "xcopa_eu.toml", tmp.path / "xcopa_eu.toml");
  replay::fs::write_file_atomic(
      tmp.path / "xcopa_eu.jsonl",
      R"({"premise": " Gizonak giltza galdu zuen. ", "choice1": "Etxera sartu zen.", "choice2": "Ezin izan zuen etxera sartu.", "question": "effect", "label": 1})"
      "\n"
      R"({"premise": "Emakumeak txartela erakutsi zuen.", "choice1": "Ërakutsi zion.", "choice2": "Gidariak itxaron zuen.", "question": "cause", "label": 0})"
      "\n");
  const Task task = load_task(tmp.path / "xcopa_eu.toml");
  EXPECT_EQ(task.name, "xcopa_eu");
  EXPECT_TRUE(task.acc);
  EXPECT_FALSE(task.acc_norm);
  ASSERT_EQ(task.items.size(), 2u);
  EXPECT_EQ(task.items[0].context, "Gizonak giltza galdu zuen. Beraz,");
  EXPECT_EQ(task.items[0].choices, (std::vector<std::string>{" etxera sartu zen.", " ezin izan zuen etxera sartu."}));
  EXPECT_EQ(task.items[0].gold, 1);
  EXPECT_EQ(task.items[0].id, "1");  // no id field: the line number
  EXPECT_EQ(task.items[1].context, "Emakumeak txartela erakutsi zuen. Izan ere,");
  EXPECT_EQ(task.items[1].choices[0], " ërakutsi zion.");
  EXPECT_EQ(task.items[1].id, "2");
}

TEST(EvalTask, CopaEnDropsThePeriodAndUsesEnglishConnectors) {
  const TempDir tmp("copa");
  stdfs::copy_file(kSource / "tasks" / "copa_en.toml", tmp.path / "copa_en.toml");
  replay::fs::write_file_atomic(tmp.path / "copa_en.jsonl", std::string(kCopaItem) + "\n" +
      R"({"id": 7, "premise": "I tipped the bottle.", "choice1": "The liquid froze.", "choice2": "The liquid poured out.", "question": "effect", "label": 1})" "\n");
  const Task task = load_task(tmp.path / "copa_en.toml");
  ASSERT_EQ(task.items.size(), 2u);
  EXPECT_EQ(task.items[0].context, "The man broke his toe because");
  EXPECT_EQ(task.items[0].choices, (std::vector<std::string>{" he dropped a hammer on his foot.", " he got a hole in his sock."}));
  EXPECT_EQ(task.items[1].context, "I tipped the bottle therefore");
  EXPECT_EQ(task.items[1].id, "7");
  EXPECT_EQ(load_task(tmp.path / "copa_en.toml", 1).items.size(), 1u);  // --limit
}

TEST(EvalTask, GenericPreRenderedForm) {
  const TempDir tmp("generic");
  const auto file = write_task(tmp.path, "g.toml", generic_toml(),
                               R"({"id": "q1", "context": "Question: 2+2?\nAnswer:", "choices": ["3", "4", "5"], "label": 1})" "\n");
  const Task task = load_task(file);
  ASSERT_EQ(task.items.size(), 1u);
  EXPECT_EQ(task.items[0].id, "q1");
  EXPECT_EQ(task.items[0].context, "Question: 2+2?\nAnswer:");
  EXPECT_EQ(task.items[0].choices, (std::vector<std::string>{" 3", " 4", " 5"}));
  EXPECT_TRUE(task.acc && task.acc_norm);
}

TEST(EvalTask, OpsAndBraces) {
  const nlohmann::json item = {{"a", "  Hello world.  "}, {"n", 3}, {"u", "Žaneta"}};
  const Maps maps = {{"m", {{"3", "three"}}}};
  EXPECT_EQ(render_template("{a|strip|rstrip_period|lower_first}!", item, maps, "t"), "hello world!");
  EXPECT_EQ(render_template("{{{n|map:m}}}", item, maps, "t"), "{three}");
  EXPECT_EQ(render_template("{u|lower_first}", item, maps, "t"), "žaneta");
  EXPECT_EQ(lower_first("Élise"), "élise");
  EXPECT_EQ(lower_first("ABC"), "aBC");
  EXPECT_EQ(lower_first("1abc"), "1abc");
  EXPECT_EQ(lower_first(""), "");
  EXPECT_EQ(utf8_length(" élise"), 6);
}

TEST(EvalTask, ErrorsNameTheFileKeyLineAndValue) {
  const TempDir tmp("errors");
  auto err = [&](const std::string& toml, const std::string& items) {
    const auto file = write_task(tmp.path, "t.toml", toml, items);
    return error_of([&] { load_task(file); });
  };
  auto expect_names = [](const std::string& message, std::initializer_list<const char*> parts) {
    for (const char* p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
  };
  const std::string good = std::string(kCopaItem) + "\n";
  const std::string copa = "name = \"t\"\nitems = \"items.jsonl\"\n[template]\n"
                           "context = \"{premise}\"\nchoices = [\" {choice1}\", \" {choice2}\"]\nlabel = \"label\"\n";
  EXPECT_EQ(err(copa, good), "(no error)");
  expect_names(err("items = \"items.jsonl\"\n[template]\ncontext = \"x\"\nchoices = [\"a\"]\nlabel = \"label\"\n", good),
               {"t.toml", "name"});
  expect_names(err("name = \"t\"\nitems = \"items.jsonl\"\n[template]\nchoices = [\"a\"]\nlabel = \"label\"\n", good),
               {"t.toml", "template.context"});
  expect_names(err("name = \"t\"\nitems = \"missing.jsonl\"\n[template]\ncontext = \"x\"\nchoices = [\"a\"]\nlabel = \"label\"\n", good),
               {"t.toml", "items", "missing.jsonl"});
  expect_names(err(copa + "prompt = \"x\"\n", good), {"t.toml", "template.prompt"});
  expect_names(err(copa, R"({"premise": "p", "choice1": "a", "choice2": "b", "label": 2})" "\n"),
               {"t.toml", "line 1", "label 2", "out of range"});
  expect_names(err(copa, good + R"({"premise": "p", "choice1": "a", "label": 0})" "\n"),
               {"t.toml", "line 2", "choice2"});
  expect_names(err(copa, good + "\n" + R"({"premise": "p", "choice1": "a", "choice2": "b", "label": "0"})" "\n"),
               {"t.toml", "line 3", "label", "\"0\""});
  expect_names(err(generic_toml(), R"({"context": "c", "choices": [], "label": 0})" "\n"), {"t.toml", "line 1", "no choices"});
  expect_names(err("name = \"t\"\nitems = \"items.jsonl\"\n[template]\ncontext = \"x\"\nchoices = []\nlabel = \"label\"\n", good),
               {"t.toml", "template.choices"});
  expect_names(err(generic_toml("choices = [\"a\"]\n"), good), {"t.toml", "choices", "not both"});
  std::string bad_op = copa;
  bad_op.replace(bad_op.find("{premise}"), 9, "{premise|upper}");
  expect_names(err(bad_op, good), {"t.toml", "template.context", "unknown op 'upper'"});
  std::string bad_map = copa;
  bad_map.replace(bad_map.find("{premise}"), 9, "{question|map:conn}");
  expect_names(err(bad_map, good), {"t.toml", "unknown map 'conn'"});
  const std::string mapped = bad_map + "[maps.conn]\ncause = \" because\"\n";
  expect_names(err(mapped, R"({"premise": "p", "choice1": "a", "choice2": "b", "question": "why", "label": 0})" "\n"),
               {"t.toml", "line 1", "'why'", "maps.conn"});
  expect_names(err(mapped + "\n[maps.other]\nx = 1\n", good), {"t.toml", "maps.other.x", "string"});
  expect_names(err("metrics = [\"f1\"]\n" + copa, good), {"t.toml", "metrics", "f1"});
  expect_names(err(copa, good + "{not json\n"), {"t.toml", "line 2", "invalid JSON"});
  expect_names(err(generic_toml(), R"({"id": "a", "context": "c", "choices": ["x"], "label": 0})" "\n"
                                   R"({"id": "a", "context": "c", "choices": ["x"], "label": 0})" "\n"),
               {"t.toml", "line 2", "duplicate id 'a'"});
  expect_names(err(copa, ""), {"t.toml", "no items"});
}
