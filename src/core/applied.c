/*
 * applied.c: the node's clock values in flight, the applied clock (include/hyperspace.h,
 * "replication": hs_db_applied_clock, hs_db_wait_applied) and the directory of recent ticks that
 * the node-wide change reader follows (nodechanges.c).
 *
 * Every range of clock values handed out (hs_db_tick: an upsert or delete of n points, a create,
 * a drop; hs_db_clock_merge: a change a follower applies with its leader's clock;
 * hs_db_clock_raise: a restore's archive clock) is entered into db->ticks, a ring ordered by
 * first clock, with what it is for: the collection (catalog hash and creation clock) and the
 * kind.  Its owner ends it with hs_db_tick_done once the operation is applied (visible to change
 * readers: c->clock stored, the create published, the drop noted) or abandoned (anything that
 * failed after the tick: the record was never logged, or the log refused it).  The applied
 * clock is the last clock of the longest completed prefix of the ring: every operation at or
 * below it is applied or took no effect, and it never moves back.  With no tick in flight it is
 * the node clock, except after a merge, whose "+ 1" is no operation's (B2.7) and is not covered.
 *
 * The directory: the completed entries before the first one in flight stay in the ring as
 * history, at most HS_TICK_HISTORY of them; `dir_floor` is the clock up to which the history no
 * longer names every operation (entries removed from it, the node clock at open, a restore's
 * raise: the collections it brings hold clocks below it that no tick names).  A reader whose
 * position is at or above the floor learns from the history which collections changed after it
 * without looking at the catalog.
 *
 * Locking: db->clock_lock guards all of it (the innermost lock: taken under db->lock and a
 * collection's wlock, nothing taken inside it except node.json's write by a tick that crosses
 * the reservation, as before).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "util/error.h"
#include "util/log.h"

/* Completed entries kept as the directory (40 bytes each; with the entries in flight the ring
 * stays at 8,192 slots, 320 KiB).  A reader further behind reads the catalog instead. */
#define HS_TICK_HISTORY 8000

static hs_tick *at(const hs_db *db, size_t i)
{
    return &db->ticks[(db->tick_head + i) & (db->tick_cap - 1)];
}

int hs_ticks_init(hs_db *db)
{
    db->tick_cap = 256;
    db->ticks = calloc(db->tick_cap, sizeof(*db->ticks));
    if (!db->ticks)
        return HS_ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->applied_cv, &ca);
    pthread_condattr_destroy(&ca);
    db->applied = db->clock;
    db->dir_floor = db->clock;
    return HS_OK;
}

void hs_ticks_free(hs_db *db)
{
    free(db->ticks);
    db->ticks = NULL;
    pthread_cond_destroy(&db->applied_cv);
}

/* Room for one more entry (the ring doubles; clock_lock held). */
static int reserve_locked(hs_db *db)
{
    if (db->tick_len < db->tick_cap)
        return HS_OK;
    size_t cap = db->tick_cap * 2;
    hs_tick *t = malloc(cap * sizeof(*t));
    if (!t)
        return HS_ENOMEM;
    for (size_t i = 0; i < db->tick_len; i++)
        t[i] = *at(db, i);
    free(db->ticks);
    db->ticks = t;
    db->tick_cap = cap;
    db->tick_head = 0;
    return HS_OK;
}

