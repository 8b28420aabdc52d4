/*
 * test_errors.c: the typed details of hs_error.  Every failure a caller can act on carries its
 * code, the input at fault (field), why (reason) and the figures involved, filled by the engine
 * where it detects the failure; a server maps these, never the message.  HS_ERROR_REWORD (the
 * test hook behind ctest integration_reworded) changes every message and none of the details.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyperspace.h"
#include "storage/storage.h"

static char root[64];
static hs_db *db;

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/hs-test-errors-XXXXXX");
    assert_non_null(mkdtemp(root));
    hs_error err;
    assert_int_equal(hs_db_open(root, NULL, &db, &err), HS_OK);
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 3;
    c.metric = HS_METRIC_POINCARE;
    assert_int_equal(hs_collection_create(db, "t", "ball", &c, &err), HS_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hs_db_close(db, NULL);
    hs_remove_tree(hs_io_posix(), root);
    return 0;
}

static void test_names(void **state)
{
    (void)state;
    hs_error e;
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "", &h, &e), HS_ENAME);
    assert_int_equal(e.field, HS_FIELD_COLLECTION);
    assert_int_equal(e.reason, HS_REASON_EMPTY);
    assert_int_equal(hs_collection_open(db, "t", "a\x01" "b", &h, &e), HS_ENAME);
    assert_int_equal(e.reason, HS_REASON_SYNTAX);
    assert_string_equal(e.name, "a\\x01b");
    assert_int_equal(hs_collection_open(db, "bad/t", "x", &h, &e), HS_ENAME);
    assert_int_equal(e.field, HS_FIELD_TENANT);
    assert_int_equal(e.reason, HS_REASON_SYNTAX);
    assert_int_equal(hs_collection_open(db, "lock", "x", &h, &e), HS_ENAME);
    assert_int_equal(e.field, HS_FIELD_TENANT);
    assert_int_equal(e.reason, HS_REASON_RESERVED);
    assert_string_equal(e.name, "lock");
    assert_int_equal(hs_name_check(HS_FIELD_TENANT, "node.JSON", &e), HS_ENAME);
    assert_int_equal(e.reason, HS_REASON_RESERVED);
    assert_int_equal(hs_name_check(HS_FIELD_TENANT, "node.json2", &e), HS_OK);
    assert_int_equal(hs_name_check(HS_FIELD_COLLECTION, "", &e), HS_ENAME);
    assert_int_equal(e.reason, HS_REASON_EMPTY);
    assert_int_equal(hs_name_check(HS_FIELD_POINT, "x", &e), HS_EINVAL);
    assert_int_equal(hs_collection_open(db, "t", "nope", &h, &e), HS_ENOTFOUND);
    assert_int_equal(e.field, HS_FIELD_COLLECTION);
    assert_string_equal(e.name, "nope");
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 3;
    assert_int_equal(hs_collection_create(db, "t", "ball", &c, &e), HS_EEXIST);
    assert_string_equal(e.name, "ball");
}

static void test_config_ranges(void **state)
{
    (void)state;
    hs_error e;
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 20000;
    assert_int_equal(hs_collection_create(db, "t", "x", &c, &e), HS_ERANGE);
    assert_int_equal(e.field, HS_FIELD_DIMENSION);
    assert_int_equal(e.reason, HS_REASON_RANGE);
    assert_int_equal(e.actual, 20000);
    assert_true(e.min == 1 && e.max == 16384);
    c.dimension = 4;
    c.m = 500;
    assert_int_equal(hs_collection_create(db, "t", "x", &c, &e), HS_ERANGE);
    assert_int_equal(e.field, HS_FIELD_M);
    assert_int_equal(e.actual, 500);
    c.m = 0;
    c.ef_search = 10001;
    assert_int_equal(hs_collection_create(db, "t", "x", &c, &e), HS_ERANGE);
    assert_int_equal(e.field, HS_FIELD_EF_SEARCH);
    c.ef_search = 0;
    c.metric = (hs_metric)9;
    assert_int_equal(hs_collection_create(db, "t", "x", &c, &e), HS_EINVAL);
    assert_int_equal(e.field, HS_FIELD_METRIC);
    assert_int_equal(e.reason, HS_REASON_UNKNOWN);
    assert_int_equal(e.actual, 9);
}

static void test_vectors_and_metadata(void **state)
{
    (void)state;
    hs_collection *h;
    hs_error e;
    assert_int_equal(hs_collection_open(db, "t", "ball", &h, &e), HS_OK);
    double ok[3] = {0.1, 0.2, 0.3}, out[3] = {0.9, 0.9, 0.1}, nan[3] = {0.1, 0.0 / 0.0, 0};
    hs_point p[3] = {{1, ok, 3, NULL, 0}, {2, ok, 2, NULL, 0}, {3, ok, 3, NULL, 0}};
    assert_int_equal(hs_upsert(h, p, 3, HS_DURABILITY_DEFAULT, &e), HS_EDIM);
    assert_int_equal(e.index, 1);
    assert_int_equal(e.field, HS_FIELD_VECTOR);
    assert_int_equal(e.expected, 3);
    assert_int_equal(e.actual, 2);
    p[1].dim = 3;
    p[2].vector = out;
    assert_int_equal(hs_upsert(h, p, 3, HS_DURABILITY_DEFAULT, &e), HS_EBALL);
    assert_int_equal(e.index, 2);
    assert_true(fabs(e.value - 1.63) < 1e-9);
    p[2].vector = nan;
    assert_int_equal(hs_upsert(h, p, 3, HS_DURABILITY_DEFAULT, &e), HS_ENONFINITE);
    assert_int_equal(e.item, 1);
    assert_int_equal(e.reason, HS_REASON_NONFINITE);
    char big[70000];
    memset(big, 'v', sizeof(big));
    hs_kv kv = {"colour", 6, big, sizeof(big)};
    hs_point q = {4, ok, 3, &kv, 1};
    assert_int_equal(hs_upsert(h, &q, 1, HS_DURABILITY_DEFAULT, &e), HS_EMETADATA);
    assert_int_equal(e.field, HS_FIELD_METADATA_VALUE);
    assert_int_equal(e.reason, HS_REASON_TOO_LONG);
    assert_string_equal(e.key, "colour");
    assert_true(e.max == 65536);
    hs_search_opts so;
    hs_search_opts_init(&so);
    hs_hit hits[10];
    size_t n;
    assert_int_equal(hs_search(h, ok, 2, &so, hits, &n, &e), HS_EDIM);
    assert_int_equal(e.field, HS_FIELD_QUERY);
    so.hybrid = 1;
    so.text = "x";
    so.text_len = 1;
    so.alpha = 1.5;
    assert_int_equal(hs_search(h, ok, 3, &so, hits, &n, &e), HS_ERANGE);
    assert_int_equal(e.field, HS_FIELD_HYBRID_ALPHA);
    assert_true(e.value == 1.5);
    hs_collection_close(h);
}

/* Messages: reworded when HS_ERROR_REWORD is set (ctest test_errors_reworded), the details the
 * same either way (the other cases run in both). */
static void test_reword(void **state)
{
    (void)state;
    hs_error e;
    hs_collection *h;
    assert_int_equal(hs_collection_open(db, "t", "nope", &h, &e), HS_ENOTFOUND);
    assert_string_equal(e.name, "nope");
    int reworded = getenv("HS_ERROR_REWORD") != NULL;
    assert_int_equal(strncmp(e.message, "[reworded] ", 11) == 0, reworded);
    assert_non_null(strstr(e.message, "Collection 'nope' not found"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_config_ranges),
        cmocka_unit_test(test_vectors_and_metadata),
        cmocka_unit_test(test_reword),
    };
    return cmocka_run_group_tests_name("errors", tests, setup, teardown);
}
