// JPEG decoding through libjpeg(-turbo)'s classic API.
//
// libjpeg reports fatal errors through `error_exit`, whose default calls exit(). We replace it with
// one that stores the message and longjmps to the setjmp in `cic_decode_jpeg`, which is the C
// function that makes every library call, so no Swift frame is ever skipped.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "cic_internal.h"

typedef struct {
  struct jpeg_error_mgr base;  // first, so libjpeg's `cinfo->err` can be cast back to this
  jmp_buf jump;
  cic_result *result;
} cic_jpeg_error;

static void cic_jpeg_error_exit(j_common_ptr cinfo) {
  cic_jpeg_error *error = (cic_jpeg_error *)cinfo->err;
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  cic_set_message(error->result, "%s", text);
  longjmp(error->jump, 1);
}

// Warnings are not printed (the default writes to stderr). "Premature end of JPEG file" is promoted
// to an error: libjpeg would otherwise pad a truncated file with grey and call it a success. Other
// warnings (extraneous bytes, a bad Huffman code) still yield an image, as they do in Pillow.
static void cic_jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
    cic_jpeg_error_exit(cinfo);
  }
  cinfo->err->num_warnings++;
}

static void cic_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// Progressive files with more scans than this are refused: real ones have about ten, and each scan
/// may touch every block, so thousands of tiny scans would make a small file decode for minutes.
#define CIC_JPEG_MAX_SCANS 500

static void cic_jpeg_progress(j_common_ptr cinfo) {
  j_decompress_ptr decompress = (j_decompress_ptr)cinfo;
  if (decompress->input_scan_number > CIC_JPEG_MAX_SCANS) {
    cic_jpeg_error *error = (cic_jpeg_error *)cinfo->err;
    cic_set_message(error->result, "JPEG has more than %d scans", CIC_JPEG_MAX_SCANS);
    longjmp(error->jump, 1);
  }
}

/// Huffman coding spends at least one bit on every 8x8 block of every component (its DC
/// difference), so a file cannot hold more blocks than 8 per byte; a header that claims more is
/// refused before the decoder allocates for it. Arithmetic coding can go below a bit per block and
/// is left to the pixel limit alone.
static int cic_jpeg_check_blocks(j_decompress_ptr cinfo, size_t length, cic_result *result) {
  if (cinfo->arith_code) return CIC_OK;
  uint64_t blocks = 0;
  for (int c = 0; c < cinfo->num_components; c++) {
    const jpeg_component_info *component = &cinfo->comp_info[c];
    blocks += (uint64_t)component->width_in_blocks * component->height_in_blocks;
  }
  if (blocks > (uint64_t)length * 8) {
    cic_set_message(result, "JPEG header claims %ux%u pixels, more than its %zu bytes can encode",
                    (unsigned)cinfo->image_width, (unsigned)cinfo->image_height, length);
    return CIC_ERROR_CORRUPT;
  }
  return CIC_OK;
}

int cic_decode_jpeg(const uint8_t *bytes, size_t length, int channels, uint64_t max_pixels,
                    cic_result *result) {
  if (result == NULL) return CIC_ERROR_ARGUMENT;
  cic_reset_result(result);
  if (bytes == NULL || length == 0) {
    cic_set_message(result, "empty JPEG data");
    return CIC_ERROR_CORRUPT;
  }
  if (channels != CIC_CHANNELS_NATIVE && channels != CIC_CHANNELS_GREY &&
      channels != CIC_CHANNELS_RGB) {
    cic_set_message(result, "unknown channel request %d", channels);
    return CIC_ERROR_ARGUMENT;
  }

  struct jpeg_decompress_struct cinfo;
  cic_jpeg_error error;
  // Zeroed first so that jpeg_destroy_decompress is safe even if creation itself fails.
  memset(&cinfo, 0, sizeof cinfo);
  memset(&error, 0, sizeof error);
  cinfo.err = jpeg_std_error(&error.base);
  error.base.error_exit = cic_jpeg_error_exit;
  error.base.emit_message = cic_jpeg_emit_message;
  error.base.output_message = cic_jpeg_output_message;
  error.result = result;

  // Assigned after setjmp, so volatile: their values must survive the longjmp for the cleanup.
  uint8_t *volatile pixels = NULL;
  uint8_t *volatile row = NULL;
  volatile int status = CIC_ERROR_CORRUPT;

  if (setjmp(error.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);
    free(row);
    free(pixels);
    result->data = NULL;
    return status;
  }

  jpeg_create_decompress(&cinfo);
  struct jpeg_progress_mgr progress;
  memset(&progress, 0, sizeof progress);
  progress.progress_monitor = cic_jpeg_progress;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, bytes, (unsigned long)length);
  jpeg_read_header(&cinfo, TRUE);

  int size_status = cic_check_size(cinfo.image_width, cinfo.image_height, max_pixels, "JPEG", result);
  if (size_status == CIC_OK) size_status = cic_jpeg_check_blocks(&cinfo, length, result);
  if (size_status != CIC_OK) {
    status = size_status;
    longjmp(error.jump, 1);
  }

  cic_source_layout source;
  switch (cinfo.jpeg_color_space) {
  case JCS_GRAYSCALE:
    cinfo.out_color_space = JCS_GRAYSCALE;
    source = CIC_SOURCE_GREY;
    break;
  case JCS_CMYK:
  case JCS_YCCK:
    // libjpeg converts YCCK to CMYK but not CMYK to RGB; the row converter does that.
    cinfo.out_color_space = JCS_CMYK;
    source = cinfo.saw_Adobe_marker ? CIC_SOURCE_CMYK_INVERTED : CIC_SOURCE_CMYK;
    break;
  default:
    cinfo.out_color_space = JCS_RGB;
    source = CIC_SOURCE_RGB;
    break;
  }

  jpeg_start_decompress(&cinfo);
  int source_channels = source == CIC_SOURCE_GREY ? 1 : (source == CIC_SOURCE_RGB ? 3 : 4);
  if (cinfo.output_components != source_channels) {
    cic_set_message(result, "JPEG decoder produced %d components, expected %d",
                    cinfo.output_components, source_channels);
    longjmp(error.jump, 1);
  }
  size_t width = cinfo.output_width;
  size_t height = cinfo.output_height;
  int output_channels = cic_output_channels(channels, source);
  pixels = malloc(width * height * (size_t)output_channels);
  row = malloc(width * (size_t)source_channels);
  if (pixels == NULL || row == NULL) {
    cic_set_message(result, "out of memory for a %zux%zu JPEG", width, height);
    status = CIC_ERROR_NO_MEMORY;
    longjmp(error.jump, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    size_t y = cinfo.output_scanline;
    JSAMPROW rows[1] = {row};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) {
      cic_set_message(result, "JPEG decoder stopped at row %zu of %zu", y, height);
      longjmp(error.jump, 1);
    }
    cic_convert_row(row, source, pixels + y * width * (size_t)output_channels, output_channels, width);
  }
  // No jpeg_finish_decompress: every row is decoded, and a file that lacks only its final EOI
  // marker is accepted, as other decoders do.
  jpeg_destroy_decompress(&cinfo);
  free(row);
  result->data = pixels;
  result->count = width * height * (size_t)output_channels;
  result->width = (int)width;
  result->height = (int)height;
  result->channels = output_channels;
  return CIC_OK;
}
