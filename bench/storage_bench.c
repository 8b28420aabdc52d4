/*
 * storage_bench.c: measurements of the embeddable database (build/bin/hs-storage-bench).
 *
 *   hs-storage-bench ingest  DIR --dim D --n N [--batch 1000] [--durability async|batch|strict]
 *                            [--meta] [--indexed]
 *       acknowledged upserts per second through the C API, then the time until indexed;
 *       --meta gives every point 4 metadata entries (g = id % 100, n = id, a 3-word title,
 *       h = id % 2); --indexed runs a filtered search first, so the payload indexes (Match,
 *       Range, BM25) are maintained by every write of the load
 *   hs-storage-bench reopen  DIR --dim 64 --n 1000000 [--reps 3]
 *       builds the collection once, then: open database + open collection + first search
 *   hs-storage-bench wake    DIR --dim 64 --n 100000 [--wakes 100] [--base F --metric M]
 *       a collection evicted by the loaded limit is woken by a search: p50/p99 latency (random
 *       l2 points, or the first --n vectors of an .fvecs file in metric M)
 *   hs-storage-bench many    DIR --count 10000 [--points 20] [--dim 32]
 *       RSS of a process holding that many small collections (most of them cold)
 *   hs-storage-bench serverless DIR --count 100000 [--points 20] [--dim 32] [--durability async]
 *       the serverless workload: create + first insert latency per collection, bytes on disk
 *       (allocated and apparent) and files, open time, RSS, first search of 100 random cold
 *       collections, the usage report, then 1,000 collections loaded (the default limit)
 *   hs-storage-bench load    DIR --collection C --base F [--metric l2|cosine] [--quant none|
 *                            scalar|binary] [--batch 1000]
 *       a collection made from an .fvecs file (asynchronous batches, indexed, checkpointed)
 *   hs-storage-bench search  DIR --collection C --query F --truth F [--k 10] [--ef N]
 *                            [--oversampling O] [--threads 1] [--seconds 10]
 *       search QPS and recall@k through the C API on an existing database (for instance the
 *       data directory a hyperspace-server wrote): the in-process side of bench/grpc_bench.sh;
 *       then the process's RSS (anonymous and file pages) and the collection's bytes in RAM by
 *       tier after the run; --oversampling is the requests' factor (0 = the collection's)
 *
 * Every command takes --narrow 0|1 (default 1): the database's narrow copy (HS_NARROW_COPY).
 * One line per figure, key=value, for the notes in bench/README.md.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyperspace.h"
#include "storage/storage.h"
#include "util/util.h"

#include "texmex.h"

typedef struct args {
    const char *mode, *dir, *collection, *query, *truth, *base, *metric, *quant;
    size_t dim, n, batch, reps, wakes, count, points, k, threads, ef;
    double oversampling;
    double seconds;
    hs_durability durability;
    bool meta, indexed;
} args;

static bool narrow_copy = true; /* --narrow */

static void die(const char *what, const hs_error *err)
{
    fprintf(stderr, "hs-storage-bench: %s%s%s\n", what, err ? ": " : "", err ? err->message : "");
    exit(1);
}