/* Index of the first entry whose first clock is >= clock, among [lo, tick_len). */
static size_t lower_bound_locked(const hs_db *db, size_t lo, uint64_t clock)
{
    size_t hi = db->tick_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (at(db, mid)->first < clock)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Enters [first, first + n - 1] at its place by first clock (ticks go at the end; a merge may
 * come from a leader's clock below a local one). */
static void insert_locked(hs_db *db, const hs_tick *t)
{
    size_t i = db->tick_len;
    if (i > db->tick_busy && at(db, i - 1)->first > t->first)
        i = lower_bound_locked(db, db->tick_busy, t->first);
    for (size_t j = db->tick_len; j > i; j--)
        *at(db, j) = *at(db, j - 1);
    db->tick_len++;
    *at(db, i) = *t;
}

/* Moves the completed prefix into the history, the applied clock with it, and trims the
 * history.  Wakes waiters when the applied clock moved. */
static void advance_locked(hs_db *db)
{
    uint64_t before = db->applied;
    while (db->tick_busy < db->tick_len && at(db, db->tick_busy)->state != HS_TICK_FLIGHT) {
        const hs_tick *t = at(db, db->tick_busy);
        if (t->last > db->applied)
            db->applied = t->last;
        db->tick_busy++;
    }
    while (db->tick_busy > HS_TICK_HISTORY) {
        const hs_tick *t = at(db, 0);
        if (t->last > db->dir_floor)
            db->dir_floor = t->last;
        db->tick_head = (db->tick_head + 1) & (db->tick_cap - 1);
        db->tick_len--;
        db->tick_busy--;
    }
    if (db->applied != before && db->applied_waiters)
        pthread_cond_broadcast(&db->applied_cv);
}

int hs_ticks_enter_locked(hs_db *db, const centry *e, int kind, uint64_t first, uint64_t n)
{
    if (n == 0)
        return HS_OK;
    if (reserve_locked(db) != HS_OK)
        return HS_ENOMEM;
    hs_tick t = {first, first + n - 1, e ? e->hash : 0,
                 kind == HS_TICK_CREATE ? first : e ? e->created_clock : 0, (uint8_t)kind,
                 HS_TICK_FLIGHT};
    insert_locked(db, &t);
    return HS_OK;
}

void hs_db_tick_done(hs_db *db, uint64_t first, bool applied)
{
    pthread_mutex_lock(&db->clock_lock);
    size_t i = lower_bound_locked(db, db->tick_busy, first);
    if (i < db->tick_len && at(db, i)->first == first && at(db, i)->state == HS_TICK_FLIGHT) {
        hs_tick *t = at(db, i);
        t->state = applied ? HS_TICK_APPLIED : HS_TICK_ABANDONED;
        /* a restore's collections hold clocks up to its raise that no entry names */
        if (t->kind == HS_TICK_RAISE && t->last > db->dir_floor)
            db->dir_floor = t->last;
        advance_locked(db);
    } else {
        hs_log(HS_LOG_ERROR, "internal: clock %" PRIu64 " ended but not in flight", first);
    }
    pthread_mutex_unlock(&db->clock_lock);
}

uint64_t hs_db_applied_clock(hs_db *db)
{
    pthread_mutex_lock(&db->clock_lock);
    uint64_t w = db->applied;
    pthread_mutex_unlock(&db->clock_lock);
    return w;
}

uint64_t hs_db_wait_applied(hs_db *db, uint64_t after, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int ms = timeout_ms > 0 ? timeout_ms : 0;
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&db->clock_lock);
    db->applied_waiters++;
    while (db->applied <= after && timeout_ms > 0 &&
           pthread_cond_timedwait(&db->applied_cv, &db->clock_lock, &until) != ETIMEDOUT)
        ;
    db->applied_waiters--;
    uint64_t w = db->applied;
    pthread_mutex_unlock(&db->clock_lock);
    return w;
}

int hs_ticks_since(hs_db *db, uint64_t after, uint64_t upto, hs_tick **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&db->clock_lock);
    if (after < db->dir_floor) {
        pthread_mutex_unlock(&db->clock_lock);
        return HS_ERANGE;
    }
    /* the entries holding a clock in (after, upto]: from the last one starting at or below
     * after + 1 (it may hold later clocks of a batch) */
    size_t i = lower_bound_locked(db, 0, after + 1);
    if (i > 0 && at(db, i - 1)->last > after)
        i--;
    size_t j = i;
    while (j < db->tick_len && at(db, j)->first <= upto)
        j++;
    hs_tick *v = j > i ? malloc((j - i) * sizeof(*v)) : NULL;
    int rc = j > i && !v ? HS_ENOMEM : HS_OK;
    for (size_t k = i; v && k < j; k++)
        v[k - i] = *at(db, k);
    pthread_mutex_unlock(&db->clock_lock);
    if (rc == HS_OK) {
        *out = v;
        *n = j - i;
    }
    return rc;
}

void hs_ticks_forget(hs_db *db, uint64_t floor)
{
    pthread_mutex_lock(&db->clock_lock);
    db->tick_head = (db->tick_head + db->tick_busy) & (db->tick_cap - 1);
    db->tick_len -= db->tick_busy;
    db->tick_busy = 0;
    if (floor > db->dir_floor)
        db->dir_floor = floor;
    pthread_mutex_unlock(&db->clock_lock);
}
