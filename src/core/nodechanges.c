/*
 * nodechanges.c: the node-wide change reader (include/hyperspace.h, "replication":
 * hs_node_changes_*), what a leader streams to its followers: every change of every collection
 * after a position, in clock order, up to the applied clock.
 *
 * Rounds.  A round delivers every change with a clock in (pos, upto], upto being the applied
 * clock when the round starts (applied.c: every operation at or below it is applied or took no
 * effect, so no change of the round can still appear).  It starts from the candidates: the
 * collections that can hold a change in that range, each with a lower bound of its next change,
 * and the drops in it.  Candidates come from the directory of recent ticks when it reaches back
 * to pos (hs_ticks_since: the collections that took clocks in the range, without looking at
 * the catalog), otherwise from the catalog: every collection whose creation clock is at most
 * upto and whose last clock (the loaded collection's clock, or the catalog's) is above pos,
 * read from memory without loading anything.  Drops come from the drop notes (drops.c, kept
 * across restarts); a drop older than the notes' horizon is lost: HS_ETRUNCATED.
 *
 * Merge.  The candidates are a min-heap on their key: a lower bound, or the exact clock of the
 * change a collection reader holds (peeked).  The top is resolved: a drop is delivered; a
 * collection's reader (changes.c, following that incarnation from the position) is asked for
 * its next change, which becomes the exact key; an exact key on top is the smallest clock left
 * in the round and is delivered.  A change above upto stays peeked for a later round.  Changes
 * of an incarnation dropped before the reader reached them are not delivered (its drop is:
 * B11.6), and a collection reader's own DROP is ignored (the notes give it, once).
 *
 * Memory.  At most NODE_READERS collection readers are open; the least recently used one is
 * closed to make room, and a candidate whose reader was closed is reopened at its position
 * (the clock before its exact key, or pos).  A candidate takes 40 bytes, for the collections
 * changed in the round only.
 *
 * Locking: a reader is one thread's.  It takes db->lock to list the candidates and the drops
 * (no I/O under it) and clock_lock for the directory and the applied clock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/error.h"

#define NODE_READERS 32

typedef struct slot {
    hs_changes *rd; /* NULL: free */
    uint64_t hash, created;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    bool peek;    /* ch is the reader's next change, not delivered */
    hs_change ch; /* points into rd */
    uint64_t used;
} slot;

typedef struct cand {
    uint64_t key;    /* exact: the clock of the collection's next change; else a lower bound */
    uint64_t hash, created;
    uint32_t drop;   /* 0: a collection; i + 1: the round's drop i */
    bool exact;
} cand;

struct hs_node_changes {
    hs_db *db;
    bool same_history; /* HS_NODE_CHANGES_SAME_HISTORY: the kept horizon applies */
    uint64_t pos;  /* every change at or below it was delivered */
    uint64_t upto; /* the round's bound */
    bool round;
    cand *c;
    size_t nc, capc;
    uint32_t *heap;
    size_t nh;
    struct hs_drop_note *drops;
    size_t nd;
    slot slots[NODE_READERS];
    uint64_t uses;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1]; /* of the change delivered */
};

/* ---- the heap ----------------------------------------------------------------------------- */

static bool before(const hs_node_changes *r, uint32_t a, uint32_t b)
{
    const cand *x = &r->c[a], *y = &r->c[b];
    if (x->key != y->key)
        return x->key < y->key;
    return x->exact > y->exact; /* an exact key first: the other's change is above it */
}

static void sift_down(hs_node_changes *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->nh && before(r, r->heap[l], r->heap[m]))
            m = l;
        if (l + 1 < r->nh && before(r, r->heap[l + 1], r->heap[m]))
            m = l + 1;
        if (m == i)
            return;
        uint32_t t = r->heap[i];
        r->heap[i] = r->heap[m];
        r->heap[m] = t;
        i = m;
    }
}

static void heap_pop(hs_node_changes *r)
{
    r->heap[0] = r->heap[--r->nh];
    sift_down(r, 0);
}

/* ---- candidates ------------------------------------------------------------------------------ */

