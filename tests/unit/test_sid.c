/*
 * test_sid.c: string ids (hs_collection_config.id_type HS_ID_STRING) through the public API on
 * real files: the string map itself, writes, reads, searches and scrolls by string, the kind
 * rule (a collection takes ids of its own kind only), the checks of a string id (empty, too
 * long, not UTF-8, a NUL byte) that change nothing, deletes freeing the mapping, payload
 * updates, and all of it through close / reopen (log replay), checkpoints, rebuilds, a reopen
 * without the catalog file, and writers racing on the same strings.
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

#include "hs_test.h"
#include "hyperspace.h"
#include "storage/storage.h"
#include "util/sidmap.h"

static char root[64];
static const char *T = "default_admin";

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "sid"), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static hs_db *open_db(void)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.exact_threshold = 0; /* searches walk the graph */
    hs_db *db;
    hs_error err;
    if (hs_db_open(root, &o, &db, &err) != HS_OK)
        fail_msg("open: %s", err.message);
    return db;
}

static hs_collection *coll(hs_db *db, const char *name)
{
    hs_collection *h;
    hs_error err;
    if (hs_collection_open(db, T, name, &h, &err) != HS_OK)
        fail_msg("open %s: %s", name, err.message);
    return h;
}

static void create(hs_db *db, const char *name, hs_id_type kind)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 2;
    c.metric = HS_METRIC_L2;
    c.id_type = kind;
    hs_error err;
    if (hs_collection_create(db, T, name, &c, &err) != HS_OK)
        fail_msg("create: %s", err.message);
}

/* The string id of point i: a UUID-shaped string for even i, a path with non-ASCII for odd. */
static const char *sid_of(unsigned i, char *buf, size_t len)
{
    if (i % 2 == 0)
        snprintf(buf, len, "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
    else
        snprintf(buf, len, "docs/caf\xc3\xa9/%u.md", i);
    return buf;
}

static int upsert_sid(hs_collection *h, const char *sid, double x, const char *tag,
                      hs_error *err)
{
    double v[2] = {x, -x};
    hs_kv kv[1] = {{"tag", 3, tag, strlen(tag), NULL}};
    hs_point p = {.vector = v, .dim = 2, .meta = kv, .nmeta = 1, .sid = sid,
                  .sid_len = strlen(sid)};
    return hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, err);
}

static void fill(hs_collection *h, unsigned n)
{
    char b[64];
    hs_error err;
    for (unsigned i = 0; i < n; i++)
        if (upsert_sid(h, sid_of(i, b, sizeof(b)), i, "t", &err) != HS_OK)
            fail_msg("upsert %u: %s", i, err.message);
}

typedef struct got {
    char meta[256];
    size_t n;
} got;

static int put_kv(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    got *g = ctx;
    g->n += (size_t)snprintf(g->meta + g->n, sizeof(g->meta) - g->n, "%.*s=%.*s;", (int)kl, k,
                             (int)vl, v);
    return 0;
}

/* The metadata of the point of sid ("" text), or NULL when it is not live; *x its vector[0]. */
static const char *get_sid(hs_collection *h, const char *sid, double *x)
{
    static got g;
    memset(&g, 0, sizeof(g));
    double v[2];
    hs_error err;
    int rc = hs_get_sid(h, sid, strlen(sid), v, put_kv, &g, &err);
    if (rc == HS_ENOTFOUND)
        return NULL;
    if (rc != HS_OK)
        fail_msg("get %s: %s", sid, err.message);
    if (x)
        *x = v[0];
    return g.meta;
}

static uint64_t live_count(hs_collection *h)
{
    uint64_t n = 0;
    hs_error err;
    assert_int_equal(hs_test_count(h, NULL, NULL, &n, &err), HS_OK);
    return n;
}

/* ---- the map ------------------------------------------------------------------------------- */

