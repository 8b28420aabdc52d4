/*
 * hs_bench.c: builds an HNSW index over TEXMEX files and measures recall@k and queries per second
 * (build/bin/hs-bench).  Output lines, one fact each, for bench/compare.py:
 *   system=hyperspace version=<v> simd=<kernels>
 *   build_seconds=<s> threads=<t>
 *   ef=<n> recall=<r> qps=<q> threads=<t>          (1 thread, then --threads; the 1-thread line
 *     adds dists_per_query, p50_us, p99_us and cpu_qps: queries per second of CPU time)
 *   index_bytes=<b> graph_bytes=<b> vector_bytes=<b> code_bytes=<b> rss_growth_bytes=<b>
 *     (index_bytes: what the index holds in RAM, so without the float32 vectors once the narrow
 *     copy released them; code_bytes: the codes or the narrow copy)
 *
 * Flags: --metric l2|cosine|poincare|lorentz --base F --query F --truth F [--k 10] [--M 16]
 *        [--ef-construction 200] [--threads 2] [--ef 10,20,40] [--quant none|scalar|binary]
 *        [--no-repair] [--exact] [--seed N] [--alpha A] [--hub H] [--diag FILE]
 *        [--save-graph FILE] [--load-graph FILE] [--dump-results FILE] [--no-narrow]
 * --load-graph FILE: read the graph saved by --save-graph for the same base instead of building
 * (search-side experiments at 1M without a build each time; build_seconds is then 0).
 * --dump-results FILE: the k ids each query got at the last ef, as .ivecs (for analyses).
 * --diag FILE: after the ef list, a diagnosis of the misses at the last ef (hs_bench_diag.c).
 * .fvecs files hold float32 vectors, .dvecs float64 (stored as float64), .ivecs int32 ids.
 * Narrow walks, as the database does them (docs/ARCHITECTURE.md, "Narrow copy"): with --quant
 * none, l2 or cosine and float32 data whose every component is exactly a bfloat16, the search
 * walks a bfloat16 copy of the records (the same distances bit for bit) and the float32 table is
 * released after the build, as the database leaves it in its files; so does float64 data (.dvecs)
 * whose every component is exactly a float32, with a float32 copy; a line
 * `narrow=bf16|f32|off narrow_bytes=<b>` says which.  --no-narrow walks the full records.
 *
 * The timed query path is the whole query: encode the query, search the graph, and (for
 * quantized traversal) re-rank the candidates by exact distance on the stored vectors.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hnsw/hnsw.h"
#include "hs_bench_diag.h"
#include "util/util.h"
#include "vec/vec.h"

typedef struct matrix {
    size_t n, dim;
    bool f64;
    void *data; /* n * dim floats or doubles */
} matrix;

typedef struct bench_opts {
    hs_metric metric;
    hs_quantization quant;
    const char *base, *query, *truth;
    size_t k, m, efc, threads;
    size_t efs[64], nefs;
    bool repair, exact, no_narrow;
    float alpha; /* 0: the metric default */
    uint32_t hub; /* 0: the metric default */
    uint64_t seed;
    const char *diag; /* TSV of the misses, or NULL */
    const char *save_graph, *load_graph;
    const char *dump; /* .ivecs of the results at the last ef, or NULL */
} bench_opts;