static int add_cand(hs_node_changes *r, uint64_t hash, uint64_t created, uint64_t key,
                    uint32_t drop, bool exact)
{
    if (r->nc == r->capc) {
        size_t cap = r->capc ? 2 * r->capc : 256;
        cand *c = realloc(r->c, cap * sizeof(*c));
        if (!c)
            return HS_ENOMEM;
        r->c = c;
        r->capc = cap;
    }
    r->c[r->nc++] = (cand){key, hash, created, drop, exact};
    return HS_OK;
}

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* From the directory: one candidate per collection that took clocks in (pos, upto], its key
 * the first of them.  HS_ERANGE when the directory does not reach back to pos. */
static int cands_from_ticks(hs_node_changes *r)
{
    hs_tick *t;
    size_t n;
    int rc = hs_ticks_since(r->db, r->pos, r->upto, &t, &n);
    if (rc != HS_OK)
        return rc;
    for (size_t i = 0; i < n && rc == HS_OK; i++) {
        if (t[i].state != HS_TICK_APPLIED || t[i].last <= r->pos || t[i].first > r->upto ||
            (t[i].kind != HS_TICK_WRITE && t[i].kind != HS_TICK_CREATE))
            continue; /* abandoned, outside, or a drop (the notes have them) */
        rc = add_cand(r, t[i].hash, t[i].created, HS_MAX(r->pos + 1, t[i].first), 0, false);
    }
    free(t);
    if (rc != HS_OK || r->nc < 2)
        return rc;
    qsort(r->c, r->nc, sizeof(*r->c), cmp_cand); /* one per collection: the smallest key */
    size_t k = 0;
    for (size_t i = 0; i < r->nc; i++)
        if (!k || r->c[i].hash != r->c[k - 1].hash || r->c[i].created != r->c[k - 1].created)
            r->c[k++] = r->c[i];
    r->nc = k;
    return HS_OK;
}

/* From the catalog: every collection whose clocks reach into (pos, upto].  db->lock held. */
static int cands_from_catalog_locked(hs_node_changes *r)
{
    for (centry *e = r->db->entries; e; e = e->next) {
        if (e->state == CE_CREATING || e->state == CE_DROPPED || e->state == CE_FAILED)
            continue;
        uint64_t last = e->state == CE_LOADED && e->coll
                            ? __atomic_load_n(&e->coll->clock, __ATOMIC_ACQUIRE)
                            : e->cold_clock;
        if (last <= r->pos || e->created_clock > r->upto)
            continue;
        int rc = add_cand(r, e->hash, e->created_clock, HS_MAX(r->pos + 1, e->created_clock), 0,
                          false);
        if (rc != HS_OK)
            return rc;
    }
    return HS_OK;
}

/* The drops noted with a clock in (pos, upto], each a candidate with its exact clock.
 * db->lock held. */
static int cands_from_drops_locked(hs_node_changes *r)
{
    hs_db *db = r->db;
    size_t kept = HS_MIN(db->ndrops, (size_t)HS_DROP_NOTES), n = 0;
    for (size_t i = 0; i < kept; i++)
        n += db->drops[i].dropped > r->pos && db->drops[i].dropped <= r->upto;
    free(r->drops);
    r->drops = n ? malloc(n * sizeof(*r->drops)) : NULL;
    r->nd = 0;
    if (n && !r->drops)
        return HS_ENOMEM;
    for (size_t i = 0; i < kept; i++) {
        const struct hs_drop_note *d = &db->drops[i];
        if (d->dropped <= r->pos || d->dropped > r->upto)
            continue;
        r->drops[r->nd] = *d;
        int rc = add_cand(r, 0, d->created, d->dropped, (uint32_t)++r->nd, true);
        if (rc != HS_OK)
            return rc;
    }
    return HS_OK;
}

static int drop_lost(hs_node_changes *r, uint64_t horizon, hs_error *err)
{
    hs_error_set(err, HS_ETRUNCATED, "A collection deleted after clock %" PRIu64 " is no longer "
                 "remembered (drops up to clock %" PRIu64 " are forgotten): start from a "
                 "snapshot", r->pos, horizon);
    if (err) {
        err->actual = r->pos;
        err->expected = horizon;
    }
    return hs_error_about(err, HS_ETRUNCATED, HS_FIELD_CLOCK, HS_REASON_RANGE);
}

