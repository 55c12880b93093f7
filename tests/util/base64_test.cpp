#include "util/base64.h"

#include <gtest/gtest.h>

using replay::Base64Input;
using replay::decode_base64;

TEST(Base64, StrictDecodesPaddedAndUnpaddedInput) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("IQ=="), "!");
  EXPECT_EQ(decode_base64("IQ"), "!");
  EXPECT_EQ(decode_base64("aGk="), "hi");
  EXPECT_EQ(decode_base64("aGk"), "hi");
  EXPECT_EQ(decode_base64("aGVsbG8gd29ybGQ="), "hello world");
  EXPECT_EQ(decode_base64("+/8="), std::string("\xfb\xff"));
  EXPECT_EQ(decode_base64("AAE="), std::string("\x00\x01", 2));
}

TEST(Base64, StrictRejectsBadCharactersAndPadding) {
  EXPECT_EQ(decode_base64("not-base64!"), std::nullopt);
  EXPECT_EQ(decode_base64("aG k="), std::nullopt);    // a space inside
  EXPECT_EQ(decode_base64("aGk=\n"), std::nullopt);   // a line break after
  EXPECT_EQ(decode_base64("I==="), std::nullopt);     // three padding characters
  EXPECT_EQ(decode_base64("IQ="), std::nullopt);      // padding short of a multiple of 4
  EXPECT_EQ(decode_base64("IQ==="), std::nullopt);
  EXPECT_EQ(decode_base64("IQ=Q"), std::nullopt);     // data after padding
  EXPECT_EQ(decode_base64("=="), std::nullopt);
  EXPECT_EQ(decode_base64("I"), std::nullopt);        // 6 bits are not a byte
  EXPECT_EQ(decode_base64("IQAAI"), std::nullopt);
  EXPECT_EQ(decode_base64("IR=="), std::nullopt);     // non-zero unused bits: not canonical
}

TEST(Base64, MimeSkipsLineBreaksAndStopsAtPadding) {
  EXPECT_EQ(decode_base64("aGVs\r\nbG8g\nd29y bGQ=\n", Base64Input::mime), "hello world");
  EXPECT_EQ(decode_base64("aGk=trailing junk", Base64Input::mime), "hi");
  EXPECT_EQ(decode_base64("", Base64Input::mime), "");
}
