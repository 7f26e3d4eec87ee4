/*
 * The trampoline stub: the few instructions that stand, in the native call
 * stack, for one Python function.
 *
 * perf names a sampled address by looking it up in /tmp/perf-PID.map.  The
 * interpreter itself has one evaluation function for every Python function, so
 * on its own every Python frame looks the same to perf.  A stub gives each
 * Python function an address range of its own: the eval-frame hook calls
 * through the function's stub, the stub calls the real evaluator, and the
 * return address the evaluator's frame holds now points into code that the map
 * names.
 *
 * Every stub is the same position-independent code: it builds a standard
 * frame-pointer frame (so frame-pointer unwinders walk through it), calls the
 * function passed in its fourth integer argument with the first three argument
 * registers untouched, and returns that function's result.  Because all stubs
 * are identical, an arena chunk is filled with copies once and never written
 * again.
 *
 * The architecture is chosen here and only here; the build refuses any other.
 */
#ifndef PERFTRAMP_CORE_STUB_H
#define PERFTRAMP_CORE_STUB_H

#include <stddef.h>

#if defined(__x86_64__)
#    define PT_STUB_ARCH "x86_64"
#elif defined(__aarch64__)
#    define PT_STUB_ARCH "aarch64"
#else
#    error "perftramp: trampoline stubs exist for x86_64 and aarch64 only"
#endif

/* Bounds of the stub template, defined in stub_<arch>.S. */
extern const unsigned char perftramp_stub_start[];
extern const unsigned char perftramp_stub_end[];

/* The signature every stub has: call `target(a, b, c)` and return its result. */
typedef void *(*pt_target_fn)(void *a, void *b, long c);
typedef void *(*pt_stub_fn)(void *a, void *b, long c, pt_target_fn target);

static inline size_t
pt_stub_code_size(void)
{
    return (size_t)(perftramp_stub_end - perftramp_stub_start);
}

#endif
