#include "corpus/streams.h"

#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace replay::corpus {

namespace stdfs = std::filesystem;

namespace {
constexpr size_t kChunk = 1 << 17;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Compression compression_of(const stdfs::path& path) {
  std::string name = path.filename().string();
  if (ends_with(name, ".gz")) return Compression::gzip;
  if (ends_with(name, ".zst")) return Compression::zstd;
  return Compression::none;
}

std::string strip_compression_suffix(const std::string& name) {
  if (ends_with(name, ".gz")) return name.substr(0, name.size() - 3);
  if (ends_with(name, ".zst")) return name.substr(0, name.size() - 4);
  return name;
}

// Turns compressed input chunks into plain bytes. One implementation per
// format; `finish()` reports a stream that ended in the middle of a frame.
class InputStream::Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void feed(const char* data, size_t size, std::string& out) = 0;
  virtual void finish() = 0;
};

namespace {

class GzipDecoder : public InputStream::Decoder {
 public:
  explicit GzipDecoder(std::string what) : what_(std::move(what)) {
    std::memset(&z_, 0, sizeof z_);
    // 15 + 32: accept gzip or zlib headers (auto-detected).
    if (inflateInit2(&z_, 15 + 32) != Z_OK) throw Error("zlib init failed for " + what_);
  }
  ~GzipDecoder() override { inflateEnd(&z_); }

  void feed(const char* data, size_t size, std::string& out) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z_.avail_in = static_cast<uInt>(size);
    char buf[kChunk];
    // Loop while input remains or the last call filled the whole output
    // buffer (zlib may still hold decompressed bytes for us).
    for (bool full = true; z_.avail_in > 0 || full;) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      int rc = inflate(&z_, Z_NO_FLUSH);
      full = z_.avail_out == 0;
      out.append(buf, sizeof buf - z_.avail_out);
      if (rc == Z_STREAM_END) {
        in_member_ = false;
        // gzip allows several members back to back (`cat a.gz b.gz`).
        if (z_.avail_in > 0) {
          inflateReset(&z_);
          in_member_ = true;
        }
        continue;
      }
      if (rc == Z_BUF_ERROR) break;  // no progress possible: needs more input
      if (rc != Z_OK)
        throw Error("corrupt gzip data in " + what_ + (z_.msg ? std::string(": ") + z_.msg : ""));
      in_member_ = true;
    }
  }
  void finish() override {
    if (in_member_) throw Error("truncated gzip data in " + what_);
  }

 private:
  std::string what_;
  z_stream z_;
  bool in_member_ = true;  // an empty .gz file is not a valid gzip stream
};

class ZstdDecoder : public InputStream::Decoder {
 public:
  explicit ZstdDecoder(std::string what) : what_(std::move(what)), d_(ZSTD_createDStream()) {
    ZSTD_initDStream(d_);
  }
  ~ZstdDecoder() override { ZSTD_freeDStream(d_); }

  void feed(const char* data, size_t size, std::string& out) override {
    ZSTD_inBuffer in{data, size, 0};
    std::vector<char> buf(ZSTD_DStreamOutSize());
    // Keep going while input remains or the output buffer came back full
    // (the decoder may still hold bytes). rc == 0 means "frame complete".
    for (bool full = true; in.pos < in.size || full;) {
      size_t before = in.pos;
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      size_t rc = ZSTD_decompressStream(d_, &o, &in);
      if (ZSTD_isError(rc))
        throw Error("corrupt zstd data in " + what_ + ": " + ZSTD_getErrorName(rc));
      out.append(buf.data(), o.pos);
      full = o.pos == o.size;
      if (o.pos > 0 || in.pos > before) last_ = rc;
      saw_input_ = true;
      if (o.pos == 0 && in.pos == before) break;  // no progress: needs more input
    }
  }
  void finish() override {
    if (!saw_input_ || last_ != 0) throw Error("truncated zstd data in " + what_);
  }

 private:
  std::string what_;
  ZSTD_DStream* d_;
  size_t last_ = 1;
  bool saw_input_ = false;
};

