/*
 * test_node_changes.c: the node-wide change reader (hs_node_changes_*) and the drops it
 * remembers across restarts (<root>/.drops).  Every change of every collection in strictly
 * increasing clock order with its contents (CREATE with the parameters and id type, UPSERT with
 * the stored vector, typed metadata and string id, DELETE, DROP); resuming from any position
 * after closing the reader; after a restart of the database (from the catalog) and with
 * collections unloaded; more collections than the reader keeps open at once; a checkpoint that
 * removed changes (HS_ETRUNCATED naming the collection) and a clock ahead of the node
 * (HS_ERANGE); the drop file: a horizon of forgotten drops, a drop interrupted by a crash
 * finished at open, a torn append ignored; and writer threads on many collections with creates
 * and drops while a reader follows: every change once, in order (label concurrency: also
 * under TSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs_test.h"
#include "hyperspace.h"
#include "storage/storage.h"
#include "util/bytes.h"
#include "util/crc32c.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "nodechg"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static hs_db *open_db_with(uint64_t retain, uint32_t max_loaded)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.wal_segment_bytes = 16 << 10;
    o.checkpoint_min_log_bytes = 0;
    o.wal_retain_bytes = retain;
    o.max_loaded = max_loaded;
    o.batch_interval_ms = 1;
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static hs_db *open_db(void) { return open_db_with(1 << 30, 1000); }

static void create(hs_db *db, const char *name, hs_metric metric, hs_id_type kind)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 3;
    c.metric = metric;
    c.id_type = kind;
    hs_error err;
    if (hs_collection_create(db, "t", name, &c, &err) != HS_OK)
        fail_msg("create %s: %s", name, err.message);
}

/* Upserts point id (or string "s<id>") with vector (id + 1, 0.5, -id / 8) and metadata
 * {"n": id, "s": "v<id>"}. */
static void put(hs_db *db, const char *name, uint64_t id)
{
    hs_collection *h;
    hs_error err;
    assert_int_equal(hs_collection_open(db, "t", name, &h, &err), HS_OK);
    double v[3] = {(double)id + 1, 0.5, -(double)id / 8};
    hs_value n = {.type = HS_VALUE_INT, .i = (int64_t)id};
    char s[16], sid[16];
    snprintf(s, sizeof(s), "v%u", (unsigned)id);
    snprintf(sid, sizeof(sid), "s%u", (unsigned)id);
    hs_kv kv[2] = {{"n", 1, NULL, 0, &n}, {"s", 1, s, strlen(s), NULL}};
    hs_point p = {id, v, 3, kv, 2, NULL, 0};
    if (hs_collection_id_type(db, "t", name, NULL) == HS_ID_STRING) {
        p.sid = sid;
        p.sid_len = strlen(sid);
    }
    if (hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, &err) != HS_OK)
        fail_msg("upsert: %s", err.message);
    hs_collection_close(h);
}

static void del(hs_db *db, const char *name, uint64_t id)
{
    hs_collection *h;
    hs_error err;
    assert_int_equal(hs_collection_open(db, "t", name, &h, &err), HS_OK);
    size_t n;
    assert_int_equal(hs_delete(h, &id, 1, HS_DURABILITY_ASYNC, &n, &err), HS_OK);
    assert_int_equal(n, 1);
    hs_collection_close(h);
}

/* What a reader delivered. */
typedef struct rec {
    hs_change_kind kind;
    uint64_t clock, id;
    char coll[HS_NAME_MAX + 1];
    char sid[16];
    hs_id_type id_type;
} rec;

typedef struct seen {
    rec *v;
    size_t n, cap;
} seen;

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

static bool check_contents = true; /* note() checks what put() wrote */

