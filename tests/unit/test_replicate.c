/*
 * test_replicate.c: a follower's apply (hs_db_replicate, hs_db_replicate_upserts, hs_db_sync)
 * fed by a leader's node-wide change reader.
 *
 *   rules       the skip rules one by one (create / drop by creation clock, upserts and
 *               deletes by the collection clock, a missing collection), the clock merge, the
 *               leader's stored vector kept bit for bit (a cosine collection: equal digests),
 *               frozen collections and quotas not in the way, the leader's clocks in the
 *               follower's log (after a restart, and read back by the follower's own reader);
 *   restore     hs_snapshot_restore keeps each collection's creation clock and clock, so a
 *               follower bootstrapped from a leader's node snapshot skips what it holds;
 *   converge    the decisive one: a source receives a random mix (typed metadata, a collection
 *               of string ids, deletes, payload updates, creates, drops, rebuilds, checkpoints,
 *               restarts, then writer threads) while a node-wide reader feeds every change to
 *               a follower (one by one with the stored metadata, and in batches as hs_kv); a
 *               second follower starts from a node snapshot taken midway; afterwards both
 *               hold the source's collections with equal digests (all buckets, count, clock)
 *               and contents; the whole stream fed again changes nothing;
 *   reset       a follower forgetting its history for a new leader (hs_db_replica_reset);
 *   crash       a follower killed (SIGKILL) at random points without a sync, restarted from its
 *               last persisted position, converges all the same.
 * Label concurrency: also under TSan (the crash test forks only once no thread of its own runs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hs_test.h"
#include "hyperspace.h"
#include "storage/storage.h"
#include "util/bytes.h"

static char root[64], froot[80], groot[80];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "repl"), 0);
    snprintf(froot, sizeof(froot), "%s-f", root);
    snprintf(groot, sizeof(groot), "%s-g", root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    hs_remove_tree(hs_io_posix(), froot);
    hs_remove_tree(hs_io_posix(), groot);
    return 0;
}

static hs_db *open_at(const char *path, uint32_t max_loaded)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.wal_segment_bytes = 32 << 10;
    o.checkpoint_min_log_bytes = 0;
    o.wal_retain_bytes = 1 << 30; /* a leader keeps its log for followers */
    o.max_loaded = max_loaded;
    o.batch_interval_ms = 1;
    hs_db *db;
    hs_error err;
    if (hs_db_open(path, &o, &db, &err) != HS_OK)
        fail_msg("open %s: %s", path, err.message);
    return db;
}

/* ---- the stream, captured ------------------------------------------------------------------- */

/* A change copied out of the reader (what a network message carries). */
typedef struct cap {
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    hs_change_kind kind;
    uint64_t clock;
    hs_collection_config config;
    uint64_t id;
    char *sid;
    size_t sid_len, dim;
    double *vec;
    uint8_t *meta; /* stored form [u32 length][blob], NULL when none */
} cap;

typedef struct stream {
    cap *v;
    size_t n, capn;
} stream;

static void capture(stream *s, const hs_node_change *c)
{
    if (s->n == s->capn) {
        s->capn = s->capn ? 2 * s->capn : 1024;
        s->v = realloc(s->v, s->capn * sizeof(*s->v));
    }
    cap *x = &s->v[s->n++];
    memset(x, 0, sizeof(*x));
    snprintf(x->tenant, sizeof(x->tenant), "%s", c->tenant);
    snprintf(x->name, sizeof(x->name), "%s", c->name);
    x->kind = c->change.kind;
    x->clock = c->change.clock;
    x->config = c->change.config;
    const hs_point_view *p = &c->change.point;
    x->id = p->id;
    if (p->sid) {
        x->sid = malloc(p->sid_len);
        memcpy(x->sid, p->sid, p->sid_len);
        x->sid_len = p->sid_len;
    }
    if (p->vector) {
        x->dim = p->dim;
        x->vec = malloc(p->dim * sizeof(double));
        memcpy(x->vec, p->vector, p->dim * sizeof(double));
    }
    if (p->meta) {
        size_t len = 4 + hs_get_le32(p->meta);
        x->meta = malloc(len);
        memcpy(x->meta, p->meta, len);
    }
}

static void stream_free(stream *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].sid);
        free(s->v[i].vec);
        free(s->v[i].meta);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Reads every change the reader has into s: HS_OK or the reader's failure. */
static int pull(hs_node_changes *r, stream *s, hs_error *err)
{
    for (;;) {
        hs_node_change c;
        int got;
        int rc = hs_node_changes_next(r, &c, &got, err);
        if (rc != HS_OK || !got)
            return rc;
        if (s->n && c.change.clock <= s->v[s->n - 1].clock)
            return HS_EINTERNAL; /* not strictly increasing */
        capture(s, &c);
    }
}

/* The metadata of a captured point as hs_kv entries (typed; deep copies), for the batch
 * path. */
typedef struct kvs {
    hs_kv *kv;
    hs_value *val;
    size_t n, cap;
} kvs;

static int to_kv(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    kvs *o = ctx;
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 8;
        o->kv = realloc(o->kv, o->cap * sizeof(*o->kv));
        o->val = realloc(o->val, o->cap * sizeof(*o->val));
    }
    char *key = malloc(kl ? kl : 1);
    memcpy(key, k, kl);
    hs_value c = *v;
    if (v->type == HS_VALUE_STRING) {
        char *s = malloc(v->len ? v->len : 1);
        memcpy(s, v->str, v->len);
        c.str = s;
    } else if (v->type == HS_VALUE_LIST) {
        hs_value *items = malloc((v->count ? v->count : 1) * sizeof(*items));
        for (size_t i = 0; i < v->count; i++) {
            items[i] = v->items[i];
            if (items[i].type == HS_VALUE_STRING) {
                char *s = malloc(items[i].len ? items[i].len : 1);
                memcpy(s, items[i].str, items[i].len);
                items[i].str = s;
            }
        }
        c.items = items;
    }
    o->val[o->n] = c;
    o->kv[o->n] = (hs_kv){key, kl, NULL, 0, NULL};
    o->n++;
    return 0;
}

