/*
 * events.c: the wake-ups of the change stream's readers (gRPC SubscribeToEvents, HTTP
 * /events): a generation counter that moves on every change the engine applies (its change
 * observer) and on every poke (a sent message, a client leaving, shutdown), and a wait for it
 * to move.  Readers remember the generation before they look for changes and wait only if it
 * has not moved since, so no change between the look and the wait is missed.
 *
 * The observer runs on writing threads with the collection's writer lock held: it increments
 * the counter and takes the mutex only when someone waits.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* Changes of other tenants (or kinds) a node-wide reader passes over in one call. */
#define NODE_SKIP_MAX 4096

static uint64_t gen;      /* atomic */
static int waiters;       /* atomic */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv; /* CLOCK_MONOTONIC */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_cv(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    pthread_condattr_destroy(&a);
}

void hs_events_poke(void)
{
    __atomic_add_fetch(&gen, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&waiters, __ATOMIC_SEQ_CST)) {
        pthread_once(&once, init_cv);
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

/* Which collections changed since a reader last took the set: one bit per hash of (tenant,
 * name) in HS_EVENTS_KEYS bits (a collision only costs a look that finds nothing). */
static uint64_t dirty[HS_EVENTS_KEYS / 64]; /* atomic words */

unsigned hs_events_key(const char *tenant, const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = tenant; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return (h ^ h >> 16) % HS_EVENTS_KEYS;
}

void hs_events_take_dirty(uint64_t out[HS_EVENTS_KEYS / 64])
{
    for (size_t i = 0; i < HS_EVENTS_KEYS / 64; i++)
        out[i] = __atomic_exchange_n(&dirty[i], 0, __ATOMIC_SEQ_CST);
}

static void on_change(void *ctx, const char *tenant, const char *name, uint64_t clock)
{
    (void)ctx;
    (void)clock;
    unsigned k = hs_events_key(tenant, name);
    __atomic_fetch_or(&dirty[k / 64], 1ull << (k % 64), __ATOMIC_SEQ_CST);
    hs_events_poke();
}

static bool observing; /* atomic: without the observer no change would end a wait */

void hs_events_observe(hs_db *db)
{
    hs_db_set_change_observer(db, on_change, NULL);
    __atomic_store_n(&observing, true, __ATOMIC_RELEASE);
}

uint64_t hs_events_gen(void) { return __atomic_load_n(&gen, __ATOMIC_SEQ_CST); }

bool hs_events_observed(void) { return __atomic_load_n(&observing, __ATOMIC_ACQUIRE); }

bool hs_events_wait(uint64_t seen, int timeout_ms)
{
    pthread_once(&once, init_cv);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    __atomic_add_fetch(&waiters, 1, __ATOMIC_SEQ_CST);
    int rc = 0;
    while (__atomic_load_n(&gen, __ATOMIC_SEQ_CST) == seen && rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &ts);
    __atomic_sub_fetch(&waiters, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&mu);
    return __atomic_load_n(&gen, __ATOMIC_SEQ_CST) != seen;
}

/* ---- opening a reader (both transports) ----------------------------------------------------- */

int hs_op_events_fail(const char *name, int rc, const hs_error *err, hs_fail *f)
{
    hs_error e = *err;
    if (rc == HS_ENOTFOUND && !e.name[0])
        snprintf(e.name, sizeof(e.name), "%.64s", name);
    return hs_fail_from_engine(f, rc, &e);
}

int hs_op_events_open(const char *tenant, const hs_op_events_req *q, hs_changes **out,
                      hs_fail *f)
{
    *out = NULL;
    const char *name = *q->collection ? q->collection : "default";
    hs_error err;
    int rc = hs_name_check(HS_FIELD_COLLECTION, name, &err);
    if (rc)
        return hs_fail_from_engine(f, rc, &err);
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    o.kinds = q->kinds;
    o.from_now = !q->has_after;
    o.after = q->after;
    memset(&err, 0, sizeof(err));
    rc = hs_changes_open(g_srv.db, tenant, name, &o, out, &err);
    return rc ? hs_op_events_fail(name, rc, &err, f) : 0;
}

/* ---- the node-wide stream: every collection of one tenant (both transports) ----------------- */

int hs_op_node_events_open(const hs_op_events_req *q, hs_node_changes **out, hs_fail *f)
{
    *out = NULL;
    hs_error err;
    memset(&err, 0, sizeof(err));
    uint64_t after = q->has_after ? q->after : hs_db_applied_clock(g_srv.db);
    int rc = hs_node_changes_open(g_srv.db, after, out, &err);
    return rc ? hs_fail_from_engine(f, rc, &err) : 0;
}

int hs_op_node_events_next(hs_node_changes *r, const char *tenant, unsigned kinds,
                           hs_node_change *out, int *got, hs_fail *f)
{
    for (int skipped = 0; skipped < NODE_SKIP_MAX; skipped++) {
        hs_error err;
        memset(&err, 0, sizeof(err));
        int rc = hs_node_changes_next(r, out, got, &err);
        if (rc)
            return hs_fail_from_engine(f, rc, &err);
        if (!*got)
            return 0;
        if (!strcmp(out->tenant, tenant) && (!kinds || (kinds >> out->change.kind & 1)))
            return 0;
    }
    *got = -1; /* only other tenants' changes so far: the caller comes back at once */
    return 0;
}
