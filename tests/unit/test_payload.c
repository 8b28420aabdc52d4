/*
 * test_payload.c: metadata updates of existing points (hs_update_payload) and frozen
 * collections (hs_collection_freeze) through the public API on real files: the three modes,
 * ids and filters, unknown ids, limits that change nothing, vectors and digests untouched, the
 * payload indexes and the text index after an update, and both through close / reopen (log
 * replay), checkpoints, rebuilds and a reopen without the catalog file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs_test.h"
#include "hyperspace.h"
#include "storage/storage.h"
#include "util/meta.h"

static char root[64];
static const char *T = "default_admin";

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hs_test_mkdtemp(root, sizeof(root), "payload"), 0);
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
    o.exact_threshold = 0; /* searches walk the graph with the payload indexes */
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

static void create(hs_db *db, const char *name)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 3;
    c.metric = HS_METRIC_L2;
    hs_error err;
    if (hs_collection_create(db, T, name, &c, &err) != HS_OK)
        fail_msg("create: %s", err.message);
}

/* Points 0..n-1 at (i, i/2, -i) with color = red for even ids, blue for odd, and n = i. */
static void fill(hs_collection *h, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        double v[3] = {(double)i, (double)i / 2, -(double)i};
        hs_value num = {.type = HS_VALUE_INT, .i = (int64_t)i};
        hs_kv kv[2] = {{"color", 5, i % 2 ? "blue" : "red", i % 2 ? 4 : 3, NULL},
                       {"n", 1, NULL, 0, &num}};
        hs_point p = {i, v, 3, kv, 2};
        hs_error err;
        if (hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, &err) != HS_OK)
            fail_msg("upsert: %s", err.message);
    }
}

/* A point's metadata in its string form, "k=v;" per entry in stored order. */
typedef struct text {
    char s[512];
    size_t n;
} text;

static int put_kv(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    text *t = ctx;
    t->n += (size_t)snprintf(t->s + t->n, sizeof(t->s) - t->n, "%.*s=%.*s;", (int)kl, k,
                             (int)vl, v);
    return 0;
}

static const char *meta_of(hs_collection *h, uint64_t id, double *vec)
{
    static text t;
    memset(&t, 0, sizeof(t));
    double tmp[3];
    hs_error err;
    int rc = hs_get(h, id, vec ? vec : tmp, put_kv, &t, &err);
    if (rc != HS_OK)
        return NULL;
    return t.s;
}

static int update(hs_collection *h, hs_payload_mode mode, const hs_kv *kv, size_t n,
                  const uint64_t *ids, size_t nids, uint64_t *missing, hs_payload_result *res,
                  hs_error *err)
{
    hs_payload_opts o;
    hs_payload_opts_init(&o);
    o.mode = mode;
    o.meta = kv;
    o.nmeta = n;
    o.ids = ids;
    o.nids = nids;
    o.missing = missing;
    return hs_update_payload(h, &o, res, err);
}

static void test_modes_keep_the_vector(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "p");
    hs_collection *h = coll(db, "p");
    fill(h, 10);
    hs_digest before, after;
    assert_int_equal(hs_collection_digest(h, &before, NULL), HS_OK);

    hs_value price = {.type = HS_VALUE_FLOAT, .f = 9.5};
    hs_kv set[2] = {{"color", 5, "green", 5, NULL}, {"price", 5, NULL, 0, &price}};
    uint64_t ids[] = {3, 99, 4, 3, 98, 99};
    uint64_t missing[6];
    hs_payload_result r;
    hs_error err;
    assert_int_equal(update(h, HS_PAYLOAD_MERGE, set, 2, ids, 6, missing, &r, &err), HS_OK);
    assert_int_equal(r.updated, 2);
    assert_int_equal(r.missing, 2); /* in the order given, each once */
    assert_int_equal(missing[0], 99);
    assert_int_equal(missing[1], 98);
    double v[3];
    assert_string_equal(meta_of(h, 3, v), "n=3;color=green;price=9.5;");
    assert_true(v[0] == 3 && v[1] == 1.5 && v[2] == -3);
    assert_string_equal(meta_of(h, 4, NULL), "n=4;color=green;price=9.5;");
    assert_string_equal(meta_of(h, 5, NULL), "color=blue;n=5;");

    hs_kv keys[2] = {{"price", 5, NULL, 0, NULL}, {"absent", 6, NULL, 0, NULL}};
    uint64_t one = 3;
    assert_int_equal(update(h, HS_PAYLOAD_DELETE, keys, 2, &one, 1, NULL, &r, &err), HS_OK);
    assert_int_equal(r.updated, 1);
    assert_string_equal(meta_of(h, 3, NULL), "n=3;color=green;");

    hs_kv only[1] = {{"tag", 3, "x", 1, NULL}};
    uint64_t four = 4;
    assert_int_equal(update(h, HS_PAYLOAD_REPLACE, only, 1, &four, 1, NULL, &r, &err), HS_OK);
    assert_string_equal(meta_of(h, 4, NULL), "tag=x;");
    assert_int_equal(update(h, HS_PAYLOAD_REPLACE, NULL, 0, &four, 1, NULL, &r, &err), HS_OK);
    assert_string_equal(meta_of(h, 4, NULL), "");

    /* same ids and vectors: the digest is unchanged, the count too */
    assert_int_equal(hs_collection_digest(h, &after, NULL), HS_OK);
    assert_true(before.state_hash == after.state_hash && after.count == 10);
    assert_memory_equal(before.buckets, after.buckets, sizeof(before.buckets));
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