static uint8_t *blob(const char *s, uint64_t key)
{
    size_t len = strlen(s);
    uint8_t *b = malloc(HS_SID_HDR + len);
    hs_put_le64(b, key);
    b[8] = (uint8_t)len;
    b[9] = (uint8_t)(len >> 8);
    memcpy(b + HS_SID_HDR, s, len);
    return b;
}

static void test_sidmap(void **state)
{
    (void)state;
    enum { N = 5000 };
    hs_sidmap m;
    hs_sidmap_init(&m);
    uint8_t **b = calloc(N, sizeof(*b));
    char s[32];
    for (unsigned i = 0; i < N; i++) {
        snprintf(s, sizeof(s), "id-%u", i);
        b[i] = blob(s, i);
        assert_int_equal(hs_sidmap_put(&m, b[i]), HS_OK);
    }
    assert_int_equal(m.count, N);
    /* every third one goes; the runs they leave behind are shifted back */
    for (unsigned i = 0; i < N; i += 3)
        assert_true(hs_sidmap_del(&m, b[i]));
    for (unsigned i = 0; i < N; i++) {
        snprintf(s, sizeof(s), "id-%u", i);
        uint8_t *f = hs_sidmap_get(&m, s, strlen(s));
        if (i % 3 == 0)
            assert_null(f);
        else
            assert_true(f == b[i] && hs_sid_key(f) == i);
    }
    /* a blob of the same string replaces the entry; deleting the replaced blob does nothing */
    uint8_t *again = blob("id-1", 77);
    assert_int_equal(hs_sidmap_put(&m, again), HS_OK);
    assert_false(hs_sidmap_del(&m, b[1]));
    assert_true(hs_sidmap_get(&m, "id-1", 4) == again);
    assert_null(hs_sidmap_get(&m, "id-", 3));      /* a prefix is another string */
    assert_null(hs_sidmap_get(&m, "id-10000", 8)); /* never there */
    assert_int_equal(m.count, N - (N + 2) / 3);
    hs_sidmap_destroy(&m);
    for (unsigned i = 0; i < N; i++)
        free(b[i]);
    free(b);
    free(again);
}

/* ---- writes and reads ---------------------------------------------------------------------- */

typedef struct hit_sids {
    char sid[10][64];
} hit_sids;

static int on_hit(void *ctx, size_t i, const hs_point_view *p)
{
    hit_sids *h = ctx;
    assert_non_null(p->sid);
    snprintf(h->sid[i], sizeof(h->sid[i]), "%.*s", (int)p->sid_len, p->sid);
    return 0;
}

static void test_write_read_search(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    fill(h, 200);
    char b[64];
    double x = -1;
    assert_string_equal(get_sid(h, sid_of(7, b, sizeof(b)), &x), "tag=t;");
    assert_true(x == 7);
    assert_null(get_sid(h, "absent", NULL));
    assert_int_equal(live_count(h), 200);

    /* searches carry the string of each hit; the key in hs_hit.id reads the same point */
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 3;
    hit_sids hs = {0};
    so.on_result = on_hit;
    so.result_ctx = &hs;
    hs_hit hits[3];
    size_t n = 0;
    double q[2] = {41.2, -41.2};
    hs_error err;
    assert_int_equal(hs_search(h, q, 2, &so, hits, &n, &err), HS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(hs.sid[0], sid_of(41, b, sizeof(b)));
    assert_string_equal(hs.sid[1], sid_of(42, b, sizeof(b)));
    assert_string_equal(hs.sid[2], sid_of(40, b, sizeof(b)));
    double v[2];
    assert_int_equal(hs_get(h, hits[0].id, v, NULL, NULL, &err), HS_OK);
    assert_true(v[0] == 41);

    /* an upsert of a live string replaces it and keeps its key */
    uint64_t key = hits[0].id;
    assert_int_equal(upsert_sid(h, sid_of(41, b, sizeof(b)), 1000, "new", &err), HS_OK);
    assert_string_equal(get_sid(h, b, &x), "tag=new;");
    assert_true(x == 1000);
    assert_int_equal(live_count(h), 200);
    assert_int_equal(hs_get(h, key, v, NULL, NULL, &err), HS_OK);
    assert_true(v[0] == 1000);

    /* one string twice in a batch: the later one wins, one point */
    double v1[2] = {1, 1}, v2[2] = {2, 2};
    hs_point two[2] = {{.vector = v1, .dim = 2, .sid = "dup", .sid_len = 3},
                       {.vector = v2, .dim = 2, .sid = "dup", .sid_len = 3}};
    assert_int_equal(hs_upsert(h, two, 2, HS_DURABILITY_STRICT, &err), HS_OK);
    assert_non_null(get_sid(h, "dup", &x));
    assert_true(x == 2);
    assert_int_equal(live_count(h), 201);

    /* ids by string, in the order asked, missing ones skipped */
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_IDS;
    hs_sid ask[3] = {{"dup", 3}, {"nope", 4}, {sid_of(3, b, sizeof(b)), strlen(b)}};
    ro.sids = ask;
    ro.nsids = 3;
    hs_read_result rr;
    assert_int_equal(hs_read(h, &ro, NULL, NULL, &rr, &err), HS_OK);
    assert_int_equal(rr.visited, 2);

    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, T, "s", &st, &err), HS_OK);
    assert_int_equal(st.config.id_type, HS_ID_STRING);
    assert_int_equal(st.count, 201);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- the kind rule and the checks of an id ------------------------------------------------- */

