// gzip inflation through zlib, all members of a multi-member file, with an output cap.
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cic_internal.h"

/// Deflate's best case: a 258-byte match coded in 2 bits, so no stream inflates more than 1032-fold.
#define CIC_DEFLATE_MAX_RATIO 1032u

/// Starting output size: the last member's trailer stores its length mod 2^32, which is exact for
/// the usual single-member file under 4 GiB; the buffer doubles if it proves too small. The trailer
/// is only trusted as far as deflate's ratio allows, so a tiny file cannot claim gigabytes up front.
static size_t cic_gzip_initial_capacity(const uint8_t *bytes, size_t length, uint64_t limit) {
  uint64_t guess = (uint64_t)length * 2;
  if (length >= 18) {
    const uint8_t *t = bytes + length - 4;
    uint64_t stored = (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
    if (stored > 0) guess = stored + 1;  // + 1 so that the end of the stream needs no regrowth
    uint64_t possible = (uint64_t)length * CIC_DEFLATE_MAX_RATIO + 1;
    if (guess > possible) guess = possible;
  }
  if (guess < 4096) guess = 4096;
  if (guess > limit) guess = limit;
  return (size_t)guess;
}

static int cic_gzip_fail(z_stream *stream, uint8_t *buffer, int status) {
  inflateEnd(stream);
  free(buffer);
  return status;
}

int cic_gunzip(const uint8_t *bytes, size_t length, uint64_t max_output, cic_result *result) {
  if (result == NULL) return CIC_ERROR_ARGUMENT;
  cic_reset_result(result);
  if (bytes == NULL || length == 0) {
    cic_set_message(result, "empty gzip data");
    return CIC_ERROR_CORRUPT;
  }
  if (max_output > (uint64_t)SIZE_MAX / 2) max_output = (uint64_t)SIZE_MAX / 2;
  // One byte past the cap is allowed into the buffer, so output of exactly `max_output` bytes
  // is accepted and anything longer is seen.
  uint64_t limit = max_output + 1;

  z_stream stream;
  memset(&stream, 0, sizeof stream);
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {  // 16 +: expect a gzip wrapper
    cic_set_message(result, "zlib initialisation failed");
    return CIC_ERROR_NO_MEMORY;
  }
  size_t capacity = cic_gzip_initial_capacity(bytes, length, limit);
  uint8_t *buffer = malloc(capacity);
  if (buffer == NULL) {
    cic_set_message(result, "out of memory for %zu bytes", capacity);
    return cic_gzip_fail(&stream, buffer, CIC_ERROR_NO_MEMORY);
  }
  size_t consumed = 0;
  size_t produced = 0;
  int members = 0;

  for (;;) {
    if (produced == capacity) {
      if (capacity >= limit) {
        cic_set_message(result, "decompressed data exceeds the limit of %llu bytes",
                        (unsigned long long)max_output);
        return cic_gzip_fail(&stream, buffer, CIC_ERROR_TOO_LARGE);
      }
      size_t grown = capacity > limit / 2 ? (size_t)limit : capacity * 2;
      uint8_t *bigger = realloc(buffer, grown);
      if (bigger == NULL) {
        cic_set_message(result, "out of memory for %zu bytes", grown);
        return cic_gzip_fail(&stream, buffer, CIC_ERROR_NO_MEMORY);
      }
      buffer = bigger;
      capacity = grown;
    }
    size_t input_left = length - consumed;
    size_t output_left = capacity - produced;
    uInt input_chunk = input_left > UINT_MAX ? UINT_MAX : (uInt)input_left;
    uInt output_chunk = output_left > UINT_MAX ? UINT_MAX : (uInt)output_left;
    stream.next_in = (Bytef *)(bytes + consumed);
    stream.avail_in = input_chunk;
    stream.next_out = buffer + produced;
    stream.avail_out = output_chunk;
    int code = inflate(&stream, Z_NO_FLUSH);
    size_t used = input_chunk - stream.avail_in;
    size_t made = output_chunk - stream.avail_out;
    consumed += used;
    produced += made;

    if (code == Z_STREAM_END) {
      members++;
      size_t rest = length - consumed;
      if (rest >= 2 && bytes[consumed] == 0x1f && bytes[consumed + 1] == 0x8b) {
        inflateReset(&stream);
        continue;
      }
      // Zero padding (tape blocks) after the last member is tolerated, as by gzip and Python.
      for (size_t i = consumed; i < length; i++) {
        if (bytes[i] != 0) {
          cic_set_message(result, "%zu bytes of trailing garbage after gzip member %d (offset %zu)",
                          length - consumed, members, consumed);
          return cic_gzip_fail(&stream, buffer, CIC_ERROR_CORRUPT);
        }
      }
      break;
    }
    if (code == Z_OK || code == Z_BUF_ERROR) {
      if (stream.avail_out == 0) continue;  // output full: grow and go on
      if (consumed == length) {
        cic_set_message(result, "unexpected end of gzip data after %zu compressed bytes (file truncated?)",
                        length);
        return cic_gzip_fail(&stream, buffer, CIC_ERROR_CORRUPT);
      }
      if (used == 0 && made == 0) {
        cic_set_message(result, "gzip inflation made no progress at offset %zu", consumed);
        return cic_gzip_fail(&stream, buffer, CIC_ERROR_CORRUPT);
      }
      continue;
    }
    if (code == Z_MEM_ERROR) {
      cic_set_message(result, "out of memory in zlib");
      return cic_gzip_fail(&stream, buffer, CIC_ERROR_NO_MEMORY);
    }
    cic_set_message(result, "corrupt gzip data at offset %zu: %s", consumed,
                    stream.msg != NULL ? stream.msg : "unknown zlib error");
    return cic_gzip_fail(&stream, buffer, CIC_ERROR_CORRUPT);
  }
  if (produced > max_output) {
    cic_set_message(result, "decompressed data exceeds the limit of %llu bytes",
                    (unsigned long long)max_output);
    return cic_gzip_fail(&stream, buffer, CIC_ERROR_TOO_LARGE);
  }
  inflateEnd(&stream);
  result->data = buffer;
  result->count = produced;
  return CIC_OK;
}
