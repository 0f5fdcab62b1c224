#ifndef CKERNELSUPPORT_H
#define CKERNELSUPPORT_H

// What Swift cannot say itself: a software prefetch. Inlined into the Swift kernels that call it.

/// Asks for the cache line holding `address` in L2 (x86 `prefetcht1`). Never faults, even past an
/// allocation's end.
static inline __attribute__((always_inline)) void cnnkit_prefetch_l2(const void *address) {
  __builtin_prefetch(address, 0, 2);
}

#endif