std::unique_ptr<InputStream::Decoder> make_decoder(Compression kind, const std::string& what) {
  switch (kind) {
    case Compression::gzip: return std::make_unique<GzipDecoder>(what);
    case Compression::zstd: return std::make_unique<ZstdDecoder>(what);
    case Compression::none: break;
  }
  return nullptr;
}

}  // namespace

std::string decompress(std::string_view data, Compression kind, const std::string& what) {
  auto decoder = make_decoder(kind, what);
  if (!decoder) return std::string(data);
  std::string out;
  decoder->feed(data.data(), data.size(), out);
  decoder->finish();
  return out;
}

InputStream::InputStream(const stdfs::path& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw Error("cannot open " + path.string() + ": " + std::strerror(errno));
  decoder_ = make_decoder(compression_of(path), path.string());
}

InputStream::~InputStream() {
  if (file_) std::fclose(file_);
}

bool InputStream::fill() {
  if (pos_ > 0) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  const size_t had = buffer_.size();
  char chunk[kChunk];
  while (file_) {
    size_t n = std::fread(chunk, 1, sizeof chunk, file_);
    if (n == 0) {
      bool failed = std::ferror(file_);
      std::fclose(file_);
      file_ = nullptr;
      if (failed) throw Error("cannot read " + path_.string());
      if (decoder_) decoder_->finish();
      break;
    }
    size_t before = buffer_.size();
    if (decoder_)
      decoder_->feed(chunk, n, buffer_);
    else
      buffer_.append(chunk, n);
    if (buffer_.size() > before) return true;
  }
  return buffer_.size() > had;  // the decoder's finish() adds nothing
}

size_t InputStream::read(std::string& out, size_t max) {
  if (pos_ >= buffer_.size() && !fill()) return 0;
  size_t n = std::min(max, buffer_.size() - pos_);
  out.append(buffer_, pos_, n);
  pos_ += n;
  return n;
}

bool InputStream::read_line(std::string& line) {
  line.clear();
  size_t scanned = pos_;
  for (;;) {
    size_t nl = buffer_.find('\n', scanned);
    if (nl != std::string::npos) {
      line.assign(buffer_, pos_, nl - pos_);
      pos_ = nl + 1;
      break;
    }
    size_t have = buffer_.size() - pos_;
    if (!fill()) {  // end of stream: the last line may lack its '\n'
      if (have == 0) return false;
      line.assign(buffer_, pos_, std::string::npos);
      pos_ = buffer_.size();
      break;
    }
    scanned = pos_ + have;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

OutputStream::OutputStream(const stdfs::path& path, int zstd_level) : file_(path) {
  if (compression_of(path) == Compression::zstd) {
    auto* c = ZSTD_createCStream();
    ZSTD_initCStream(c, zstd_level);
    cstream_ = c;
    out_buffer_.resize(ZSTD_CStreamOutSize());
  } else if (compression_of(path) == Compression::gzip) {
    throw Error("writing .gz is not supported (use .zst or plain): " + path.string());
  }
}

OutputStream::~OutputStream() {
  if (cstream_) ZSTD_freeCStream(static_cast<ZSTD_CStream*>(cstream_));
}

void OutputStream::write(std::string_view bytes) {
  raw_bytes_ += bytes.size();
  if (!cstream_) {
    file_.write(bytes);
    return;
  }
  pending_.append(bytes);
  if (pending_.size() >= kChunk) flush_compressed(false);
}

void OutputStream::flush_compressed(bool end) {
  auto* c = static_cast<ZSTD_CStream*>(cstream_);
  ZSTD_inBuffer in{pending_.data(), pending_.size(), 0};
  for (;;) {
    ZSTD_outBuffer o{out_buffer_.data(), out_buffer_.size(), 0};
    size_t rc = end ? ZSTD_compressStream2(c, &o, &in, ZSTD_e_end)
                    : ZSTD_compressStream2(c, &o, &in, ZSTD_e_continue);
    if (ZSTD_isError(rc)) throw Error("zstd compression failed: " + std::string(ZSTD_getErrorName(rc)));
    file_.write(out_buffer_.data(), o.pos);
    if (end ? rc == 0 : in.pos == in.size) break;
  }
  pending_.clear();
}

void OutputStream::commit() {
  if (cstream_) flush_compressed(true);
  file_.commit();
}

}  // namespace replay::corpus