/* Checks one delivered change against what put() wrote and appends it. */
static void note(seen *s, const hs_node_change *c)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof(*s->v));
    }
    if (s->n)
        assert_true(c->change.clock > s->v[s->n - 1].clock); /* strictly increasing */
    rec *r = &s->v[s->n++];
    memset(r, 0, sizeof(*r));
    r->kind = c->change.kind;
    r->clock = c->change.clock;
    assert_string_equal(c->tenant, "t");
    snprintf(r->coll, sizeof(r->coll), "%s", c->name);
    const hs_point_view *p = &c->change.point;
    if (p->sid)
        snprintf(r->sid, sizeof(r->sid), "%.*s", (int)p->sid_len, p->sid);
    r->id = p->sid ? strtoull(r->sid + 1, NULL, 10) : p->id;
    if (r->kind == HS_CHANGE_CREATE) {
        r->id_type = c->change.config.id_type;
        if (check_contents)
            assert_int_equal(c->change.config.dimension, 3);
    }
    if (r->kind == HS_CHANGE_UPSERT && check_contents) {
        assert_non_null(p->vector);
        assert_int_equal(p->dim, 3);
        if (p->vector[1] == 0.5) { /* l2: as written (cosine ones are normalised) */
            assert_true(p->vector[0] == (double)r->id + 1);
            assert_true(p->vector[2] == -(double)r->id / 8);
        }
        meta_seen m = {-1, "", 0};
        hs_meta_each_typed(p, on_meta, &m);
        char want[16];
        snprintf(want, sizeof(want), "v%u", (unsigned)r->id);
        assert_int_equal(m.entries, 2);
        assert_int_equal(m.n, (int64_t)r->id);
        assert_string_equal(m.s, want);
    }
}

/* Reads until the reader has nothing more (at most `max` changes; 0 = all). */
static int drain(hs_node_changes *r, seen *s, size_t max, hs_error *err)
{
    for (size_t i = 0; !max || i < max; i++) {
        hs_node_change c;
        int got;
        int rc = hs_node_changes_next(r, &c, &got, err);
        if (rc != HS_OK || !got)
            return rc;
        note(s, &c);
    }
    return HS_OK;
}

static seen read_all(hs_db *db, uint64_t after)
{
    hs_node_changes *r;
    hs_error err;
    if (hs_node_changes_open(db, after, &r, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    seen s = {0};
    if (drain(r, &s, 0, &err) != HS_OK)
        fail_msg("next: %s", err.message);
    assert_int_equal(hs_node_changes_position(r), hs_db_applied_clock(db));
    hs_node_changes_close(r);
    return s;
}

static void same(const seen *a, size_t from, const seen *b)
{
    assert_int_equal(a->n - from, b->n);
    for (size_t i = 0; i < b->n; i++) {
        assert_int_equal(a->v[from + i].clock, b->v[i].clock);
        assert_int_equal(a->v[from + i].kind, b->v[i].kind);
        assert_int_equal(a->v[from + i].id, b->v[i].id);
        assert_string_equal(a->v[from + i].coll, b->v[i].coll);
    }
}

/* A mix on three collections, one of string ids, one dropped: every clock handed out is one
 * change, so the stream is exactly the clocks 1 .. C. */
static void mix(hs_db *db)
{
    create(db, "a", HS_METRIC_L2, HS_ID_INTEGER);
    create(db, "s", HS_METRIC_COSINE, HS_ID_STRING);
    create(db, "b", HS_METRIC_L2, HS_ID_INTEGER);
    for (uint64_t i = 0; i < 30; i++) {
        put(db, i % 3 == 0 ? "a" : i % 3 == 1 ? "s" : "b", i);
        if (i % 7 == 6)
            del(db, "a", i / 7 * 3);
    }
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "s", &h, NULL), HS_OK);
    hs_sid sid = {"s4", 2};
    size_t n;
    assert_int_equal(hs_delete_sids(h, &sid, 1, HS_DURABILITY_BATCH, &n, NULL), HS_OK);
    assert_int_equal(n, 1);
    hs_collection_close(h);
    assert_int_equal(hs_collection_drop(db, "t", "b", NULL), HS_OK);
    put(db, "a", 100);
}

/* b is dropped: its create and upserts are not delivered (B11.6: the drop supersedes them),
 * its drop is; every other clock is one change. */
static void check_mix(const seen *s, uint64_t clock)
{
    assert_int_equal(s->n, clock - 11);
    size_t creates = 0, drops = 0, deletes = 0;
    for (size_t i = 0; i < s->n; i++) {
        creates += s->v[i].kind == HS_CHANGE_CREATE;
        drops += s->v[i].kind == HS_CHANGE_DROP;
        deletes += s->v[i].kind == HS_CHANGE_DELETE;
        if (!strcmp(s->v[i].coll, "b"))
            assert_int_equal(s->v[i].kind, HS_CHANGE_DROP);
        if (s->v[i].kind == HS_CHANGE_CREATE)
            assert_int_equal(s->v[i].id_type, !strcmp(s->v[i].coll, "s") ? HS_ID_STRING
                                                                          : HS_ID_INTEGER);
        if (!strcmp(s->v[i].coll, "s") && s->v[i].kind != HS_CHANGE_CREATE)
            assert_true(s->v[i].sid[0] == 's');
    }
    assert_int_equal(creates, 2);
    assert_int_equal(drops, 1);
    assert_int_equal(deletes, 5);
    assert_int_equal(s->v[s->n - 2].kind, HS_CHANGE_DROP);
    assert_string_equal(s->v[s->n - 2].coll, "b");
    assert_int_equal(s->v[s->n - 1].clock, clock);
}

