// Helpers shared by the JPEG and PNG decoders.
#ifndef CIC_INTERNAL_H
#define CIC_INTERNAL_H

#include "CImageCodecs.h"

/// Pixel layouts a codec hands to the row converter.
typedef enum {
  CIC_SOURCE_GREY,
  CIC_SOURCE_GREY_ALPHA,
  CIC_SOURCE_RGB,
  CIC_SOURCE_RGBA,
  CIC_SOURCE_CMYK,
  /// CMYK as Adobe applications write it: every sample stored as 255 - ink.
  CIC_SOURCE_CMYK_INVERTED,
} cic_source_layout;

/// Clears `result` before a decoder fills it.
void cic_reset_result(cic_result *result);

/// Formats `result->message`.
void cic_set_message(cic_result *result, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/// Output channels for a request and a source layout, or 0 for an unknown request.
int cic_output_channels(int request, cic_source_layout source);

/// Converts one row of `width` pixels from `source` to `channels` (1 or 3) 8-bit samples.
void cic_convert_row(const uint8_t *input, cic_source_layout source, uint8_t *output, int channels,
                     size_t width);

/// Checks `width * height` against `max_pixels` and the limits of the C types in use; writes a
/// message and returns CIC_ERROR_TOO_LARGE when refused.
int cic_check_size(uint64_t width, uint64_t height, uint64_t max_pixels, const char *format_name,
                   cic_result *result);

#endif