/* Starts a round up to the applied clock: *idle when there is nothing after pos. */
static int start_round(hs_node_changes *r, bool *idle, hs_error *err)
{
    hs_db *db = r->db;
    r->upto = hs_db_applied_clock(db);
    *idle = r->pos >= r->upto;
    if (*idle)
        return HS_OK;
    r->nc = 0;
    int rc = cands_from_ticks(r);
    bool scan = rc == HS_ERANGE;
    if (scan)
        rc = HS_OK;
    pthread_mutex_lock(&db->lock);
    uint64_t horizon = r->same_history ? db->drop_kept_horizon : db->drop_horizon;
    if (rc == HS_OK && r->pos < horizon)
        rc = drop_lost(r, horizon, err);
    else if (rc == HS_OK && scan)
        rc = cands_from_catalog_locked(r);
    if (rc == HS_OK)
        rc = cands_from_drops_locked(r);
    pthread_mutex_unlock(&db->lock);
    if (rc == HS_ENOMEM)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    if (rc != HS_OK)
        return rc;
    uint32_t *h = realloc(r->heap, (r->nc ? r->nc : 1) * sizeof(*h));
    if (!h)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    r->heap = h;
    r->nh = r->nc;
    for (size_t i = 0; i < r->nc; i++)
        h[i] = (uint32_t)i;
    for (size_t i = r->nh / 2; i-- > 0;)
        sift_down(r, i);
    r->round = true;
    return HS_OK;
}

/* ---- collection readers ------------------------------------------------------------------ */

static slot *find_slot(hs_node_changes *r, uint64_t hash, uint64_t created)
{
    for (int i = 0; i < NODE_READERS; i++)
        if (r->slots[i].rd && r->slots[i].hash == hash && r->slots[i].created == created)
            return &r->slots[i];
    return NULL;
}

static void close_slot(slot *s)
{
    hs_changes_close(s->rd);
    s->rd = NULL;
    s->peek = false;
}

/* Opens a reader of incarnation (hash, created) after `after` in a free slot (the least
 * recently used one closed first): HS_ENOTFOUND when the incarnation is gone. */
static int open_slot(hs_node_changes *r, uint64_t hash, uint64_t created, uint64_t after,
                     slot **out, hs_error *err)
{
    slot *s = &r->slots[0];
    for (int i = 0; i < NODE_READERS && s->rd; i++)
        if (!r->slots[i].rd || r->slots[i].used < s->used)
            s = &r->slots[i];
    if (s->rd)
        close_slot(s); /* its peeked change is read again when its candidate comes up */
    pthread_mutex_lock(&r->db->lock);
    const centry *e = hs_cat_find_inc_locked(r->db, hash, created);
    bool there = e && e->state != CE_CREATING && e->state != CE_DROPPED;
    if (there) {
        memcpy(s->tenant, e->tenant, sizeof(s->tenant));
        memcpy(s->name, e->name, sizeof(s->name));
    }
    pthread_mutex_unlock(&r->db->lock);
    if (!there)
        return HS_ENOTFOUND;
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    o.after = after;
    int rc = hs_changes_open_inc(r->db, s->tenant, s->name, created, &o, &s->rd, err);
    if (rc != HS_OK)
        return rc;
    s->hash = hash;
    s->created = created;
    s->peek = false;
    s->used = ++r->uses;
    *out = s;
    return HS_OK;
}

/* Reads the next change of a collection into its slot: *gone when it has none left to give
 * (caught up, or the incarnation dropped or gone). */
static int peek(hs_node_changes *r, slot *s, bool *gone, hs_error *err)
{
    *gone = false;
    for (;;) {
        hs_change ch;
        int got = 0;
        int rc = hs_changes_next(s->rd, &ch, &got, err);
        if (rc == HS_ENOTFOUND) { /* dropped, its drop forgotten: nothing more to read */
            close_slot(s);
            *gone = true;
            return HS_OK;
        }
        if (rc != HS_OK)
            return rc;
        if (!got || ch.kind == HS_CHANGE_DROP) {
            if (got)
                close_slot(s); /* the notes deliver the drop */
            *gone = true;
            return HS_OK;
        }
        if (ch.clock <= r->pos)
            continue; /* delivered before (a reader reopened below its position) */
        s->ch = ch;
        s->peek = true;
        return HS_OK;
    }
}

/* ---- the reader ------------------------------------------------------------------------------ */

int hs_node_changes_open(hs_db *db, uint64_t after, hs_node_changes **out, hs_error *err)
{
    return hs_node_changes_open_ex(db, after, 0, out, err);
}