static void test_kinds_and_bad_ids(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    create(db, "i", HS_ID_INTEGER);
    hs_collection *s = coll(db, "s"), *in = coll(db, "i");
    assert_int_equal(hs_collection_id_type(db, T, "s", NULL), HS_ID_STRING);
    assert_int_equal(hs_collection_id_type(db, T, "i", NULL), HS_ID_INTEGER);
    assert_int_equal(hs_collection_id_type(db, T, "nope", NULL), HS_ENOTFOUND);
    fill(s, 3);
    hs_digest before;
    assert_int_equal(hs_collection_digest(s, &before, NULL), HS_OK);
    double v[2] = {1, 2};
    hs_error err;

    /* an integer id on a collection of strings, a string on one of integers */
    hs_point ip = {.id = 5, .vector = v, .dim = 2};
    assert_int_equal(hs_upsert(s, &ip, 1, HS_DURABILITY_STRICT, &err), HS_EINVAL);
    assert_true(err.field == HS_FIELD_POINT && err.reason == HS_REASON_TYPE);
    assert_int_equal(err.expected, HS_ID_STRING);
    assert_string_equal(err.name, "s");
    hs_point sp = {.vector = v, .dim = 2, .sid = "x", .sid_len = 1};
    assert_int_equal(hs_upsert(in, &sp, 1, HS_DURABILITY_STRICT, &err), HS_EINVAL);
    assert_true(err.field == HS_FIELD_POINT && err.reason == HS_REASON_TYPE);
    assert_int_equal(err.expected, HS_ID_INTEGER);
    assert_int_equal(hs_get_sid(in, "x", 1, NULL, NULL, NULL, &err), HS_EINVAL);
    assert_int_equal(err.reason, HS_REASON_TYPE);
    hs_sid one = {"x", 1};
    size_t deleted = 9;
    assert_int_equal(hs_delete_sids(in, &one, 1, HS_DURABILITY_STRICT, &deleted, &err),
                     HS_EINVAL);
    assert_int_equal(deleted, 0);

    /* the checks of a string id: each refused, nothing written (batch: the entry named) */
    char longest[HS_SID_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    struct {
        const char *s;
        size_t len;
        hs_reason reason;
    } bad[] = {{"", 0, HS_REASON_EMPTY},
               {longest, HS_SID_MAX + 1, HS_REASON_TOO_LONG},
               {"ab\xff", 3, HS_REASON_ENCODING},
               {"\xc3", 1, HS_REASON_ENCODING},
               {"a\0b", 3, HS_REASON_SYNTAX}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hs_point batch[2] = {{.vector = v, .dim = 2, .sid = "fine", .sid_len = 4},
                             {.vector = v, .dim = 2, .sid = bad[i].s, .sid_len = bad[i].len}};
        assert_int_equal(hs_upsert(s, batch, 2, HS_DURABILITY_STRICT, &err), HS_EINVAL);
        assert_true(err.field == HS_FIELD_POINT && err.reason == bad[i].reason);
        assert_int_equal(err.index, 1);
        assert_int_equal(hs_sid_check(bad[i].s, bad[i].len, &err), HS_EINVAL);
        assert_int_equal(hs_get_sid(s, bad[i].s, bad[i].len, NULL, NULL, NULL, &err),
                         HS_EINVAL);
        hs_sid d = {bad[i].s, bad[i].len};
        assert_int_equal(hs_delete_sids(s, &d, 1, HS_DURABILITY_STRICT, NULL, &err), HS_EINVAL);
    }
    assert_int_equal(hs_sid_check(longest, HS_SID_MAX + 1, &err), HS_EINVAL);
    assert_true(err.actual == HS_SID_MAX + 1 && err.max == HS_SID_MAX);
    assert_int_equal(hs_sid_check("a\0b", 3, &err), HS_EINVAL);
    assert_int_equal(err.item, 1);
    assert_null(get_sid(s, "fine", NULL)); /* the valid entry of each refused batch too */
    hs_digest after;
    assert_int_equal(hs_collection_digest(s, &after, NULL), HS_OK);
    assert_true(after.state_hash == before.state_hash && after.count == 3);

    /* the longest id and one byte ids are fine */
    longest[HS_SID_MAX] = 0;
    assert_int_equal(upsert_sid(s, longest, 1, "long", &err), HS_OK);
    assert_int_equal(upsert_sid(s, "\x7f", 2, "one", &err), HS_OK);
    assert_string_equal(get_sid(s, longest, NULL), "tag=long;");

    /* an unknown kind at create */
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 2;
    c.id_type = (hs_id_type)7;
    assert_int_equal(hs_collection_create(db, T, "k", &c, &err), HS_EINVAL);
    assert_true(err.field == HS_FIELD_ID_TYPE && err.reason == HS_REASON_UNKNOWN);
    hs_collection_close(s);
    hs_collection_close(in);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- deletes ------------------------------------------------------------------------------- */

static int tag_is(void *ctx, const hs_point_view *p)
{
    got g = {0};
    hs_meta_each(p, put_kv, &g);
    return strcmp(g.meta, (const char *)ctx) == 0;
}

static void test_deletes_free_the_mapping(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    fill(h, 20);
    char b0[64], b1[64];
    sid_of(0, b0, sizeof(b0));
    sid_of(1, b1, sizeof(b1));
    hs_sid ask[4] = {{b0, strlen(b0)}, {"missing", 7}, {b0, strlen(b0)}, {b1, strlen(b1)}};
    size_t deleted = 0;
    hs_error err;
    hs_digest d0;
    assert_int_equal(hs_collection_digest(h, &d0, NULL), HS_OK);
    /* the key of b0: the hit at (0, 0) */
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 1;
    hs_hit hit;
    size_t n;
    double q[2] = {0, 0};
    assert_int_equal(hs_search(h, q, 2, &so, &hit, &n, &err), HS_OK);
    uint64_t key0 = hit.id;
    assert_int_equal(hs_delete_sids(h, ask, 4, HS_DURABILITY_STRICT, &deleted, &err), HS_OK);
    assert_int_equal(deleted, 2); /* b0 once, b1; "missing" is not an error */
    assert_null(get_sid(h, b0, NULL));
    assert_null(get_sid(h, b1, NULL));
    double v[2];
    assert_int_equal(hs_get(h, key0, v, NULL, NULL, &err), HS_ENOTFOUND);
    assert_int_equal(live_count(h), 18);

    /* written again: a new key, the same digest as before the delete */
    assert_int_equal(upsert_sid(h, b0, 0, "t", &err), HS_OK);
    assert_int_equal(upsert_sid(h, b1, 1, "t", &err), HS_OK);
    hs_digest d1;
    assert_int_equal(hs_collection_digest(h, &d1, NULL), HS_OK);
    assert_true(d1.state_hash == d0.state_hash);
    assert_memory_equal(d0.buckets, d1.buckets, sizeof(d0.buckets));
    assert_int_equal(hs_get(h, key0, v, NULL, NULL, &err), HS_ENOTFOUND);

    /* by key (hs_delete) and by predicate: both logged by string */
    assert_int_equal(upsert_sid(h, "gone-1", 50, "x", &err), HS_OK);
    assert_int_equal(upsert_sid(h, "gone-2", 51, "x", &err), HS_OK);
    assert_int_equal(hs_delete_where(h, tag_is, "tag=x;", HS_DURABILITY_STRICT, &deleted, &err),
                     HS_OK);
    assert_int_equal(deleted, 2);
    assert_null(get_sid(h, "gone-1", NULL));
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    /* replay of the string deletes */
    db = open_db();
    h = coll(db, "s");
    assert_int_equal(live_count(h), 20);
    assert_null(get_sid(h, "gone-2", NULL));
    assert_non_null(get_sid(h, b0, NULL));
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- scroll -------------------------------------------------------------------------------- */

typedef struct page {
    char last[HS_SID_MAX + 1];
    size_t n;
    unsigned total;
    char prev[HS_SID_MAX + 1];
    int ordered;
} page;

static int on_scroll(void *ctx, const hs_point_view *p)
{
    page *pg = ctx;
    char cur[HS_SID_MAX + 1];
    snprintf(cur, sizeof(cur), "%.*s", (int)p->sid_len, p->sid);
    if (pg->total && strcmp(pg->prev, cur) >= 0)
        pg->ordered = 0;
    snprintf(pg->prev, sizeof(pg->prev), "%s", cur);
    snprintf(pg->last, sizeof(pg->last), "%s", cur);
    pg->n++;
    pg->total++;
    return 0;
}

static unsigned scroll_all(hs_collection *h, size_t limit, int *ordered)
{
    page pg = {.ordered = 1};
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_SCROLL;
    ro.limit = limit;
    hs_read_result rr;
    hs_error err;
    for (;;) {
        pg.n = 0;
        assert_int_equal(hs_read(h, &ro, on_scroll, &pg, &rr, &err), HS_OK);
        if (!rr.more)
            break;
        static char cursor[HS_SID_MAX + 1];
        snprintf(cursor, sizeof(cursor), "%s", pg.last);
        ro.after_sid = cursor;
        ro.after_sid_len = strlen(cursor);
    }
    *ordered = pg.ordered;
    return pg.total;
}

static void test_scroll_in_string_order(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    fill(h, 101);
    hs_error err;
    assert_int_equal(upsert_sid(h, "z", 1, "t", &err), HS_OK);
    assert_int_equal(upsert_sid(h, "zb", 1, "t", &err), HS_OK); /* after its prefix "z" */
    int ordered = 0;
    assert_int_equal(scroll_all(h, 7, &ordered), 103);
    assert_true(ordered);
    /* a cursor of any string: the points after it */
    page pg = {.ordered = 1};
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.mode = HS_READ_SCROLL;
    ro.limit = 1000;
    ro.after_sid = "z";
    ro.after_sid_len = 1;
    hs_read_result rr;
    assert_int_equal(hs_read(h, &ro, on_scroll, &pg, &rr, &err), HS_OK);
    assert_int_equal(pg.total, 1);
    assert_string_equal(pg.last, "zb");
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- payload updates ----------------------------------------------------------------------- */

static void test_payload_by_string(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    fill(h, 10);
    char b2[64], b3[64];
    sid_of(2, b2, sizeof(b2));
    sid_of(3, b3, sizeof(b3));
    hs_sid ids[4] = {{b2, strlen(b2)}, {"nope", 4}, {b3, strlen(b3)}, {"nope", 4}};
    size_t missing[4];
    hs_kv set[1] = {{"color", 5, "green", 5, NULL}};
    hs_payload_opts o;
    hs_payload_opts_init(&o);
    o.meta = set;
    o.nmeta = 1;
    o.sids = ids;
    o.nids = 4;
    o.missing_sids = missing;
    hs_payload_result r;
    hs_error err;
    hs_digest d0, d1;
    assert_int_equal(hs_collection_digest(h, &d0, NULL), HS_OK);
    assert_int_equal(hs_update_payload(h, &o, &r, &err), HS_OK);
    assert_int_equal(r.updated, 2);
    assert_int_equal(r.missing, 1);
    assert_int_equal(missing[0], 1);
    assert_string_equal(get_sid(h, b2, NULL), "tag=t;color=green;");
    assert_int_equal(hs_collection_digest(h, &d1, NULL), HS_OK);
    assert_true(d0.state_hash == d1.state_hash);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    db = open_db(); /* replay */
    h = coll(db, "s");
    assert_string_equal(get_sid(h, b3, NULL), "tag=t;color=green;");
    assert_int_equal(live_count(h), 10);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- persistence --------------------------------------------------------------------------- */

typedef struct keys {
    uint64_t key[300];
    char sid[300][64];
    size_t n;
} keys;

static int on_key(void *ctx, const hs_point_view *p)
{
    keys *k = ctx;
    k->key[k->n] = p->id;
    snprintf(k->sid[k->n], sizeof(k->sid[0]), "%.*s", (int)p->sid_len, p->sid);
    k->n++;
    return 0;
}

static void keys_of(hs_collection *h, keys *k)
{
    memset(k, 0, sizeof(*k));
    hs_read_opts ro;
    hs_read_opts_init(&ro);
    ro.limit = 300;
    hs_error err;
    assert_int_equal(hs_read(h, &ro, on_key, k, NULL, &err), HS_OK);
}

/* The state to compare after each reopen: count, digest, every string with its key. */
static void same_state(hs_collection *h, const keys *want, const hs_digest *dwant)
{
    keys k;
    keys_of(h, &k);
    assert_int_equal(k.n, want->n);
    for (size_t i = 0; i < k.n; i++) {
        assert_string_equal(k.sid[i], want->sid[i]);
        assert_int_equal(k.key[i], want->key[i]);
    }
    hs_digest d;
    assert_int_equal(hs_collection_digest(h, &d, NULL), HS_OK);
    assert_true(d.state_hash == dwant->state_hash && d.count == dwant->count);
}

static void test_persistence(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    fill(h, 150);
    char b[64];
    hs_error err;
    hs_sid gone[2] = {{"x", 1}, {sid_of(10, b, sizeof(b)), strlen(b)}};
    assert_int_equal(hs_delete_sids(h, gone, 2, HS_DURABILITY_STRICT, NULL, &err), HS_OK);
    assert_int_equal(upsert_sid(h, sid_of(11, b, sizeof(b)), 111, "re", &err), HS_OK);
    keys want;
    keys_of(h, &want);
    hs_digest dw;
    assert_int_equal(hs_collection_digest(h, &dw, NULL), HS_OK);
    assert_int_equal(want.n, 149);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK); /* small log: no checkpoint, replay */

    db = open_db();
    h = coll(db, "s");
    same_state(h, &want, &dw);
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    /* after the checkpoint: more writes in the log */
    assert_int_equal(upsert_sid(h, "after-ckpt", 3, "t", &err), HS_OK);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    db = open_db();
    h = coll(db, "s");
    assert_non_null(get_sid(h, "after-ckpt", NULL));
    hs_sid a = {"after-ckpt", 10};
    assert_int_equal(hs_delete_sids(h, &a, 1, HS_DURABILITY_STRICT, NULL, &err), HS_OK);
    same_state(h, &want, &dw);
    /* a new string after the reopen gets a key no other point holds */
    assert_int_equal(upsert_sid(h, "fresh", 4, "t", &err), HS_OK);
    keys k;
    keys_of(h, &k);
    for (size_t i = 0; i < k.n; i++)
        for (size_t j = i + 1; j < k.n; j++)
            assert_true(k.key[i] != k.key[j]);
    assert_int_equal(hs_delete_sids(h, &(hs_sid){"fresh", 5}, 1, HS_DURABILITY_STRICT, NULL,
                                    &err),
                     HS_OK);
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK); /* compacts, checkpoints */
    same_state(h, &want, &dw);
    assert_string_equal(get_sid(h, sid_of(11, b, sizeof(b)), NULL), "tag=re;");
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    /* without the catalog file: the kind comes from collection.json */
    char cat[128];
    snprintf(cat, sizeof(cat), "%s/.catalog", root);
    assert_int_equal(unlink(cat), 0);
    db = open_db();
    h = coll(db, "s");
    same_state(h, &want, &dw);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, T, "s", &st, &err), HS_OK);
    assert_int_equal(st.config.id_type, HS_ID_STRING);
    double v[2] = {0, 0};
    hs_point ip = {.id = 1, .vector = v, .dim = 2};
    assert_int_equal(hs_upsert(h, &ip, 1, HS_DURABILITY_STRICT, &err), HS_EINVAL);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* An integer collection's files do not change: no id_type member, an IDS section. */
static void test_integer_files_unchanged(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "i", HS_ID_INTEGER);
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "i");
    double v[2] = {1, 2};
    hs_point p = {7, v, 2, NULL, 0};
    hs_error err;
    assert_int_equal(hs_upsert(h, &p, 1, HS_DURABILITY_STRICT, &err), HS_OK);
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    char dir[256], path[300];
    const char *names[2] = {"i", "s"};
    for (int i = 0; i < 2; i++) {
        hs_test_coll_dir(dir, sizeof(dir), root, T, names[i]);
        snprintf(path, sizeof(path), "%s/collection.json", dir);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char text[4096];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = 0;
        assert_int_equal(strstr(text, "\"id_type\": \"string\"") != NULL, i == 1);
        assert_null(strstr(text, "integer"));
    }
}