static void test_order_and_contents(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "x", HS_METRIC_L2, HS_ID_INTEGER);
    put(db, "x", 1);
    hs_node_changes *early;
    assert_int_equal(hs_node_changes_open(db, 0, &early, NULL), HS_OK);
    seen e = {0};
    assert_int_equal(drain(early, &e, 1, NULL), HS_OK); /* x's create read, its upsert not */
    assert_int_equal(hs_collection_drop(db, "t", "x", NULL), HS_OK);
    assert_int_equal(drain(early, &e, 0, NULL), HS_OK);
    /* its reader was open: the upsert is delivered, then the drop */
    assert_int_equal(e.n, 3);
    assert_int_equal(e.v[1].kind, HS_CHANGE_UPSERT);
    assert_int_equal(e.v[2].kind, HS_CHANGE_DROP);
    assert_int_equal(e.v[2].clock, 3);
    hs_node_changes_close(early);
    free(e.v);
    hs_db_close(db, NULL);
    hs_remove_tree(hs_io_posix(), root);
    db = open_db();
    mix(db);
    assert_int_equal(hs_db_applied_clock(db), hs_db_clock(db));
    seen s = read_all(db, 0);
    check_mix(&s, hs_db_clock(db));
    /* a reader opened at the end has nothing; one ahead of the node is refused */
    seen none = read_all(db, hs_db_clock(db));
    assert_int_equal(none.n, 0);
    hs_node_changes *r;
    hs_error err;
    assert_int_equal(hs_node_changes_open(db, hs_db_clock(db) + 1, &r, &err), HS_ERANGE);
    assert_int_equal(err.field, HS_FIELD_CLOCK);
    free(s.v);
    hs_db_close(db, NULL);
}

static void test_resume(void **state)
{
    (void)state;
    hs_db *db = open_db();
    mix(db);
    seen all = read_all(db, 0);
    /* from every position: by reopening after k changes, in steps of 1..5 */
    for (size_t step = 1; step <= 5; step++) {
        seen s = {0};
        uint64_t pos = 0;
        for (;;) {
            hs_node_changes *r;
            assert_int_equal(hs_node_changes_open(db, pos, &r, NULL), HS_OK);
            size_t before = s.n;
            assert_int_equal(drain(r, &s, step, NULL), HS_OK);
            pos = s.n ? s.v[s.n - 1].clock : 0;
            hs_node_changes_close(r);
            if (s.n == before)
                break;
        }
        same(&all, 0, &s);
        free(s.v);
    }
    /* from the middle of the clocks */
    for (size_t k = 0; k < all.n; k += 7) {
        seen s = read_all(db, all.v[k].clock);
        same(&all, k + 1, &s);
        free(s.v);
    }
    free(all.v);
    hs_db_close(db, NULL);
}

/* After a restart the reader works from the catalog (no directory before the open) and still
 * delivers the drop (from <root>/.drops); with one collection loaded at a time, others cold. */
static void test_restart(void **state)
{
    (void)state;
    hs_db *db = open_db();
    mix(db);
    seen all = read_all(db, 0);
    uint64_t clock = hs_db_clock(db);
    hs_db_close(db, NULL);
    db = open_db_with(1 << 30, 1);
    seen s = read_all(db, 0);
    same(&all, 0, &s);
    free(s.v);
    for (size_t k = 0; k < all.n; k += 5) {
        s = read_all(db, all.v[k].clock);
        same(&all, k + 1, &s);
        free(s.v);
    }
    /* new changes after the restart follow (the directory from the open on) */
    put(db, "s", 200);
    put(db, "a", 201);
    s = read_all(db, clock);
    assert_int_equal(s.n, 2);
    assert_true(s.v[0].clock > clock);
    assert_string_equal(s.v[0].coll, "s");
    assert_string_equal(s.v[1].coll, "a");
    free(s.v);
    free(all.v);
    hs_db_close(db, NULL);
}