static void kvs_fix(kvs *o)
{
    for (size_t i = 0; i < o->n; i++)
        o->kv[i].typed = &o->val[i]; /* after the last realloc */
}

static void kvs_free(kvs *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free((void *)o->kv[i].key);
        if (o->val[i].type == HS_VALUE_STRING)
            free((void *)o->val[i].str);
        if (o->val[i].type == HS_VALUE_LIST) {
            for (size_t j = 0; j < o->val[i].count; j++)
                if (o->val[i].items[j].type == HS_VALUE_STRING)
                    free((void *)o->val[i].items[j].str);
            free((void *)o->val[i].items);
        }
    }
    free(o->kv);
    free(o->val);
}

static hs_change change_of(const cap *x)
{
    hs_change ch;
    memset(&ch, 0, sizeof(ch));
    ch.kind = x->kind;
    ch.clock = x->clock;
    ch.config = x->config;
    ch.point.id = x->id;
    ch.point.sid = x->sid;
    ch.point.sid_len = x->sid_len;
    ch.point.vector = x->vec;
    ch.point.dim = x->dim;
    ch.point.meta = x->meta;
    return ch;
}

/* Applies v[0..n) to f in order: one by one (the stored metadata as it is), or with runs of
 * upserts of one collection at consecutive clocks as one hs_db_replicate_upserts (metadata as
 * hs_kv).  Returns the changes applied; *rc gets the first failure (other than a missing
 * collection, which is counted in *missing and skipped). */
static size_t apply(hs_db *f, const cap *v, size_t n, bool batch, hs_durability mode,
                    size_t *missing, int *rc_out, hs_error *err)
{
    size_t applied = 0;
    *rc_out = HS_OK;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (batch && v[i].kind == HS_CHANGE_UPSERT && j < n && j - i < 16 &&
               v[j].kind == HS_CHANGE_UPSERT && v[j].clock == v[j - 1].clock + 1 &&
               !strcmp(v[j].name, v[i].name) && !strcmp(v[j].tenant, v[i].tenant))
            j++;
        int rc;
        if (j - i > 1) {
            hs_point pts[16];
            kvs kv[16];
            memset(kv, 0, sizeof(kv));
            for (size_t k = i; k < j; k++) {
                hs_point_view pv = {0, NULL, 0, v[k].meta, NULL, 0};
                if (v[k].meta)
                    hs_meta_each_typed(&pv, to_kv, &kv[k - i]);
                kvs_fix(&kv[k - i]);
                pts[k - i] = (hs_point){v[k].id, v[k].vec, v[k].dim, kv[k - i].kv, kv[k - i].n,
                                        v[k].sid, v[k].sid_len};
            }
            size_t got = 0;
            rc = hs_db_replicate_upserts(f, v[i].tenant, v[i].name, v[i].clock, pts, j - i, mode,
                                         &got, err);
            applied += got;
            for (size_t k = 0; k < j - i; k++)
                kvs_free(&kv[k]);
        } else {
            hs_change ch = change_of(&v[i]);
            int got = 0;
            rc = hs_db_replicate(f, v[i].tenant, v[i].name, &ch, NULL, 0, mode, &got, err);
            applied += (size_t)got;
        }
        if (rc == HS_ENOTFOUND) {
            (*missing)++;
        } else if (rc != HS_OK) {
            *rc_out = rc;
            return applied;
        }
        i = j;
    }
    return applied;
}

/* ---- comparing databases --------------------------------------------------------------------- */

typedef struct fp_coll {
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    hs_collection_config config;
    hs_digest digest;
    uint64_t content; /* FNV-1a over every point: id or string, vector bits, typed metadata */
    uint64_t points;
} fp_coll;

typedef struct fingerprint {
    fp_coll *v;
    size_t n;
} fingerprint;

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int hash_value(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    uint64_t *h = ctx;
    *h = fnv(*h, k, kl);
    *h = fnv(*h, &v->type, sizeof(v->type));
    if (v->type == HS_VALUE_STRING)
        *h = fnv(*h, v->str, v->len);
    else if (v->type == HS_VALUE_INT || v->type == HS_VALUE_BOOL)
        *h = fnv(*h, &v->i, sizeof(v->i));
    else if (v->type == HS_VALUE_FLOAT)
        *h = fnv(*h, &v->f, sizeof(v->f));
    else
        for (size_t i = 0; i < v->count; i++)
            hash_value(ctx, "", 0, &v->items[i]);
    return 0;
}

static int hash_point(void *ctx, const hs_point_view *p)
{
    fp_coll *c = ctx;
    if (p->sid)
        c->content = fnv(c->content, p->sid, p->sid_len);
    else
        c->content = fnv(c->content, &p->id, sizeof(p->id));
    c->content = fnv(c->content, p->vector, p->dim * sizeof(double));
    hs_meta_each_typed(p, hash_value, &c->content);
    c->points++;
    return 0;
}

static int add_name(void *ctx, const char *tenant, const char *name)
{
    fingerprint *f = ctx;
    f->v = realloc(f->v, (f->n + 1) * sizeof(*f->v));
    fp_coll *c = &f->v[f->n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
    snprintf(c->name, sizeof(c->name), "%s", name);
    return 0;
}

static fingerprint fingerprint_of(hs_db *db)
{
    fingerprint f = {0};
    assert_int_equal(hs_collection_list(db, NULL, add_name, &f, NULL), HS_OK);
    for (size_t i = 0; i < f.n; i++) {
        fp_coll *c = &f.v[i];
        hs_collection *h;
        hs_error err;
        assert_int_equal(hs_collection_open(db, c->tenant, c->name, &h, &err), HS_OK);
        hs_collection_stats st;
        assert_int_equal(hs_collection_stats_get(db, c->tenant, c->name, &st, &err), HS_OK);
        c->config = st.config;
        if (hs_collection_digest(h, &c->digest, &err) != HS_OK)
            fail_msg("digest: %s", err.message);
        c->content = 1469598103934665603ull;
        hs_read_opts o;
        hs_read_opts_init(&o);
        o.limit = 1 << 20;
        o.with_vector = 1;
        assert_int_equal(hs_read(h, &o, hash_point, c, NULL, &err), HS_OK);
        hs_collection_close(h);
    }
    return f;
}

static void same_fingerprint(const fingerprint *a, const fingerprint *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const fp_coll *x = &a->v[i], *y = &b->v[i];
        assert_string_equal(x->tenant, y->tenant);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->config.dimension, y->config.dimension);
        assert_int_equal(x->config.metric, y->config.metric);
        assert_int_equal(x->config.quantization, y->config.quantization);
        assert_int_equal(x->config.m, y->config.m);
        assert_int_equal(x->config.id_type, y->config.id_type);
        assert_int_equal(x->digest.clock, y->digest.clock);
        assert_int_equal(x->digest.count, y->digest.count);
        assert_int_equal(x->digest.state_hash, y->digest.state_hash);
        assert_memory_equal(x->digest.buckets, y->digest.buckets, sizeof(x->digest.buckets));
        assert_int_equal(x->points, y->points);
        assert_int_equal(x->content, y->content);
    }
}

