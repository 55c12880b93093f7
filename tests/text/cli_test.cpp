// `replay tokenizer ...` end to end (needs the replay binary, built by the
// default target before ctest).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>

#include "replay_cli.h"
#include "text/tokenizer.h"
#include "text_test_support.h"

using namespace replay;
using namespace replay::text;
using namespace replay::text::testing;

TEST(TokenizerCli, TrainInfoEncodeDecode) {
  ASSERT_TRUE(std::filesystem::exists(REPLAY_BINARY)) << "build the replay binary first";
  TempDir dir("cli");
  auto samples = real_samples(16 * 1024);
  for (size_t i = 0; i < 4; ++i) fs::write_file_atomic(dir.path / "docs" / (samples[i].name + ".txt"), samples[i].text);
  std::string jsonl;
  for (size_t i = 4; i < samples.size(); ++i)
    jsonl += "{\"text\": " + nlohmann::json(samples[i].text).dump() + ", \"source\": \"x\"}\n";
  fs::write_file_atomic(dir.path / "more.jsonl", jsonl);

  std::string tok = (dir.path / "tok.json").string();
  CliResult train = run_replay("tokenizer train " + (dir.path / "docs").string() + " " + (dir.path / "more.jsonl").string() +
                     " --vocab-size 400 --sample-mb 1 --threads 2 --out " + tok);
  ASSERT_EQ(train.status, 0) << train.out;
  Tokenizer loaded = Tokenizer::load(tok);
  EXPECT_EQ(loaded.vocab_size(), 400u);

  CliResult info = run_replay("tokenizer info -t " + tok);
  ASSERT_EQ(info.status, 0) << info.out;
  EXPECT_NE(info.out.find("vocab size:   400"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find(loaded.fingerprint()), std::string::npos) << info.out;

  std::string r50k = rank_file("r50k_base").string();
  CliResult enc = run_replay("tokenizer encode -t " + r50k + " --text 'hello world'");
  EXPECT_EQ(enc.status, 0);
  EXPECT_EQ(enc.out, "31373 995\n");
  CliResult dec = run_replay("tokenizer decode -t " + r50k + " 31373 995");
  EXPECT_EQ(dec.status, 0);
  EXPECT_EQ(dec.out, "hello world");
}

TEST(TokenizerCli, ShortVocabularyIsWarned) {
  TempDir dir("cli_short");
  fs::write_file_atomic(dir.path / "small.txt", "the cat sat on the mat. the cat sat on the mat again.\n");
  const std::string tok = (dir.path / "tok.json").string();
  CliResult r = run_replay("tokenizer train " + (dir.path / "small.txt").string() + " --vocab-size 5000 --out " + tok);
  ASSERT_EQ(r.status, 0) << r.out;
  const size_t got = Tokenizer::load(tok).vocab_size();
  ASSERT_LT(got, 5000u);
  EXPECT_NE(r.out.find("warning: the vocabulary has " + std::to_string(got) + " tokens, not the 5000 asked"),
            std::string::npos)
      << r.out;
}

TEST(TokenizerCli, ErrorsNameTheFile) {
  TempDir dir("cli_errors");
  CliResult missing = run_replay("tokenizer info -t " + (dir.path / "nope.json").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("nope.json"), std::string::npos) << missing.out;

  fs::write_file_atomic(dir.path / "bad.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"no text field\"}\n");
  CliResult bad = run_replay("tokenizer train " + (dir.path / "bad.jsonl").string() + " --vocab-size 300 --out " +
                   (dir.path / "t.json").string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("bad.jsonl:2"), std::string::npos) << bad.out;
  EXPECT_FALSE(std::filesystem::exists(dir.path / "t.json"));

  CliResult bad_id = run_replay("tokenizer decode -t " + rank_file("r50k_base").string() + " 12 x3");
  EXPECT_EQ(bad_id.status, 1);
  EXPECT_NE(bad_id.out.find("x3"), std::string::npos) << bad_id.out;
}

// Llama 3 with Meta's BOS template: added-token strings are text unless
// --special; --bos starts with the file's BOS; info shows it.
TEST(TokenizerCli, Llama3SpecialAndBosFlags) {
  TempDir dir("cli_llama3");
  write_with_bos_template(llama3_json(), dir.path / "tokenizer.json");
  const std::string tok = " -t " + (dir.path / "tokenizer.json").string();
  const std::string text = " --text '<|end_of_text|>hello !'";
  CliResult plain = run_replay("tokenizer encode" + tok + text);
  ASSERT_EQ(plain.status, 0) << plain.out;
  EXPECT_EQ(plain.out, "27 91 408 3659 4424 91 29 15339 758\n");  // < | end _of _text | > (ids as the node oracle gives them)
  CliResult special = run_replay("tokenizer encode --special" + tok + text);
  EXPECT_EQ(special.out, "128001 15339 758\n");
  CliResult bos = run_replay("tokenizer encode --bos --special" + tok + text);
  EXPECT_EQ(bos.out, "128000 128001 15339 758\n");
  CliResult info = run_replay("tokenizer info" + tok);
  EXPECT_NE(info.out.find("bos:          128000"), std::string::npos) << info.out;
}