/* File opens of log segments, counted (the catalog-only claim: a reader whose position is
 * recent opens the logs of the collections changed since, not the others). */
static unsigned long wal_opens; /* atomic */
static char wal_dirs[16][128];      /* the collections whose logs were opened (dirs_mu) */
static size_t nwal_dirs;
static pthread_mutex_t dirs_mu = PTHREAD_MUTEX_INITIALIZER;
static hs_io_ops counting;

static int count_open(void *ctx, const char *path, int flags, unsigned mode)
{
    size_t n = strlen(path);
    if (n > 4 && !strcmp(path + n - 4, ".wal")) {
        __atomic_add_fetch(&wal_opens, 1, __ATOMIC_RELAXED);
        char dir[128];
        snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path), path);
        pthread_mutex_lock(&dirs_mu);
        size_t i = 0;
        while (i < nwal_dirs && strcmp(wal_dirs[i], dir))
            i++;
        if (i == nwal_dirs && nwal_dirs < 16)
            snprintf(wal_dirs[nwal_dirs++], sizeof(wal_dirs[0]), "%s", dir);
        pthread_mutex_unlock(&dirs_mu);
    }
    return hs_io_posix()->open(NULL, path, flags, mode);
}

static hs_db *open_counting(void)
{
    counting = *hs_io_posix();
    counting.open = count_open;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.wal_retain_bytes = 1 << 30;
    o.max_loaded = 8;
    o.io = &counting;
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

/* 100 collections written in turn (more than the 32 readers kept open), one loaded at a time:
 * every change once, in clock order, from the directory and (after a restart) the catalog. */
static void test_many_collections(void **state)
{
    (void)state;
    hs_db *db = open_db_with(1 << 30, 8);
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        create(db, name, HS_METRIC_L2, HS_ID_INTEGER);
    }
    for (uint64_t round = 0; round < 4; round++)
        for (int i = 0; i < 100; i++) {
            snprintf(name, sizeof(name), "c%03d", (i * 37) % 100);
            put(db, name, round);
        }
    uint64_t clock = hs_db_clock(db);
    seen s = read_all(db, 0);
    assert_int_equal(s.n, clock);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.v[i].clock, i + 1);
    hs_db_close(db, NULL);
    db = open_db_with(1 << 30, 8);
    seen t = read_all(db, 0);
    same(&s, 0, &t);
    free(t.v);
    t = read_all(db, 150);
    same(&s, 150, &t);
    free(t.v);
    hs_db_close(db, NULL);
    /* after a restart (no directory: the catalog's clocks), from three changes before the end:
     * only the three collections changed since are read */
    db = open_counting();
    __atomic_store_n(&wal_opens, 0, __ATOMIC_RELAXED);
    pthread_mutex_lock(&dirs_mu);
    nwal_dirs = 0;
    pthread_mutex_unlock(&dirs_mu);
    t = read_all(db, clock - 3);
    same(&s, (size_t)clock - 3, &t);
    unsigned long opens = __atomic_load_n(&wal_opens, __ATOMIC_RELAXED);
    pthread_mutex_lock(&dirs_mu);
    size_t dirs = nwal_dirs;
    pthread_mutex_unlock(&dirs_mu);
    print_message("reading 3 changes of 100 collections opened %lu segments of %zu logs\n", opens,
                  dirs);
    assert_int_equal(dirs, 3);
    free(t.v);
    free(s.v);
    hs_db_close(db, NULL);
}

static void test_truncated(void **state)
{
    (void)state;
    hs_db *db = open_db_with(0, 1000); /* a checkpoint keeps no log */
    create(db, "a", HS_METRIC_L2, HS_ID_INTEGER);
    create(db, "b", HS_METRIC_L2, HS_ID_INTEGER);
    for (uint64_t i = 0; i < 10; i++)
        put(db, "a", i);
    put(db, "b", 0);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "a", &h, NULL), HS_OK);
    assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    hs_collection_close(h);
    uint64_t cut = hs_db_clock(db);
    put(db, "a", 50);
    hs_node_changes *r;
    hs_error err;
    assert_int_equal(hs_node_changes_open(db, 0, &r, &err), HS_OK);
    hs_node_change c;
    int got;
    int rc = hs_node_changes_next(r, &c, &got, &err);
    assert_int_equal(rc, HS_ETRUNCATED);
    assert_int_equal(err.field, HS_FIELD_CLOCK);
    assert_string_equal(err.name, "a");
    assert_int_equal(hs_node_changes_position(r), 0);
    /* again: the same answer, the reader stays where it was */
    assert_int_equal(hs_node_changes_next(r, &c, &got, &err), HS_ETRUNCATED);
    hs_node_changes_close(r);
    /* after the checkpoint's clock: everything there */
    seen s = read_all(db, cut);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.v[0].id, 50);
    free(s.v);
    hs_db_close(db, NULL);
}

