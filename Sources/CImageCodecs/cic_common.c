#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cic_internal.h"

void cic_reset_result(cic_result *result) {
  result->data = NULL;
  result->count = 0;
  result->width = 0;
  result->height = 0;
  result->channels = 0;
  result->message[0] = '\0';
}

void cic_set_message(cic_result *result, const char *format, ...) {
  va_list arguments;
  va_start(arguments, format);
  vsnprintf(result->message, CIC_MESSAGE_CAPACITY, format, arguments);
  va_end(arguments);
}

void cic_free(void *pointer) { free(pointer); }

int cic_output_channels(int request, cic_source_layout source) {
  switch (request) {
  case CIC_CHANNELS_GREY:
    return 1;
  case CIC_CHANNELS_RGB:
    return 3;
  case CIC_CHANNELS_NATIVE:
    return (source == CIC_SOURCE_GREY || source == CIC_SOURCE_GREY_ALPHA) ? 1 : 3;
  default:
    return 0;
  }
}

/// a * b / 255, rounded, for a and b in 0...255.
static inline uint8_t cic_multiply_255(unsigned a, unsigned b) {
  unsigned product = a * b + 128;
  return (uint8_t)((product + (product >> 8)) >> 8);
}

/// Luma with Pillow's fixed-point ITU-R 601 weights (0.299, 0.587, 0.114 scaled by 2^16), so a
/// colour image reduced to grey matches `Image.convert("L")`.
static inline uint8_t cic_luma(unsigned r, unsigned g, unsigned b) {
  return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

void cic_convert_row(const uint8_t *input, cic_source_layout source, uint8_t *output, int channels,
                     size_t width) {
  for (size_t x = 0; x < width; x++) {
    unsigned r, g, b;
    switch (source) {
    case CIC_SOURCE_GREY:
      r = g = b = input[x];
      break;
    case CIC_SOURCE_GREY_ALPHA:
      // Alpha is dropped, not composited: Pillow's convert("RGB") does the same.
      r = g = b = input[2 * x];
      break;
    case CIC_SOURCE_RGB:
      r = input[3 * x];
      g = input[3 * x + 1];
      b = input[3 * x + 2];
      break;
    case CIC_SOURCE_RGBA:
      r = input[4 * x];
      g = input[4 * x + 1];
      b = input[4 * x + 2];
      break;
    case CIC_SOURCE_CMYK: {
      const uint8_t *p = input + 4 * x;
      unsigned white = 255u - p[3];
      r = cic_multiply_255(255u - p[0], white);
      g = cic_multiply_255(255u - p[1], white);
      b = cic_multiply_255(255u - p[2], white);
      break;
    }
    case CIC_SOURCE_CMYK_INVERTED:
    default: {
      const uint8_t *p = input + 4 * x;
      r = cic_multiply_255(p[0], p[3]);
      g = cic_multiply_255(p[1], p[3]);
      b = cic_multiply_255(p[2], p[3]);
      break;
    }
    }
    if (channels == 1) {
      // Grey sources stay exact rather than going through the weighted sum.
      int grey_source = source == CIC_SOURCE_GREY || source == CIC_SOURCE_GREY_ALPHA;
      output[x] = grey_source ? (uint8_t)r : cic_luma(r, g, b);
    } else {
      output[3 * x] = (uint8_t)r;
      output[3 * x + 1] = (uint8_t)g;
      output[3 * x + 2] = (uint8_t)b;
    }
  }
}

int cic_check_size(uint64_t width, uint64_t height, uint64_t max_pixels, const char *format_name,
                   cic_result *result) {
  if (width == 0 || height == 0) {
    cic_set_message(result, "%s image has zero size (%llux%llu)", format_name,
                    (unsigned long long)width, (unsigned long long)height);
    return CIC_ERROR_CORRUPT;
  }
  // Keeps 4 bytes per pixel (the widest intermediate row) far from size_t and int limits too.
  const uint64_t hard_limit = (uint64_t)1 << 31;
  uint64_t limit = max_pixels < hard_limit ? max_pixels : hard_limit;
  if (width > hard_limit || height > hard_limit || width * height > limit) {
    cic_set_message(result, "%s image is %llux%llu, above the limit of %llu pixels", format_name,
                    (unsigned long long)width, (unsigned long long)height,
                    (unsigned long long)limit);
    return CIC_ERROR_TOO_LARGE;
  }
  return CIC_OK;
}
