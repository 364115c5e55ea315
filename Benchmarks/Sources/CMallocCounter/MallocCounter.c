// A malloc interposer that counts calls and forwards every one to glibc's own allocator.
//
// How it takes effect: these definitions are in the sinkhole-bench executable, and the dynamic
// linker looks a symbol up in the executable before any shared library, so every malloc in the
// process (Swift runtime, Foundation, NIO, SQLite, glibc's own internal calls, which go
// through the PLT precisely so that malloc can be replaced) lands here. The static linker puts
// them in the executable's dynamic symbol table because shared libraries it links against
// (libswiftCore, libc) reference them.
//
// Why it is safe:
// - Forwarding goes to `__libc_malloc` and friends: the same glibc allocator under the names
//   glibc exports for this purpose. Not `dlsym(RTLD_NEXT, "malloc")`, which itself allocates
//   and so recurses on the first call, and is unusable before the dynamic linker is done.
//   Every pointer therefore comes from glibc's heap, so the functions not replaced here
//   (`malloc_usable_size`, which the Swift runtime calls, `malloc_trim`, `valloc`) still work
//   on it, and a pointer from any of them can be freed here.
// - The counters are C11 atomics with relaxed ordering: no lock and no allocation, so they are
//   safe to touch from any thread, inside a signal handler, or while glibc holds its own locks
//   (fork, thread start). Relaxed is enough: the counts are read by the thread that counted,
//   after the code it measured (program order), and no other memory is published through them.
// - Only the thread that called `sinkhole_malloc_counter_start` counts, so a benchmark's
//   figure is its own loop's, whatever another thread allocates meanwhile (the run fails on a
//   non-zero count, so it must not pick up noise). The flag is `_Thread_local` in the
//   executable: the local-exec model, a fixed offset from the thread pointer, set up before
//   any code runs on a thread, with no `__tls_get_addr` call and no allocation (jemalloc and
//   tcmalloc read their thread caches in malloc the same way). Other threads, and all threads
//   while counting is off, pay one such load per call: the ring and writer benchmarks in the
//   same binary are not slowed.
// - `posix_memalign` checks its alignment as POSIX requires (EINVAL), since `__libc_memalign`
//   accepts any; `aligned_alloc` is `__libc_memalign` in glibc 2.36 (same address).
// Precedent: SwiftNIO's allocation counter (IntegrationTests/allocation-counter-tests-framework)
// and ordo-one/malloc-interposer replace the same functions.
#include "CMallocCounter.h"

#if defined(__linux__) && defined(__GLIBC__)

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Thread_local _Bool counting;
static atomic_llong allocations;
static atomic_llong frees;

static inline void count(atomic_llong *counter) {
    if (counting) atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

void *malloc(size_t size) {
    count(&allocations);
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count(&allocations);
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    // glibc: realloc(p, 0) frees p and returns NULL; anything else may allocate.
    if (pointer != NULL && size == 0) {
        count(&frees);
    } else {
        count(&allocations);
    }
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) count(&frees);
    __libc_free(pointer);
}

void *memalign(size_t alignment, size_t size) {
    count(&allocations);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count(&allocations);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    count(&allocations);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

int sinkhole_malloc_counter_available(void) { return 1; }

void sinkhole_malloc_counter_start(void) {
    atomic_store_explicit(&allocations, 0, memory_order_relaxed);
    atomic_store_explicit(&frees, 0, memory_order_relaxed);
    counting = 1;
}

sinkhole_malloc_counts sinkhole_malloc_counter_stop(void) {
    counting = 0;
    sinkhole_malloc_counts counts = {
        atomic_load_explicit(&allocations, memory_order_relaxed),
        atomic_load_explicit(&frees, memory_order_relaxed),
    };
    return counts;
}

#else

// Elsewhere (macOS's two-level namespace does not let an executable replace malloc this way)
// nothing is replaced and the benchmark says the counts are unavailable.
int sinkhole_malloc_counter_available(void) { return 0; }
void sinkhole_malloc_counter_start(void) {}
sinkhole_malloc_counts sinkhole_malloc_counter_stop(void) {
    sinkhole_malloc_counts counts = {0, 0};
    return counts;
}

#endif
