#include "util/tfevents.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "util/error.h"
#include "util/fs.h"

namespace replay::tfevents {

namespace {

static_assert(std::endian::native == std::endian::little, "the record framing is written as in memory");

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

template <typename T>
void append_raw(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T load_raw(std::string_view bytes) {
  T value;
  std::memcpy(&value, bytes.data(), sizeof(T));
  return value;
}

// The protobuf wire format: a field's key is (number << 3 | wire type).
enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void append_key(std::string& out, uint32_t field, WireType type) { append_varint(out, (field << 3) | type); }

void append_bytes_field(std::string& out, uint32_t field, std::string_view bytes) {
  append_key(out, field, kLengthDelimited);
  append_varint(out, bytes.size());
  out.append(bytes);
}

// Reads the fields of one message, in order.
class FieldReader {
 public:
  explicit FieldReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }
  // The next field's number and wire type.
  std::pair<uint32_t, uint32_t> key() {
    const uint64_t k = varint();
    return {static_cast<uint32_t>(k >> 3), static_cast<uint32_t>(k & 7)};
  }
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const auto byte = static_cast<uint8_t>(take(1)[0]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    throw Error("tfevents: a varint longer than 10 bytes");
  }
  std::string_view take(size_t n) {
    if (n > data_.size() - pos_) throw Error("tfevents: a field runs past the end of its message");
    const std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  std::string_view length_delimited() { return take(varint()); }
  void skip(uint32_t type) {
    switch (type) {
      case kVarint: (void)varint(); break;
      case kFixed64: (void)take(8); break;
      case kLengthDelimited: (void)length_delimited(); break;
      case kFixed32: (void)take(4); break;
      default: throw Error("tfevents: unknown wire type " + std::to_string(type));
    }
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

Scalar parse_value(std::string_view data) {
  Scalar s;
  FieldReader r(data);
  while (!r.done()) {
    const auto [field, type] = r.key();
    if (field == 1 && type == kLengthDelimited) s.tag = std::string(r.length_delimited());
    else if (field == 2 && type == kFixed32) s.value = load_raw<float>(r.take(4));
    else r.skip(type);
  }
  return s;
}

std::vector<Scalar> parse_summary(std::string_view data) {
  std::vector<Scalar> values;
  FieldReader r(data);
  while (!r.done()) {
    const auto [field, type] = r.key();
    if (field == 1 && type == kLengthDelimited) values.push_back(parse_value(r.length_delimited()));
    else r.skip(type);
  }
  return values;
}

// As protobuf serializes proto3: a field at its default (step 0) is left
// out, so these bytes are the ones TensorBoard's own Event would give.
std::string event_header(double wall_time, int64_t step) {
  std::string out;
  append_key(out, 1, kFixed64);
  append_raw(out, wall_time);
  if (step != 0) {
    append_key(out, 2, kVarint);
    append_varint(out, static_cast<uint64_t>(step));
  }
  return out;
}

}  // namespace

uint32_t crc32c(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : data) c = kCrc32cTable[(c ^ byte) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// The mask keeps a CRC stored next to data that embeds CRCs from being
// confused with them (TFRecord's rule).
uint32_t masked_crc32c(std::string_view data) {
  const uint32_t c = crc32c(data);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string frame_record(std::string_view data) {
  std::string out;
  append_raw(out, static_cast<uint64_t>(data.size()));
  append_raw(out, masked_crc32c(out));
  out.append(data);
  append_raw(out, masked_crc32c(data));
  return out;
}

std::string version_event(double wall_time) {
  std::string out = event_header(wall_time, 0);
  append_bytes_field(out, 3, kFileVersion);
  return out;
}

std::string scalars_event(double wall_time, int64_t step, const std::vector<Scalar>& scalars) {
  std::string summary;
  for (const Scalar& s : scalars) {
    std::string value;
    append_bytes_field(value, 1, s.tag);
    append_key(value, 2, kFixed32);
    append_raw(value, s.value);
    append_bytes_field(summary, 1, value);
  }
  std::string out = event_header(wall_time, step);
  append_bytes_field(out, 5, summary);
  return out;
}

EventFields parse_event(std::string_view data) {
  EventFields e;
  FieldReader r(data);
  while (!r.done()) {
    const auto [field, type] = r.key();
    if (field == 1 && type == kFixed64) e.wall_time = load_raw<double>(r.take(8));
    else if (field == 2 && type == kVarint) e.step = static_cast<int64_t>(r.varint());
    else if (field == 3 && type == kLengthDelimited) e.file_version = std::string(r.length_delimited());
    else if (field == 5 && type == kLengthDelimited) e.scalars = parse_summary(r.length_delimited());
    else r.skip(type);
  }
  return e;
}

RecordScan read_records(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read " + file.string());
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string_view all(bytes);
  RecordScan scan;
  size_t pos = 0;
  while (all.size() - pos >= 12) {
    const std::string_view header = all.substr(pos, 8);
    if (load_raw<uint32_t>(all.substr(pos + 8, 4)) != masked_crc32c(header)) break;
    const uint64_t length = load_raw<uint64_t>(header);
    if (all.size() - pos < 16 || length > all.size() - pos - 16) break;  // cut short
    const std::string_view data = all.substr(pos + 12, length);
    if (load_raw<uint32_t>(all.substr(pos + 12 + length, 4)) != masked_crc32c(data)) break;
    scan.records.emplace_back(data);
    pos += 16 + length;
  }
  scan.good_bytes = pos;
  return scan;
}

EventFileWriter::EventFileWriter(const std::filesystem::path& file, const std::vector<std::string>& history)
    : path_(file) {
  std::string start = frame_record(version_event(now_seconds()));
  for (const std::string& event : history) start += frame_record(event);
  fs::write_file_atomic(file, start);
  fd_ = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) throw Error("cannot open " + file.string() + ": " + std::strerror(errno));
}

EventFileWriter::~EventFileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void EventFileWriter::write(std::string_view event) {
  const std::string record = frame_record(event);
  size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("cannot write " + path_.string() + ": " + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
}

void EventFileWriter::sync() {
  if (::fdatasync(fd_) != 0) throw Error("fdatasync failed for " + path_.string() + ": " + std::strerror(errno));
}

std::string event_file_name(double wall_time) {
  char host[256] = "localhost";
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  host[sizeof host - 1] = '\0';
  static std::atomic<int> files_named{0};
  char name[400];
  std::snprintf(name, sizeof name, "events.out.%s.%010lld.%s.%d.%d", kFileNamePart,
                static_cast<long long>(wall_time), host, static_cast<int>(::getpid()), files_named++);
  return name;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace replay::tfevents