/* ---- writers racing on the same strings ---------------------------------------------------- */

typedef struct racer {
    hs_collection *h;
    unsigned seed;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    char b[32];
    hs_error err;
    for (unsigned i = 0; i < 400; i++) {
        unsigned k = (i * 7 + r->seed) % 50;
        snprintf(b, sizeof(b), "k%u", k);
        double v[2] = {k, r->seed};
        hs_kv kv[1] = {{"w", 1, "x", 1, NULL}};
        hs_point p = {.vector = v, .dim = 2, .meta = kv, .nmeta = 1, .sid = b,
                      .sid_len = strlen(b)};
        /* BATCH: writes wait for their group fsync in the queue, so re-writes of one string
         * are often queued behind each other */
        if (hs_upsert(r->h, &p, 1, i % 3 ? HS_DURABILITY_BATCH : HS_DURABILITY_ASYNC, &err) !=
            HS_OK)
            fail_msg("upsert: %s", err.message);
        if (i % 37 == 0) {
            hs_sid d = {b, strlen(b)};
            if (hs_delete_sids(r->h, &d, 1, HS_DURABILITY_BATCH, NULL, &err) != HS_OK)
                fail_msg("delete: %s", err.message);
        }
    }
    return NULL;
}

static void check_one_per_string(hs_collection *h)
{
    keys k;
    keys_of(h, &k);
    for (size_t i = 0; i < k.n; i++)
        for (size_t j = i + 1; j < k.n; j++) {
            assert_true(strcmp(k.sid[i], k.sid[j]) != 0);
            assert_true(k.key[i] != k.key[j]);
        }
    assert_int_equal(live_count(h), k.n);
    for (size_t i = 0; i < k.n; i++)
        assert_non_null(get_sid(h, k.sid[i], NULL));
}