/* ---- the drop file -------------------------------------------------------------------------- */

static size_t rec_note(uint8_t *p, const char *t, const char *n, uint64_t created, uint64_t last,
                       uint64_t dropped)
{
    uint8_t *b = p + 8;
    size_t tl = strlen(t), nl = strlen(n);
    b[0] = 1;
    hs_put_le64(b + 1, created);
    hs_put_le64(b + 9, last);
    hs_put_le64(b + 17, dropped);
    b[25] = (uint8_t)tl;
    memcpy(b + 26, t, tl);
    b[26 + tl] = (uint8_t)nl;
    memcpy(b + 27 + tl, n, nl);
    hs_put_le32(p, (uint32_t)(27 + tl + nl));
    hs_put_le32(p + 4, hs_crc32c(0, b, 27 + tl + nl));
    return 8 + 27 + tl + nl;
}

static size_t rec_horizon(uint8_t *p, uint64_t h)
{
    p[8] = 2;
    hs_put_le64(p + 9, h);
    hs_put_le32(p, 9);
    hs_put_le32(p + 4, hs_crc32c(0, p + 8, 9));
    return 17;
}

static void write_drops(const uint8_t *buf, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/.drops", root);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void test_drop_file(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "a", HS_METRIC_L2, HS_ID_INTEGER); /* clock 1 */
    put(db, "a", 1);                               /* 2 */
    create(db, "b", HS_METRIC_L2, HS_ID_INTEGER); /* 3 */
    put(db, "b", 1);                               /* 4 */
    assert_int_equal(hs_collection_drop(db, "t", "a", NULL), HS_OK); /* 5 */
    uint64_t clock = hs_db_clock(db);
    assert_int_equal(clock, 5);
    hs_db_close(db, NULL);
    /* the file as a crash could leave it: a horizon of 2, the drop of a (kept), a note saying b
     * was dropped at clock 6 (the crash came before its directory went), then a torn record */
    uint8_t buf[1024];
    size_t len = rec_horizon(buf, 2);
    len += rec_note(buf + len, "t", "a", 1, 2, 5);
    len += rec_note(buf + len, "t", "b", 3, 4, 6);
    uint8_t torn[64];
    size_t tl = rec_note(torn, "t", "c", 7, 7, 8);
    memcpy(buf + len, torn, tl / 2);
    write_drops(buf, len + tl / 2);
    db = open_db();
    /* b's drop was finished at open */
    assert_int_equal(hs_collection_id_type(db, "t", "b", NULL), HS_ENOTFOUND);
    assert_true(hs_db_clock(db) >= clock);
    hs_node_changes *r;
    hs_error err;
    assert_int_equal(hs_node_changes_open(db, 1, &r, &err), HS_ETRUNCATED); /* below 2 */
    assert_int_equal(err.field, HS_FIELD_CLOCK);
    assert_int_equal(err.expected, 2);
    seen s = read_all(db, 2);
    /* a's drop (5) and b's (6); b's upsert (4) is not delivered: b is gone */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.v[0].kind, HS_CHANGE_DROP);
    assert_string_equal(s.v[0].coll, "a");
    assert_int_equal(s.v[0].clock, 5);
    assert_int_equal(s.v[1].kind, HS_CHANGE_DROP);
    assert_string_equal(s.v[1].coll, "b");
    assert_int_equal(s.v[1].clock, 6);
    free(s.v);
    /* a collection reader of a's old incarnation still ends with its drop */
    hs_db_close(db, NULL);
    db = open_db();
    s = read_all(db, 2);
    assert_int_equal(s.n, 2); /* the rewritten file kept them */
    free(s.v);
    hs_db_close(db, NULL);
}

/* A collection dropped and created again under the same name while readers of the old one are
 * idle: the new one's files are at the same path, and the readers must not take them for the
 * old one's (a collection reader ends with the drop; the node reader goes on in order). */
