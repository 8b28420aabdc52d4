/*
 * test_changes.c: the change stream of the engine (hs_changes_*) on real files: every kind of
 * change in log order with its clock, vector and metadata; resuming after any clock (inside a
 * batch too) sees each later change once; the kinds filter; a clock ahead of the node; the log
 * floor after checkpoints with and without retention (a reader caught up before a checkpoint
 * continues, one behind the floor gets HS_ETRUNCATED naming it, retention lets it resume);
 * cold collections, a restart, and a drop seen by an open reader; and a reader following
 * writer threads and checkpoints as they run (label concurrency: also under TSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperspace.h"
#include "hs_test.h"
#include "storage/storage.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "changes"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static hs_db *open_db(uint64_t retain)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.wal_segment_bytes = 16 << 10; /* several segments per test */
    o.checkpoint_min_log_bytes = 0;
    o.wal_retain_bytes = retain;
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static void create(hs_db *db, const char *name, hs_metric metric)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 3;
    c.metric = metric;
    hs_error err;
    if (hs_collection_create(db, "t", name, &c, &err) != HS_OK)
        fail_msg("create: %s", err.message);
}

static hs_collection *coll(hs_db *db, const char *name)
{
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", name, &h, NULL), HS_OK);
    return h;
}

/* Upserts ids [from, to) in batches of `batch`, point id with vector (id, 0.5, -id/8) and
 * metadata {"n": id (integer), "s": "v<id>"}. */
static void upsert(hs_collection *h, uint64_t from, uint64_t to, size_t batch)
{
    hs_point p[64];
    double v[64][3];
    hs_value val[64];
    char str[64][16];
    hs_kv kv[64][2];
    size_t n = 0;
    assert_true(batch <= 64);
    for (uint64_t id = from; id < to; id++) {
        v[n][0] = (double)id;
        v[n][1] = 0.5;
        v[n][2] = -(double)id / 8;
        val[n] = (hs_value){.type = HS_VALUE_INT, .i = (int64_t)id};
        snprintf(str[n], sizeof(str[n]), "v%u", (unsigned)id);
        kv[n][0] = (hs_kv){"n", 1, NULL, 0, &val[n]};
        kv[n][1] = (hs_kv){"s", 1, str[n], strlen(str[n]), NULL};
        p[n] = (hs_point){id, v[n], 3, kv[n], 2};
        if (++n == batch || id + 1 == to) {
            hs_error err;
            if (hs_upsert(h, p, n, HS_DURABILITY_ASYNC, &err) != HS_OK)
                fail_msg("upsert: %s", err.message);
            n = 0;
        }
    }
}

typedef struct meta_seen {
    int64_t n;
    char s[16];
    int entries;
} meta_seen;

static int on_meta(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    meta_seen *m = ctx;
    m->entries++;
    if (kl == 1 && k[0] == 'n' && v->type == HS_VALUE_INT)
        m->n = v->i;
    if (kl == 1 && k[0] == 's' && v->type == HS_VALUE_STRING)
        snprintf(m->s, sizeof(m->s), "%.*s", (int)v->len, v->str);
    return 0;
}

/* Reads every change available: kinds, clocks and ids into the arrays (cap entries). */
typedef struct seen {
    hs_change_kind kind[4096];
    uint64_t clock[4096], id[4096];
    size_t n;
} seen;

static hs_collection_config created_config; /* of the last CREATE change drained */

