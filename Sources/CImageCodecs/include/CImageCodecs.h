// Image and gzip decoding for CNNKit, on top of the system libjpeg(-turbo), libpng and zlib.
//
// Every error is caught inside C: libjpeg's and libpng's error callbacks longjmp back to a setjmp in
// the same C function that called the library, never across Swift frames, and nothing calls
// exit(). Each function returns a CIC_* status and, on failure, a message in `result->message`.
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes returned by every decoder.
enum {
  CIC_OK = 0,
  /// The data is malformed, truncated or uses a feature the decoder does not support.
  CIC_ERROR_CORRUPT = 1,
  /// The image dimensions or the decompressed size exceed the caller's limit.
  CIC_ERROR_TOO_LARGE = 2,
  /// An allocation failed.
  CIC_ERROR_NO_MEMORY = 3,
  /// A null pointer or an unknown channel request.
  CIC_ERROR_ARGUMENT = 4,
};

/// Channel requests for decoded images.
enum {
  /// 1 channel for greyscale sources, 3 (RGB) for everything else.
  CIC_CHANNELS_NATIVE = 0,
  /// Always 1 channel: colour is reduced to luma (ITU-R 601, as Pillow's convert("L")).
  CIC_CHANNELS_GREY = 1,
  /// Always 3 channels: grey is replicated, alpha is dropped, CMYK is converted.
  CIC_CHANNELS_RGB = 3,
};

#define CIC_MESSAGE_CAPACITY 256

/// Output of a decoder. On success `data` holds `count` bytes allocated with malloc, to be released
/// with `cic_free`; for images they are `height * width * channels` bytes, row-major, channels
/// innermost. On failure `data` is NULL and `message` says what went wrong.
typedef struct {
  uint8_t *data;
  size_t count;
  int width;
  int height;
  int channels;
  char message[CIC_MESSAGE_CAPACITY];
} cic_result;

/// Decodes a JPEG held in memory to 8-bit pixels. Images with more than `max_pixels` pixels
/// (width * height) are refused before any pixel memory is allocated.
int cic_decode_jpeg(const uint8_t *bytes, size_t length, int channels, uint64_t max_pixels,
                    cic_result *result);

/// Decodes a PNG held in memory to 8-bit pixels: palettes are expanded, 16-bit samples scaled,
/// sub-byte greys widened, alpha dropped. Same limit as `cic_decode_jpeg`.
int cic_decode_png(const uint8_t *bytes, size_t length, int channels, uint64_t max_pixels,
                   cic_result *result);

/// Inflates gzip data, every member of a multi-member file in turn (as `gunzip` does); zero padding
/// after the last member is accepted, other trailing bytes are an error. Output above
/// `max_output` bytes is refused.
int cic_gunzip(const uint8_t *bytes, size_t length, uint64_t max_output, cic_result *result);

/// Releases `result->data` (safe on NULL).
void cic_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