static void parse(args *a, int argc, char **argv)
{
    *a = (args){.dim = 64, .n = 100000, .batch = 1000, .reps = 3, .wakes = 100, .count = 10000,
                .points = 20, .durability = HS_DURABILITY_BATCH, .k = 10, .threads = 1,
                .seconds = 10, .collection = "default", .metric = "l2", .quant = "none"};
    if (argc < 3)
        die("usage: hs-storage-bench ingest|reopen|wake|many|serverless|load|search DIR [flags]",
            NULL);
    a->mode = argv[1];
    a->dir = argv[2];
    for (int i = 3; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--meta") || !strcmp(k, "--indexed")) { /* flags without a value */
            *(k[2] == 'm' ? &a->meta : &a->indexed) = true;
            continue;
        }
        if (i + 1 >= argc)
            die("a flag without its value", NULL);
        const char *v = argv[++i];
        if (!strcmp(k, "--dim"))
            a->dim = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--n"))
            a->n = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--batch"))
            a->batch = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--reps"))
            a->reps = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--wakes"))
            a->wakes = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--count"))
            a->count = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--points"))
            a->points = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--collection"))
            a->collection = v;
        else if (!strcmp(k, "--query"))
            a->query = v;
        else if (!strcmp(k, "--truth"))
            a->truth = v;
        else if (!strcmp(k, "--base"))
            a->base = v;
        else if (!strcmp(k, "--metric"))
            a->metric = v;
        else if (!strcmp(k, "--quant"))
            a->quant = v;
        else if (!strcmp(k, "--ef"))
            a->ef = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--oversampling"))
            a->oversampling = strtod(v, NULL);
        else if (!strcmp(k, "--k"))
            a->k = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--threads"))
            a->threads = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--seconds"))
            a->seconds = strtod(v, NULL);
        else if (!strcmp(k, "--narrow"))
            narrow_copy = strtoul(v, NULL, 10) != 0;
        else if (!strcmp(k, "--durability"))
            a->durability = !strcmp(v, "async")    ? HS_DURABILITY_ASYNC
                            : !strcmp(v, "strict") ? HS_DURABILITY_STRICT
                                                   : HS_DURABILITY_BATCH;
        else
            die("unknown flag", NULL);
    }
}

static hs_db *open_db(const char *dir, uint32_t max_loaded)
{
    hs_db_opts o;
    hs_db_opts_init(&o);
    o.max_loaded = max_loaded;
    o.no_narrow = !narrow_copy;
    hs_db *db;
    hs_error err;
    if (hs_db_open(dir, &o, &db, &err) != HS_OK)
        die("open", &err);
    return db;
}

static hs_collection *collection(hs_db *db, const char *name, size_t dim, bool create)
{
    hs_error err;
    if (create) {
        hs_collection_config c;
        hs_collection_config_init(&c);
        c.dimension = (uint32_t)dim;
        c.metric = HS_METRIC_L2;
        if (hs_collection_create(db, "default_admin", name, &c, &err) != HS_OK)
            die("create", &err);
    }
    hs_collection *h;
    if (hs_collection_open(db, "default_admin", name, &h, &err) != HS_OK)
        die("open collection", &err);
    return h;
}

static void fill(hs_rng *r, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = hs_rng_normal(r);
}

/* The 4 metadata entries of point id (--meta); text holds the values. */
typedef struct meta4 {
    char g[8], n[24], title[48];
    hs_kv kv[4];
} meta4;

static void meta_of(hs_rng *r, uint64_t id, meta4 *m)
{
    static const char *words[] = {"red", "apple", "green", "pear", "blue", "sky", "stone", "river"};
    snprintf(m->g, sizeof(m->g), "%u", (unsigned)(id % 100));
    snprintf(m->n, sizeof(m->n), "%llu", (unsigned long long)id);
    snprintf(m->title, sizeof(m->title), "%s %s %s", words[hs_rng_next(r) % 8],
             words[hs_rng_next(r) % 8], words[hs_rng_next(r) % 8]);
    m->kv[0] = (hs_kv){"g", 1, m->g, strlen(m->g)};
    m->kv[1] = (hs_kv){"n", 1, m->n, strlen(m->n)};
    m->kv[2] = (hs_kv){"title", 5, m->title, strlen(m->title)};
    m->kv[3] = (hs_kv){"h", 1, id % 2 ? "a" : "b", 1};
}

/* Upserts ids [from, from + n) in batches (with meta4 metadata when meta); returns the seconds
 * taken. */