static int color_is(void *ctx, const hs_point_view *p)
{
    text t = {0};
    hs_meta_each(p, put_kv, &t);
    return strstr(t.s, (const char *)ctx) != NULL;
}

static uint64_t count_where(hs_collection *h, const char *key, const char *value)
{
    hs_cond c = {.kind = HS_COND_MATCH, .key = key, .key_len = strlen(key), .value = value,
                 .value_len = strlen(value)};
    hs_where w = {&c, 1, NULL, 0, NULL, 0};
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 100;
    so.where = &w;
    hs_hit hits[100];
    size_t n = 0;
    double q[3] = {0, 0, 0};
    hs_error err;
    if (hs_search(h, q, 3, &so, hits, &n, &err) != HS_OK)
        fail_msg("search: %s", err.message);
    return n;
}

static void test_filter_limits_and_indexes(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "f");
    hs_collection *h = coll(db, "f");
    fill(h, 40);
    assert_int_equal(count_where(h, "color", "red"), 20); /* builds the payload indexes */
    hs_kv set[1] = {{"color", 5, "teal", 4, NULL}};
    hs_payload_opts o;
    hs_payload_opts_init(&o);
    o.meta = set;
    o.nmeta = 1;
    o.accept = color_is;
    o.accept_ctx = "color=red;";
    o.max_points = 19; /* 20 match: refused, nothing changes */
    hs_payload_result r;
    hs_error err;
    assert_int_equal(hs_update_payload(h, &o, &r, &err), HS_ERANGE);
    assert_int_equal(err.field, HS_FIELD_FILTER);
    assert_int_equal(err.actual, 20);
    assert_true(err.max == 19);
    assert_int_equal(count_where(h, "color", "red"), 20);
    o.max_points = 20;
    assert_int_equal(hs_update_payload(h, &o, &r, &err), HS_OK);
    assert_int_equal(r.updated, 20);
    assert_int_equal(count_where(h, "color", "red"), 0);
    assert_int_equal(count_where(h, "color", "teal"), 20);
    assert_int_equal(count_where(h, "color", "blue"), 20);

    /* the text index follows: a hybrid search for "teal" ranks the teal points first */
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = 5;
    so.hybrid = 1;
    so.text = "teal";
    so.text_len = 4;
    so.alpha = 1.0;
    hs_hit hits[5];
    size_t n;
    double q[3] = {39, 19.5, -39};
    assert_int_equal(hs_search(h, q, 3, &so, hits, &n, &err), HS_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hits[i].id % 2, 0);

    /* a merge that would pass 1,024 entries is refused naming the point; nothing changes */
    hs_kv *many = calloc(1023, sizeof(hs_kv));
    char (*names)[8] = calloc(1023, 8);
    for (int i = 0; i < 1023; i++) {
        snprintf(names[i], 8, "k%d", i);
        many[i] = (hs_kv){names[i], strlen(names[i]), "v", 1, NULL};
    }
    uint64_t id = 7;
    assert_int_equal(update(h, HS_PAYLOAD_MERGE, many, 1023, &id, 1, NULL, &r, &err),
                     HS_EMETADATA);
    assert_int_equal(err.id, 7);
    assert_int_equal(err.field, HS_FIELD_POINT);
    assert_int_equal(err.reason, HS_REASON_TOO_MANY);
    assert_string_equal(meta_of(h, 7, NULL), "color=blue;n=7;");
    assert_int_equal(update(h, HS_PAYLOAD_REPLACE, many, 1023, &id, 1, NULL, &r, &err), HS_OK);
    free(many);
    free(names);
    /* bad entries are refused before anything is chosen */
    hs_kv bad[1] = {{"", 0, "v", 1, NULL}};
    assert_int_equal(update(h, HS_PAYLOAD_MERGE, bad, 1, &id, 1, NULL, &r, &err), HS_EMETADATA);
    assert_int_equal(update(h, (hs_payload_mode)7, bad, 1, &id, 1, NULL, &r, &err), HS_EINVAL);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

