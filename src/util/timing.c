/* timing.c: the observer of engine timings, installed once by the embedding program. */
#include <stddef.h>

#include "util/timing.h"

static hs_timing_fn observer;
static void *observer_ctx;

void hs_set_timing_observer(hs_timing_fn fn, void *ctx)
{
    __atomic_store_n(&observer_ctx, ctx, __ATOMIC_RELAXED);
    __atomic_store_n(&observer, fn, __ATOMIC_RELEASE);
}

void hs_timing_report(hs_timing what, double seconds)
{
    hs_timing_fn fn = __atomic_load_n(&observer, __ATOMIC_ACQUIRE);
    if (fn)
        fn(__atomic_load_n(&observer_ctx, __ATOMIC_RELAXED), what, seconds);
}