static void test_recreated_same_name(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "a", HS_METRIC_L2, HS_ID_INTEGER);
    for (uint64_t i = 0; i < 5; i++)
        put(db, "a", i);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "a", &h, NULL), HS_OK);
    hs_kv big = {"big", 3, NULL, 0, NULL};
    char text[2000];
    memset(text, 'x', sizeof(text));
    big.value = text;
    big.value_len = sizeof(text);
    double w[3] = {1, 0.5, 2};
    hs_point bp = {1000, w, 3, &big, 1, NULL, 0};
    assert_int_equal(hs_upsert(h, &bp, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
    hs_collection_close(h);
    hs_changes *cr;
    assert_int_equal(hs_changes_open(db, "t", "a", NULL, &cr, NULL), HS_OK);
    hs_change c;
    int got, n = 0;
    do {
        assert_int_equal(hs_changes_next(cr, &c, &got, NULL), HS_OK);
        n += got;
    } while (got);
    assert_int_equal(n, 7); /* idle now, past 2 KB of the log: no file open */
    hs_node_changes *nr;
    assert_int_equal(hs_node_changes_open(db, 0, &nr, NULL), HS_OK);
    seen s = {0};
    check_contents = false;
    assert_int_equal(drain(nr, &s, 0, NULL), HS_OK);
    check_contents = true;
    assert_int_equal(s.n, 7);
    put(db, "a", 5); /* read by neither */
    assert_int_equal(hs_collection_drop(db, "t", "a", NULL), HS_OK);
    uint64_t drop_clock = hs_db_clock(db);
    hs_collection_config cfg;
    hs_collection_config_init(&cfg);
    cfg.dimension = 7; /* other record sizes: the old offsets fall inside records */
    cfg.metric = HS_METRIC_L2;
    assert_int_equal(hs_collection_create(db, "t", "a", &cfg, NULL), HS_OK);
    assert_int_equal(hs_collection_open(db, "t", "a", &h, NULL), HS_OK);
    double v[7] = {1, 2, 3, 4, 5, 6, 7};
    for (uint64_t i = 0; i < 4; i++) {
        hs_point p = {i, v, 7, NULL, 0, NULL, 0};
        assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
    }
    /* the new log's first segment closed, shorter than where the old readers stopped */
    assert_int_equal(hs_collection_checkpoint(h, NULL), HS_OK);
    hs_point p = {4, v, 7, NULL, 0, NULL, 0};
    assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL), HS_OK);
    hs_collection_close(h);
    hs_error err;
    /* the collection reader: the drop, nothing of the new collection */
    int rc = hs_changes_next(cr, &c, &got, &err);
    if (rc != HS_OK)
        fail_msg("collection reader: %s", err.message);
    assert_true(got);
    if (c.kind == HS_CHANGE_UPSERT) { /* the change before the drop, if still readable */
        assert_int_equal(c.point.id, 5);
        assert_int_equal(hs_changes_next(cr, &c, &got, &err), HS_OK);
    }
    assert_int_equal(c.kind, HS_CHANGE_DROP);
    assert_int_equal(c.clock, drop_clock);
    assert_int_equal(hs_changes_next(cr, &c, &got, &err), HS_OK);
    assert_false(got);
    hs_changes_close(cr);
    /* the node reader: the drop, then the new collection from its creation */
    check_contents = false;
    rc = drain(nr, &s, 0, &err);
    check_contents = true;
    if (rc != HS_OK)
        fail_msg("node reader: %s", err.message);
    hs_node_changes_close(nr);
    assert_int_equal(s.v[7].kind, HS_CHANGE_DROP);
    assert_int_equal(s.v[7].clock, drop_clock);
    assert_int_equal(s.v[8].kind, HS_CHANGE_CREATE);
    assert_int_equal(s.n, 7 + 1 + 1 + 5);
    free(s.v);
    hs_db_close(db, NULL);
}

/* A create of a name whose drop waits for a handle waits for that drop's clock: the new
 * incarnation's creation clock is above the drop's (a follower drops by name what was created
 * before the drop's clock). */
typedef struct racer {
    hs_db *db;
    int done; /* atomic */
    int rc;
} racer;