/* A close leaves a log below the checkpoint threshold as it is: the reopen replays it.  Then a
 * checkpoint, a later update in the log, a reopen, a rebuild. */
static void test_updates_survive_replay_checkpoint_rebuild(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "r");
    hs_collection *h = coll(db, "r");
    fill(h, 30);
    hs_kv set[1] = {{"stage", 5, "one", 3, NULL}};
    uint64_t ids[] = {1, 2, 3};
    hs_error err;
    assert_int_equal(update(h, HS_PAYLOAD_MERGE, set, 1, ids, 3, NULL, NULL, &err), HS_OK);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK); /* small log: replayed at the next load */

    db = open_db();
    h = coll(db, "r");
    assert_string_equal(meta_of(h, 2, NULL), "color=red;n=2;stage=one;");
    assert_int_equal(count_where(h, "stage", "one"), 3);
    assert_int_equal(hs_collection_checkpoint(h, &err), HS_OK);
    hs_kv again[1] = {{"stage", 5, "two", 3, NULL}};
    assert_int_equal(update(h, HS_PAYLOAD_MERGE, again, 1, ids, 1, NULL, NULL, &err), HS_OK);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    db = open_db();
    h = coll(db, "r");
    assert_string_equal(meta_of(h, 1, NULL), "color=blue;n=1;stage=two;");
    assert_string_equal(meta_of(h, 3, NULL), "color=blue;n=3;stage=one;");
    hs_collection_stats st;
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    assert_int_equal(st.count, 30);
    assert_int_equal(st.deleted, 4); /* the replaced entries, until a rebuild */
    assert_int_equal(hs_collection_rebuild(h, &err), HS_OK);
    assert_int_equal(hs_coll_stats_of(h, &st), HS_OK);
    assert_int_equal(st.deleted, 0);
    assert_int_equal(count_where(h, "stage", "one"), 2);
    assert_int_equal(count_where(h, "stage", "two"), 1);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

static void expect_frozen(int rc, const hs_error *err, const char *name)
{
    assert_int_equal(rc, HS_EFROZEN);
    assert_int_equal(err->field, HS_FIELD_COLLECTION);
    assert_string_equal(err->name, name);
}

static void check_frozen_refusals(hs_db *db, const char *name)
{
    hs_collection *h = coll(db, name);
    hs_error err;
    double v[3] = {1, 2, 3};
    hs_point p = {500, v, 3, NULL, 0};
    expect_frozen(hs_upsert(h, &p, 1, HS_DURABILITY_DEFAULT, &err), &err, name);
    uint64_t id = 1;
    expect_frozen(hs_delete(h, &id, 1, HS_DURABILITY_DEFAULT, NULL, &err), &err, name);
    expect_frozen(hs_delete_where(h, color_is, "color=", HS_DURABILITY_DEFAULT, NULL, &err),
                  &err, name);
    hs_kv set[1] = {{"x", 1, "y", 1, NULL}};
    expect_frozen(update(h, HS_PAYLOAD_MERGE, set, 1, &id, 1, NULL, NULL, &err), &err, name);
    expect_frozen(hs_collection_configure(h, 50, 0, &err), &err, name);
    expect_frozen(hs_collection_rebuild(h, &err), &err, name);
    hs_collection_close(h);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, T, name, &st, &err), HS_OK);
    assert_true(st.frozen);
    assert_int_equal(st.count, 20);
}

