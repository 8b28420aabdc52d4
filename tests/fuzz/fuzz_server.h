/*
 * fuzz_server.h: the fixture the server fuzz targets share: a real database in a private scratch
 * directory behind g_srv (ready, defaults of dimension 3 / cosine), the fixture collections f3
 * (l2), p3 (Poincaré), c3 (cosine) and s3 (l2, string ids), writable (unfrozen) before each
 * input, and a bound on how many other collections the inputs may leave behind.
 */
#ifndef HS_FUZZ_SERVER_H
#define HS_FUZZ_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

static void fz_server_open(const char *prefix)
{
    hs_log_set_sink(NULL, NULL, HS_LOG_ERROR);
    static char dir[96];
    snprintf(dir, sizeof(dir), "/tmp/hs-fuzz-%s-%d-XXXXXX", prefix, (int)getpid());
    if (!mkdtemp(dir))
        abort();
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.durability = HS_DURABILITY_ASYNC;
    o.snapshot_interval_sec = 0;
    o.indexer_threads = 1;
    if (hs_db_open(dir, &o, &g_srv.db, NULL) != HS_OK)
        abort();
    g_srv.state = SRV_READY;
    g_srv.cfg.dimension = 3;
    g_srv.cfg.metric = HS_METRIC_COSINE;
    g_srv.cfg.m = 16;
}

static void fz_create(const char *name, uint32_t dim, hs_metric m, hs_id_type ids)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = dim;
    c.metric = m;
    c.id_type = ids;
    hs_collection_create(g_srv.db, HS_DEFAULT_TENANT, name, &c, NULL);
}

/* Recreates the fixture collections an input may have dropped (no-ops when present). */
static void fz_fixtures(void)
{
    fz_create("f3", 3, HS_METRIC_L2, HS_ID_INTEGER);
    fz_create("p3", 3, HS_METRIC_POINCARE, HS_ID_INTEGER);
    fz_create("c3", 3, HS_METRIC_COSINE, HS_ID_INTEGER);
    fz_create("s3", 3, HS_METRIC_L2, HS_ID_STRING);
    /* an input may have frozen them: the next ones can write again */
    static const char *names[] = {"f3", "p3", "c3", "s3", "default"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        hs_collection_freeze(g_srv.db, HS_DEFAULT_TENANT, names[i], 0, NULL);
}

static int fz_drop_extra(void *ctx, const char *tenant, const char *name)
{
    (void)ctx;
    if (strcmp(name, "f3") && strcmp(name, "p3") && strcmp(name, "c3") && strcmp(name, "s3") &&
        strcmp(name, "default"))
        hs_collection_drop(g_srv.db, tenant, name, NULL);
    return 0;
}

static int fz_count(void *ctx, const char *tenant, const char *name)
{
    (void)tenant;
    (void)name;
    (*(size_t *)ctx)++;
    return 0;
}

static int fz_count_snapshot(void *ctx, const hs_snapshot_info *s)
{
    (void)s;
    (*(size_t *)ctx)++;
    return 0;
}

static int fz_drop_snapshot(void *ctx, const hs_snapshot_info *s)
{
    (void)ctx;
    hs_snapshot_delete(g_srv.db, s->name, NULL);
    return 0;
}

/* Keeps the fixture collections and at most 16 in all, and at most 8 snapshot archives (inputs
 * may create them). */
static void fz_bound_collections(void)
{
    size_t n = 0;
    hs_collection_list(g_srv.db, NULL, fz_count, &n, NULL);
    if (n > 16)
        hs_collection_list(g_srv.db, NULL, fz_drop_extra, NULL, NULL);
    n = 0;
    hs_snapshot_list(g_srv.db, fz_count_snapshot, &n, NULL);
    if (n > 8)
        hs_snapshot_list(g_srv.db, fz_drop_snapshot, NULL, NULL);
}

#endif /* HS_FUZZ_SERVER_H */
