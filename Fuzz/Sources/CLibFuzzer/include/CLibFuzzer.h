// libFuzzer's entry point for programs that have their own main (LLVM 13 and later): SwiftPM gives
// every executable a Swift main, so the fuzz targets call this from theirs instead of linking
// libFuzzer's main.
#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