static void test_freeze(void **state)
{
    (void)state;
    hs_db *db = open_db();
    create(db, "z");
    create(db, "cold");
    hs_collection *h = coll(db, "z");
    fill(h, 20);
    hs_collection_close(h);
    h = coll(db, "cold");
    fill(h, 20);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    db = open_db();
    h = coll(db, "z");
    assert_non_null(meta_of(h, 1, NULL)); /* loaded */
    hs_collection_close(h);
    hs_error err;
    assert_int_equal(hs_collection_freeze(db, T, "z", 1, &err), HS_OK);
    assert_int_equal(hs_collection_freeze(db, T, "z", 1, &err), HS_OK); /* again: no change */
    assert_int_equal(hs_collection_freeze(db, T, "cold", 1, &err), HS_OK);
    hs_collection_stats st;
    assert_int_equal(hs_collection_stats_get(db, T, "cold", &st, &err), HS_OK);
    assert_false(st.loaded); /* frozen without being loaded */
    assert_true(st.frozen);
    assert_int_equal(hs_collection_freeze(db, T, "nope", 1, &err), HS_ENOTFOUND);
    check_frozen_refusals(db, "z");
    check_frozen_refusals(db, "cold");
    /* reads and searches still work */
    h = coll(db, "cold");
    assert_string_equal(meta_of(h, 2, NULL), "color=red;n=2;");
    assert_int_equal(count_where(h, "color", "blue"), 10);
    hs_collection_close(h);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);

    /* durable: from the catalog file, and from collection.json without it */
    db = open_db();
    check_frozen_refusals(db, "z");
    check_frozen_refusals(db, "cold");
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    char cat[128];
    snprintf(cat, sizeof(cat), "%s/.catalog", root);
    assert_int_equal(unlink(cat), 0);
    db = open_db();
    check_frozen_refusals(db, "z");
    check_frozen_refusals(db, "cold");

    /* unfrozen: writes work again, and that too is durable */
    assert_int_equal(hs_collection_freeze(db, T, "z", 0, &err), HS_OK);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
    db = open_db();
    h = coll(db, "z");
    uint64_t id = 1;
    size_t deleted = 0;
    assert_int_equal(hs_delete(h, &id, 1, HS_DURABILITY_DEFAULT, &deleted, &err), HS_OK);
    assert_int_equal(deleted, 1);
    hs_collection_close(h);
    assert_int_equal(hs_collection_stats_get(db, T, "z", &st, &err), HS_OK);
    assert_false(st.frozen);
    /* a frozen collection can still be dropped */
    assert_int_equal(hs_collection_drop(db, T, "cold", &err), HS_OK);
    assert_int_equal(hs_db_close(db, NULL), HS_OK);
}

static bool drop_key(void *ctx, const char *k, size_t kl)
{
    return kl == strlen(ctx) && !memcmp(k, ctx, kl);
}

static void test_meta_rewrite(void **state)
{
    (void)state;
    hs_value seven = {.type = HS_VALUE_INT, .i = 7};
    hs_kv kv[3] = {{"a", 1, "x", 1, NULL}, {"b", 1, NULL, 0, &seven}, {"a", 1, "z", 1, NULL}};
    hs_point p = {0, NULL, 0, kv, 2};
    uint8_t stored[256];
    size_t len = hs_meta_encode(&p, stored + 4);
    stored[0] = (uint8_t)len;
    stored[1] = stored[2] = stored[3] = 0;
    uint8_t out[256];
    /* a merge of a=z: the old a goes, b stays in place, a=z comes last */
    size_t n = hs_meta_rewrite(stored, drop_key, "a", &kv[2], 1, out);
    assert_true(n <= hs_meta_rewrite_size(stored, &kv[2], 1));
    assert_true(hs_meta_blob_ok(out, n));
    assert_int_equal(out[0], 2);
    assert_int_equal(out[4], 1);
    assert_int_equal(out[8], 'b');
    /* the last of a repeated key given is kept */
    n = hs_meta_rewrite(NULL, NULL, NULL, kv, 3, out);
    assert_true(hs_meta_blob_ok(out, n));
    assert_int_equal(out[0], 2);
    /* nothing stored, nothing added: an empty entries form */
    n = hs_meta_rewrite(NULL, NULL, NULL, NULL, 0, out);
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_modes_keep_the_vector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_limits_and_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_updates_survive_replay_checkpoint_rebuild, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_freeze, setup, teardown),
        cmocka_unit_test(test_meta_rewrite),
    };
    return cmocka_run_group_tests_name("payload", tests, NULL, NULL);
}
