#include <gtest/gtest.h>

#include "error_of.h"
#include "temp_dir.h"

#include <filesystem>
#include <fstream>

#include "model/llama.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fs.h"

using namespace replay::model;
namespace stdfs = std::filesystem;

TEST(Safetensors, RoundTripKeepsDtypesShapesAndMetadata) {
  const TempDir dir("roundtrip");
  NamedTensors tensors = {{"a", torch::arange(6, torch::kFloat).view({2, 3})},
                          {"b", torch::tensor({1, 2, 3}, torch::kLong)},
                          {"c", torch::ones({2}, torch::kBFloat16)},
                          {"empty", torch::zeros({0, 4})}};
  write_safetensors(dir.path / "x.safetensors", tensors, {{"format", "pt"}, {"step", "12"}});
  const auto back = read_safetensors(dir.path / "x.safetensors");
  EXPECT_EQ(back.metadata.at("step"), "12");
  ASSERT_EQ(back.tensors.size(), 4u);
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.scalar_type(), tensors[i].second.scalar_type());
    EXPECT_TRUE(torch::equal(back.tensors[i].second, tensors[i].second));
  }
  // Header length is the first 8 bytes and the data starts 8-byte aligned.
  const std::string raw = replay::fs::read_file(dir.path / "x.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(raw[8], '{');
}

TEST(Safetensors, ModelSaveLoad) {
  const TempDir dir("model");
  torch::manual_seed(1);
  Llama a(preset("tiny"));
  save_safetensors(*a, dir.path / "model.safetensors", {{"note", "hi"}});
  torch::manual_seed(2);
  Llama b(preset("tiny"));
  EXPECT_EQ(load_safetensors(*b, dir.path / "model.safetensors").at("note"), "hi");
  for (const auto& item : a->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), b->named_parameters()[item.key()])) << item.key();
}

TEST(Safetensors, BadFilesAreReportedAndLeaveTheModelUntouched) {
  const TempDir dir("bad");
  torch::manual_seed(1);
  Llama model(preset("tiny"));
  const torch::Tensor before = model->embedding_weight().clone();
  const auto path = dir.path / "m.safetensors";
  save_safetensors(*model, path);
  const std::string good = replay::fs::read_file(path);

  // Truncated data.
  replay::fs::write_file_atomic(dir.path / "cut.safetensors", good.substr(0, good.size() - 100));
  EXPECT_NE(error_of([&] { load_safetensors(*model, dir.path / "cut.safetensors"); })
                .find("cut.safetensors"),
            std::string::npos);
  // Header length past the end.
  replay::fs::write_file_atomic(dir.path / "short.safetensors", good.substr(0, 20));
  EXPECT_NE(error_of([&] { read_safetensors(dir.path / "short.safetensors"); }).find("header"),
            std::string::npos);
  // Missing tensor.
  auto contents = read_safetensors(path);
  NamedTensors fewer(contents.tensors.begin() + 1, contents.tensors.end());
  write_safetensors(dir.path / "fewer.safetensors", fewer);
  EXPECT_NE(error_of([&] { load_safetensors(*model, dir.path / "fewer.safetensors"); })
                .find("missing tensors: model.embed_tokens.weight"),
            std::string::npos);
  // Mis-shaped tensor, written after another valid one: nothing is copied.
  NamedTensors shaped = contents.tensors;
  for (auto& [name, t] : shaped) t = t.clone().fill_(5.0);
  shaped.back().second = torch::zeros({3, 3});
  write_safetensors(dir.path / "shape.safetensors", shaped);
  const std::string e = error_of([&] { load_safetensors(*model, dir.path / "shape.safetensors"); });
  EXPECT_NE(e.find("lm_head.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("shape"), std::string::npos) << e;
  EXPECT_TRUE(torch::equal(model->embedding_weight(), before));
  // Unexpected tensor.
  NamedTensors extra = contents.tensors;
  extra.emplace_back("model.rotary.inv_freq", torch::zeros({2}));
  write_safetensors(dir.path / "extra.safetensors", extra);
  EXPECT_NE(error_of([&] { load_safetensors(*model, dir.path / "extra.safetensors"); })
                .find("model.rotary.inv_freq"),
            std::string::npos);
}