static void *drop_main(void *arg)
{
    racer *x = arg;
    x->rc = hs_collection_drop(x->db, "t", "a", NULL);
    __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *create_main(void *arg)
{
    racer *x = arg;
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 3;
    c.metric = HS_METRIC_L2;
    x->rc = hs_collection_create(x->db, "t", "a", &c, NULL);
    __atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_create_waits_for_drop(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "a", HS_METRIC_L2, HS_ID_INTEGER);
    put(db, "a", 1);
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "a", &h, NULL), HS_OK);
    racer d = {db, 0, -1}, c = {db, 0, -1};
    pthread_t td, tc;
    pthread_create(&td, NULL, drop_main, &d);
    /* once the name is out of the catalog the drop waits for h */
    while (hs_collection_id_type(db, "t", "a", NULL) != HS_ENOTFOUND)
        usleep(1000);
    pthread_create(&tc, NULL, create_main, &c);
    usleep(100 * 1000);
    assert_false(__atomic_load_n(&d.done, __ATOMIC_ACQUIRE));
    assert_false(__atomic_load_n(&c.done, __ATOMIC_ACQUIRE)); /* waits for the drop's clock */
    hs_collection_close(h);
    pthread_join(td, NULL);
    pthread_join(tc, NULL);
    assert_int_equal(d.rc, HS_OK);
    assert_int_equal(c.rc, HS_OK);
    seen s = read_all(db, 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.v[0].kind, HS_CHANGE_DROP);
    assert_int_equal(s.v[1].kind, HS_CHANGE_CREATE);
    free(s.v);
    hs_db_close(db, NULL);
}

/* A collection restored from an archive written before its drop is the same incarnation the
 * drop note names: the next open must not finish that drop on it. */
static void test_restore_after_drop(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "a", HS_METRIC_L2, HS_ID_INTEGER);
    put(db, "a", 1);
    hs_error err;
    if (hs_snapshot_create(db, "t", "a", "a.hsnap", NULL, &err) != HS_OK)
        fail_msg("snapshot: %s", err.message);
    assert_int_equal(hs_collection_drop(db, "t", "a", NULL), HS_OK);
    if (hs_snapshot_restore(db, "a.hsnap", NULL, NULL, NULL, &err) != HS_OK)
        fail_msg("restore: %s", err.message);
    hs_db_close(db, NULL);
    db = open_db();
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, "t", "a", &st, NULL), HS_OK);
    assert_int_equal(st.count, 1);
    /* the drop is still in the node's stream */
    seen s = read_all(db, 0);
    assert_int_equal(s.n, 3); /* the restored collection's create and upsert, the drop */
    assert_int_equal(s.v[2].kind, HS_CHANGE_DROP);
    free(s.v);
    hs_db_close(db, NULL);
}

/* ---- writers, creates and drops while a reader follows ------------------------------------ */

enum { PERM = 8, EPH = 4, WRITERS = 4, OPS = 300, MAXOBS = 1 << 16 };

typedef struct follow {
    hs_db *db;
    uint64_t obs[MAXOBS]; /* clocks the observer saw (each change is one clock here) */
    uint8_t obs_eph[MAXOBS];
    size_t nobs;          /* atomic */
    int stop;             /* atomic */
    uint64_t drops;       /* atomic: drops that succeeded */
    seen got;
    int rc;
    hs_error err;
} follow;

static follow F;

static void observer(void *ctx, const char *tenant, const char *name, uint64_t clock)
{
    size_t i = __atomic_fetch_add(&F.nobs, 1, __ATOMIC_RELAXED);
    if (i < MAXOBS) {
        F.obs[i] = clock;
        F.obs_eph[i] = name[0] == 'e';
    }
}

static void *follower(void *arg)
{
    (void)arg;
    hs_node_changes *r;
    F.rc = hs_node_changes_open(F.db, 0, &r, &F.err);
    if (F.rc != HS_OK)
        return NULL;
    for (;;) {
        int stop = __atomic_load_n(&F.stop, __ATOMIC_ACQUIRE);
        F.rc = drain(r, &F.got, 0, &F.err);
        if (F.rc != HS_OK)
            break;
        if (stop && hs_node_changes_position(r) == hs_db_clock(F.db))
            break;
        hs_db_wait_applied(F.db, hs_node_changes_position(r), 5);
    }
    hs_node_changes_close(r);
    return NULL;
}

