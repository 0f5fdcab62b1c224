#ifndef CKERNELSUPPORT_H
#define CKERNELSUPPORT_H

// What Swift cannot say itself: a software prefetch and a spin-wait hint. Inlined into the Swift
// code that calls them.

/// Asks for the cache line holding `address` in L2 (x86 `prefetcht1`). Never faults, even past an
/// allocation's end.
static inline __attribute__((always_inline)) void cnnkit_prefetch_l2(const void *address) {
  __builtin_prefetch(address, 0, 2);
}

/// A spin-wait hint (x86 `pause`): lets a hyperthread sibling run while this thread waits.
static inline __attribute__((always_inline)) void cnnkit_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

#endif