static int drain(hs_changes *r, seen *s, hs_error *err)
{
    for (;;) {
        hs_change c;
        int got;
        int rc = hs_changes_next(r, &c, &got, err);
        if (rc != HS_OK || !got)
            return rc;
        assert_true(s->n < 4096);
        if (s->n)
            assert_true(c.clock > s->clock[s->n - 1]); /* strictly increasing */
        if (c.kind == HS_CHANGE_CREATE)
            created_config = c.config;
        s->kind[s->n] = c.kind;
        s->clock[s->n] = c.clock;
        s->id[s->n] = c.point.id;
        if (c.kind == HS_CHANGE_UPSERT) {
            /* the stored vector and the typed metadata, as written */
            assert_non_null(c.point.vector);
            assert_int_equal(c.point.dim, 3);
            assert_true(c.point.vector[0] == (double)c.point.id);
            assert_true(c.point.vector[1] == 0.5);
            assert_true(c.point.vector[2] == -(double)c.point.id / 8);
            meta_seen m = {-1, "", 0};
            hs_meta_each_typed(&c.point, on_meta, &m);
            char want[16];
            snprintf(want, sizeof(want), "v%u", (unsigned)c.point.id);
            assert_int_equal(m.entries, 2);
            assert_int_equal(m.n, (int64_t)c.point.id);
            assert_string_equal(m.s, want);
        }
        s->n++;
    }
}

static hs_changes *reader(hs_db *db, const char *name, uint64_t after)
{
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    o.after = after;
    hs_changes *r;
    hs_error err;
    if (hs_changes_open(db, "t", name, &o, &r, &err) != HS_OK)
        fail_msg("open reader: %s", err.message);
    return r;
}