static double load(hs_collection *h, uint64_t from, size_t n, size_t dim, size_t batch,
                   hs_durability d, bool meta)
{
    hs_rng r;
    hs_rng_seed(&r, from + 1);
    double *vs = malloc(batch * dim * sizeof(double));
    hs_point *pts = malloc(batch * sizeof(hs_point));
    meta4 *ms = meta ? malloc(batch * sizeof(meta4)) : NULL;
    hs_error err;
    uint64_t t0 = hs_now_ns();
    for (size_t done = 0; done < n; done += batch) {
        size_t m = HS_MIN(batch, n - done);
        fill(&r, vs, m * dim);
        for (size_t i = 0; i < m; i++) {
            pts[i] = (hs_point){from + done + i, vs + i * dim, dim, NULL, 0};
            if (meta) {
                meta_of(&r, from + done + i, &ms[i]);
                pts[i].meta = ms[i].kv;
                pts[i].nmeta = 4;
            }
        }
        if (hs_upsert(h, pts, m, d, &err) != HS_OK)
            die("upsert", &err);
    }
    double secs = (double)(hs_now_ns() - t0) / 1e9;
    free(vs);
    free(pts);
    free(ms);
    return secs;
}

/* The query of search_once when set (wake --base: a point of the file), else a random one. */
static const double *fixed_query;

static double search_once(hs_collection *h, size_t dim)
{
    double q[4096];
    hs_rng r;
    hs_rng_seed(&r, 99);
    fill(&r, q, dim);
    if (fixed_query)
        memcpy(q, fixed_query, dim * sizeof(double));
    hs_hit hit[10];
    size_t n;
    hs_error err;
    uint64_t t0 = hs_now_ns();
    if (hs_search(h, q, dim, NULL, hit, &n, &err) != HS_OK || n == 0)
        die("search", &err);
    return (double)(hs_now_ns() - t0) / 1e6;
}

static void run_ingest(const args *a)
{
    hs_db *db = open_db(a->dir, 1000);
    hs_collection *h = collection(db, "ingest", a->dim, true);
    hs_error err;
    if (a->indexed) { /* a filtered search builds the payload indexes (empty so far) */
        double q[4096] = {1};
        hs_cond c = {HS_COND_MATCH, "g", 1, "1", 1, 0, 0, 0, 0};
        hs_where w = {&c, 1, NULL, 0, NULL, 0};
        hs_search_opts o;
        hs_search_opts_init(&o);
        o.where = &w;
        hs_hit hit[10];
        size_t n;
        if (a->dim > 4096 || hs_search(h, q, a->dim, &o, hit, &n, &err) != HS_OK)
            die("filtered search", &err);
    }
    double secs = load(h, 0, a->n, a->dim, a->batch, a->durability, a->meta);
    uint64_t t0 = hs_now_ns();
    hs_collection_wait_indexed(h, &err);
    double idx = (double)(hs_now_ns() - t0) / 1e9;
    printf("ingest dim=%zu n=%zu batch=%zu meta=%d payload_index=%d durability=%s "
           "vec_per_s=%.0f seconds=%.2f indexed_after_extra_s=%.2f\n",
           a->dim, a->n, a->batch, a->meta, a->indexed,
           a->durability == HS_DURABILITY_ASYNC    ? "async"
           : a->durability == HS_DURABILITY_STRICT ? "strict"
                                                   : "batch",
           (double)a->n / secs, secs, idx);
    hs_collection_close(h);
    hs_db_close(db, NULL);
}