/* ---- a random workload on the source --------------------------------------------------------- */

/* Five collections of different kinds under two tenants. */
static const char *const TEN[5] = {"t1", "t1", "t1", "t2", "t2"};
static const char *const NAM[5] = {"flat", "sids", "ball", "quant", "cos"};

static hs_collection_config config_of(int k)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = k == 2 ? 3 : 4;
    c.metric = k == 0 || k == 3 ? HS_METRIC_L2 : k == 2 ? HS_METRIC_POINCARE : HS_METRIC_COSINE;
    c.quantization = k == 3 ? HS_QUANT_SCALAR : HS_QUANT_NONE;
    c.id_type = k == 1 ? HS_ID_STRING : HS_ID_INTEGER;
    c.m = k == 4 ? 8 : 0;
    return c;
}

static double unit(uint64_t *seed) { return (double)(hs_test_xorshift(seed) % 2001) / 1000 - 1; }

/* Upserts 1..5 random points with typed metadata. */
static int upsert_random(hs_db *db, int k, uint64_t *seed)
{
    hs_collection *h;
    if (hs_collection_open(db, TEN[k], NAM[k], &h, NULL) != HS_OK)
        return HS_ENOTFOUND;
    size_t n = 1 + hs_test_xorshift(seed) % 5;
    hs_point p[5];
    double v[5][4];
    char sid[5][24], str[5][16];
    hs_value val[5][5], items[5][2];
    hs_kv kv[5][5];
    for (size_t i = 0; i < n; i++) {
        uint64_t id = hs_test_xorshift(seed) % 60;
        size_t dim = k == 2 ? 3 : 4;
        for (size_t j = 0; j < dim; j++)
            v[i][j] = unit(seed) * (k == 2 ? 0.5 : 3);
        if (k != 2 && v[i][0] == 0)
            v[i][0] = 0.25;
        snprintf(sid[i], sizeof(sid[i]), "doc-%u-\xc3\xa9", (unsigned)id);
        snprintf(str[i], sizeof(str[i]), "s%u", (unsigned)(hs_test_xorshift(seed) % 100));
        int64_t r = (int64_t)(hs_test_xorshift(seed) % 1000) - 500;
        val[i][0] = (hs_value){.type = HS_VALUE_INT, .i = r};
        val[i][1] = (hs_value){.type = HS_VALUE_FLOAT, .f = unit(seed) * 1e6};
        val[i][2] = (hs_value){.type = HS_VALUE_BOOL, .i = (int64_t)(hs_test_xorshift(seed) & 1)};
        items[i][0] = (hs_value){.type = HS_VALUE_INT, .i = (int64_t)id};
        items[i][1] = (hs_value){.type = HS_VALUE_STRING, .str = "x", .len = 1};
        val[i][3] = (hs_value){.type = HS_VALUE_LIST, .items = items[i], .count = 2};
        kv[i][0] = (hs_kv){"i", 1, NULL, 0, &val[i][0]};
        kv[i][1] = (hs_kv){"f", 1, NULL, 0, &val[i][1]};
        kv[i][2] = (hs_kv){"b", 1, NULL, 0, &val[i][2]};
        kv[i][3] = (hs_kv){"l", 1, NULL, 0, &val[i][3]};
        kv[i][4] = (hs_kv){"s", 1, str[i], strlen(str[i]), NULL};
        size_t nmeta = hs_test_xorshift(seed) % 6;
        p[i] = (hs_point){id, v[i], dim, kv[i], nmeta, NULL, 0};
        if (k == 1) {
            p[i].sid = sid[i];
            p[i].sid_len = strlen(sid[i]);
        }
    }
    int rc = hs_upsert(h, p, n, (hs_durability)(1 + hs_test_xorshift(seed) % 3), NULL);
    hs_collection_close(h);
    return rc;
}

static int delete_random(hs_db *db, int k, uint64_t *seed)
{
    hs_collection *h;
    if (hs_collection_open(db, TEN[k], NAM[k], &h, NULL) != HS_OK)
        return HS_ENOTFOUND;
    size_t n = 1 + hs_test_xorshift(seed) % 3, deleted;
    int rc;
    if (k == 1) {
        char s[3][24];
        hs_sid sids[3];
        for (size_t i = 0; i < n; i++) {
            unsigned id = (unsigned)(hs_test_xorshift(seed) % 60);
            snprintf(s[i], sizeof(s[i]), "doc-%u-\xc3\xa9", id);
            sids[i] = (hs_sid){s[i], strlen(s[i])};
        }
        rc = hs_delete_sids(h, sids, n, HS_DURABILITY_BATCH, &deleted, NULL);
    } else {
        uint64_t ids[3];
        for (size_t i = 0; i < n; i++)
            ids[i] = hs_test_xorshift(seed) % 60;
        rc = hs_delete(h, ids, n, HS_DURABILITY_BATCH, &deleted, NULL);
    }
    hs_collection_close(h);
    return rc;
}

