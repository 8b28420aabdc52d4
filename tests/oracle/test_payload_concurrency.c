/*
 * test_payload_concurrency.c: payload updates, upserts, deletes by filter, freezes and unfreezes
 * and reads at once on one collection (label concurrency: run under ThreadSanitizer by
 * `make test-tsan` and under AddressSanitizer by `make test-asan`).
 *
 * Each writer owns its ids, so the last write it had acknowledged for an id is what that id
 * must hold at the end; a write may only fail as HS_EFROZEN (and then changes nothing).  Readers
 * check that every point they see is whole: its metadata belongs to one write.  Afterwards, and
 * again after a reopen (log replay), every id holds exactly its last acknowledged write, the
 * collection is frozen or not as the last freeze said, and its vectors are those written.  The
 * run lasts a fixed number of operations: no assertion depends on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_test.h"
#include "hyperspace.h"
#include "storage/storage.h"

#define DIM 4
#define PER 60   /* ids per writer */
#define OPS 400  /* operations per writer */
#define FREEZE_EVERY 15 /* writes tried between two freezes or unfreezes */

static char root[64];
static hs_db *db;
static int failures;
static int done_writers; /* atomic */
static int acked[3], refused[3]; /* per writer (each written by its writer only) */
static int progress;             /* writes tried by all writers (atomic) */

/* After each write: counts it and lets the other threads run. */
static void step(void)
{
    __atomic_fetch_add(&progress, 1, __ATOMIC_RELEASE);
    sched_yield();
}

/* the last acknowledged state of each id: writer 0 upserts ("u" = k), writer 1 merges ("p" =
 * k) into the base ("b" = id), writer 2 merges ("q" = k) through a filter on its ids' "g" */
static int64_t last_u[PER], last_p[PER], last_q[PER];

static void failed(const char *what, const hs_error *err)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 10)
        fprintf(stderr, "%s failed: %s\n", what, err ? err->message : "");
}

static void vec_of(uint64_t id, double *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] = (double)((id * 13 + (uint64_t)d * 5) % 31) + 0.5;
}

static hs_collection *coll(void)
{
    hs_collection *h = NULL;
    hs_error err;
    if (hs_collection_open(db, "t", "c", &h, &err) != HS_OK)
        failed("open", &err);
    return h;
}

static void upsert_one(hs_collection *h, uint64_t id, const char *key, int64_t v,
                       const char *group, hs_error *err, int *rc)
{
    double vec[DIM];
    vec_of(id, vec);
    hs_value val = {.type = HS_VALUE_INT, .i = v};
    hs_kv kv[2] = {{key, strlen(key), NULL, 0, &val}, {"g", 1, group, strlen(group), NULL}};
    hs_point p = {id, vec, DIM, kv, 2};
    *rc = hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, err);
}