typedef struct bench {
    bench_opts o;
    matrix base, query, truth;
    hs_space full;     /* stored vectors (float32 or float64 + alpha) */
    hs_space trav;     /* traversal records */
    hs_chunks full_recs, code_recs;
    const hs_chunks *trav_recs;
    bool narrow_on;      /* searches walk narrow_recs (narrow copies of full_recs) */
    bool full_released; /* full_recs freed after the build (narrow walks need nothing else) */
    hs_space narrow;
    hs_chunks narrow_recs;
    hs_hnsw *index;
    size_t ef; /* current ef of the query loop */
    uint32_t *results; /* nq * k */
    uint64_t *lat_ns;  /* per query, when a latency pass runs (else NULL) */
} bench;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "hs-bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Reads a TEXMEX file: records of int32 dim followed by dim values of `vsize` bytes. */
static matrix read_vecs(const char *path, size_t vsize)
{
    matrix m = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        die(strerror(errno), path);
    int32_t d;
    if (fread(&d, 4, 1, f) != 1 || d <= 0 || d > 1 << 20)
        die("bad header", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    size_t rec = 4 + (size_t)d * vsize;
    if (size < 0 || (size_t)size % rec != 0)
        die("file size is not a multiple of the record size", path);
    m.n = (size_t)size / rec;
    m.dim = (size_t)d;
    m.f64 = vsize == 8;
    m.data = malloc(m.n * m.dim * vsize);
    if (!m.data)
        die("out of memory", path);
    for (size_t i = 0; i < m.n; i++) {
        if (fread(&d, 4, 1, f) != 1 || (size_t)d != m.dim ||
            fread((char *)m.data + i * m.dim * vsize, vsize, m.dim, f) != m.dim)
            die("short or inconsistent record", path);
    }
    fclose(f);
    return m;
}

static matrix read_any(const char *path)
{
    return read_vecs(path, ends_with(path, ".dvecs") ? 8 : 4);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static void parse_efs(bench_opts *o, char *list)
{
    o->nefs = 0;
    for (char *t = strtok(list, ","); t && o->nefs < HS_ARRAY_LEN(o->efs); t = strtok(NULL, ","))
        o->efs[o->nefs++] = (size_t)strtoul(t, NULL, 10);
}

static void parse_args(bench_opts *o, int argc, char **argv)
{
    *o = (bench_opts){.metric = HS_METRIC_L2, .k = 10, .m = 16, .efc = 200, .threads = 2,
                      .repair = true, .seed = 42};
    static char default_efs[] = "10,20,40,80";
    parse_efs(o, default_efs);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (!strcmp(a, "--metric")) {
            if (!v)
                die("missing value", a);
            o->metric = !strcmp(v, "l2")       ? HS_METRIC_L2
                        : !strcmp(v, "cosine") ? HS_METRIC_COSINE
                        : !strcmp(v, "poincare") ? HS_METRIC_POINCARE
                        : !strcmp(v, "lorentz")  ? HS_METRIC_LORENTZ
                                               : (die("unknown metric", v), HS_METRIC_L2);
        } else if (!strcmp(a, "--quant")) {
            if (!v)
                die("missing value", a);
            o->quant = !strcmp(v, "none")     ? HS_QUANT_NONE
                       : !strcmp(v, "scalar") ? HS_QUANT_SCALAR
                       : !strcmp(v, "binary") ? HS_QUANT_BINARY
                                              : (die("unknown quantization", v), HS_QUANT_NONE);
        } else if (!strcmp(a, "--no-narrow")) {
            o->no_narrow = true;
            takes = false;
        } else if (!strcmp(a, "--base")) {
            o->base = v;
        } else if (!strcmp(a, "--query")) {
            o->query = v;
        } else if (!strcmp(a, "--truth")) {
            o->truth = v;
        } else if (!strcmp(a, "--k") && v) {
            o->k = strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--M") && v) {
            o->m = strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--ef-construction") && v) {
            o->efc = strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--threads") && v) {
            o->threads = strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--seed") && v) {
            o->seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--ef") && v) {
            parse_efs(o, argv[i + 1]);
        } else if (!strcmp(a, "--alpha") && v) {
            o->alpha = (float)atof(v);
        } else if (!strcmp(a, "--hub") && v) {
            o->hub = (uint32_t)strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--save-graph")) {
            o->save_graph = v;
        } else if (!strcmp(a, "--load-graph")) {
            o->load_graph = v;
        } else if (!strcmp(a, "--dump-results")) {
            o->dump = v;
        } else if (!strcmp(a, "--diag")) {
            o->diag = v;
        } else if (!strcmp(a, "--no-repair")) {
            o->repair = takes = false;
        } else if (!strcmp(a, "--exact")) {
            o->exact = true;
            takes = false;
        } else if (!strcmp(a, "--base-f64") || !strcmp(a, "--query-f64")) {
            /* accepted for symmetry with the peers; float64 data is passed as .dvecs */
        } else {
            die("unknown or incomplete flag", a);
        }
        if (takes) {
            if (!v)
                die("missing value", a);
            i++;
        }
    }
    if (!o->base || !o->query || !o->truth)
        die("--base, --query and --truth are required", NULL);
    if (o->k == 0 || o->threads == 0 || o->nefs == 0)
        die("--k, --threads and --ef must be positive", NULL);
}

/* Normalises cosine inputs in float64 the way the database does (then rounds back). */
static void preprocess(matrix *m, hs_metric metric)
{
    if (metric != HS_METRIC_COSINE)
        return;
    double *tmp = malloc(m->dim * sizeof(double));
    for (size_t i = 0; i < m->n; i++) {
        for (size_t j = 0; j < m->dim; j++)
            tmp[j] = m->f64 ? ((double *)m->data)[i * m->dim + j]
                            : ((float *)m->data)[i * m->dim + j];
        hs_vec_normalize_f64(tmp, m->dim);
        for (size_t j = 0; j < m->dim; j++) {
            if (m->f64)
                ((double *)m->data)[i * m->dim + j] = tmp[j];
            else
                ((float *)m->data)[i * m->dim + j] = (float)tmp[j];
        }
    }
    free(tmp);
}

static void encode(const hs_space *sp, const matrix *m, size_t i, void *rec)
{
    if (m->f64)
        hs_space_encode_f64(sp, (const double *)m->data + i * m->dim, rec);
    else
        hs_space_encode_f32(sp, (const float *)m->data + i * m->dim, rec);
}

static void fill_table(hs_chunks *t, const hs_space *sp, const matrix *m)
{
    if (hs_chunks_init(t, sp->rec_len, 16) != HS_OK || hs_chunks_reserve(t, m->n) != HS_OK)
        die("out of memory", "record table");
    for (size_t i = 0; i < m->n; i++)
        encode(sp, m, i, hs_chunks_at(t, (uint32_t)i));
}

static void build_index(bench *b)
{
    const bench_opts *o = &b->o;
    hs_code full_code = b->base.f64 ? HS_CODE_F64 : HS_CODE_F32;
    if (hs_space_init(&b->full, o->metric, full_code, (uint32_t)b->base.dim) != HS_OK)
        die("bad space", NULL);
    fill_table(&b->full_recs, &b->full, &b->base);
    b->trav_recs = &b->full_recs;
    b->trav = b->full;
    if (o->quant != HS_QUANT_NONE) {
        hs_code c = o->quant == HS_QUANT_SCALAR ? HS_CODE_SQ8 : HS_CODE_BIN;
        hs_space_init(&b->trav, o->metric, c, (uint32_t)b->base.dim);
        fill_table(&b->code_recs, &b->trav, &b->base);
        b->trav_recs = &b->code_recs;
    }
    if (o->load_graph) {
        FILE *f = fopen(o->load_graph, "rb");
        if (!f)
            die(strerror(errno), o->load_graph);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        void *buf = malloc((size_t)len);
        if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
            die("cannot read", o->load_graph);
        fclose(f);
        hs_error err = {0};
        if (hs_hnsw_deserialize(buf, (size_t)len, &b->trav, b->trav_recs, &b->index, &err) != HS_OK)
            die("cannot load the graph", o->load_graph);
        free(buf);
        return;
    }
    hs_hnsw_opts ho;
    hs_hnsw_opts_init(&ho);
    ho.m = (uint32_t)o->m;
    ho.ef_construction = (uint32_t)o->efc;
    ho.seed = o->seed;
    ho.alpha = o->alpha;
    ho.hub = o->hub;
    if (hs_hnsw_new(&ho, &b->trav, b->trav_recs, &b->index) != HS_OK)
        die("cannot create the index (check --M and --ef-construction)", NULL);
    uint32_t *slots = malloc(b->base.n * sizeof(uint32_t));
    for (size_t i = 0; i < b->base.n; i++)
        slots[i] = (uint32_t)i;
    if (hs_hnsw_insert_many(b->index, slots, b->base.n, (unsigned)o->threads) != HS_OK)
        die("insert failed", NULL);
    free(slots);
}

/* The database's narrow copy: a bfloat16 table when every stored float32 component is exactly
 * a bfloat16, a float32 table when every stored float64 component is exactly a float32 (as
 * vectors sent as float32 are), walked instead of the full records (which are then released,
 * unless the exact scan or the diagnosis still read them). */
static void setup_narrow(bench *b)
{
    const bench_opts *o = &b->o;
    bool f64 = b->base.f64;
    if (o->no_narrow || o->quant != HS_QUANT_NONE ||
        hs_space_init(&b->narrow, o->metric, f64 ? HS_CODE_F64N : HS_CODE_BF16,
                      (uint32_t)b->base.dim) != HS_OK)
        return;
    for (size_t i = 0; i < b->base.n; i++) {
        const void *r = hs_chunks_at(&b->full_recs, (uint32_t)i);
        if (f64 ? !hs_f32_exact(r, b->base.dim) : !hs_bf16_exact(r, b->base.dim))
            return;
    }
    if (hs_chunks_init(&b->narrow_recs, b->narrow.rec_len, 16) != HS_OK ||
        hs_chunks_reserve(&b->narrow_recs, b->base.n) != HS_OK)
        die("out of memory", "narrow table");
    for (size_t i = 0; i < b->base.n; i++) {
        const void *r = hs_chunks_at(&b->full_recs, (uint32_t)i);
        void *out = hs_chunks_at(&b->narrow_recs, (uint32_t)i);
        if (f64)
            hs_space_encode_f64(&b->narrow, r, out);
        else
            hs_space_encode_f32(&b->narrow, r, out);
    }
    b->narrow_on = true;
    if (!o->exact && !o->diag) {
        hs_chunks_destroy(&b->full_recs);
        b->full_released = true;
    }
}

/* Distance evaluations of the traversal space, counted during the recall pass only (the
 * machine-independent cost of a search: the QPS of a shared machine is noisy). */
static hs_dist_fn counted_dist_fn;
static hs_dist_many_fn counted_many_fn;
static uint64_t dist_count; /* atomic */

static float counting_dist(const hs_space *s, const void *a, const void *b)
{
    __atomic_fetch_add(&dist_count, 1, __ATOMIC_RELAXED);
    return counted_dist_fn(s, a, b);
}

static void counting_many(const hs_space *s, const void *q, const void *const *recs, size_t n,
                          float *out)
{
    __atomic_fetch_add(&dist_count, n, __ATOMIC_RELAXED);
    hs_space inner = *s; /* a generic many-function calls dist: do not count twice */
    inner.dist = counted_dist_fn;
    inner.dist_many = counted_many_fn;
    counted_many_fn(&inner, q, recs, n, out);
}

static void count_distances(bench *b, bool on)
{
    hs_space *sp = b->narrow_on ? &b->narrow : &b->trav;
    if (on) {
        counted_dist_fn = sp->dist;
        counted_many_fn = sp->dist_many;
        sp->dist = counting_dist;
        sp->dist_many = counting_many;
        dist_count = 0;
    } else {
        sp->dist = counted_dist_fn;
        sp->dist_many = counted_many_fn;
    }
}

/* One query: encode, search, re-rank when the traversal is approximate.  ids gets k results. */
static void run_query(bench *b, size_t qi, void *qrec, void *qfull, hs_pair *cand, uint32_t *ids)
{
    const bench_opts *o = &b->o;
    if (b->narrow_on) { /* the full query record against the narrow copies */
        encode(&b->full, &b->query, qi, qfull);
        size_t n = hs_hnsw_search_over(b->index, &b->narrow, &b->narrow_recs, qfull, o->k, b->ef,
                                       NULL, cand, NULL);
        for (size_t i = 0; i < o->k; i++)
            ids[i] = i < n ? cand[i].id : UINT32_MAX;
        return;
    }
    encode(&b->trav, &b->query, qi, qrec);
    bool rerank = o->quant != HS_QUANT_NONE;
    size_t want = rerank ? HS_MAX(b->ef, o->k) : o->k;
    size_t n = hs_hnsw_search(b->index, qrec, want, b->ef, NULL, cand, NULL);
    if (rerank) {
        encode(&b->full, &b->query, qi, qfull);
        hs_rerank(&b->full, &b->full_recs, qfull, cand, n);
    }
    for (size_t i = 0; i < o->k; i++)
        ids[i] = i < n ? cand[i].id : UINT32_MAX;
}

typedef struct worker {
    bench *b;
    size_t *next; /* atomic */
    bool exact;
} worker;

static void *query_worker(void *arg)
{
    worker *w = arg;
    bench *b = w->b;
    size_t cap = HS_MAX(b->ef, b->o.k) + 1;
    hs_pair *cand = malloc(cap * sizeof(*cand));
    void *qrec = calloc(1, b->trav.rec_len);
    void *qfull = calloc(1, b->full.rec_len);
    for (;;) {
        size_t qi = __atomic_fetch_add(w->next, 1, __ATOMIC_RELAXED);
        if (qi >= b->query.n)
            break;
        uint32_t *ids = b->results + qi * b->o.k;
        if (w->exact) {
            encode(&b->full, &b->query, qi, qfull);
            size_t n = hs_exact_search(&b->full, &b->full_recs, qfull, NULL, b->base.n, NULL,
                                       b->o.k, cand);
            for (size_t i = 0; i < b->o.k; i++)
                ids[i] = i < n ? cand[i].id : UINT32_MAX;
        } else {
            uint64_t t0 = b->lat_ns ? hs_now_ns() : 0;
            run_query(b, qi, qrec, qfull, cand, ids);
            if (b->lat_ns)
                b->lat_ns[qi] = hs_now_ns() - t0;
        }
    }
    free(cand);
    free(qrec);
    free(qfull);
    return NULL;
}

/* Runs every query once with `threads` threads; returns the elapsed seconds. */
static double query_pass(bench *b, size_t threads, bool exact)
{
    size_t next = 0;
    worker w = {b, &next, exact};
    pthread_t tid[64];
    uint64_t t0 = hs_now_ns();
    size_t started = 0;
    for (size_t t = 1; t < threads && t < 64; t++)
        if (pthread_create(&tid[started], NULL, query_worker, &w) == 0)
            started++;
    query_worker(&w);
    for (size_t t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return (double)(hs_now_ns() - t0) / 1e9;
}

static double recall(const bench *b)
{
    size_t k = b->o.k, hits = 0;
    const int32_t *gt = b->truth.data;
    for (size_t q = 0; q < b->query.n; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (b->results[q * k + i] == (uint32_t)gt[q * b->truth.dim + j]) {
                    hits++;
                    break;
                }
    return (double)hits / (double)(b->query.n * k);
}

/* Hyperbolic radius of query qi: its distance from the centre, 2 atanh(|x|) in the ball,
 * acosh(x0) on the hyperboloid. */
static double query_radius(const bench *b, size_t qi)
{
    if (b->o.metric == HS_METRIC_LORENTZ) {
        size_t at = qi * b->query.dim;
        return acosh(b->query.f64 ? ((const double *)b->query.data)[at]
                                  : ((const float *)b->query.data)[at]);
    }
    double s = 0;
    for (size_t j = 0; j < b->query.dim; j++) {
        double x = b->query.f64 ? ((const double *)b->query.data)[qi * b->query.dim + j]
                                : ((const float *)b->query.data)[qi * b->query.dim + j];
        s += x * x;
    }
    return 2.0 * atanh(sqrt(s));
}

/* Recall per band of the query's distance from the centre (the boundary is the hard case),
 * and how many queries found none of their true neighbours. */
static void print_bands(const bench *b)
{
    static const double edges[] = {0, 2, 4, 6, 7, 8, 10, 12, 14, 1e300};
    enum { NB = HS_ARRAY_LEN(edges) - 1 };
    size_t k = b->o.k, n[NB] = {0}, hits[NB] = {0}, zero = 0;
    const int32_t *gt = b->truth.data;
    for (size_t q = 0; q < b->query.n; q++) {
        double r = query_radius(b, q);
        size_t band = 0;
        while (band + 1 < NB && r >= edges[band + 1])
            band++;
        size_t h = 0;
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (b->results[q * k + i] == (uint32_t)gt[q * b->truth.dim + j]) {
                    h++;
                    break;
                }
        n[band]++;
        hits[band] += h;
        zero += h == 0;
    }
    printf("  bands:");
    for (size_t i = 0; i < NB; i++)
        if (n[i])
            printf(" r[%g,%g) n=%zu recall=%.4f;", edges[i], edges[i + 1] > 1e299 ? INFINITY : edges[i + 1], n[i],
                   (double)hits[i] / (double)(n[i] * k));
    printf(" zero_hit_queries=%zu\n", zero);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One single-thread pass timing every query; writes the p50 and p99 latency in microseconds. */
static void latency_pass(bench *b, double *p50, double *p99)
{
    b->lat_ns = malloc(b->query.n * sizeof(uint64_t));
    query_pass(b, 1, false);
    qsort(b->lat_ns, b->query.n, sizeof(uint64_t), cmp_u64);
    *p50 = (double)b->lat_ns[b->query.n / 2] / 1e3;
    *p99 = (double)b->lat_ns[(b->query.n * 99) / 100] / 1e3;
    free(b->lat_ns);
    b->lat_ns = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over 3 passes of queries per second; each pass repeats until it lasts >= 0.3 s. */
static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Median over 3 passes of queries per second; each pass repeats until it lasts >= 0.3 s.  With
 * one thread, *cpu_qps (if given) gets the median of queries per second of the thread's CPU
 * time: on a shared machine, time other processes take is not counted (their cache misses are). */
static double measure_qps(bench *b, size_t threads, bool exact, double *cpu_qps)
{
    double qps[3], cq[3];
    for (int r = 0; r < 3; r++) {
        double secs = 0, c0 = thread_cpu_seconds();
        size_t done = 0;
        while (secs < 0.3) {
            secs += query_pass(b, threads, exact);
            done += b->query.n;
        }
        qps[r] = (double)done / secs;
        cq[r] = (double)done / (thread_cpu_seconds() - c0);
    }
    qsort(qps, 3, sizeof(double), cmp_double);
    qsort(cq, 3, sizeof(double), cmp_double);
    if (cpu_qps)
        *cpu_qps = threads == 1 ? cq[1] : 0;
    return qps[1];
}

/* --save-graph: the serialised graph, for --load-graph. */
static void save_graph(const bench *b)
{
    size_t len = hs_hnsw_serialized_size(b->index);
    void *buf = malloc(len);
    FILE *f = fopen(b->o.save_graph, "wb");
    if (!buf || !f || hs_hnsw_serialize(b->index, buf, len) != HS_OK ||
        fwrite(buf, 1, len, f) != len)
        die("cannot save the graph", b->o.save_graph);
    fclose(f);
    free(buf);
}

/* --dump-results: one .ivecs row of k ids per query (UINT32_MAX where fewer were found). */
static void dump_results(const bench *b)
{
    FILE *f = fopen(b->o.dump, "wb");
    if (!f)
        die(strerror(errno), b->o.dump);
    int32_t k = (int32_t)b->o.k;
    for (size_t q = 0; q < b->query.n; q++)
        if (fwrite(&k, 4, 1, f) != 1 || fwrite(b->results + q * b->o.k, 4, b->o.k, f) != b->o.k)
            die("cannot write", b->o.dump);
    if (fclose(f) != 0)
        die("cannot write", b->o.dump);
}

static const void *diag_query(void *ctx, size_t qi)
{
    bench *b = ctx;
    static void *rec;
    if (!rec)
        rec = calloc(1, b->trav.rec_len);
    encode(&b->trav, &b->query, qi, rec);
    return rec;
}

int main(int argc, char **argv)
{
    bench b = {0};
    parse_args(&b.o, argc, argv);
    b.base = read_any(b.o.base);
    b.query = read_any(b.o.query);
    b.truth = read_vecs(b.o.truth, 4);
    if (b.base.dim != b.query.dim || b.base.f64 != b.query.f64)
        die("base and query differ in dimension or precision", NULL);
    if (b.truth.n < b.query.n || b.truth.dim < b.o.k)
        die("truth has too few rows or columns", NULL);
    preprocess(&b.base, b.o.metric);
    preprocess(&b.query, b.o.metric);
    b.results = calloc(b.query.n * b.o.k, sizeof(uint32_t));
    printf("system=hyperspace version=%d.%d.%d simd=%s quant=%s\n", HS_VERSION_MAJOR,
           HS_VERSION_MINOR, HS_VERSION_PATCH, hs_vec_kernels_get()->name,
           b.o.quant == HS_QUANT_NONE ? "none" : b.o.quant == HS_QUANT_SCALAR ? "scalar" : "binary");
    fflush(stdout);

    long rss0 = rss_bytes();
    uint64_t t0 = hs_now_ns();
    build_index(&b);
    uint64_t t1 = hs_now_ns();
    uint64_t before = hs_hnsw_count_unreachable(b.index), left = before;
    size_t added = 0;
    uint64_t *reach_before = b.o.diag ? diag_reach(b.index) : NULL;
    uint64_t t2 = hs_now_ns();
    if (b.o.repair)
        added = hs_hnsw_repair(b.index, 4, &left);
    uint64_t t3 = hs_now_ns();
    printf("build_seconds=%.2f threads=%zu insert_seconds=%.2f repair_seconds=%.3f\n",
           (double)(t1 - t0 + t3 - t2) / 1e9, b.o.threads, (double)(t1 - t0) / 1e9,
           (double)(t3 - t2) / 1e9);
    uint64_t prunes, orphans;
    diag_probe(b.index, &prunes, &orphans);
    printf("unreachable_before=%llu repair_links=%zu unreachable_after=%llu probe_prunes=%llu "
           "probe_orphans=%llu\n",
           (unsigned long long)before, added, (unsigned long long)left,
           (unsigned long long)prunes, (unsigned long long)orphans);
    setup_narrow(&b);
    printf("narrow=%s narrow_bytes=%llu\n",
           !b.narrow_on ? "off" : b.base.f64 ? "f32" : "bf16",
           b.narrow_on ? (unsigned long long)b.base.n * b.narrow.rec_len : 0ull);
    fflush(stdout);

    for (size_t e = 0; e < b.o.nefs; e++) {
        b.ef = b.o.efs[e];
        size_t tcounts[2] = {1, b.o.threads};
        for (size_t t = 0; t < (b.o.threads > 1 ? 2u : 1u); t++) {
            count_distances(&b, t == 0);
            query_pass(&b, tcounts[t], false); /* warm-up and the recall pass */
            count_distances(&b, false);
            double r = recall(&b);
            double cpu_qps = 0;
            double qps = measure_qps(&b, tcounts[t], false, &cpu_qps);
            if (t == 0) {
                double p50, p99;
                latency_pass(&b, &p50, &p99);
                printf("ef=%zu recall=%.4f qps=%.0f threads=%zu dists_per_query=%.0f "
                       "p50_us=%.1f p99_us=%.1f cpu_qps=%.0f\n",
                       b.ef, r, qps, tcounts[t], (double)dist_count / (double)b.query.n, p50, p99,
                       cpu_qps);
            }
            else
                printf("ef=%zu recall=%.4f qps=%.0f threads=%zu\n", b.ef, r, qps, tcounts[t]);
            if (t == 0 && (b.o.metric == HS_METRIC_POINCARE || b.o.metric == HS_METRIC_LORENTZ))
                print_bands(&b);
            fflush(stdout);
        }
    }
    if (b.o.dump)
        dump_results(&b);
    if (b.o.save_graph)
        save_graph(&b);
    if (b.o.diag) {
        diag_input di = {b.index, &b.trav, diag_query, &b, b.query.n, b.o.k,
                         b.o.efs[b.o.nefs - 1], b.truth.data, b.truth.dim, reach_before,
                         b.o.diag};
        diag_run(&di);
    }
    free(reach_before);
    if (b.o.exact) {
        query_pass(&b, 1, true);
        printf("exact recall=%.4f qps=%.1f threads=1\n", recall(&b), measure_qps(&b, 1, true, NULL));
    }
    hs_hnsw_stats st;
    hs_hnsw_stats_get(b.index, &st);
    uint64_t vec_bytes = (uint64_t)b.base.n * b.full.rec_len;
    uint64_t code_bytes = b.o.quant != HS_QUANT_NONE ? (uint64_t)b.base.n * b.trav.rec_len
                          : b.narrow_on               ? (uint64_t)b.base.n * b.narrow.rec_len
                                                      : 0;
    printf("index_bytes=%llu graph_bytes=%llu vector_bytes=%llu code_bytes=%llu "
           "rss_growth_bytes=%ld avg_degree0=%.1f hubs=%llu construction=%s\n",
           (unsigned long long)(st.graph_bytes + (b.full_released ? 0 : vec_bytes) + code_bytes),
           (unsigned long long)st.graph_bytes, (unsigned long long)vec_bytes,
           (unsigned long long)code_bytes, rss_bytes() - rss0, (double)st.level0_edges / (double)(st.nodes ? st.nodes : 1),
           (unsigned long long)st.hubs, hs_hnsw_engaged(b.index) ? "engaged" : "published");
    hs_hnsw_free(b.index);
    if (!b.full_released)
        hs_chunks_destroy(&b.full_recs);
    if (b.narrow_on)
        hs_chunks_destroy(&b.narrow_recs);
    if (b.o.quant != HS_QUANT_NONE)
        hs_chunks_destroy(&b.code_recs);
    free(b.base.data);
    free(b.query.data);
    free(b.truth.data);
    free(b.results);
    return 0;
}