static int payload_random(hs_db *db, int k, uint64_t *seed)
{
    hs_collection *h;
    if (hs_collection_open(db, TEN[k], NAM[k], &h, NULL) != HS_OK)
        return HS_ENOTFOUND;
    hs_value one = {.type = HS_VALUE_INT, .i = (int64_t)(hs_test_xorshift(seed) % 50)};
    hs_kv kv[2] = {{"p", 1, NULL, 0, &one}, {"i", 1, "seven", 5, NULL}};
    hs_payload_opts o;
    hs_payload_opts_init(&o);
    o.mode = (hs_payload_mode)(hs_test_xorshift(seed) % 3);
    o.meta = kv;
    o.nmeta = 2;
    uint64_t ids[2] = {hs_test_xorshift(seed) % 60, hs_test_xorshift(seed) % 60};
    char s[2][24];
    hs_sid sids[2];
    for (int i = 0; i < 2; i++) {
        snprintf(s[i], sizeof(s[i]), "doc-%u-\xc3\xa9", (unsigned)ids[i]);
        sids[i] = (hs_sid){s[i], strlen(s[i])};
    }
    if (k == 1)
        o.sids = sids;
    else
        o.ids = ids;
    o.nids = 2;
    hs_payload_result r;
    int rc = hs_update_payload(h, &o, &r, NULL);
    hs_collection_close(h);
    return rc;
}

static int drop_permille = 30; /* of the random operations */

/* One random operation; returns 1 when it asks for a restart of the source. */
static int random_op(hs_db *db, uint64_t *seed, bool with_restart)
{
    int k = (int)(hs_test_xorshift(seed) % 5), op = (int)(hs_test_xorshift(seed) % 100);
    hs_collection_config c = config_of(k);
    hs_collection *h;
    if (op < 3) {
        if ((int)(hs_test_xorshift(seed) % 30) < drop_permille)
            hs_collection_drop(db, TEN[k], NAM[k], NULL);
    } else if (op < 12) {
        hs_collection_create(db, TEN[k], NAM[k], &c, NULL);
    } else if (op < 60) {
        upsert_random(db, k, seed);
    } else if (op < 75) {
        delete_random(db, k, seed);
    } else if (op < 88) {
        payload_random(db, k, seed);
    } else if (op < 92) {
        if (hs_collection_open(db, TEN[k], NAM[k], &h, NULL) == HS_OK) {
            hs_collection_rebuild(h, NULL);
            hs_collection_close(h);
        }
    } else if (op < 99) {
        if (hs_collection_open(db, TEN[k], NAM[k], &h, NULL) == HS_OK) {
            hs_collection_checkpoint(h, NULL);
            hs_collection_close(h);
        }
    } else {
        return with_restart;
    }
    return 0;
}

/* ---- rules ----------------------------------------------------------------------------------- */

static hs_change mk(hs_change_kind kind, uint64_t clock)
{
    hs_change ch;
    memset(&ch, 0, sizeof(ch));
    ch.kind = kind;
    ch.clock = clock;
    return ch;
}

static uint64_t coll_clock(hs_db *db, const char *t, const char *n)
{
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, t, n, &st, NULL), HS_OK);
    return st.clock;
}