static void *writer_upsert(void *arg)
{
    (void)arg;
    hs_collection *h = coll();
    uint64_t seed = 17;
    for (int64_t k = 1; h && k <= OPS; k++) {
        uint64_t i = hs_test_xorshift(&seed) % PER;
        hs_error err;
        int rc;
        upsert_one(h, i, "u", k, "w0", &err, &rc);
        if (rc == HS_OK)
            last_u[i] = k;
        else if (rc != HS_EFROZEN)
            failed("upsert", &err);
        acked[0] += rc == HS_OK;
        refused[0] += rc == HS_EFROZEN;
        step();
    }
    hs_collection_close(h);
    __atomic_fetch_add(&done_writers, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *writer_payload(void *arg)
{
    (void)arg;
    hs_collection *h = coll();
    uint64_t seed = 29;
    for (int64_t k = 1; h && k <= OPS; k++) {
        uint64_t x = hs_test_xorshift(&seed) % PER;
        uint64_t ids[3] = {PER + x, PER + (x + 1) % PER, PER + (x + 2) % PER}; /* distinct */
        hs_value val = {.type = HS_VALUE_INT, .i = k};
        hs_kv kv[1] = {{"p", 1, NULL, 0, &val}};
        hs_payload_opts o;
        hs_payload_opts_init(&o);
        o.meta = kv;
        o.nmeta = 1;
        o.ids = ids;
        o.nids = 3;
        o.durability = k % 2 ? HS_DURABILITY_BATCH : HS_DURABILITY_ASYNC;
        hs_payload_result r;
        hs_error err;
        int rc = hs_update_payload(h, &o, &r, &err);
        if (rc == HS_OK && r.updated == 3 && r.missing == 0) {
            for (int j = 0; j < 3; j++)
                last_p[ids[j] - PER] = k;
        } else if (rc == HS_OK) {
            failed("payload count", NULL);
        } else if (rc != HS_EFROZEN) {
            failed("payload", &err);
        }
        acked[1] += rc == HS_OK;
        refused[1] += rc == HS_EFROZEN;
        step();
    }
    hs_collection_close(h);
    __atomic_fetch_add(&done_writers, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The ids [lo, hi) (ctx: a range). */
typedef struct range {
    uint64_t lo, hi;
} range;

static int in_range(void *ctx, const hs_point_view *p)
{
    const range *g = ctx;
    return p->id >= g->lo && p->id < g->hi;
}

static void *writer_filter(void *arg)
{
    (void)arg;
    hs_collection *h = coll();
    uint64_t seed = 43;
    for (int64_t k = 1; h && k <= OPS / 4; k++) {
        uint64_t lo = 2 * PER + hs_test_xorshift(&seed) % (PER - 5);
        range g = {lo, lo + 5};
        hs_value val = {.type = HS_VALUE_INT, .i = k};
        hs_kv kv[1] = {{"q", 1, NULL, 0, &val}};
        hs_payload_opts o;
        hs_payload_opts_init(&o);
        o.meta = kv;
        o.nmeta = 1;
        o.accept = in_range;
        o.accept_ctx = &g;
        o.max_points = 5;
        hs_payload_result r;
        hs_error err;
        int rc = hs_update_payload(h, &o, &r, &err);
        if (rc == HS_OK && r.updated == 5) {
            for (uint64_t i = lo; i < lo + 5; i++)
                last_q[i - 2 * PER] = k;
        } else if (rc == HS_OK) {
            failed("filter payload count", NULL);
        } else if (rc != HS_EFROZEN) {
            failed("filter payload", &err);
        }
        acked[2] += rc == HS_OK;
        refused[2] += rc == HS_EFROZEN;
        step();
    }
    hs_collection_close(h);
    __atomic_fetch_add(&done_writers, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int last_frozen; /* written by the freezer only, read after it is joined */

/* Freezes and unfreezes in turn, each time after the writers have tried a few more writes, so
 * that every writer meets both states (the order is the scheduler's; no check depends on it). */
static void *freezer(void *arg)
{
    (void)arg;
    int seen = 0;
    for (int i = 0; __atomic_load_n(&done_writers, __ATOMIC_ACQUIRE) < 3; i++) {
        while (__atomic_load_n(&progress, __ATOMIC_ACQUIRE) < seen + FREEZE_EVERY &&
               __atomic_load_n(&done_writers, __ATOMIC_ACQUIRE) < 3)
            sched_yield();
        seen = __atomic_load_n(&progress, __ATOMIC_ACQUIRE);
        hs_error err;
        int want = i % 2 == 0;
        if (hs_collection_freeze(db, "t", "c", want, &err) != HS_OK)
            failed("freeze", &err);
        last_frozen = want;
    }
    return NULL;
}

/* A point's metadata as (key, integer or -1 for a string) pairs, at most 8. */
typedef struct entries {
    char key[8][4];
    int64_t val[8];
    char group[8];
    int n;
} entries;

static int note_entry(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    entries *e = ctx;
    if (e->n == 8 || kl > 3)
        return 1;
    memcpy(e->key[e->n], k, kl);
    e->key[e->n][kl] = 0;
    e->val[e->n] = v->type == HS_VALUE_INT ? v->i : -1;
    if (!strcmp(e->key[e->n], "g") && v->type == HS_VALUE_STRING && v->len < sizeof(e->group)) {
        memcpy(e->group, v->str, v->len);
        e->group[v->len] = 0;
    }
    e->n++;
    return 0;
}

static int64_t value_of(const entries *e, const char *key)
{
    for (int i = 0; i < e->n; i++)
        if (!strcmp(e->key[i], key))
            return e->val[i];
    return -2;
}

/* Whether a point is whole: its vector is its id's, its group its writer's, and its keys those
 * of one write: an upsert of writer 0 ("u", "g"), or the base ("b", "g") with what writer 1
 * ("p") or writer 2 ("q") merged into it. */
static bool whole(const hs_point_view *p, entries *e)
{
    memset(e, 0, sizeof(*e));
    if (hs_meta_each_typed(p, note_entry, e) != 0)
        return false;
    double v[DIM];
    vec_of(p->id, v);
    for (int d = 0; p->vector && d < DIM; d++)
        if ((float)v[d] != (float)p->vector[d])
            return false;
    int w = (int)(p->id / PER);
    char g[4];
    snprintf(g, sizeof(g), "w%d", w);
    if (strcmp(e->group, g))
        return false;
    bool upserted = value_of(e, "u") >= 1;
    int extra = (value_of(e, "p") >= 1) + (value_of(e, "q") >= 1);
    if (upserted)
        return w == 0 && e->n == 2;
    if (value_of(e, "b") != (int64_t)p->id)
        return false;
    return e->n == 2 + extra && (w != 0 || extra == 0) && (w != 1 || value_of(e, "q") == -2) &&
           (w != 2 || value_of(e, "p") == -2);
}

static int check_point(void *ctx, const hs_point_view *p)
{
    (void)ctx;
    entries e;
    if (!whole(p, &e))
        failed("a point seen is not whole", NULL);
    return 0;
}

static void *reader(void *arg)
{
    (void)arg;
    hs_collection *h = coll();
    while (h && __atomic_load_n(&done_writers, __ATOMIC_ACQUIRE) < 3) {
        hs_read_opts o;
        hs_read_opts_init(&o);
        o.limit = 1000;
        o.with_vector = 1;
        hs_error err;
        if (hs_read(h, &o, check_point, NULL, NULL, &err) != HS_OK)
            failed("scroll", &err);
    }
    hs_collection_close(h);
    return NULL;
}

/* Every id holds its last acknowledged write. */
typedef struct final_check {
    int seen[3 * PER];
} final_check;

static int check_final(void *ctx, const hs_point_view *p)
{
    final_check *fc = ctx;
    entries e;
    if (p->id >= 3 * PER || !whole(p, &e)) {
        failed("final: a point is not whole", NULL);
        return 0;
    }
    fc->seen[p->id]++;
    uint64_t i = p->id % PER;
    bool ok;
    switch (p->id / PER) {
    case 0:
        ok = last_u[i] ? value_of(&e, "u") == last_u[i] : value_of(&e, "b") == (int64_t)p->id;
        break;
    case 1:
        ok = value_of(&e, "p") == (last_p[i] ? last_p[i] : -2);
        break;
    default:
        ok = value_of(&e, "q") == (last_q[i] ? last_q[i] : -2);
        break;
    }
    if (!ok) {
        fprintf(stderr, "id %llu: u %lld p %lld q %lld, acknowledged u %lld p %lld q %lld\n",
                (unsigned long long)p->id, (long long)value_of(&e, "u"),
                (long long)value_of(&e, "p"), (long long)value_of(&e, "q"),
                (long long)last_u[i], (long long)last_p[i], (long long)last_q[i]);
        failed("final: a point does not hold its last acknowledged write", NULL);
    }
    return 0;
}

static void check_all(void)
{
    hs_collection *h = coll();
    final_check fc;
    memset(&fc, 0, sizeof(fc));
    hs_read_opts o;
    hs_read_opts_init(&o);
    o.limit = 3 * PER;
    o.with_vector = 1;
    hs_error err;
    assert_int_equal(hs_read(h, &o, check_final, &fc, NULL, &err), HS_OK);
    for (int i = 0; i < 3 * PER; i++)
        assert_int_equal(fc.seen[i], 1);
    hs_collection_close(h);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "t", "c", &st, &err), HS_OK);
    assert_int_equal(st.frozen, last_frozen);
    assert_int_equal(st.count, 3 * PER);
    assert_int_equal(failures, 0);
}

static void test_concurrent_updates_and_freezes(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "payconc"), 0);
    hs_db_opts opts;
    hs_db_opts_init(&opts);
    hs_error err;
    assert_int_equal(hs_db_open(root, &opts, &db, &err), HS_OK);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = DIM;
    cfg.metric = HS_METRIC_L2;
    assert_int_equal(hs_collection_create(db, "t", "c", &cfg, &err), HS_OK);
    hs_collection *h = coll();
    for (uint64_t id = 0; id < 3 * PER; id++) {
        char g[4];
        snprintf(g, sizeof(g), "w%d", (int)(id / PER));
        int rc;
        upsert_one(h, id, "b", (int64_t)id, g, &err, &rc);
        assert_int_equal(rc, HS_OK);
    }
    hs_collection_close(h);
    pthread_t t[5];
    void *(*fn[5])(void *) = {writer_upsert, writer_payload, writer_filter, freezer, reader};
    for (int i = 0; i < 5; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn[i], NULL), 0);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    for (int w = 0; w < 3; w++) {
        printf("writer %d: %d acknowledged, %d refused as frozen\n", w, acked[w], refused[w]);
        assert_true(acked[w] + refused[w] == (w == 2 ? OPS / 4 : OPS));
    }
    check_all();
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    assert_int_equal(hs_db_open(root, &opts, &db, &err), HS_OK); /* the log replayed */
    check_all();
    assert_int_equal(hs_db_close(db, &err), HS_OK);
    hs_remove_tree(hs_io_posix(), root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_updates_and_freezes),
    };
    return cmocka_run_group_tests_name("payload_concurrency", tests, NULL, NULL);
}
