// core::IsUtf8: accepts every well-formed sequence length, refuses what a JSON string cannot hold.
#include "core/text.h"

#include <gtest/gtest.h>

#include <string>

namespace gpool::core {
namespace {

TEST(Text, IsUtf8AcceptsWellFormedText) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("plain ascii"));
  EXPECT_TRUE(IsUtf8("\xc3\xa9"));          // é, 2 bytes
  EXPECT_TRUE(IsUtf8("\xe2\x82\xac"));      // €, 3 bytes
  EXPECT_TRUE(IsUtf8("\xf0\x9f\x98\x80"));  // U+1F600, 4 bytes
  EXPECT_TRUE(IsUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
}

TEST(Text, IsUtf8RefusesMalformedText) {
  EXPECT_FALSE(IsUtf8("\xff"));
  EXPECT_FALSE(IsUtf8("\x80"));              // a continuation byte alone
  EXPECT_FALSE(IsUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsUtf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));      // a surrogate (U+D800)
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsUtf8("ok\xc3("));           // a bad continuation
}

TEST(Text, HumanBytesUsesBinaryUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1.0 KiB");
  EXPECT_EQ(HumanBytes(48ull << 20), "48.0 MiB");
  EXPECT_EQ(HumanBytes(1288490189ull), "1.2 GiB");
}

}  // namespace
}  // namespace gpool::core