static void test_every_change_in_order(void **state)
{
    (void)state;
    hs_db *db = open_db(0);
    create(db, "a", HS_METRIC_L2);
    hs_collection *h = coll(db, "a");
    upsert(h, 0, 10, 4);
    uint64_t del[] = {3, 7, 99};
    size_t deleted;
    assert_int_equal(hs_delete(h, del, 3, HS_DURABILITY_ASYNC, &deleted, NULL), HS_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(hs_collection_configure(h, 50, 0, NULL), HS_OK); /* not a change */
    upsert(h, 3, 4, 1);
    seen *s = calloc(1, sizeof(*s));
    hs_changes *r = reader(db, "a", 0);
    assert_int_equal(drain(r, s, NULL), HS_OK);
    assert_int_equal(s->n, 1 + 10 + 2 + 1);
    assert_int_equal(s->kind[0], HS_CHANGE_CREATE);
    assert_int_equal(created_config.ef_search, 0); /* as created, not as configured since */
    assert_int_equal(created_config.dimension, 3);
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(s->kind[1 + i], HS_CHANGE_UPSERT);
        assert_int_equal(s->id[1 + i], i);
        assert_int_equal(s->clock[1 + i], s->clock[1] + i); /* a batch takes consecutive clocks */
    }
    assert_int_equal(s->kind[11], HS_CHANGE_DELETE);
    assert_int_equal(s->id[11], 3);
    assert_int_equal(s->kind[12], HS_CHANGE_DELETE);
    assert_int_equal(s->id[12], 7);
    assert_int_equal(s->kind[13], HS_CHANGE_UPSERT);
    assert_int_equal(s->id[13], 3);
    assert_int_equal(s->clock[13], hs_db_clock(db));
    assert_int_equal(hs_changes_position(r), hs_db_clock(db));
    /* caught up: nothing more until the next write, which it then sees */
    size_t before = s->n;
    assert_int_equal(drain(r, s, NULL), HS_OK);
    assert_int_equal(s->n, before);
    upsert(h, 20, 21, 1);
    assert_int_equal(drain(r, s, NULL), HS_OK);
    assert_int_equal(s->n, before + 1);
    assert_int_equal(s->id[before], 20);
    hs_changes_close(r);

    /* resuming after any clock, inside a batch too, gives exactly the later changes */
    for (size_t k = 0; k < s->n; k++) {
        seen *t = calloc(1, sizeof(*t));
        r = reader(db, "a", s->clock[k]);
        assert_int_equal(drain(r, t, NULL), HS_OK);
        assert_int_equal(t->n, s->n - k - 1);
        for (size_t j = 0; j < t->n; j++) {
            assert_int_equal(t->clock[j], s->clock[k + 1 + j]);
            assert_int_equal(t->id[j], s->id[k + 1 + j]);
        }
        hs_changes_close(r);
        free(t);
    }
    /* from now: only what is applied after the open */
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    o.from_now = 1;
    assert_int_equal(hs_changes_open(db, "t", "a", &o, &r, NULL), HS_OK);
    memset(s, 0, sizeof(*s));
    assert_int_equal(drain(r, s, NULL), HS_OK);
    assert_int_equal(s->n, 0);
    upsert(h, 30, 32, 2);
    assert_int_equal(drain(r, s, NULL), HS_OK);
    assert_int_equal(s->n, 2);
    assert_int_equal(s->id[0], 30);
    hs_changes_close(r);
    free(s);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_kinds_and_bad_positions(void **state)
{
    (void)state;
    hs_db *db = open_db(0);
    create(db, "k", HS_METRIC_POINCARE);
    hs_collection *h = coll(db, "k");
    hs_point p = {5, (double[]){0.1, 0.2, 0.3}, 3, NULL, 0};
    assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
    uint64_t id = 5;
    assert_int_equal(hs_delete(h, &id, 1, HS_DURABILITY_ASYNC, NULL, NULL), HS_OK);
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    o.kinds = 1u << HS_CHANGE_DELETE;
    hs_changes *r;
    assert_int_equal(hs_changes_open(db, "t", "k", &o, &r, NULL), HS_OK);
    hs_change c;
    int got;
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
    assert_true(got && c.kind == HS_CHANGE_DELETE && c.point.id == 5);
    assert_int_equal(c.clock, hs_db_clock(db));
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
    assert_false(got);
    hs_changes_close(r);
    /* a float64 collection's vector, without metadata */
    hs_changes_opts_init(&o);
    o.kinds = 1u << HS_CHANGE_UPSERT;
    assert_int_equal(hs_changes_open(db, "t", "k", &o, &r, NULL), HS_OK);
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
    assert_true(got && c.kind == HS_CHANGE_UPSERT && c.point.meta == NULL);
    assert_true(c.point.vector[0] == 0.1 && c.point.vector[2] == 0.3);
    hs_changes_close(r);
    /* a clock this node has not reached, an unknown collection, a bad name */
    hs_error err;
    hs_changes_opts_init(&o);
    o.after = hs_db_clock(db) + 1;
    assert_int_equal(hs_changes_open(db, "t", "k", &o, &r, &err), HS_ERANGE);
    assert_int_equal(err.field, HS_FIELD_CLOCK);
    assert_int_equal(err.actual, o.after);
    assert_int_equal(err.expected, hs_db_clock(db));
    assert_int_equal(hs_changes_open(db, "t", "nope", NULL, &r, &err), HS_ENOTFOUND);
    assert_int_equal(hs_changes_open(db, "t", "../x", NULL, &r, &err), HS_ENAME);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

/* The key case of retention 0: a reader caught up before a checkpoint goes on after it, even
 * when other collections took clocks in between; one behind the floor is told where it is. */
static void test_floor_without_retention(void **state)
{
    (void)state;
    hs_db *db = open_db(0);
    create(db, "f", HS_METRIC_L2);
    create(db, "other", HS_METRIC_L2);
    hs_collection *h = coll(db, "f"), *o = coll(db, "other");
    upsert(h, 0, 300, 16); /* several 16 KiB segments */
    seen *s = calloc(1, sizeof(*s));
    hs_changes *live = reader(db, "f", 0);
    assert_int_equal(drain(live, s, NULL), HS_OK);
    assert_int_equal(s->n, 301);
    uint64_t caught_up = hs_changes_position(live);
    assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    upsert(o, 0, 5, 5); /* clocks taken elsewhere: the next change of f is not caught_up + 1 */
    upsert(h, 1000, 1003, 3);
    size_t before = s->n;
    assert_int_equal(drain(live, s, NULL), HS_OK);
    assert_int_equal(s->n, before + 3);
    assert_int_equal(s->id[before], 1000);
    hs_changes_close(live);
    /* reopened at the caught-up position: the same three */
    seen *t = calloc(1, sizeof(*t));
    hs_changes *r = reader(db, "f", caught_up);
    assert_int_equal(drain(r, t, NULL), HS_OK);
    assert_int_equal(t->n, 3);
    hs_changes_close(r);
    /* behind the floor (the checkpoint removed what followed clock 10) */
    hs_error err;
    hs_changes_opts opts;
    hs_changes_opts_init(&opts);
    opts.after = 10;
    assert_int_equal(hs_changes_open(db, "t", "f", &opts, &r, &err), HS_ETRUNCATED);
    assert_int_equal(err.field, HS_FIELD_CLOCK);
    assert_int_equal(err.actual, 10);
    assert_int_equal(err.expected, caught_up);
    /* after a restart: the close checkpointed the three as well, and the floor is in the
     * checkpoint */
    uint64_t last = t->clock[2];
    hs_collection_close(h);
    hs_collection_close(o);
    hs_db_close(db, NULL);
    db = open_db(0);
    assert_int_equal(hs_changes_open(db, "t", "f", &opts, &r, &err), HS_ETRUNCATED);
    assert_int_equal(err.expected, last);
    opts.after = caught_up;
    assert_int_equal(hs_changes_open(db, "t", "f", &opts, &r, &err), HS_ETRUNCATED);
    memset(t, 0, sizeof(*t));
    r = reader(db, "f", last);
    assert_int_equal(drain(r, t, NULL), HS_OK);
    assert_int_equal(t->n, 0);
    h = coll(db, "f");
    upsert(h, 2000, 2001, 1);
    assert_int_equal(drain(r, t, NULL), HS_OK);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->id[0], 2000);
    hs_changes_close(r);
    hs_collection_close(h);
    free(t);
    free(s);
    hs_db_close(db, NULL);
}

/* A reader that falls behind while it reads gets HS_ETRUNCATED; with retention it does not. */
static void run_behind(uint64_t retain, int expect)
{
    hs_db *db = open_db(retain);
    create(db, "b", HS_METRIC_L2);
    hs_collection *h = coll(db, "b");
    upsert(h, 0, 200, 16);
    hs_changes *r = reader(db, "b", 0);
    hs_change c;
    int got;
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK); /* CREATE */
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK); /* point 0 */
    assert_int_equal(c.point.id, 0);
    hs_changes_next(r, &c, &got, NULL);
    upsert(h, 200, 400, 16);
    assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    upsert(h, 400, 401, 1);
    assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    seen *s = calloc(1, sizeof(*s));
    hs_error err;
    int rc = drain(r, s, &err);
    assert_int_equal(rc, expect);
    if (expect == HS_OK) {
        assert_int_equal(s->n, 399);
        assert_int_equal(s->id[398], 400);
    } else {
        assert_int_equal(err.field, HS_FIELD_CLOCK);
        assert_true(err.expected > err.actual);
    }
    hs_changes_close(r);
    free(s);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_falling_behind(void **state)
{
    (void)state;
    run_behind(0, HS_ETRUNCATED);
    hs_remove_tree(hs_io_posix(), root);
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "changes"), 0);
    run_behind(64 << 20, HS_OK);
}