static void run_reopen(const args *a)
{
    {
        hs_db *db = open_db(a->dir, 1000);
        hs_collection *h = collection(db, "big", a->dim, true);
        double secs = load(h, 0, a->n, a->dim, 10000, HS_DURABILITY_ASYNC, false);
        hs_error err;
        hs_collection_wait_indexed(h, &err);
        hs_collection_checkpoint(h, &err);
        printf("reopen build n=%zu dim=%zu ingest_s=%.1f\n", a->n, a->dim, secs);
        hs_collection_close(h);
        hs_db_close(db, NULL);
    }
    for (size_t rep = 0; rep < a->reps; rep++) {
        uint64_t t0 = hs_now_ns();
        hs_db *db = open_db(a->dir, 1000);
        double open_ms = (double)(hs_now_ns() - t0) / 1e6;
        hs_collection *h = collection(db, "big", a->dim, false);
        double q_ms = search_once(h, a->dim);
        double total = (double)(hs_now_ns() - t0) / 1e6;
        printf("reopen rep=%zu open_db_ms=%.1f first_query_ms=%.1f total_ms=%.1f\n", rep, open_ms,
               q_ms, total);
        hs_collection_close(h);
        hs_db_close(db, NULL);
    }
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static hs_metric parse_metric(const char *m)
{
    if (!strcmp(m, "cosine"))
        return HS_METRIC_COSINE;
    if (!strcmp(m, "poincare"))
        return HS_METRIC_POINCARE;
    if (!strcmp(m, "lorentz"))
        return HS_METRIC_LORENTZ;
    if (strcmp(m, "l2"))
        die("--metric must be l2, cosine, poincare or lorentz", NULL);
    return HS_METRIC_L2;
}

/* Collection `name` (metric m) made of the first n vectors of b, indexed. */
static void create_from(hs_db *db, const char *name, hs_metric m, const texmex *b, size_t n)
{
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = (uint32_t)b->dim;
    c.metric = m;
    hs_error err;
    hs_collection *h;
    if (hs_collection_create(db, "default_admin", name, &c, &err) != HS_OK ||
        hs_collection_open(db, "default_admin", name, &h, &err) != HS_OK)
        die("create", &err);
    double *v = malloc(b->dim * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < b->dim; d++)
            v[d] = b->f[i * b->dim + d];
        hs_point p = {i, v, b->dim, NULL, 0};
        if (hs_upsert(h, &p, 1, HS_DURABILITY_ASYNC, &err) != HS_OK)
            die("upsert", &err);
    }
    free(v);
    hs_collection_wait_indexed(h, &err);
    hs_collection_close(h);
}