static void *writer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 104729 + 3;
    char name[16];
    for (int i = 0; i < OPS; i++) {
        uint64_t x = hs_test_xorshift(&seed);
        int op = (int)(x % 100);
        bool eph = (x >> 8) % 3 == 0;
        snprintf(name, sizeof(name), "%c%d", eph ? 'e' : 'p',
                 (int)((x >> 12) % (eph ? EPH : PERM)));
        if (eph && op < 8) {
            if (hs_collection_drop(F.db, "t", name, NULL) == HS_OK)
                __atomic_add_fetch(&F.drops, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (eph && op < 20) {
            hs_collection_config c;
            hs_collection_config_init(&c);
            c.dimension = 3;
            c.metric = HS_METRIC_L2;
            hs_collection_create(F.db, "t", name, &c, NULL);
            continue;
        }
        hs_collection *h;
        if (hs_collection_open(F.db, "t", name, &h, NULL) != HS_OK)
            continue;
        uint64_t id = (x >> 20) % 40;
        if (op < 75) {
            double v[3] = {(double)id + 1, 0.5, -(double)id / 8};
            hs_value n = {.type = HS_VALUE_INT, .i = (int64_t)id};
            char s[16];
            snprintf(s, sizeof(s), "v%u", (unsigned)id);
            hs_kv kv[2] = {{"n", 1, NULL, 0, &n}, {"s", 1, s, strlen(s), NULL}};
            hs_point p = {id, v, 3, kv, 2, NULL, 0};
            hs_upsert(h, &p, 1, (hs_durability)(1 + (x >> 30) % 3), NULL);
        } else if (op < 95) {
            size_t d;
            hs_delete(h, &id, 1, HS_DURABILITY_BATCH, &d, NULL);
        } else {
            hs_collection_checkpoint(h, NULL); /* the log is retained for the reader */
        }
        hs_collection_close(h);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool has(const uint64_t *v, size_t n, uint64_t x)
{
    return bsearch(&x, v, n, sizeof(*v), cmp_u64) != NULL;
}

static void test_follow_writers(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    F.db = open_db_with(1 << 30, 6);
    hs_db_set_change_observer(F.db, observer, NULL);
    char name[16];
    for (int i = 0; i < PERM; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        create(F.db, name, HS_METRIC_L2, HS_ID_INTEGER);
    }
    pthread_t fo, w[WRITERS];
    pthread_create(&fo, NULL, follower, NULL);
    for (uintptr_t i = 0; i < WRITERS; i++)
        pthread_create(&w[i], NULL, writer, (void *)(i + 1));
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i], NULL);
    __atomic_store_n(&F.stop, 1, __ATOMIC_RELEASE);
    pthread_join(fo, NULL);
    if (F.rc != HS_OK)
        fail_msg("follower: %s", F.err.message);
    hs_db_set_change_observer(F.db, NULL, NULL);
    assert_true(F.nobs < MAXOBS);
    /* the clocks of changes of permanent collections, and all of them */
    uint64_t *perm = malloc(F.nobs * sizeof(*perm)), *all = malloc(F.nobs * sizeof(*all));
    size_t np = 0;
    for (size_t i = 0; i < F.nobs; i++) {
        all[i] = F.obs[i];
        if (!F.obs_eph[i])
            perm[np++] = F.obs[i];
    }
    qsort(perm, np, sizeof(*perm), cmp_u64);
    qsort(all, F.nobs, sizeof(*all), cmp_u64);
    size_t delivered_perm = 0, drops = 0;
    for (size_t i = 0; i < F.got.n; i++) {
        const rec *r = &F.got.v[i];
        assert_true(has(all, F.nobs, r->clock)); /* a real change */
        delivered_perm += r->coll[0] == 'p';
        drops += r->kind == HS_CHANGE_DROP;
    }
    /* every change of a collection never dropped, exactly once (strictly increasing: once) */
    assert_int_equal(delivered_perm, np);
    assert_int_equal(drops, F.drops);
    print_message("%zu changes delivered (%zu of permanent collections), %zu drops\n", F.got.n,
                  np, drops);
    /* a reader from 0 now: the same changes of the permanent collections */
    seen again = read_all(F.db, 0);
    size_t k = 0;
    for (size_t i = 0; i < again.n; i++)
        if (again.v[i].coll[0] == 'p') {
            while (F.got.v[k].coll[0] != 'p')
                k++;
            assert_int_equal(again.v[i].clock, F.got.v[k].clock);
            k++;
        }
    free(again.v);
    free(perm);
    free(all);
    free(F.got.v);
    hs_db_close(F.db, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_collections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_after_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recreated_same_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_waits_for_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_writers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
