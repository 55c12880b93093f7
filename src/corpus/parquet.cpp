#include "corpus/parquet.h"

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "util/error.h"
#include "util/fs.h"

namespace replay::corpus {

namespace stdfs = std::filesystem;

namespace {

// Numbers from parquet.thrift (the format's specification).
enum PhysicalType { kByteArray = 6 };
enum Repetition { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum Codec { kUncompressed = 0, kSnappy = 1, kGzip = 2, kLzo = 3, kBrotli = 4, kLz4 = 5, kZstd = 6, kLz4Raw = 7 };
enum Encoding { kPlain = 0, kPlainDictionary = 2, kRle = 3, kRleDictionary = 8 };
enum PageType { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };

const char* codec_name(int codec) {
  static const char* names[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
  return codec >= 0 && codec < 8 ? names[codec] : "unknown";
}

std::string encoding_name(int encoding) {
  static const char* names[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                                "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                                "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return encoding >= 0 && encoding < 10 ? names[encoding] : "encoding " + std::to_string(encoding);
}

uint32_t load_u32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24; }

// Thrift compact protocol (the encoding of Parquet's footer and page
// headers): varints, zigzag integers, field headers with delta-coded ids.
// Reading past the end throws an Error saying `what` and the file offset.
class ThriftReader {
 public:
  enum Type { kStop = 0, kTrue = 1, kFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6,
              kDouble = 7, kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12 };

  ThriftReader(const uint8_t* data, size_t size, uint64_t file_offset, std::string what)
      : data_(data), size_(size), offset_(file_offset), what_(std::move(what)) {}

  size_t position() const { return pos_; }
  uint8_t byte() {
    if (pos_ >= size_) fail();
    return data_[pos_++];
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = byte();
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw Error(what_ + " corrupt (varint too long) at byte " + std::to_string(offset_ + pos_));
  }
  int64_t integer() {  // i16, i32 and i64 are all zigzag varints
    uint64_t v = varint();
    return int64_t(v >> 1) ^ -int64_t(v & 1);
  }
  std::string_view binary() {
    uint64_t n = varint();
    if (n > size_ - pos_) fail();
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // Reads a struct's fields, handing each (id, type) to `on_field`, which
  // either reads the value or calls skip(type).
  void read_struct(const std::function<void(int, int)>& on_field) {
    enter();
    int last_id = 0;
    for (;;) {
      uint8_t header = byte();
      int type = header & 0x0f;
      if (type == kStop) break;
      int delta = header >> 4;
      int id = delta ? last_id + delta : int(integer());
      last_id = id;
      on_field(id, type);
    }
    --depth_;
  }
  // A list's element count and type; calls `on_element` once per element.
  void read_list(const std::function<void(int)>& on_element) {
    enter();
    uint8_t header = byte();
    uint64_t n = header >> 4;
    if (n == 15) n = varint();
    if (n > size_ - pos_) fail();  // every element takes at least a byte
    for (uint64_t i = 0; i < n; ++i) on_element(header & 0x0f);
    --depth_;
  }
  bool boolean(int type) { return type == kTrue; }  // struct fields carry bools in the type
  void skip(int type, bool in_list = false) {
    switch (type) {
      case kTrue: case kFalse: if (in_list) byte(); break;
      case kByte: byte(); break;
      case kI16: case kI32: case kI64: varint(); break;
      case kDouble: for (int i = 0; i < 8; ++i) byte(); break;
      case kBinary: binary(); break;
      case kList: case kSet: read_list([this](int t) { skip(t, true); }); break;
      case kMap: skip_map(); break;
      case kStruct: read_struct([this](int, int t) { skip(t); }); break;
      default: throw Error(what_ + " corrupt (unknown Thrift type " + std::to_string(type) + ") at byte " +
                           std::to_string(offset_ + pos_));
    }
  }

 private:
  // Containers nest by recursion: a corrupt footer must not overflow the stack.
  void enter() {
    if (++depth_ > 64) throw Error(what_ + " corrupt (nesting too deep) at byte " + std::to_string(offset_ + pos_));
  }
  void skip_map() {
    enter();
    uint64_t n = varint();
    if (n > size_ - pos_) fail();
    if (n > 0) {
      uint8_t types = byte();
      for (uint64_t i = 0; i < n; ++i) {
        skip(types >> 4, true);
        skip(types & 0x0f, true);
      }
    }
    --depth_;
  }
  [[noreturn]] void fail() {
    throw Error(what_ + " truncated at byte " + std::to_string(offset_ + size_));
  }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t offset_;
  std::string what_;
  int depth_ = 0;
};

struct SchemaElement {
  int type = -1;
  int repetition = kRequired;
  std::string name;
  int num_children = 0;
};

struct ColumnChunk {
  bool external = false;  // file_path set: the data lives in another file
  int type = -1;
  int codec = kUncompressed;
  std::vector<std::string> path;
  int64_t num_values = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = -1;
  int64_t dictionary_page_offset = -1;
};

struct RowGroup {
  int64_t num_rows = 0;
  ColumnChunk chunk;  // only the chosen column's
};

SchemaElement read_schema_element(ThriftReader& r) {
  SchemaElement e;
  r.read_struct([&](int id, int type) {
    if (id == 1 && type == ThriftReader::kI32) e.type = int(r.integer());
    else if (id == 3 && type == ThriftReader::kI32) e.repetition = int(r.integer());
    else if (id == 4 && type == ThriftReader::kBinary) e.name = std::string(r.binary());
    else if (id == 5 && type == ThriftReader::kI32) e.num_children = int(r.integer());
    else r.skip(type);
  });
  return e;
}

void read_column_metadata(ThriftReader& r, ColumnChunk& c) {
  r.read_struct([&](int id, int type) {
    auto i64 = [&] { return r.integer(); };
    if (id == 1 && type == ThriftReader::kI32) c.type = int(i64());
    else if (id == 3 && type == ThriftReader::kList)
      r.read_list([&](int t) {
        if (t == ThriftReader::kBinary) c.path.emplace_back(r.binary());
        else r.skip(t, true);
      });
    else if (id == 4 && type == ThriftReader::kI32) c.codec = int(i64());
    else if (id == 5 && type == ThriftReader::kI64) c.num_values = i64();
    else if (id == 7 && type == ThriftReader::kI64) c.total_compressed_size = i64();
    else if (id == 9 && type == ThriftReader::kI64) c.data_page_offset = i64();
    else if (id == 11 && type == ThriftReader::kI64) c.dictionary_page_offset = i64();
    else r.skip(type);
  });
}

ColumnChunk read_column_chunk(ThriftReader& r) {
  ColumnChunk c;
  r.read_struct([&](int id, int type) {
    if (id == 1 && type == ThriftReader::kBinary) c.external = !r.binary().empty();
    else if (id == 3 && type == ThriftReader::kStruct) read_column_metadata(r, c);
    else r.skip(type);
  });
  return c;
}

RowGroup read_row_group(ThriftReader& r, size_t leaf) {
  RowGroup g;
  bool found = false;
  r.read_struct([&](int id, int type) {
    if (id == 1 && type == ThriftReader::kList) {
      size_t index = 0;
      r.read_list([&](int t) {
        if (t != ThriftReader::kStruct) return r.skip(t, true);
        ColumnChunk c = read_column_chunk(r);
        if (index++ == leaf) g.chunk = std::move(c), found = true;
      });
    } else if (id == 3 && type == ThriftReader::kI64) {
      g.num_rows = r.integer();
    } else {
      r.skip(type);
    }
  });
  if (!found) g.num_rows = -1;  // flagged: the column chunk is missing
  return g;
}

struct FileMetaData {
  std::vector<SchemaElement> schema;
  std::vector<RowGroup> row_groups;
  int64_t num_rows = 0;
};

// The footer needs the schema before the row groups (to know which column
// chunk to keep); writers put it first, as the field order specifies.
FileMetaData read_file_metadata(ThriftReader& r, const std::function<size_t(const FileMetaData&)>& leaf_of) {
  FileMetaData m;
  size_t leaf = 0;
  bool have_leaf = false;
  r.read_struct([&](int id, int type) {
    if (id == 2 && type == ThriftReader::kList) {
      r.read_list([&](int t) {
        if (t == ThriftReader::kStruct) m.schema.push_back(read_schema_element(r));
        else r.skip(t, true);
      });
      leaf = leaf_of(m);
      have_leaf = true;
    } else if (id == 3 && type == ThriftReader::kI64) {
      m.num_rows = r.integer();
    } else if (id == 4 && type == ThriftReader::kList && have_leaf) {
      r.read_list([&](int t) {
        if (t == ThriftReader::kStruct) m.row_groups.push_back(read_row_group(r, leaf));
        else r.skip(t, true);
      });
    } else {
      r.skip(type);
    }
  });
  return m;
}

struct PageHeader {
  int type = -1;
  int32_t uncompressed_size = -1;
  int32_t compressed_size = -1;
  int32_t num_values = 0;
  int encoding = -1;
  // data page v2 only
  int32_t def_levels_bytes = 0;
  int32_t rep_levels_bytes = 0;
  bool v2_compressed = true;
};

void read_data_page_header(ThriftReader& r, PageHeader& h, bool v2) {
  r.read_struct([&](int id, int type) {
    if (id == 1 && type == ThriftReader::kI32) h.num_values = int32_t(r.integer());
    else if (!v2 && id == 2 && type == ThriftReader::kI32) h.encoding = int(r.integer());
    else if (v2 && id == 4 && type == ThriftReader::kI32) h.encoding = int(r.integer());
    else if (v2 && id == 5 && type == ThriftReader::kI32) h.def_levels_bytes = int32_t(r.integer());
    else if (v2 && id == 6 && type == ThriftReader::kI32) h.rep_levels_bytes = int32_t(r.integer());
    else if (v2 && id == 7 && (type == ThriftReader::kTrue || type == ThriftReader::kFalse))
      h.v2_compressed = r.boolean(type);
    else r.skip(type);
  });
}

PageHeader read_page_header(ThriftReader& r) {
  PageHeader h;
  r.read_struct([&](int id, int type) {
    if (id == 1 && type == ThriftReader::kI32) h.type = int(r.integer());
    else if (id == 2 && type == ThriftReader::kI32) h.uncompressed_size = int32_t(r.integer());
    else if (id == 3 && type == ThriftReader::kI32) h.compressed_size = int32_t(r.integer());
    else if (id == 5 && type == ThriftReader::kStruct) read_data_page_header(r, h, false);
    else if (id == 7 && type == ThriftReader::kStruct) read_data_page_header(r, h, false);  // same field ids
    else if (id == 8 && type == ThriftReader::kStruct) read_data_page_header(r, h, true);
    else r.skip(type);
  });
  return h;
}

// The RLE / bit-packed hybrid (definition levels, dictionary indices):
// decodes exactly `count` values or throws, naming `what`.
void decode_rle_hybrid(const uint8_t* p, size_t n, int bit_width, size_t count, std::vector<uint32_t>& out,
                       const std::string& what) {
  out.clear();
  out.reserve(count);
  size_t pos = 0;
  const size_t value_bytes = (bit_width + 7) / 8;
  const uint64_t mask = bit_width == 32 ? 0xffffffffu : (uint64_t(1) << bit_width) - 1;
  while (out.size() < count) {
    uint64_t header = 0;
    for (int shift = 0;; shift += 7) {
      if (pos >= n || shift > 35) throw Error(what + " truncated");
      uint8_t b = p[pos++];
      header |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    if (header & 1) {  // bit-packed: groups of 8 values, least significant bit first
      const uint64_t values = (header >> 1) * 8;
      if (values == 0) throw Error(what + " corrupt (empty bit-packed run)");
      if (values * bit_width / 8 > n - pos) throw Error(what + " truncated");
      for (uint64_t i = 0; i < values && out.size() < count; ++i) {
        // A value spans at most 5 bytes (32 bits + a 7-bit offset).
        const uint64_t bit = i * bit_width, first = bit / 8, end = (bit + bit_width + 7) / 8;
        uint64_t word = 0;
        for (uint64_t b = first; b < end; ++b) word |= uint64_t(p[pos + b]) << (8 * (b - first));
        out.push_back(uint32_t((word >> (bit % 8)) & mask));
      }
      pos += values * bit_width / 8;
    } else {  // run: one value repeated
      const uint64_t run = header >> 1;
      if (value_bytes > n - pos) throw Error(what + " truncated");
      uint64_t v = 0;
      for (size_t b = 0; b < value_bytes; ++b) v |= uint64_t(p[pos + b]) << (8 * b);
      pos += value_bytes;
      if (run == 0) throw Error(what + " corrupt (empty run)");
      for (uint64_t i = 0; i < run && out.size() < count; ++i) out.push_back(uint32_t(v & mask));
    }
  }
}

}  // namespace

bool is_parquet_file(const stdfs::path& path) { return path.extension() == ".parquet"; }

struct ParquetReader::Impl {
  fs::MappedFile file;
  std::string name;    // the path, for messages
  std::string column;
  int max_definition = 0;
  FileMetaData meta;
  size_t footer_start = 0;

  size_t group = 0;    // the row group whose chunk is open, plus one
  bool chunk_open = false;
  uint64_t pos = 0, chunk_end = 0;
  int64_t chunk_values = 0;  // values decoded so far in the open chunk
  std::string dictionary_bytes;
  std::vector<std::string_view> dictionary;

  std::string page_bytes;  // the decompressed page
  std::vector<uint32_t> levels, indices;
  std::vector<std::string_view> values;  // the page's non-null values
  std::vector<uint8_t> is_null;          // per row of the page
  size_t row_in_page = 0, value_in_page = 0;

  std::string where() const {
    return name + ": row group " + std::to_string(group) + " of " + std::to_string(meta.row_groups.size()) +
           ", column '" + column + "'";
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(where() + ": " + what); }

  void open(const stdfs::path& path);
  size_t choose_leaf(const FileMetaData& m);
  void check_text_column(const SchemaElement& e) const;
  void check_chunks();
  void open_chunk();
  bool load_page();
  std::string_view page_payload(const PageHeader& h, const uint8_t* data, size_t skip_bytes);
  void decode_dictionary(const PageHeader& h, const uint8_t* data);
  void decode_data_page(const PageHeader& h, const uint8_t* data);
  void decode_values(const PageHeader& h, const uint8_t* p, size_t n, size_t non_null);
};

void ParquetReader::Impl::open(const stdfs::path& path) {
  file = fs::MappedFile(path);
  name = path.string();
  const uint8_t* d = file.data();
  const size_t size = file.size();
  if (size < 12 || std::memcmp(d, "PAR1", 4) != 0)
    throw Error(name + ": not a Parquet file (no \"PAR1\" magic at the start)");
  if (std::memcmp(d + size - 4, "PARE", 4) == 0)
    throw Error(name + ": encrypted Parquet files are not supported");
  if (std::memcmp(d + size - 4, "PAR1", 4) != 0)
    throw Error(name + ": no \"PAR1\" magic at the end (the file is truncated or not Parquet)");
  const uint32_t footer_size = load_u32(d + size - 8);
  if (footer_size > size - 12)
    throw Error(name + ": footer length " + std::to_string(footer_size) + " exceeds the file (" +
                std::to_string(size) + " bytes; truncated?)");
  footer_start = size - 8 - footer_size;
  ThriftReader r(d + footer_start, footer_size, footer_start, name + ": footer");
  meta = read_file_metadata(r, [this](const FileMetaData& m) { return choose_leaf(m); });
  if (meta.schema.empty()) throw Error(name + ": footer has no schema");
  check_chunks();
}

// Finds `column` among the top-level fields; returns its index among the
// leaves (the order of column chunks in a row group).
size_t ParquetReader::Impl::choose_leaf(const FileMetaData& m) {
  if (m.schema.empty()) throw Error(name + ": footer has no schema");
  std::vector<int> open_groups = {m.schema[0].num_children};
  std::string names;
  size_t leaves = 0;
  for (size_t i = 1; i < m.schema.size() && !open_groups.empty(); ++i) {
    const SchemaElement& e = m.schema[i];
    const bool top = open_groups.size() == 1;
    if (top) names += (names.empty() ? "" : ", ") + e.name;
    if (top && e.name == column) {
      check_text_column(e);
      max_definition = e.repetition == kOptional ? 1 : 0;
      return leaves;
    }
    --open_groups.back();
    if (e.num_children > 0) open_groups.push_back(e.num_children);
    else ++leaves;
    while (open_groups.size() > 1 && open_groups.back() == 0) open_groups.pop_back();
  }
  throw Error(name + ": no column '" + column + "' (columns: " + names + ")");
}

void ParquetReader::Impl::check_text_column(const SchemaElement& e) const {
  const std::string what = name + ": column '" + column + "' ";
  if (e.num_children > 0) throw Error(what + "is nested (a group); only flat string columns are read");
  if (e.repetition == kRepeated) throw Error(what + "is repeated (a list); only flat string columns are read");
  if (e.type != kByteArray)
    throw Error(what + "is not a string column (physical type " + std::to_string(e.type) + ", expected BYTE_ARRAY)");
}

void ParquetReader::Impl::check_chunks() {
  for (group = 1; group <= meta.row_groups.size(); ++group) {
    const RowGroup& g = meta.row_groups[group - 1];
    const ColumnChunk& c = g.chunk;
    if (g.num_rows < 0) fail("the row group has no chunk for this column");
    if (c.external) fail("column chunk stored in another file (file_path), not supported");
    if (c.path.size() != 1 || c.path[0] != column) fail("footer's path_in_schema does not match the schema");
    if (c.num_values != g.num_rows)
      fail("footer says " + std::to_string(c.num_values) + " values for " + std::to_string(g.num_rows) + " rows");
    if (c.codec != kUncompressed && c.codec != kSnappy && c.codec != kGzip && c.codec != kZstd)
      fail(std::string("compression ") + codec_name(c.codec) + " not supported (UNCOMPRESSED, SNAPPY, GZIP, ZSTD are)");
    int64_t start = c.dictionary_page_offset > 0 ? c.dictionary_page_offset : c.data_page_offset;
    if (start < 4 || c.total_compressed_size < 0 || uint64_t(start + c.total_compressed_size) > footer_start)
      fail("column chunk lies outside the file's data (byte " + std::to_string(start) + ", " +
           std::to_string(c.total_compressed_size) + " bytes; truncated?)");
  }
  group = 0;
}

void ParquetReader::Impl::open_chunk() {
  const ColumnChunk& c = meta.row_groups[group].chunk;
  ++group;
  pos = uint64_t(c.dictionary_page_offset > 0 ? c.dictionary_page_offset : c.data_page_offset);
  chunk_end = pos + uint64_t(c.total_compressed_size);
  chunk_values = 0;
  dictionary.clear();
  chunk_open = true;
}

// Reads page headers until a data page is decoded; false after the last chunk.
bool ParquetReader::Impl::load_page() {
  for (;;) {
    if (!chunk_open) {
      if (group >= meta.row_groups.size()) return false;
      open_chunk();
    }
    const ColumnChunk& c = meta.row_groups[group - 1].chunk;
    if (pos >= chunk_end) {
      if (chunk_values != c.num_values)
        fail("column chunk ends after " + std::to_string(chunk_values) + " of " + std::to_string(c.num_values) +
             " values");
      chunk_open = false;
      continue;
    }
    ThriftReader r(file.data() + pos, chunk_end - pos, pos, where() + ": page header");
    PageHeader h = read_page_header(r);
    pos += r.position();
    if (h.compressed_size < 0 || h.uncompressed_size < 0 || uint64_t(h.compressed_size) > chunk_end - pos)
      fail("page at byte " + std::to_string(pos) + " runs past its column chunk (" +
           std::to_string(h.compressed_size) + " bytes; truncated or corrupt)");
    const uint8_t* data = file.data() + pos;
    pos += uint64_t(h.compressed_size);
    if (h.type == kDictionaryPage) decode_dictionary(h, data);
    else if (h.type == kDataPage || h.type == kDataPageV2) return decode_data_page(h, data), true;
    else if (h.type != kIndexPage) fail("unknown page type " + std::to_string(h.type));
  }
}

// The page's bytes after `skip_bytes` (v2 levels, never compressed),
// decompressed into page_bytes when the chunk is compressed.
std::string_view ParquetReader::Impl::page_payload(const PageHeader& h, const uint8_t* data, size_t skip_bytes) {
  const int codec = meta.row_groups[group - 1].chunk.codec;
  const char* src = reinterpret_cast<const char*>(data) + skip_bytes;
  const size_t n = size_t(h.compressed_size) - skip_bytes;
  const size_t expected = size_t(h.uncompressed_size) - skip_bytes;
  if (codec == kUncompressed || !h.v2_compressed) return {src, n};
  page_bytes.resize(expected);
  bool ok = false;
  if (codec == kSnappy) {
    size_t length = 0;
    ok = snappy_uncompressed_length(src, n, &length) == SNAPPY_OK && length == expected &&
         snappy_uncompress(src, n, page_bytes.data(), &length) == SNAPPY_OK && length == expected;
  } else if (codec == kZstd) {
    size_t got = ZSTD_decompress(page_bytes.data(), expected, src, n);
    ok = !ZSTD_isError(got) && got == expected;
  } else if (codec == kGzip) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) fail("zlib init failed");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(src));
    z.avail_in = uInt(n);
    z.next_out = reinterpret_cast<Bytef*>(page_bytes.data());
    z.avail_out = uInt(expected);
    ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == expected;
    inflateEnd(&z);
  }
  if (!ok) fail(std::string("corrupt ") + codec_name(codec) + " page ending at byte " + std::to_string(pos));
  return page_bytes;
}

void ParquetReader::Impl::decode_dictionary(const PageHeader& h, const uint8_t* data) {
  if (h.encoding != kPlain && h.encoding != kPlainDictionary)
    fail("dictionary page encoding " + encoding_name(h.encoding) + " not supported");
  std::string_view payload = page_payload(h, data, 0);
  // Keep the dictionary's bytes: page_bytes is reused by the data pages.
  dictionary_bytes.assign(payload);
  PageHeader plain = h;
  plain.encoding = kPlain;
  values.clear();
  decode_values(plain, reinterpret_cast<const uint8_t*>(dictionary_bytes.data()), dictionary_bytes.size(),
                size_t(h.num_values));
  dictionary = values;
}

void ParquetReader::Impl::decode_data_page(const PageHeader& h, const uint8_t* data) {
  // Bounded by the footer, so a corrupt header cannot ask for huge buffers.
  if (h.num_values < 0 || h.num_values > meta.row_groups[group - 1].chunk.num_values - chunk_values)
    fail("page ending at byte " + std::to_string(pos) + " claims " + std::to_string(h.num_values) +
         " values, more than its column chunk has left");
  const bool v2 = h.type == kDataPageV2;
  if (v2 && (h.rep_levels_bytes != 0 || h.def_levels_bytes < 0 || h.def_levels_bytes > h.compressed_size ||
             h.def_levels_bytes > h.uncompressed_size))
    fail("data page v2 with bad level lengths");
  std::string_view payload = page_payload(h, data, v2 ? size_t(h.def_levels_bytes) : 0);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(payload.data());
  size_t n = payload.size();
  const size_t count = size_t(h.num_values);
  is_null.assign(count, 0);
  size_t non_null = count;
  if (max_definition > 0) {
    const uint8_t* levels_at = data;
    size_t levels_size = size_t(h.def_levels_bytes);
    if (!v2) {  // v1: a 4-byte length, then the levels, inside the compressed payload
      if (n < 4 || load_u32(p) > n - 4)
        fail("definition levels truncated in the page ending at byte " + std::to_string(pos));
      levels_at = p + 4;
      levels_size = load_u32(p);
      p += 4 + levels_size;
      n -= 4 + levels_size;
    }
    decode_rle_hybrid(levels_at, levels_size, 1, count, levels, where() + ": definition levels");
    for (size_t i = 0; i < count; ++i) is_null[i] = levels[i] == 0;
    non_null = count - size_t(std::count(is_null.begin(), is_null.end(), 1));
  }
  values.clear();
  decode_values(h, p, n, non_null);
  chunk_values += h.num_values;
  row_in_page = value_in_page = 0;
}

void ParquetReader::Impl::decode_values(const PageHeader& h, const uint8_t* p, size_t n, size_t non_null) {
  if (h.encoding == kPlain && non_null > n / 4)
    fail("PLAIN values truncated in the page ending at byte " + std::to_string(pos));
  values.reserve(non_null);
  if (h.encoding == kPlain) {
    size_t at = 0;
    for (size_t i = 0; i < non_null; ++i) {
      if (n - at < 4 || load_u32(p + at) > n - at - 4)
        fail("PLAIN values truncated in the page ending at byte " + std::to_string(pos));
      const uint32_t len = load_u32(p + at);
      values.emplace_back(reinterpret_cast<const char*>(p + at + 4), len);
      at += 4 + len;
    }
  } else if (h.encoding == kPlainDictionary || h.encoding == kRleDictionary) {
    if (dictionary.empty() && non_null > 0) fail("dictionary-encoded page without a dictionary page");
    if (n < 1 || p[0] > 32) fail("bad dictionary index bit width");
    decode_rle_hybrid(p + 1, n - 1, p[0], non_null, indices, where() + ": dictionary indices");
    for (uint32_t index : indices) {
      if (index >= dictionary.size())
        fail("dictionary index " + std::to_string(index) + " out of range (" + std::to_string(dictionary.size()) +
             " entries)");
      values.push_back(dictionary[index]);
    }
  } else {
    fail("encoding " + encoding_name(h.encoding) + " not supported (PLAIN and dictionary encodings are)");
  }
}

ParquetReader::ParquetReader(const stdfs::path& path, const std::string& column)
    : impl_(std::make_unique<Impl>()) {
  impl_->column = column;
  impl_->open(path);
}

ParquetReader::~ParquetReader() = default;
ParquetReader::ParquetReader(ParquetReader&&) noexcept = default;
ParquetReader& ParquetReader::operator=(ParquetReader&&) noexcept = default;

bool ParquetReader::next(std::string_view& value, bool& is_null) {
  Impl& s = *impl_;
  while (s.row_in_page >= s.is_null.size())
    if (!s.load_page()) return false;
  is_null = s.is_null[s.row_in_page++];
  value = is_null ? std::string_view() : s.values[s.value_in_page++];
  return true;
}

uint64_t ParquetReader::rows() const { return uint64_t(impl_->meta.num_rows); }
uint64_t ParquetReader::row_groups() const { return impl_->meta.row_groups.size(); }

}  // namespace replay::corpus