static void test_rules(void **state)
{
    (void)state;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.max_collections_per_tenant = 1;
    o.indexer_threads = 1;
    hs_db *f;
    assert_int_equal(hs_db_open(froot, &o, &f, NULL), HS_OK);
    hs_error err;
    int applied;
    /* CREATE at clock 10: merge C := max(C, 10) + 1 */
    hs_change ch = mk(HS_CHANGE_CREATE, 10);
    ch.config = config_of(4); /* cosine */
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(hs_db_clock(f), 11);
    assert_int_equal(coll_clock(f, "t", "a"), 10);
    /* the same again, and an older one: skipped */
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    ch.clock = 5;
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    /* a second collection of the tenant: over the quota, created anyway */
    ch.clock = 12;
    assert_int_equal(hs_db_replicate(f, "t", "b", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    /* UPSERT: the stored vector as it is (not normalised again) */
    double v[4] = {0.5f, 0.25f, 0.125f, 1}; /* not of norm 1: a normalisation would show */
    hs_value iv = {.type = HS_VALUE_INT, .i = 42};
    hs_kv kv = {"n", 1, NULL, 0, &iv};
    ch = mk(HS_CHANGE_UPSERT, 20);
    ch.point = (hs_point_view){7, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, &kv, 1, HS_DURABILITY_BATCH, &applied,
                                     &err), HS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(coll_clock(f, "t", "a"), 20);
    assert_int_equal(hs_db_clock(f), 21);
    hs_collection *h;
    assert_int_equal(hs_collection_open(f, "t", "a", &h, NULL), HS_OK);
    double got[4];
    assert_int_equal(hs_get(h, 7, got, NULL, NULL, &err), HS_OK);
    assert_memory_equal(got, v, sizeof(v));
    /* skipped at or below the collection's clock */
    ch.clock = 20;
    v[0] = 1;
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, &kv, 1, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    ch.clock = 15;
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, &kv, 1, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(hs_get(h, 7, got, NULL, NULL, &err), HS_OK);
    assert_true(got[0] == 0.5);
    /* frozen: still applied */
    assert_int_equal(hs_collection_freeze(f, "t", "a", 1, &err), HS_OK);
    ch.clock = 25;
    ch.point.id = 8;
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, HS_DURABILITY_ASYNC, &applied,
                                     &err), HS_OK);
    assert_int_equal(applied, 1);
    /* a batch straddling the clock: the first two skipped */
    hs_point pts[4];
    for (int i = 0; i < 4; i++)
        pts[i] = (hs_point){100 + (uint64_t)i, v, 4, NULL, 0, NULL, 0};
    size_t n;
    assert_int_equal(hs_db_replicate_upserts(f, "t", "a", 24, pts, 4, 0, &n, &err), HS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(coll_clock(f, "t", "a"), 27);
    assert_int_equal(hs_get(h, 100, NULL, NULL, NULL, &err), HS_ENOTFOUND);
    assert_int_equal(hs_get(h, 102, NULL, NULL, NULL, &err), HS_OK);
    /* DELETE: of a live point and of one that is not: both take their clock */
    ch = mk(HS_CHANGE_DELETE, 30);
    ch.point.id = 7;
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    ch.clock = 31;
    ch.point.id = 999;
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(coll_clock(f, "t", "a"), 31);
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(hs_get(h, 7, NULL, NULL, NULL, &err), HS_ENOTFOUND);
    hs_collection_close(h);
    /* a missing collection */
    ch = mk(HS_CHANGE_UPSERT, 40);
    ch.point = (hs_point_view){1, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "zz", &ch, NULL, 0, 0, &applied, &err),
                     HS_ENOTFOUND);
    /* a wrong dimension is refused, nothing applied */
    ch = mk(HS_CHANGE_UPSERT, 41);
    ch.point = (hs_point_view){1, v, 3, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "b", &ch, NULL, 0, 0, &applied, &err), HS_EDIM);
    assert_int_equal(coll_clock(f, "t", "b"), 12);
    /* DROP: not of a newer incarnation; of the older one yes */
    ch = mk(HS_CHANGE_DROP, 11);
    assert_int_equal(hs_db_replicate(f, "t", "b", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    ch.clock = 50;
    assert_int_equal(hs_db_replicate(f, "t", "b", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(hs_db_replicate(f, "t", "b", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(hs_db_clock(f), 51);
    /* CREATE of a newer incarnation replaces the older one */
    ch = mk(HS_CHANGE_CREATE, 60);
    ch.config = config_of(0);
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(f, "t", "a", &st, NULL), HS_OK);
    assert_int_equal(st.count, 0);
    assert_int_equal(st.clock, 60);
    assert_int_equal(st.config.metric, HS_METRIC_L2);
    ch = mk(HS_CHANGE_UPSERT, 61);
    ch.point = (hs_point_view){5, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(hs_db_sync(f, &err), HS_OK);
    assert_int_equal(hs_db_applied_clock(f), 61);
    /* after a restart the collection's clock is the leader's, from the log; the follower's own
     * reader sees the leader's clocks */
    hs_db_close(f, NULL);
    assert_int_equal(hs_db_open(froot, &o, &f, NULL), HS_OK);
    assert_int_equal(coll_clock(f, "t", "a"), 61);
    assert_true(hs_db_clock(f) >= 62);
    hs_changes *r;
    assert_int_equal(hs_changes_open(f, "t", "a", NULL, &r, NULL), HS_OK);
    hs_change c;
    int gotc;
    assert_int_equal(hs_changes_next(r, &c, &gotc, NULL), HS_OK);
    assert_int_equal(c.kind, HS_CHANGE_CREATE);
    assert_int_equal(c.clock, 60);
    assert_int_equal(hs_changes_next(r, &c, &gotc, NULL), HS_OK);
    assert_int_equal(c.kind, HS_CHANGE_UPSERT);
    assert_int_equal(c.clock, 61);
    hs_changes_close(r);
    ch = mk(HS_CHANGE_UPSERT, 61); /* re-sent after the restart: skipped */
    ch.point = (hs_point_view){6, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    ch = mk((hs_change_kind)9, 70);
    assert_int_equal(hs_db_replicate(f, "t", "a", &ch, NULL, 0, 0, &applied, &err), HS_EINVAL);
    hs_db_close(f, NULL);
}

/* ---- restore keeps the clocks ---------------------------------------------------------------- */

typedef struct membuf {
    uint8_t *p;
    size_t len, cap, off;
} membuf;

static int sink(void *ctx, const void *buf, size_t len)
{
    membuf *m = ctx;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static long source(void *ctx, void *buf, size_t room)
{
    membuf *m = ctx;
    size_t n = room < m->len - m->off ? room : m->len - m->off;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (long)n;
}

/* Bootstraps follower `to` from a node snapshot of `from`; returns the snapshot's clock. */
static uint64_t bootstrap(hs_db *from, hs_db *to)
{
    membuf m = {0};
    hs_snapshot_info info;
    hs_error err;
    if (hs_snapshot_write(from, NULL, NULL, sink, &m, &info, &err) != HS_OK)
        fail_msg("snapshot: %s", err.message);
    if (hs_snapshot_import(to, "boot.hsnap", source, &m, NULL, &err) != HS_OK)
        fail_msg("import: %s", err.message);
    hs_restore_opts o;
    hs_restore_opts_init(&o);
    o.replace = 1;
    if (hs_snapshot_restore(to, "boot.hsnap", &o, NULL, NULL, &err) != HS_OK)
        fail_msg("restore: %s", err.message);
    free(m.p);
    return info.clock;
}

static void test_restore_keeps_clocks(void **state)
{
    (void)state;
    hs_db *src = open_at(root, 1000);
    uint64_t seed = 99;
    for (int k = 0; k < 5; k++) {
        hs_collection_config c = config_of(k);
        assert_int_equal(hs_collection_create(src, TEN[k], NAM[k], &c, NULL), HS_OK);
    }
    for (int i = 0; i < 60; i++)
        upsert_random(src, i % 5, &seed);
    hs_db *f = open_at(froot, 1000);
    uint64_t C = bootstrap(src, f);
    assert_true(hs_db_clock(f) >= C);
    /* the whole stream up to C: every change skipped (creation clocks and clocks kept) */
    hs_node_changes *r;
    assert_int_equal(hs_node_changes_open(src, 0, &r, NULL), HS_OK);
    stream s = {0};
    assert_int_equal(pull(r, &s, NULL), HS_OK);
    hs_node_changes_close(r);
    size_t missing = 0;
    int rc;
    hs_error err;
    assert_int_equal(apply(f, s.v, s.n, false, 0, &missing, &rc, &err), 0);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(missing, 0);
    fingerprint a = fingerprint_of(src), b = fingerprint_of(f);
    same_fingerprint(&a, &b);
    free(a.v);
    free(b.v);
    stream_free(&s);
    /* later changes apply */
    for (int i = 0; i < 20; i++)
        upsert_random(src, i % 5, &seed);
    assert_int_equal(hs_collection_drop(src, TEN[0], NAM[0], NULL), HS_OK);
    assert_int_equal(hs_node_changes_open(src, C, &r, NULL), HS_OK);
    assert_int_equal(pull(r, &s, NULL), HS_OK);
    hs_node_changes_close(r);
    assert_int_equal(apply(f, s.v, s.n, true, 0, &missing, &rc, &err), s.n);
    assert_int_equal(rc, HS_OK);
    a = fingerprint_of(src);
    b = fingerprint_of(f);
    same_fingerprint(&a, &b);
    free(a.v);
    free(b.v);
    stream_free(&s);
    hs_db_close(f, NULL);
    hs_db_close(src, NULL);
}

/* ---- convergence ----------------------------------------------------------------------------- */

typedef struct feed {
    hs_db *src, *f;
    hs_node_changes *r;
    bool batch;
    stream all; /* everything fed, for the record */
    size_t missing;
    int rc;
    hs_error err;
} feed;

/* Pulls what the reader has and applies it. */
static int feed_once(feed *x)
{
    size_t from = x->all.n;
    int rc = pull(x->r, &x->all, &x->err);
    if (rc != HS_OK)
        return rc;
    apply(x->f, x->all.v + from, x->all.n - from, x->batch,
          x->batch ? HS_DURABILITY_ASYNC : HS_DURABILITY_BATCH, &x->missing, &rc, &x->err);
    return rc;
}

typedef struct writers_run {
    hs_db *src;
    int stop; /* atomic */
} writers_run;

static writers_run W;

static void *writer_main(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7777 + 1;
    for (int i = 0; i < 150; i++)
        random_op(W.src, &seed, false);
    return NULL;
}

static feed FA, FB;

static void *feeder_main(void *arg)
{
    feed *x = arg;
    for (;;) {
        int stop = __atomic_load_n(&W.stop, __ATOMIC_ACQUIRE);
        x->rc = feed_once(x);
        if (x->rc != HS_OK)
            return NULL;
        if (stop && hs_node_changes_position(x->r) == hs_db_clock(x->src))
            return NULL;
        hs_db_wait_applied(x->src, hs_node_changes_position(x->r), 5);
    }
}

static void test_converge(void **state)
{
    (void)state;
    hs_db *src = open_at(root, 3);
    drop_permille = 10; /* drops 1 %: enough of the state lasts to compare */
    memset(&FA, 0, sizeof(FA));
    memset(&FB, 0, sizeof(FB));
    FA.src = src;
    FA.f = open_at(froot, 2);
    FA.batch = false;
    assert_int_equal(hs_node_changes_open(src, 0, &FA.r, NULL), HS_OK);
    uint64_t seed = 12345;
    /* sequential: the mix with restarts of the source, fed every few operations */
    for (int i = 0; i < 600; i++) {
        if (random_op(src, &seed, true)) {
            uint64_t pos = hs_node_changes_position(FA.r);
            hs_node_changes_close(FA.r);
            assert_int_equal(hs_db_close(src, NULL), HS_OK);
            src = open_at(root, 3);
            FA.src = src;
            assert_int_equal(hs_node_changes_open(src, pos, &FA.r, NULL), HS_OK);
        }
        if (i % 17 == 0 && feed_once(&FA) != HS_OK)
            fail_msg("feed: %s", FA.err.message);
    }
    /* caught up: the same state */
    while (hs_node_changes_position(FA.r) < hs_db_clock(src))
        if (feed_once(&FA) != HS_OK)
            fail_msg("feed: %s", FA.err.message);
    assert_int_equal(hs_db_sync(FA.f, NULL), HS_OK);
    fingerprint mid = fingerprint_of(src), mid_f = fingerprint_of(FA.f);
    size_t points = 0;
    for (size_t i = 0; i < mid.n; i++)
        points += mid.v[i].points;
    print_message("midway: %zu collections, %zu points\n", mid.n, points);
    assert_true(mid.n >= 3);
    same_fingerprint(&mid, &mid_f);
    free(mid.v);
    free(mid_f.v);
    /* a second follower from a node snapshot taken now */
    FB.src = src;
    FB.f = open_at(groot, 1000);
    FB.batch = true;
    uint64_t C = bootstrap(src, FB.f);
    assert_int_equal(hs_node_changes_open(src, C, &FB.r, NULL), HS_OK);
    /* concurrent: writer threads on the source, both followers fed by threads */
    W.src = src;
    W.stop = 0;
    pthread_t w[3], fa, fb;
    for (uintptr_t i = 0; i < 3; i++)
        pthread_create(&w[i], NULL, writer_main, (void *)(i + 1));
    pthread_create(&fa, NULL, feeder_main, &FA);
    pthread_create(&fb, NULL, feeder_main, &FB);
    for (int i = 0; i < 3; i++)
        pthread_join(w[i], NULL);
    __atomic_store_n(&W.stop, 1, __ATOMIC_RELEASE);
    pthread_join(fa, NULL);
    pthread_join(fb, NULL);
    if (FA.rc != HS_OK)
        fail_msg("feed a: %s", FA.err.message);
    if (FB.rc != HS_OK)
        fail_msg("feed b: %s", FB.err.message);
    assert_int_equal(hs_db_sync(FA.f, NULL), HS_OK);
    assert_int_equal(hs_db_sync(FB.f, NULL), HS_OK);
    print_message("%zu changes fed (%zu to a missing collection), %zu from the snapshot at %llu\n",
                  FA.all.n, FA.missing, FB.all.n, (unsigned long long)C);
    assert_true(FA.all.n > 500);
    fingerprint a = fingerprint_of(src), fa_fp = fingerprint_of(FA.f), fb_fp = fingerprint_of(FB.f);
    points = 0;
    for (size_t i = 0; i < a.n; i++)
        points += a.v[i].points;
    print_message("the source: %zu collections, %zu points\n", a.n, points);
    assert_true(a.n >= 1);
    same_fingerprint(&a, &fa_fp);
    same_fingerprint(&a, &fb_fp);
    /* the whole stream again (duplicates): nothing applied, nothing changed */
    hs_node_changes *r;
    assert_int_equal(hs_node_changes_open(src, 0, &r, NULL), HS_OK);
    stream again = {0};
    assert_int_equal(pull(r, &again, NULL), HS_OK);
    hs_node_changes_close(r);
    size_t missing = 0;
    int rc;
    hs_error err;
    assert_int_equal(apply(FA.f, again.v, again.n, false, 0, &missing, &rc, &err), 0);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(apply(FA.f, FA.all.v, FA.all.n, true, 0, &missing, &rc, &err), 0);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(apply(FB.f, again.v, again.n, true, 0, &missing, &rc, &err), 0);
    assert_int_equal(rc, HS_OK);
    fingerprint a2 = fingerprint_of(FA.f);
    same_fingerprint(&a, &a2);
    /* a restarted follower: the same, clocks from its own log */
    assert_int_equal(hs_db_close(FA.f, NULL), HS_OK);
    FA.f = open_at(froot, 2);
    fingerprint a3 = fingerprint_of(FA.f);
    same_fingerprint(&a, &a3);
    free(a.v);
    free(fa_fp.v);
    free(fb_fp.v);
    free(a2.v);
    free(a3.v);
    drop_permille = 30;
    stream_free(&again);
    stream_free(&FA.all);
    stream_free(&FB.all);
    hs_node_changes_close(FA.r);
    hs_node_changes_close(FB.r);
    hs_db_close(FA.f, NULL);
    hs_db_close(FB.f, NULL);
    hs_db_close(src, NULL);
}

/* ---- a follower killed mid-stream ------------------------------------------------------------ */

static uint64_t read_pos(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/position", froot);
    FILE *fp = fopen(path, "r");
    unsigned long long v = 0;
    if (fp) {
        if (fscanf(fp, "%llu", &v) != 1)
            v = 0;
        fclose(fp);
    }
    return v;
}

static void write_pos(uint64_t pos)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)pos);
    hs_file_replace(hs_io_posix(), froot, "position", buf, (size_t)n, NULL);
}

/* The child: resumes after the persisted position, persists it after a sync every 20 changes,
 * and kills itself after applying `stop_after` changes (no sync, no close). */
static void follower_child(const stream *s, size_t stop_after)
{
    hs_db *f;
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.indexer_threads = 1;
    o.max_loaded = 2;
    if (hs_db_open(froot, &o, &f, NULL) != HS_OK)
        _exit(3);
    uint64_t pos = read_pos();
    size_t i = 0, done = 0;
    while (i < s->n && s->v[i].clock <= pos)
        i++;
    for (; i < s->n; i++) {
        size_t missing = 0;
        int rc;
        hs_error err;
        apply(f, &s->v[i], 1, false, HS_DURABILITY_ASYNC, &missing, &rc, &err);
        if (rc != HS_OK) {
            fprintf(stderr, "child: %s\n", err.message);
            _exit(4);
        }
        if (++done == stop_after)
            kill(getpid(), SIGKILL);
        if (done % 20 == 0) {
            if (hs_db_sync(f, NULL) != HS_OK)
                _exit(5);
            write_pos(s->v[i].clock);
        }
    }
    _exit(0);
}

static void test_crash_resume(void **state)
{
    (void)state;
    hs_db *src = open_at(root, 3);
    uint64_t seed = 777;
    drop_permille = 3; /* a few drops: most of the stream stays (a drop supersedes) */
    for (int i = 0; i < 700; i++) {
        if (random_op(src, &seed, true)) {
            assert_int_equal(hs_db_close(src, NULL), HS_OK);
            src = open_at(root, 3);
        }
    }
    hs_node_changes *r;
    assert_int_equal(hs_node_changes_open(src, 0, &r, NULL), HS_OK);
    stream s = {0};
    assert_int_equal(pull(r, &s, NULL), HS_OK);
    hs_node_changes_close(r);
    fingerprint a = fingerprint_of(src);
    drop_permille = 30;
    assert_int_equal(hs_db_close(src, NULL), HS_OK); /* no thread of ours runs from here */
    size_t points = 0;
    for (size_t i = 0; i < a.n; i++)
        points += a.v[i].points;
    print_message("%zu changes in the stream, %zu collections, %zu points\n", s.n, a.n, points);
    assert_true(s.n > 200);
    /* killed four times, each after a few changes past its last persisted position */
    size_t stops[4] = {37, 61, 23, 90};
    for (int k = 0; k < 4; k++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            follower_child(&s, stops[k]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                    (WIFEXITED(status) && WEXITSTATUS(status) == 0));
    }
    /* the last resume, to the end */
    hs_db *f = open_at(froot, 2);
    uint64_t pos = read_pos();
    size_t i = 0;
    while (i < s.n && s.v[i].clock <= pos)
        i++;
    print_message("%zu changes, resuming the last time after clock %llu (change %zu)\n", s.n,
                  (unsigned long long)pos, i);
    assert_true(pos > 0);
    size_t missing = 0;
    int rc;
    hs_error err;
    apply(f, s.v + i, s.n - i, true, HS_DURABILITY_BATCH, &missing, &rc, &err);
    assert_int_equal(rc, HS_OK);
    assert_int_equal(hs_db_sync(f, NULL), HS_OK);
    fingerprint b = fingerprint_of(f);
    same_fingerprint(&a, &b);
    free(a.v);
    free(b.v);
    stream_free(&s);
    hs_db_close(f, NULL);
}

/* A follower taking a new leader (B11.5): its own drops noted at its clock (which jumps at
 * each restart) would skip the new leader's creates at low clocks; hs_db_replica_reset drops
 * everything silently, forgets the notes, keeps the node clock and raises the drop horizon
 * above it, so the new history applies and no reader of the old history goes on. */
static void test_reset(void **state)
{
    (void)state;
    hs_db *f = open_at(froot, 0);
    hs_error err;
    int applied;
    double v[4] = {1, 0, 0, 0};
    hs_change ch = mk(HS_CHANGE_CREATE, 1);
    ch.config = config_of(0);
    assert_int_equal(hs_db_replicate(f, "t", "default", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    ch = mk(HS_CHANGE_UPSERT, 2);
    ch.point = (hs_point_view){7, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "default", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    /* the old way of discarding: a drop with this node's tick, noted */
    assert_int_equal(hs_collection_drop(f, "t", "default", &err), HS_OK);
    hs_db_close(f, NULL);
    f = open_at(froot, 0); /* the clock jumps past its reservation */
    ch = mk(HS_CHANGE_CREATE, 3);
    ch.config = config_of(0);
    assert_int_equal(hs_db_replicate(f, "t", "x", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    /* the bug: a new leader's create of `default` at clock 1 is skipped by the note */
    ch = mk(HS_CHANGE_CREATE, 1);
    ch.config = config_of(0);
    assert_int_equal(hs_db_replicate(f, "t", "default", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 0);
    hs_node_changes *r;
    assert_int_equal(hs_node_changes_open(f, 0, &r, &err), HS_OK); /* the old history */
    uint64_t c = hs_db_clock(f);
    assert_true(c > 65536);
    assert_int_equal(hs_db_replica_reset(f, 0, &err), HS_OK);
    assert_int_equal(hs_db_clock(f), c); /* never back */
    hs_collection *h;
    assert_int_equal(hs_collection_open(f, "t", "x", &h, &err), HS_ENOTFOUND);
    /* a reader of the old history ends at its next call; none opens below c + 1 */
    hs_node_change nc;
    int got;
    assert_int_equal(hs_node_changes_next(r, &nc, &got, &err), HS_ETRUNCATED);
    hs_node_changes_close(r);
    assert_int_equal(hs_node_changes_open(f, 0, &r, &err), HS_ETRUNCATED);
    assert_int_equal(err.expected, c + 1);
    assert_int_equal(hs_node_changes_open(f, c, &r, &err), HS_ETRUNCATED);
    /* a reader whose position lies in the history held now (a follower whose epochs say so)
     * is not ended by the history the reset forgot: this one gets the new history below */
    hs_node_changes *same;
    assert_int_equal(hs_node_changes_open_ex(f, 1, HS_NODE_CHANGES_SAME_HISTORY, &same, &err),
                     HS_OK);
    /* the new leader's history applies from clock 1 */
    assert_int_equal(hs_db_replicate(f, "t", "default", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    ch = mk(HS_CHANGE_UPSERT, 2);
    ch.point = (hs_point_view){7, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "default", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(coll_clock(f, "t", "default"), 2);
    ch = mk(HS_CHANGE_CREATE, 3);
    ch.config = config_of(0);
    assert_int_equal(hs_db_replicate(f, "t", "x", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(hs_node_changes_next(same, &nc, &got, &err), HS_OK); /* after clock 1 */
    assert_int_equal(got, 1);
    assert_int_equal(nc.change.clock, 2);
    assert_string_equal(nc.name, "default");
    assert_int_equal(hs_node_changes_next(same, &nc, &got, &err), HS_OK);
    assert_int_equal(got, 1);
    assert_int_equal(nc.change.clock, 3);
    assert_int_equal(nc.change.kind, HS_CHANGE_CREATE);
    hs_node_changes_close(same);
    /* a reader above the old history gets the new history's changes above it, nothing else */
    assert_int_equal(hs_db_clock(f), c + 3); /* each merge: max(C, r) + 1 */
    assert_int_equal(hs_node_changes_open(f, c + 1, &r, &err), HS_OK);
    ch = mk(HS_CHANGE_UPSERT, c + 5);
    ch.point = (hs_point_view){8, v, 4, NULL, NULL, 0};
    assert_int_equal(hs_db_replicate(f, "t", "x", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(hs_db_wait_applied(f, c + 4, 1000), c + 5);
    assert_int_equal(hs_node_changes_next(r, &nc, &got, &err), HS_OK);
    assert_int_equal(got, 1);
    assert_int_equal(nc.change.clock, c + 5);
    assert_string_equal(nc.name, "x");
    assert_int_equal(hs_node_changes_next(r, &nc, &got, &err), HS_OK);
    assert_int_equal(got, 0);
    hs_node_changes_close(r);
    /* durable: after a restart the notes stay forgotten and the horizon stays */
    hs_db_close(f, NULL);
    f = open_at(froot, 0);
    assert_int_equal(hs_node_changes_open(f, c, &r, &err), HS_ETRUNCATED);
    assert_int_equal(coll_clock(f, "t", "default"), 2);
    assert_int_equal(coll_clock(f, "t", "x"), c + 5);
    /* the clock held is the latest change, not the clock's reservation after the restart */
    assert_int_equal(hs_db_held_clock(f), c + 5);
    assert_true(hs_db_clock(f) > c + 5 + 60000);
    /* reset again with a horizon above the clock (a bootstrap's archive clock) */
    uint64_t c2 = hs_db_clock(f);
    assert_int_equal(hs_node_changes_open_ex(f, 1, HS_NODE_CHANGES_SAME_HISTORY, &r, &err),
                     HS_OK); /* kept across the restart */
    hs_node_changes_close(r);
    assert_int_equal(hs_db_replica_reset(f, c2 + 100, &err), HS_OK);
    assert_int_equal(hs_node_changes_open(f, c2, &r, &err), HS_ETRUNCATED);
    assert_int_equal(err.expected, c2 + 100);
    /* below a bootstrap archive's clock nothing is in the logs, whatever the history */
    assert_int_equal(hs_node_changes_open_ex(f, c2, HS_NODE_CHANGES_SAME_HISTORY, &r, &err),
                     HS_ETRUNCATED);
    assert_int_equal(err.expected, c2 + 100);
    ch = mk(HS_CHANGE_CREATE, 1);
    ch.config = config_of(0);
    assert_int_equal(hs_db_replicate(f, "t", "default", &ch, NULL, 0, 0, &applied, &err), HS_OK);
    assert_int_equal(applied, 1);
    hs_db_close(f, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_keeps_clocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_converge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