static void test_racing_writers(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    pthread_t t[4];
    racer r[4];
    for (unsigned i = 0; i < 4; i++) {
        r[i] = (racer){h, i + 1};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    check_one_per_string(h);
    keys want;
    keys_of(h, &want);
    hs_digest dw;
    assert_int_equal(hs_collection_digest(h, &dw, NULL), HS_OK);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    db = open_db();
    h = coll(db, "s");
    check_one_per_string(h);
    same_state(h, &want, &dw);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* ---- the change stream and snapshots ------------------------------------------------------- */

static void test_change_stream_carries_the_strings(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    hs_error err;
    assert_int_equal(upsert_sid(h, "first", 1, "a", &err), HS_OK);
    double v[2] = {2, 2};
    hs_point two[2] = {{.vector = v, .dim = 2, .sid = "caf\xc3\xa9", .sid_len = 5},
                       {.vector = v, .dim = 2, .sid = "first", .sid_len = 5}};
    assert_int_equal(hs_upsert(h, two, 2, HS_DURABILITY_STRICT, &err), HS_OK);
    hs_sid d = {"caf\xc3\xa9", 5};
    assert_int_equal(hs_delete_sids(h, &d, 1, HS_DURABILITY_STRICT, NULL, &err), HS_OK);
    hs_changes_opts o;
    hs_changes_opts_init(&o);
    hs_changes *r;
    assert_int_equal(hs_changes_open(db, T, "s", &o, &r, &err), HS_OK);
    const char *want[] = {"C", "U first", "U caf\xc3\xa9", "U first", "D caf\xc3\xa9"};
    size_t n = 0;
    for (;;) {
        hs_change ch;
        int more = 0;
        assert_int_equal(hs_changes_next(r, &ch, &more, &err), HS_OK);
        if (!more)
            break;
        char line[64];
        if (ch.kind == HS_CHANGE_CREATE) {
            assert_int_equal(ch.config.id_type, HS_ID_STRING);
            snprintf(line, sizeof(line), "C");
        } else {
            assert_non_null(ch.point.sid);
            snprintf(line, sizeof(line), "%c %.*s", ch.kind == HS_CHANGE_UPSERT ? 'U' : 'D',
                     (int)ch.point.sid_len, ch.point.sid);
        }
        assert_true(n < 5);
        assert_string_equal(line, want[n++]);
    }
    assert_int_equal(n, 5);
    hs_changes_close(r);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

static void test_snapshot_keeps_the_kind_and_the_strings(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "s", HS_ID_STRING);
    hs_collection *h = coll(db, "s");
    fill(h, 60);
    hs_error err;
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    assert_int_equal(upsert_sid(h, "after", 7, "t", &err), HS_OK); /* in the log part */
    keys want;
    keys_of(h, &want);
    hs_digest dw;
    assert_int_equal(hs_collection_digest(h, &dw, NULL), HS_OK);
    hs_snapshot_info info;
    if (hs_snapshot_create(db, T, "s", "s.hsnap", &info, &err) != HS_OK)
        fail_msg("snapshot: %s", err.message);
    hs_restore_opts ro;
    hs_restore_opts_init(&ro);
    ro.collection = "s";
    ro.to_name = "s2";
    if (hs_snapshot_restore(db, "s.hsnap", &ro, NULL, NULL, &err) != HS_OK)
        fail_msg("restore: %s", err.message);
    assert_int_equal(hs_collection_id_type(db, T, "s2", NULL), HS_ID_STRING);
    hs_collection *h2 = coll(db, "s2");
    same_state(h2, &want, &dw);
    assert_non_null(get_sid(h2, "after", NULL));
    hs_collection_close(h2);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    db = open_db(); /* and after a reopen */
    h2 = coll(db, "s2");
    same_state(h2, &want, &dw);
    hs_collection_close(h2);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sidmap),
        cmocka_unit_test_setup_teardown(test_write_read_search, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kinds_and_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deletes_free_the_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scroll_in_string_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_by_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_files_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_racing_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_stream_carries_the_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_keeps_the_kind_and_the_strings, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
