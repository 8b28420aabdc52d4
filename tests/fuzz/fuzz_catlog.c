/*
 * fuzz_catlog.c: the catalog file (<root>/.catalog, core/catlog.c) on arbitrary bytes.  Each
 * input becomes the catalog file of a database that holds two real collections, which is then
 * opened, asked for every collection's figures and the usage report, and closed: the record
 * decoder, the cross-check against the directories and the rewrite all see it.  Whatever the
 * file says, both collections are found.
 * Seeds: the catalog file a clean close of that database writes, and one with DIRTY and GONE
 * records after it.
 */
#include <stdint.h>

#include "core/core.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[128], cat[160];

static void fill(hs_db *db, const char *tenant, const char *name, uint64_t n)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = 2;
    c.metric = HS_METRIC_L2;
    hs_collection_create(db, tenant, name, &c, NULL);
    hs_collection *h;
    if (hs_collection_open(db, tenant, name, &h, NULL) != HS_OK)
        abort();
    for (uint64_t i = 0; i < n; i++) {
        double v[2] = {(double)i, 1};
        hs_point p = {i, v, 2, NULL, 0};
        hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, NULL);
    }
    hs_collection_close(h);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof(root), "%s/db", fuzz_scratch());
    snprintf(cat, sizeof(cat), "%s/.catalog", root);
    hs_db *db;
    if (hs_db_open(root, NULL, &db, NULL) != HS_OK)
        abort();
    fill(db, "t", "a", 5);
    fill(db, "u", "b", 3);
    fill(db, "t", "gone", 1);
    hs_db_close(db, NULL);
    const char *seeds = getenv("HS_FUZZ_SEEDS");
    if (!seeds)
        return 0;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp %s %s/clean", cat, seeds);
    if (system(cmd) != 0)
        abort();
    if (hs_db_open(root, NULL, &db, NULL) != HS_OK)
        abort();
    fill(db, "t", "a", 7); /* a DIRTY, then CLEAN records */
    hs_collection_drop(db, "t", "gone", NULL);
    snprintf(cmd, sizeof(cmd), "cp %s %s/records", cat, seeds);
    if (system(cmd) != 0)
        abort();
    hs_db_close(db, NULL);
    exit(0);
}

static int sum_points(void *ctx, const hs_tenant_usage *u)
{
    *(uint64_t *)ctx += u->points;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(cat, data, size);
    hs_db *db;
    if (hs_db_open(root, NULL, &db, NULL) != HS_OK)
        abort();
    hs_collection_stats a, b;
    if (hs_collection_stats_get(db, "t", "a", &a, NULL) != HS_OK ||
        hs_collection_stats_get(db, "u", "b", &b, NULL) != HS_OK)
        abort();
    /* a CLEAN record with a valid checksum is trusted for its figures (the file is the
     * database's own); the collections themselves are always found from the directories */
    (void)a;
    (void)b;
    uint64_t points = 0;
    hs_db_usage(db, NULL, sum_points, &points, NULL);
    hs_db_close(db, NULL);
    return 0;
}