static void run_wake(const args *a)
{
    hs_db *db = open_db(a->dir, 1); /* one loaded collection: touching B evicts A */
    hs_error err;
    texmex file = {0};
    double *q = NULL;
    size_t dim = a->dim;
    if (a->base) { /* --base F --metric M: A is the file's first --n vectors, B its first 10 */
        file = texmex_read(a->base, false);
        dim = file.dim;
        hs_metric m = parse_metric(a->metric);
        create_from(db, "a", m, &file, HS_MIN(a->n, file.n));
        create_from(db, "b", m, &file, HS_MIN((size_t)10, file.n));
        q = malloc(dim * sizeof(double));
        for (size_t d = 0; d < dim; d++)
            q[d] = file.f[d];
        fixed_query = q;
    } else {
        hs_collection *h = collection(db, "a", dim, true);
        load(h, 0, a->n, dim, 10000, HS_DURABILITY_ASYNC, false);
        hs_collection_wait_indexed(h, &err);
        hs_collection_close(h);
        h = collection(db, "b", dim, true);
        load(h, 0, 10, dim, 10, HS_DURABILITY_ASYNC, false);
        hs_collection_close(h);
    }
    double *ms = malloc(a->wakes * sizeof(double));
    for (size_t i = 0; i < a->wakes; i++) {
        hs_collection *b = collection(db, "b", dim, false);
        search_once(b, dim); /* loads b, evicting a */
        hs_collection_close(b);
        hs_collection_stats st;
        hs_collection_stats_get(db, "default_admin", "a", &st, &err);
        if (st.loaded)
            die("a is still loaded", NULL);
        uint64_t t0 = hs_now_ns();
        hs_collection *ha = collection(db, "a", dim, false);
        search_once(ha, dim);
        ms[i] = (double)(hs_now_ns() - t0) / 1e6;
        hs_collection_close(ha);
    }
    qsort(ms, a->wakes, sizeof(double), cmp_double);
    printf("wake n=%zu dim=%zu wakes=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", a->n, dim,
           a->wakes, ms[a->wakes / 2], ms[(a->wakes * 99) / 100 - (a->wakes >= 100 ? 1 : 0)],
           ms[a->wakes - 1]);
    free(ms);
    free(q);
    free(file.f);
    hs_db_close(db, NULL);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void run_many(const args *a)
{
    long before = rss_kb();
    {
        hs_db *db = open_db(a->dir, 1000);
        for (size_t i = 0; i < a->count; i++) {
            char name[32];
            snprintf(name, sizeof(name), "c%06zu", i);
            hs_collection *h = collection(db, name, a->dim, true);
            load(h, 0, a->points, a->dim, a->points, HS_DURABILITY_ASYNC, false);
            hs_collection_close(h);
        }
        printf("many created count=%zu rss_mb=%.1f (at most 1000 loaded)\n", a->count,
               (double)(rss_kb() - before) / 1024);
        hs_db_close(db, NULL);
    }
    hs_db_release_memory(NULL, NULL);
    long base = rss_kb();
    uint64_t t0 = hs_now_ns();
    hs_db *db = open_db(a->dir, 1000);
    double open_ms = (double)(hs_now_ns() - t0) / 1e6;
    long opened = rss_kb();
    /* use 1,000 of them (they stay loaded), the rest stay cold */
    for (size_t i = 0; i < a->count && i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%06zu", i * (a->count / 1000 ? a->count / 1000 : 1));
        hs_collection *h = collection(db, name, a->dim, false);
        search_once(h, a->dim);
        hs_collection_close(h);
    }
    printf("many reopen count=%zu open_ms=%.0f rss_after_open_mb=%.1f "
           "rss_with_1000_loaded_mb=%.1f process_rss_mb=%.1f\n",
           a->count, open_ms, (double)(opened - base) / 1024, (double)(rss_kb() - base) / 1024,
           (double)rss_kb() / 1024);
    hs_db_close(db, NULL);
}

/* ---- serverless ------------------------------------------------------------------------------ */

static uint64_t du_alloc, du_apparent, du_files, du_dirs;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path;
    (void)f;
    du_alloc += (uint64_t)st->st_blocks * 512;
    du_apparent += (uint64_t)st->st_size;
    du_files += flag == FTW_F;
    du_dirs += flag == FTW_D || flag == FTW_DP;
    return 0;
}

static void du(const char *dir)
{
    du_alloc = du_apparent = du_files = du_dirs = 0;
    nftw(dir, du_one, 64, FTW_PHYS);
}

