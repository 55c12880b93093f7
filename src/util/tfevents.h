// TensorBoard event files: the format, written and read back without
// TensorFlow. An event file is a sequence of TFRecords, each framed as
//
//   uint64 length           little-endian, the length of `data`
//   uint32 masked_crc32c(length bytes)
//   data                    one serialized tensorflow.Event protobuf
//   uint32 masked_crc32c(data)
//
// where crc32c is CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and
// masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8, all little-endian. The
// Event fields used (tensorflow/core/util/event.proto, summary.proto):
//
//   Event    wall_time = 1 (double, seconds since the epoch), step = 2 (int64),
//            file_version = 3 (string, "brain.Event:2": the first record of
//            every file), summary = 5 (Summary)
//   Summary  value = 1 (repeated Summary.Value)
//   Value    tag = 1 (string), simple_value = 2 (float)
//
// The protobuf wire format of these few fields is encoded by hand (varints,
// fixed64/fixed32, length-delimited): libprotobuf with code generated from
// TensorFlow's .proto files for three messages would cost a protoc step and a
// link dependency for about forty lines. Debian 12 has no C++ CRC-32C library
// (only python3-crc32c), so crc32c is a table implementation checked against
// the standard test vectors (tests/util/tfevents_test.cpp); the tests also
// read the files with TensorBoard's own reader (tests/train/tensorboard_test.cpp).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replay::tfevents {

inline constexpr const char* kFileVersion = "brain.Event:2";
// TensorBoard finds event files by this part of their name.
inline constexpr const char* kFileNamePart = "tfevents";

uint32_t crc32c(std::string_view data);
uint32_t masked_crc32c(std::string_view data);

// One TFRecord around `data` (the framing above).
std::string frame_record(std::string_view data);

struct Scalar {
  std::string tag;
  float value = 0;  // simple_value is a float: TensorBoard stores no more
};

// Serialized Event protobufs.
std::string version_event(double wall_time);
std::string scalars_event(double wall_time, int64_t step, const std::vector<Scalar>& scalars);

// The fields of a serialized Event this code writes and reads back.
struct EventFields {
  double wall_time = 0;
  int64_t step = 0;
  std::optional<std::string> file_version;
  std::vector<Scalar> scalars;
};
// Throws replay::Error when `data` is not a well-formed Event.
EventFields parse_event(std::string_view data);

// The records of an event file, in order, up to the end or the first record
// that is cut short or fails its checksums (a writer killed mid-record):
// what follows it cannot be trusted.
struct RecordScan {
  std::vector<std::string> records;  // each one's data
  uint64_t good_bytes = 0;           // bytes of the complete, intact records
};
RecordScan read_records(const std::filesystem::path& file);

// An event file written by one process: created atomically (util/fs.h)
// holding the version event and `history` (serialized Events: those a
// resumed run keeps), then appended to, one record per write(2), so that a
// TensorBoard watching the folder sees each record whole as it lands.
class EventFileWriter {
 public:
  EventFileWriter(const std::filesystem::path& file, const std::vector<std::string>& history);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  void write(std::string_view event);
  void sync();  // everything written so far survives a power cut
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// TensorBoard's file name, as PyTorch's SummaryWriter spells it:
// "events.out.tfevents.<seconds, 10 digits>.<host>.<pid>.<n>", n counting the
// names this process made, so that two files never share one.
std::string event_file_name(double wall_time);

// Seconds since the epoch, as Event.wall_time holds them.
double now_seconds();

}  // namespace replay::tfevents
