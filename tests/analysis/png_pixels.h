// Decoding a rendered PNG (with cairo) to count pixels of a colour: tests
// that a figure really draws, or really leaves out, something.
#pragma once
#include <cairo.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace png_pixels {

struct PngReader {
  const std::string* data;
  size_t pos = 0;
};
inline cairo_status_t read_png(void* closure, unsigned char* out, unsigned int length) {
  auto* r = static_cast<PngReader*>(closure);
  if (r->pos + length > r->data->size()) return CAIRO_STATUS_READ_ERROR;
  std::memcpy(out, r->data->data() + r->pos, length);
  r->pos += length;
  return CAIRO_STATUS_SUCCESS;
}

// Counts pixels close to an RGB colour in a PNG (decoded by cairo).
inline int count_pixels(const std::string& png, int r, int g, int b) {
  PngReader reader{&png};
  cairo_surface_t* s = cairo_image_surface_create_from_png_stream(read_png, &reader);
  EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
  int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
  int stride = cairo_image_surface_get_stride(s), n = 0;
  const unsigned char* px = cairo_image_surface_get_data(s);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint32_t v;
      std::memcpy(&v, px + y * stride + 4 * x, 4);
      int pr = (v >> 16) & 255, pg = (v >> 8) & 255, pb = v & 255;
      n += std::abs(pr - r) < 8 && std::abs(pg - g) < 8 && std::abs(pb - b) < 8;
    }
  cairo_surface_destroy(s);
  return n;
}

}  // namespace png_pixels