static int usage_sink(void *ctx, const hs_tenant_usage *u)
{
    *(uint64_t *)ctx += u->points;
    return 0;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof(double), cmp_double);
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static void run_serverless(const args *a)
{
    double *lat = malloc(a->count * sizeof(double));
    double *lat_create = malloc(a->count * sizeof(double));
    long base = rss_kb();
    uint64_t t0 = hs_now_ns();
    {
        hs_db *db = open_db(a->dir, 1000);
        for (size_t i = 0; i < a->count; i++) {
            char name[32];
            snprintf(name, sizeof(name), "u%07zu", i);
            uint64_t c0 = hs_now_ns();
            hs_collection *h = collection(db, name, a->dim, true);
            lat_create[i] = (double)(hs_now_ns() - c0) / 1e6;
            load(h, i * a->points, a->points, a->dim, a->points, a->durability, false);
            lat[i] = (double)(hs_now_ns() - c0) / 1e6;
            hs_collection_close(h);
        }
        double secs = (double)(hs_now_ns() - t0) / 1e9;
        printf("serverless created count=%zu points=%zu dim=%zu durability=%s seconds=%.1f "
               "rss_mb=%.1f\n", a->count, a->points, a->dim,
               a->durability == HS_DURABILITY_ASYNC    ? "async"
               : a->durability == HS_DURABILITY_STRICT ? "strict"
                                                       : "batch",
               secs, (double)(rss_kb() - base) / 1024);
        printf("serverless create_first_insert_ms p50=%.2f p99=%.2f max=%.2f\n",
               pct(lat, a->count, 0.5), pct(lat, a->count, 0.99), pct(lat, a->count, 1.0));
        printf("serverless create_only_ms p50=%.2f p99=%.2f max=%.2f\n",
               pct(lat_create, a->count, 0.5), pct(lat_create, a->count, 0.99),
               pct(lat_create, a->count, 1.0));
        uint64_t c0 = hs_now_ns();
        hs_db_close(db, NULL);
        printf("serverless close_ms=%.0f\n", (double)(hs_now_ns() - c0) / 1e6);
    }
    du(a->dir);
    printf("serverless disk allocated_mb=%.1f apparent_mb=%.1f files=%llu dirs=%llu "
           "per_collection_kb=%.1f vectors_mb=%.1f\n", (double)du_alloc / 1048576,
           (double)du_apparent / 1048576, (unsigned long long)du_files,
           (unsigned long long)du_dirs, (double)du_alloc / 1024 / (double)a->count,
           (double)(a->count * a->points * a->dim * 4) / 1048576);
    hs_db_release_memory(NULL, NULL);
    base = rss_kb();
    t0 = hs_now_ns();
    hs_db *db = open_db(a->dir, 1000);
    double open_ms = (double)(hs_now_ns() - t0) / 1e6;
    printf("serverless open_ms=%.1f rss_after_open_mb=%.1f\n", open_ms,
           (double)(rss_kb() - base) / 1024);
    hs_rng r;
    hs_rng_seed(&r, 7);
    size_t cold = a->count < 100 ? a->count : 100;
    for (size_t i = 0; i < cold; i++) {
        char name[32];
        snprintf(name, sizeof(name), "u%07zu", (size_t)(hs_rng_next(&r) % a->count));
        uint64_t c0 = hs_now_ns();
        hs_collection *h = collection(db, name, a->dim, false);
        search_once(h, a->dim);
        lat[i] = (double)(hs_now_ns() - c0) / 1e6;
        hs_collection_close(h);
    }
    printf("serverless cold_first_search_ms n=%zu p50=%.2f p99=%.2f max=%.2f\n", cold,
           pct(lat, cold, 0.5), pct(lat, cold, 0.99), pct(lat, cold, 1.0));
    for (int rep = 0; rep < 5; rep++) {
        uint64_t points = 0;
        t0 = hs_now_ns();
        hs_error err;
        if (hs_db_usage(db, NULL, usage_sink, &points, &err) != HS_OK)
            die("usage", &err);
        lat[rep] = (double)(hs_now_ns() - t0) / 1e6;
        if (points != a->count * a->points)
            die("usage: wrong point total", NULL);
    }
    printf("serverless usage_ms p50=%.2f max=%.2f\n", pct(lat, 5, 0.5), pct(lat, 5, 1.0));
    size_t nl = a->count < 1000 ? a->count : 1000;
    for (size_t i = 0; i < nl; i++) {
        char name[32];
        snprintf(name, sizeof(name), "u%07zu", i * (a->count / nl));
        hs_collection *h = collection(db, name, a->dim, false);
        search_once(h, a->dim);
        hs_collection_close(h);
    }
    printf("serverless loaded=%zu rss_mb=%.1f process_rss_mb=%.1f\n", nl,
           (double)(rss_kb() - base) / 1024, (double)rss_kb() / 1024);
    hs_db_close(db, NULL);
    free(lat);
    free(lat_create);
}

/* ---- search ---------------------------------------------------------------------------------- */

