// The TensorBoard event format without Python: CRC-32C against its standard
// test vectors, the TFRecord framing byte by byte, and Event bytes against
// what TensorBoard's own protobuf classes serialize. The whole file is read
// by TensorBoard itself in tests/train/tensorboard_test.cpp.
#include "util/tfevents.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "temp_dir.h"
#include "util/error.h"

namespace replay::tfevents {
namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

uint32_t u32_at(const std::string& bytes, size_t pos) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + pos, 4);
  return v;
}

// RFC 3720 (iSCSI) B.4 and the check value every CRC catalogue gives.
TEST(TfEvents, Crc32cMatchesTheStandardTestVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(TfEvents, MaskRotatesAndAddsTheConstant) {
  const uint32_t c = crc32c("123456789");
  EXPECT_EQ(masked_crc32c("123456789"), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

// The bytes of tensorboard.compat.proto.event_pb2.Event(wall_time=1.5,
// step=3, summary=Summary(value=[Value(tag="a", simple_value=0.5)]))
// .SerializeToString() and of Event(wall_time=2.0, file_version=
// "brain.Event:2"), and the masked CRCs TensorBoard's masked_crc32c gives
// for the first and for its 8-byte length (tensorboard 2.20.0).
TEST(TfEvents, EventsAreTheBytesProtobufSerializes) {
  const std::string scalar = scalars_event(1.5, 3, {{"a", 0.5f}});
  EXPECT_EQ(scalar, from_hex("09000000000000f83f10032a0a0a080a0161150000003f"));
  EXPECT_EQ(version_event(2.0), from_hex("0900000000000000401a0d627261696e2e4576656e743a32"));
  EXPECT_EQ(masked_crc32c(scalar), 0xcd6857deu);

  const std::string record = frame_record(scalar);
  ASSERT_EQ(record.size(), 8 + 4 + scalar.size() + 4);
  uint64_t length;
  std::memcpy(&length, record.data(), 8);
  EXPECT_EQ(length, scalar.size());
  EXPECT_EQ(u32_at(record, 8), 0x1ef8cee7u);
  EXPECT_EQ(record.substr(12, scalar.size()), scalar);
  EXPECT_EQ(u32_at(record, 12 + scalar.size()), 0xcd6857deu);
}

TEST(TfEvents, ParseReadsBackWhatWasWritten) {
  const EventFields e = parse_event(scalars_event(1700000000.25, 123456789012, {{"train/loss", 2.5f}, {"lr", 1e-3f}}));
  EXPECT_EQ(e.wall_time, 1700000000.25);
  EXPECT_EQ(e.step, 123456789012);
  EXPECT_FALSE(e.file_version);
  ASSERT_EQ(e.scalars.size(), 2u);
  EXPECT_EQ(e.scalars[0].tag, "train/loss");
  EXPECT_EQ(e.scalars[0].value, 2.5f);
  EXPECT_EQ(e.scalars[1].tag, "lr");
  EXPECT_EQ(e.scalars[1].value, 1e-3f);
  const EventFields v = parse_event(version_event(5));
  EXPECT_EQ(v.file_version, kFileVersion);
  EXPECT_EQ(v.step, 0);
  EXPECT_THROW(parse_event(scalars_event(1, 2, {{"x", 1}}).substr(0, 15)), Error);
}

// A writer killed mid-record leaves a tail that is cut short or fails its
// checksum: the scan stops before it and says how many bytes are good.
TEST(TfEvents, ReadingStopsAtACutOrDamagedRecord) {
  TempDir dir("tfevents");
  const auto file = dir.path / "events.out.tfevents.test";
  std::string one = frame_record(scalars_event(1, 1, {{"a", 1}}));
  std::string two = frame_record(scalars_event(2, 2, {{"a", 2}}));
  std::ofstream(file, std::ios::binary) << one << two << two.substr(0, 20);
  RecordScan scan = read_records(file);
  ASSERT_EQ(scan.records.size(), 2u);
  EXPECT_EQ(parse_event(scan.records[1]).step, 2);
  EXPECT_EQ(scan.good_bytes, one.size() + two.size());

  two[14] ^= 1;  // a bit of the second record's data
  std::ofstream(file, std::ios::binary | std::ios::trunc) << one << two;
  EXPECT_EQ(read_records(file).records.size(), 1u);
  two[14] ^= 1;
  two[3] ^= 1;  // its length: the length CRC catches it
  std::ofstream(file, std::ios::binary | std::ios::trunc) << one << two;
  EXPECT_EQ(read_records(file).records.size(), 1u);
}

TEST(TfEvents, WriterStartsWithTheVersionThenHistoryThenAppends) {
  TempDir dir("tfevents");
  const auto file = dir.path / event_file_name(now_seconds());
  EXPECT_NE(file.filename().string().find("events.out.tfevents."), std::string::npos);
  {
    EventFileWriter writer(file, {scalars_event(1, 1, {{"a", 1}})});
    writer.write(scalars_event(2, 2, {{"a", 2}}));
    writer.sync();
  }
  RecordScan scan = read_records(file);
  ASSERT_EQ(scan.records.size(), 3u);
  EXPECT_EQ(parse_event(scan.records[0]).file_version, kFileVersion);
  EXPECT_EQ(parse_event(scan.records[1]).step, 1);
  EXPECT_EQ(parse_event(scan.records[2]).step, 2);
  EXPECT_EQ(scan.good_bytes, std::filesystem::file_size(file));
  EXPECT_NE(event_file_name(1), event_file_name(1));  // a counter keeps names apart
}

}  // namespace
}  // namespace replay::tfevents
