// Reads one text column from a Parquet file, the format Hugging Face datasets
// ship in. Hand-written because Debian 12 packages no Arrow or Parquet C++
// library; text import needs only a small, well-defined subset of the format,
// which fits in one file on top of zlib, libzstd and libsnappy.
//
// The subset read (anything else is a replay::Error naming the file, and the
// row group and column where it applies):
//   - File layout: "PAR1" magic at both ends, the footer FileMetaData in the
//     Thrift compact protocol (only the fields below are decoded; the others
//     are skipped by type, so files from newer writers still parse).
//       FileMetaData: schema (a flattened tree), num_rows, row_groups
//       SchemaElement: type, repetition_type, name, num_children
//       RowGroup: columns, num_rows; ColumnChunk: file_path, meta_data
//       ColumnMetaData: type, path_in_schema, codec, num_values,
//         total_compressed_size, data_page_offset, dictionary_page_offset
//       PageHeader: type, uncompressed/compressed_page_size, and the
//         DataPageHeader, DataPageHeaderV2 or DictionaryPageHeader.
//   - The column: a top-level (not nested, not repeated) BYTE_ARRAY column,
//     REQUIRED or OPTIONAL; a null row (OPTIONAL, definition level 0) is
//     reported as null. Annotated as STRING/UTF8 or not: bytes are returned
//     as they are, the corpus cleaning repairs bad UTF-8.
//   - Pages: data page v1 and v2 and dictionary pages; index pages are
//     skipped. Codecs: UNCOMPRESSED, SNAPPY, GZIP, ZSTD.
//   - Encodings: PLAIN, and PLAIN_DICTIONARY / RLE_DICTIONARY (indices in
//     the RLE/bit-packed hybrid); definition levels in the RLE hybrid.
//   Not read: nested or repeated columns, DELTA_* / BYTE_STREAM_SPLIT
//   encodings (pyarrow, which `datasets` uses, falls back to PLAIN; arrow-rs
//   with writer version 2 writes DELTA_BYTE_ARRAY), LZO / BROTLI / LZ4
//   codecs, column chunks in other files, encryption. Page CRCs and
//   statistics are ignored.
//
// The file is memory-mapped and decoded one page at a time: memory holds one
// row group's dictionary and one decompressed page, never the whole file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace replay::corpus {

class ParquetReader {
 public:
  // Opens `path` and checks, before any row is read, that it is Parquet and
  // that `column` exists and is in the subset above.
  ParquetReader(const std::filesystem::path& path, const std::string& column);
  ~ParquetReader();
  ParquetReader(ParquetReader&&) noexcept;
  ParquetReader& operator=(ParquetReader&&) noexcept;

  // The next row's value: true with `value` set (valid until the next call)
  // and `is_null` telling a null row; false after the last row.
  bool next(std::string_view& value, bool& is_null);

  uint64_t rows() const;        // rows in the file, from the footer
  uint64_t row_groups() const;  // row groups in the file

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when the file name ends in ".parquet".
bool is_parquet_file(const std::filesystem::path& path);

}  // namespace replay::corpus