static double hs_now_s(void) { return (double)hs_now_ns() / 1e9; }

typedef struct searcher {
    hs_collection *h;
    const texmex *q, *truth;
    size_t k, ef, first;
    double oversampling, until;
    uint64_t done, hits;
} searcher;

static void *search_main(void *arg)
{
    searcher *w = arg;
    double *qv = malloc(w->q->dim * sizeof(double));
    hs_hit *hit = malloc(w->k * sizeof(hs_hit));
    hs_search_opts so;
    hs_search_opts_init(&so);
    so.k = w->k;
    so.ef = (uint32_t)w->ef;
    so.oversampling = w->oversampling;
    for (size_t qi = w->first; hs_now_s() < w->until; qi = (qi + 1) % w->q->n) {
        for (size_t d = 0; d < w->q->dim; d++)
            qv[d] = w->q->f[qi * w->q->dim + d];
        size_t n = 0;
        hs_error err;
        if (hs_search(w->h, qv, w->q->dim, &so, hit, &n, &err) != HS_OK)
            die("search", &err);
        w->done++;
        for (size_t a = 0; w->truth && a < n; a++)
            for (size_t b = 0; b < w->k && b < w->truth->dim; b++)
                if ((int64_t)hit[a].id == w->truth->i[qi * w->truth->dim + b]) {
                    w->hits++;
                    break;
                }
    }
    free(qv);
    free(hit);
    return NULL;
}

static void run_load(const args *a)
{
    if (!a->base)
        die("load needs --base", NULL);
    texmex b = texmex_read(a->base, false);
    hs_db *db = open_db(a->dir, 1000);
    hs_collection_config c;
    hs_collection_config_init(&c);
    c.dimension = (uint32_t)b.dim;
    c.metric = parse_metric(a->metric);
    c.quantization = !strcmp(a->quant, "scalar")   ? HS_QUANT_SCALAR
                     : !strcmp(a->quant, "binary") ? HS_QUANT_BINARY
                                                   : HS_QUANT_NONE;
    hs_error err;
    if (hs_collection_create(db, "default_admin", a->collection, &c, &err) != HS_OK)
        die("create", &err);
    hs_collection *h;
    if (hs_collection_open(db, "default_admin", a->collection, &h, &err) != HS_OK)
        die("open collection", &err);
    double t0 = hs_now_s();
    size_t batch = a->batch ? a->batch : 1000;
    double *v = malloc(batch * b.dim * sizeof(double));
    hs_point *p = malloc(batch * sizeof(hs_point));
    for (size_t at = 0; at < b.n; at += batch) {
        size_t n = b.n - at < batch ? b.n - at : batch;
        for (size_t i = 0; i < n; i++) {
            for (size_t d = 0; d < b.dim; d++)
                v[i * b.dim + d] = b.f[(at + i) * b.dim + d];
            p[i] = (hs_point){at + i, v + i * b.dim, b.dim, NULL, 0};
        }
        if (hs_upsert(h, p, n, HS_DURABILITY_ASYNC, &err) != HS_OK)
            die("upsert", &err);
    }
    if (hs_collection_wait_indexed(h, &err) != HS_OK)
        die("index", &err);
    double built = hs_now_s() - t0;
    hs_collection_close(h);
    if (hs_db_checkpoint(db, NULL, &err) != HS_OK)
        die("checkpoint", &err);
    hs_db_close(db, NULL);
    printf("mode=load n=%zu dim=%zu metric=%s quant=%s seconds=%.1f\n", b.n, b.dim, a->metric,
           a->quant, built);
    free(v);
    free(p);
    free(b.f);
}

/* VmRSS, RssAnon and RssFile of this process in kB. */
static void rss_parts(long *rss, long *anon, long *file)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *rss = *anon = *file = 0;
    while (f && fgets(line, sizeof(line), f)) {
        sscanf(line, "VmRSS: %ld kB", rss);
        sscanf(line, "RssAnon: %ld kB", anon);
        sscanf(line, "RssFile: %ld kB", file);
    }
    if (f)
        fclose(f);
}