/* Retention keeps the newest covered segments within the budget: resuming inside it works, and
 * the floor names exactly the last change removed. */
static void test_retention_budget(void **state)
{
    (void)state;
    hs_db *db = open_db(40 << 10); /* about three 16 KiB segments */
    create(db, "r", HS_METRIC_L2);
    hs_collection *h = coll(db, "r");
    seen *s = calloc(1, sizeof(*s));
    hs_changes *all = reader(db, "r", 0);
    for (int round = 0; round < 6; round++) {
        upsert(h, (uint64_t)round * 300, (uint64_t)round * 300 + 300, 10);
        assert_int_equal(drain(all, s, NULL), HS_OK);
        assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    }
    hs_changes_close(all);
    assert_int_equal(s->n, 1801);
    /* the oldest clock one can resume after: the floor; every position from it on works */
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    hs_error err;
    hs_changes *r;
    assert_int_equal(hs_changes_open(db, "t", "r", &o, &r, &err), HS_ETRUNCATED);
    uint64_t floor = err.expected;
    size_t k = 0;
    while (s->clock[k] < floor)
        k++;
    assert_int_equal(s->clock[k], floor); /* the floor is a change's clock: the last removed */
    assert_true(k > 300 && k < 1500);      /* some was removed, and the budget kept much */
    seen *t = calloc(1, sizeof(*t));
    r = reader(db, "r", floor);
    assert_int_equal(drain(r, t, NULL), HS_OK);
    assert_int_equal(t->n, s->n - k - 1);
    assert_int_equal(t->clock[0], s->clock[k + 1]);
    hs_changes_close(r);
    o.after = floor - 1;
    assert_int_equal(hs_changes_open(db, "t", "r", &o, &r, &err), HS_ETRUNCATED);
    free(t);
    free(s);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void test_cold_and_drop(void **state)
{
    (void)state;
    hs_db *db = open_db(1 << 20); /* the close checkpoints: the log is kept for readers */
    create(db, "d", HS_METRIC_COSINE);
    hs_collection *h = coll(db, "d");
    upsert(h, 1, 41, 8);
    hs_collection_close(h);
    hs_db_close(db, NULL); /* cold after the restart: read from its files */
    db = open_db(1 << 20);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "t", "d", &st, NULL), HS_OK);
    assert_false(st.loaded);
    seen *s = calloc(1, sizeof(*s));
    hs_changes *r = reader(db, "d", 0);
    hs_change c;
    int got;
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
    assert_true(got && c.kind == HS_CHANGE_CREATE);
    assert_int_equal(c.config.dimension, 3);
    assert_int_equal(c.config.metric, HS_METRIC_COSINE);
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
    assert_true(got && c.kind == HS_CHANGE_UPSERT && c.point.id == 1);
    assert_int_equal(hs_collection_stats_get(db, "t", "d", &st, NULL), HS_OK);
    assert_false(st.loaded); /* reading does not load it */
    /* dropped while the reader is behind: it ends with the drop and its clock */
    assert_int_equal(hs_collection_drop(db, "t", "d", NULL), HS_OK);
    uint64_t drop_clock = hs_db_clock(db);
    for (;;) {
        assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
        assert_true(got);
        if (c.kind == HS_CHANGE_DROP)
            break;
        assert_int_equal(c.kind, HS_CHANGE_UPSERT); /* whatever was still readable, in order */
    }
    assert_int_equal(c.clock, drop_clock);
    assert_int_equal(hs_changes_next(r, &c, &got, NULL), HS_OK);
    assert_false(got);
    hs_changes_close(r);
    hs_error err;
    assert_int_equal(hs_changes_open(db, "t", "d", NULL, &r, &err), HS_ENOTFOUND);
    /* created again: a reader of the new one starts with its creation */
    create(db, "d", HS_METRIC_L2);
    r = reader(db, "d", 0);
    assert_int_equal(drain(r, s, NULL), HS_OK);
    assert_int_equal(s->n, 1);
    assert_int_equal(s->kind[0], HS_CHANGE_CREATE);
    assert_true(s->clock[0] > drop_clock);
    hs_changes_close(r);
    free(s);
    hs_db_close(db, NULL);
}

