// PNG decoding through libpng's classic API.
//
// libpng reports fatal errors by calling our error function, which stores the message and longjmps
// to the setjmp in `cic_decode_png` (the C function making every library call). Reads come from a
// memory buffer through a callback that raises a libpng error at the end of the data.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "cic_internal.h"

// Kept on the heap: everything here may change between setjmp and longjmp, and heap memory, unlike
// non-volatile locals, keeps its value across the jump.
typedef struct {
  jmp_buf jump;
  cic_result *result;
  int status;
  const uint8_t *bytes;
  size_t length;
  size_t offset;
  uint8_t *decoded;
  png_bytep *rows;
  uint8_t *pixels;
} cic_png_state;

static void cic_png_error(png_structp png, png_const_charp message) {
  cic_png_state *state = (cic_png_state *)png_get_error_ptr(png);
  cic_set_message(state->result, "%s", message);
  longjmp(state->jump, 1);
}

static void cic_png_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;  // libpng warnings (bad ancillary chunks, gamma oddities) do not affect pixels
}

static void cic_png_read(png_structp png, png_bytep output, size_t count) {
  cic_png_state *state = (cic_png_state *)png_get_io_ptr(png);
  if (count > state->length - state->offset) {
    png_error(png, "unexpected end of PNG data (file truncated?)");
  }
  memcpy(output, state->bytes + state->offset, count);
  state->offset += count;
}

int cic_decode_png(const uint8_t *bytes, size_t length, int channels, uint64_t max_pixels,
                   cic_result *result) {
  if (result == NULL) return CIC_ERROR_ARGUMENT;
  cic_reset_result(result);
  if (channels != CIC_CHANNELS_NATIVE && channels != CIC_CHANNELS_GREY &&
      channels != CIC_CHANNELS_RGB) {
    cic_set_message(result, "unknown channel request %d", channels);
    return CIC_ERROR_ARGUMENT;
  }
  if (bytes == NULL || length < 8 || png_sig_cmp(bytes, 0, 8) != 0) {
    cic_set_message(result, "missing PNG signature");
    return CIC_ERROR_CORRUPT;
  }

  cic_png_state *state = calloc(1, sizeof *state);
  if (state == NULL) {
    cic_set_message(result, "out of memory");
    return CIC_ERROR_NO_MEMORY;
  }
  state->result = result;
  state->status = CIC_ERROR_CORRUPT;
  state->bytes = bytes;
  state->length = length;

  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, cic_png_error, cic_png_warning);
  png_infop info = png == NULL ? NULL : png_create_info_struct(png);
  if (info == NULL) {
    png_destroy_read_struct(&png, NULL, NULL);
    free(state);
    cic_set_message(result, "out of memory");
    return CIC_ERROR_NO_MEMORY;
  }

  if (setjmp(state->jump) != 0) {
    png_destroy_read_struct(&png, &info, NULL);
    int status = state->status;
    free(state->pixels);
    free(state->rows);
    free(state->decoded);
    free(state);
    result->data = NULL;
    return status;
  }

  png_set_read_fn(png, state, cic_png_read);
  png_read_info(png, info);

  png_uint_32 width = png_get_image_width(png, info);
  png_uint_32 height = png_get_image_height(png, info);
  int size_status = cic_check_size(width, height, max_pixels, "PNG", result);
  if (size_status != CIC_OK) {
    state->status = size_status;
    longjmp(state->jump, 1);
  }

  // Every row comes out of the file's IDAT chunks, and deflate inflates at most 1032-fold: a header
  // claiming more image data than the file could hold is refused before any row is allocated.
  uint64_t image_bytes = (uint64_t)png_get_rowbytes(png, info) * height;
  if (image_bytes > (uint64_t)length * 1032u + 1032u) {
    cic_set_message(result, "PNG header claims %ux%u pixels, more than its %zu bytes can hold",
                    (unsigned)width, (unsigned)height, length);
    longjmp(state->jump, 1);
  }

  int color_type = png_get_color_type(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_scale_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  // Whatever the transforms left (grey, grey+alpha, RGB, RGBA; palettes with transparency come out
  // as RGBA), the row converter reduces it to the requested channels.
  int decoded_channels = png_get_channels(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  cic_source_layout source;
  switch (decoded_channels) {
  case 1: source = CIC_SOURCE_GREY; break;
  case 2: source = CIC_SOURCE_GREY_ALPHA; break;
  case 3: source = CIC_SOURCE_RGB; break;
  default: source = CIC_SOURCE_RGBA; break;
  }
  if (png_get_bit_depth(png, info) != 8 || decoded_channels < 1 || decoded_channels > 4 ||
      row_bytes != (size_t)width * (size_t)decoded_channels) {
    cic_set_message(result, "unsupported PNG layout (colour type %d, bit depth %d)", color_type,
                    bit_depth);
    longjmp(state->jump, 1);
  }

  int output_channels = cic_output_channels(channels, source);
  state->decoded = malloc(row_bytes * height);
  state->rows = malloc(sizeof(png_bytep) * height);
  state->pixels = malloc((size_t)width * height * (size_t)output_channels);
  if (state->decoded == NULL || state->rows == NULL || state->pixels == NULL) {
    cic_set_message(result, "out of memory for a %ux%u PNG", (unsigned)width, (unsigned)height);
    state->status = CIC_ERROR_NO_MEMORY;
    longjmp(state->jump, 1);
  }
  for (png_uint_32 y = 0; y < height; y++) state->rows[y] = state->decoded + y * row_bytes;
  png_read_image(png, state->rows);
  // No png_read_end: chunks after the image data (text, IEND) cannot change the pixels, and a file
  // cut just after its image data still decodes, as in Pillow.

  size_t output_row = (size_t)width * (size_t)output_channels;
  for (png_uint_32 y = 0; y < height; y++) {
    cic_convert_row(state->rows[y], source, state->pixels + y * output_row, output_channels, width);
  }
  png_destroy_read_struct(&png, &info, NULL);
  result->data = state->pixels;
  result->count = output_row * height;
  result->width = (int)width;
  result->height = (int)height;
  result->channels = output_channels;
  free(state->rows);
  free(state->decoded);
  free(state);
  return CIC_OK;
}