static void print_memory(hs_db *db, const char *collection, const char *when)
{
    long rss, anon, file;
    rss_parts(&rss, &anon, &file);
    hs_collection_stats st;
    hs_error err;
    if (hs_collection_stats_get(db, "default_admin", collection, &st, &err) != HS_OK)
        die("stats", &err);
    printf("memory when=%s rss_mb=%.1f rss_anon_mb=%.1f rss_file_mb=%.1f graph_mb=%.1f "
           "codes_mb=%.1f vectors_mb=%.1f payload_mb=%.1f\n", when, rss / 1024.0, anon / 1024.0,
           file / 1024.0, st.resident_graph_bytes / 1048576.0, st.resident_codes_bytes / 1048576.0,
           st.resident_vector_bytes / 1048576.0, st.resident_payload_bytes / 1048576.0);
}

static void run_search(const args *a)
{
    if (!a->query || a->threads < 1 || a->k < 1)
        die("search needs --query (and --threads, --k >= 1)", NULL);
    texmex q = texmex_read(a->query, false), truth = {0};
    if (a->truth)
        truth = texmex_read(a->truth, true);
    double t_open = hs_now_s();
    hs_db *db = open_db(a->dir, 1000);
    hs_collection *h;
    hs_error err;
    if (hs_collection_open(db, "default_admin", a->collection, &h, &err) != HS_OK)
        die("open collection", &err);
    if (hs_collection_wait_indexed(h, &err) != HS_OK)
        die("load", &err);
    printf("mode=open load_ms=%.1f\n", (hs_now_s() - t_open) * 1e3);
    print_memory(db, a->collection, "loaded");
    searcher *w = calloc(a->threads, sizeof(searcher));
    pthread_t *t = calloc(a->threads, sizeof(pthread_t));
    double t0 = hs_now_s();
    for (size_t i = 0; i < a->threads; i++) {
        w[i] = (searcher){h, &q, a->truth ? &truth : NULL, a->k, a->ef, i * q.n / a->threads,
                          a->oversampling, t0 + a->seconds, 0, 0};
        pthread_create(&t[i], NULL, search_main, &w[i]);
    }
    uint64_t done = 0, hits = 0;
    for (size_t i = 0; i < a->threads; i++) {
        pthread_join(t[i], NULL);
        done += w[i].done;
        hits += w[i].hits;
    }
    double secs = hs_now_s() - t0;
    printf("mode=search threads=%zu k=%zu ef=%zu oversampling=%g queries=%llu seconds=%.2f "
           "qps=%.0f", a->threads, a->k, a->ef, a->oversampling, (unsigned long long)done, secs,
           (double)done / secs);
    if (a->truth)
        printf(" recall=%.4f", (double)hits / (double)(done * a->k));
    printf("\n");
    print_memory(db, a->collection, "after_queries");
    free(w);
    free(t);
    hs_collection_close(h);
    hs_db_close(db, NULL);
    free(q.f);
    free(truth.i);
}

int main(int argc, char **argv)
{
    args a;
    parse(&a, argc, argv);
    hs_log_set_sink(NULL, NULL, HS_LOG_WARN);
    if (!strcmp(a.mode, "ingest"))
        run_ingest(&a);
    else if (!strcmp(a.mode, "reopen"))
        run_reopen(&a);
    else if (!strcmp(a.mode, "wake"))
        run_wake(&a);
    else if (!strcmp(a.mode, "many"))
        run_many(&a);
    else if (!strcmp(a.mode, "load"))
        run_load(&a);
    else if (!strcmp(a.mode, "serverless"))
        run_serverless(&a);
    else if (!strcmp(a.mode, "search"))
        run_search(&a);
    else
        die("unknown mode", NULL);
    return 0;
}
