// Counts the process's heap allocations while asked to, for sinkhole-bench's allocation
// benchmark. See MallocCounter.c for how and why it is safe.
#ifndef SINKHOLE_MALLOC_COUNTER_H
#define SINKHOLE_MALLOC_COUNTER_H

#include <stdint.h>

/// The counts since the last `sinkhole_malloc_counter_start`.
typedef struct {
    /// malloc, calloc, realloc, memalign, posix_memalign and aligned_alloc calls.
    int64_t allocations;
    /// free calls with a non-null pointer, and realloc(p, 0) with a non-null p.
    int64_t frees;
} sinkhole_malloc_counts;

/// 1 when this build replaces malloc (glibc), 0 where the counts stay at zero (elsewhere).
int sinkhole_malloc_counter_available(void);
/// Zeroes the counts and starts counting the calling thread's allocations (only its own).
void sinkhole_malloc_counter_start(void);
/// Stops counting and returns the counts; call it on the thread that started counting.
sinkhole_malloc_counts sinkhole_malloc_counter_stop(void);

#endif