int hs_node_changes_open_ex(hs_db *db, uint64_t after, unsigned flags, hs_node_changes **out,
                            hs_error *err)
{
    *out = NULL;
    uint64_t now = hs_db_clock(db);
    if (after > now) {
        hs_error_set(err, HS_ERANGE, "Clock %" PRIu64 " is ahead of this node's clock %" PRIu64
                     ": it does not come from this node", after, now);
        if (err) {
            err->actual = after;
            err->expected = now;
        }
        return hs_error_about(err, HS_ERANGE, HS_FIELD_CLOCK, HS_REASON_RANGE);
    }
    hs_node_changes *r = calloc(1, sizeof(*r));
    if (!r)
        return hs_error_set(err, HS_ENOMEM, "Out of memory");
    r->db = db;
    r->pos = after;
    r->same_history = flags & HS_NODE_CHANGES_SAME_HISTORY;
    uint64_t horizon = hs_drops_horizon(db, r->same_history);
    if (after < horizon) {
        int rc = drop_lost(r, horizon, err);
        free(r);
        return rc;
    }
    *out = r;
    return HS_OK;
}

uint64_t hs_node_changes_position(const hs_node_changes *r) { return r->pos; }

void hs_node_changes_close(hs_node_changes *r)
{
    if (!r)
        return;
    for (int i = 0; i < NODE_READERS; i++)
        if (r->slots[i].rd)
            close_slot(&r->slots[i]);
    free(r->c);
    free(r->heap);
    free(r->drops);
    free(r);
}

/* Delivers the drop of candidate x. */
static void deliver_drop(hs_node_changes *r, const cand *x, hs_node_change *out)
{
    const struct hs_drop_note *d = &r->drops[x->drop - 1];
    memcpy(r->tenant, d->tenant, sizeof(r->tenant));
    memcpy(r->name, d->name, sizeof(r->name));
    memset(out, 0, sizeof(*out));
    out->tenant = r->tenant;
    out->name = r->name;
    out->change.kind = HS_CHANGE_DROP;
    out->change.clock = d->dropped;
    r->pos = d->dropped;
}

/* One step on the candidate on top: *got when a change was delivered. */
static int step(hs_node_changes *r, hs_node_change *out, int *got, hs_error *err)
{
    cand *x = &r->c[r->heap[0]];
    if (x->drop) {
        deliver_drop(r, x, out);
        heap_pop(r);
        *got = 1;
        return HS_OK;
    }
    slot *s = find_slot(r, x->hash, x->created);
    if (s && s->peek) {
        s->used = ++r->uses;
        uint64_t clock = s->ch.clock;
        if (clock > r->upto) {
            heap_pop(r); /* nothing more in this round: the change waits for a later one */
        } else if (x->exact && x->key == clock) {
            /* the smallest clock left in the round */
            memcpy(r->tenant, s->tenant, sizeof(r->tenant));
            memcpy(r->name, s->name, sizeof(r->name));
            out->tenant = r->tenant;
            out->name = r->name;
            out->change = s->ch;
            s->peek = false;
            r->pos = clock;
            x->exact = false;
            x->key = clock + 1;
            sift_down(r, 0);
            *got = 1;
        } else {
            x->key = clock;
            x->exact = true;
            sift_down(r, 0);
        }
        return HS_OK;
    }
    int rc = HS_OK;
    if (!s) {
        rc = open_slot(r, x->hash, x->created, x->exact ? x->key - 1 : r->pos, &s, err);
        if (rc == HS_ENOTFOUND) { /* dropped before the reader reached it */
            heap_pop(r);
            return HS_OK;
        }
        if (rc != HS_OK)
            return rc;
    }
    s->used = ++r->uses;
    bool gone;
    if ((rc = peek(r, s, &gone, err)) != HS_OK)
        return rc;
    if (gone)
        heap_pop(r);
    return HS_OK;
}

int hs_node_changes_next(hs_node_changes *r, hs_node_change *out, int *got, hs_error *err)
{
    *got = 0;
    bool started = false;
    for (;;) {
        if (!r->round) {
            if (started)
                return HS_OK;
            bool idle;
            int rc = start_round(r, &idle, err);
            if (rc != HS_OK || idle)
                return rc;
            started = true;
        }
        if (r->nh == 0) {
            r->pos = HS_MAX(r->pos, r->upto);
            r->round = false;
            continue;
        }
        int rc = step(r, out, got, err);
        if (rc != HS_OK || *got)
            return rc;
    }
}