/* ---- a reader beside writers and checkpoints ------------------------------------------------- */

#define WRITERS 3
#define WRITES 400 /* per writer: batches of 1..5 points, some followed by a delete */

typedef struct race {
    hs_db *db;
    hs_collection *h;
    int stop;     /* atomic */
    int writing;  /* writers still running (atomic) */
} race;

typedef struct writer_arg {
    race *r;
    int t;
} writer_arg;

static void *writer_main(void *arg)
{
    writer_arg *w = arg;
    uint64_t seed = 77 + (uint64_t)w->t;
    for (int k = 0; k < WRITES; k++) {
        size_t n = 1 + hs_test_xorshift(&seed) % 5;
        hs_point p[5];
        double v[5][3];
        for (size_t j = 0; j < n; j++) {
            uint64_t id = (uint64_t)w->t * 1000000 + (uint64_t)k * 8 + j;
            v[j][0] = (double)id;
            v[j][1] = 0.5;
            v[j][2] = (double)k;
            p[j] = (hs_point){id, v[j], 3, NULL, 0};
        }
        hs_durability d = k % 2 ? HS_DURABILITY_BATCH : HS_DURABILITY_ASYNC;
        assert_int_equal(hs_upsert(w->r->h, p, n, d, NULL), HS_OK);
        if (k % 7 == 0) {
            uint64_t id = p[0].id;
            assert_int_equal(hs_delete(w->r->h, &id, 1, d, NULL, NULL), HS_OK);
        }
    }
    __atomic_sub_fetch(&w->r->writing, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *checkpoint_main(void *arg)
{
    race *r = arg;
    while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
        hs_collection_checkpoint(r->h, NULL);
        usleep(2000);
    }
    return NULL;
}

static void test_reader_beside_writers_and_checkpoints(void **state)
{
    (void)state;
    race r = {open_db(64 << 20), NULL, 0, WRITERS};
    create(r.db, "w", HS_METRIC_L2);
    r.h = coll(r.db, "w");
    hs_changes *rd = reader(r.db, "w", 0);
    pthread_t th[WRITERS], ck;
    writer_arg wa[WRITERS];
    for (int t = 0; t < WRITERS; t++) {
        wa[t] = (writer_arg){&r, t};
        pthread_create(&th[t], NULL, writer_main, &wa[t]);
    }
    pthread_create(&ck, NULL, checkpoint_main, &r);
    /* follow while they write: each writer's changes in its own order, clocks increasing */
    uint64_t last_clock = 0, next_k[WRITERS] = {0};
    size_t changes = 0, idle_after_done = 0;
    while (idle_after_done < 2) {
        int writing = __atomic_load_n(&r.writing, __ATOMIC_SEQ_CST);
        hs_change c;
        int got;
        hs_error err;
        if (hs_changes_next(rd, &c, &got, &err) != HS_OK)
            fail_msg("reader: %s", err.message);
        if (!got) {
            idle_after_done += writing == 0; /* nothing left once all had returned */
            if (writing)
                usleep(500);
            continue;
        }
        idle_after_done = 0;
        assert_true(c.clock > last_clock);
        last_clock = c.clock;
        changes++;
        if (c.kind == HS_CHANGE_CREATE)
            continue;
        int t = (int)(c.point.id / 1000000);
        uint64_t k = c.point.id % 1000000 / 8;
        assert_true(t < WRITERS);
        if (c.kind == HS_CHANGE_UPSERT) {
            assert_true(c.point.vector[2] == (double)k);
            assert_true(k == next_k[t] || (k + 1 == next_k[t])); /* its batch, in order */
            next_k[t] = k + 1;
        } else {
            assert_int_equal(k % 7, 0); /* deletes only of the first point of every 7th */
            assert_int_equal(c.point.id % 8, 0);
        }
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
    for (int t = 0; t < WRITERS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(next_k[t], WRITES);
    }
    pthread_join(ck, NULL);
    hs_changes_close(rd);
    /* a reader from the start, after the fact, reads the same number of changes */
    seen *s = calloc(1, sizeof(*s));
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    o.with_vector = 0;
    assert_int_equal(hs_changes_open(r.db, "t", "w", &o, &rd, NULL), HS_OK);
    size_t again = 0;
    for (;;) {
        hs_change c;
        int got;
        assert_int_equal(hs_changes_next(rd, &c, &got, NULL), HS_OK);
        if (!got)
            break;
        again++;
    }
    assert_int_equal(again, changes);
    assert_int_equal(last_clock, hs_db_clock(r.db));
    hs_changes_close(rd);
    free(s);
    hs_collection_close(r.h);
    hs_db_close(r.db, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_change_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_and_bad_positions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floor_without_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_falling_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cold_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_beside_writers_and_checkpoints, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("changes", tests, NULL, NULL);
}
