/*
 * metrics.c: request and per-collection counters, latency histograms, process figures and the
 * Prometheus text exposition (format 0.0.4) of http.md §6.28.
 *
 * Counters live in small linked tables under one mutex: they are touched once per request, far
 * less often than the engine's own locks, and the exposition walks them rarely.
 */
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/repl.h"
#include "server/server.h"
#include "util/numfmt.h"

#define NBOUNDS 16
static const double bounds[NBOUNDS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                       0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                       1,      2.5,     5,      10};

typedef struct hist {
    uint64_t bucket[NBOUNDS + 1]; /* the last is +Inf */
    uint64_t count;
    double sum;
} hist;

static void hist_add(hist *h, double v)
{
    size_t i = 0;
    while (i < NBOUNDS && v > bounds[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

typedef struct coll_m {
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    uint64_t searches, upserts, deletes;
    hist search;
    struct coll_m *next;
} coll_m;

typedef struct req_m {
    char transport[8], method[96], status[24];
    uint64_t n;
    struct req_m *next;
} req_m;

typedef struct dur_m {
    char transport[8], method[96];
    hist h;
    struct dur_m *next;
} dur_m;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static hist load_hist, fsync_hist; /* engine timings, under lock */
static coll_m *colls;
static req_m *reqs;
static dur_m *durs;
static uint64_t auth_fail_grpc, auth_fail_http;

static coll_m *coll_of(const char *tenant, const char *name)
{
    for (coll_m *c = colls; c; c = c->next)
        if (!strcmp(c->name, name) && !strcmp(c->tenant, tenant))
            return c;
    coll_m *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    snprintf(c->tenant, sizeof(c->tenant), "%s", tenant);
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->next = colls;
    colls = c;
    return c;
}

void hs_metrics_request(const char *transport, const char *method, const char *status,
                        double seconds)
{
    pthread_mutex_lock(&lock);
    req_m *r = reqs;
    while (r && (strcmp(r->method, method) || strcmp(r->status, status) ||
                 strcmp(r->transport, transport)))
        r = r->next;
    if (!r && (r = calloc(1, sizeof(*r)))) {
        snprintf(r->transport, sizeof(r->transport), "%s", transport);
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->status, sizeof(r->status), "%s", status);
        r->next = reqs;
        reqs = r;
    }
    if (r)
        r->n++;
    dur_m *d = durs;
    while (d && (strcmp(d->method, method) || strcmp(d->transport, transport)))
        d = d->next;
    if (!d && (d = calloc(1, sizeof(*d)))) {
        snprintf(d->transport, sizeof(d->transport), "%s", transport);
        snprintf(d->method, sizeof(d->method), "%s", method);
        d->next = durs;
        durs = d;
    }
    if (d)
        hist_add(&d->h, seconds);
    pthread_mutex_unlock(&lock);
}

void hs_metrics_auth_failure(const char *transport)
{
    pthread_mutex_lock(&lock);
    if (!strcmp(transport, "grpc"))
        auth_fail_grpc++;
    else
        auth_fail_http++;
    pthread_mutex_unlock(&lock);
}

void hs_metrics_search(const char *tenant, const char *name, double seconds)
{
    pthread_mutex_lock(&lock);
    coll_m *c = coll_of(tenant, name);
    if (c) {
        c->searches++;
        hist_add(&c->search, seconds);
    }
    pthread_mutex_unlock(&lock);
}

void hs_metrics_upserts(const char *tenant, const char *name, uint64_t n)
{
    pthread_mutex_lock(&lock);
    coll_m *c = coll_of(tenant, name);
    if (c)
        c->upserts += n;
    pthread_mutex_unlock(&lock);
}

void hs_metrics_deletes(const char *tenant, const char *name, uint64_t n)
{
    pthread_mutex_lock(&lock);
    coll_m *c = coll_of(tenant, name);
    if (c)
        c->deletes += n;
    pthread_mutex_unlock(&lock);
}

void hs_metrics_forget(const char *tenant, const char *name)
{
    pthread_mutex_lock(&lock);
    for (coll_m **p = &colls; *p; p = &(*p)->next) {
        if (!strcmp((*p)->name, name) && !strcmp((*p)->tenant, tenant)) {
            coll_m *dead = *p;
            *p = dead->next;
            free(dead);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* ---- process figures ---------------------------------------------------------------------- */

uint64_t hs_process_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

double hs_process_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_mutex_t cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static double cpu_prev_wall, cpu_prev_cpu, cpu_window_pct;

/* Process CPU over the last window of at least one second, as a share of all online CPUs. */
double hs_process_cpu_percent(void)
{
    double wall = (double)hs_now_ns_srv() / 1e9, cpu = hs_process_cpu_seconds();
    pthread_mutex_lock(&cpu_lock);
    if (cpu_prev_wall == 0) {
        /* first call: the window is the process lifetime */
        double up = wall - (double)g_srv.start_ns / 1e9;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cpu_window_pct = up > 0 ? cpu / (up * (double)(n > 0 ? n : 1)) * 100.0 : 0;
        cpu_prev_wall = wall;
        cpu_prev_cpu = cpu;
    } else if (wall - cpu_prev_wall >= 1.0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        double span = (wall - cpu_prev_wall) * (double)(n > 0 ? n : 1);
        cpu_window_pct = (cpu - cpu_prev_cpu) / span * 100;
        cpu_prev_wall = wall;
        cpu_prev_cpu = cpu;
    }
    double p = cpu_window_pct < 0 ? 0 : cpu_window_pct > 100 ? 100 : cpu_window_pct;
    pthread_mutex_unlock(&cpu_lock);
    return p;
}

static __thread uint64_t du_total;

static int du_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F || flag == FTW_D)
        du_total += (uint64_t)st->st_blocks * 512;
    return 0;
}

/* The walk visits every file of the data directory (400,000 at 100,000 small collections, about
 * 5 s with a cold cache): it runs on a thread of its own, at most every DU_REFRESH_NS, and
 * requests answer with the latest result at once.  Before the first walk has finished the
 * figure is the engine's (the vector and log files of every collection, from its sums). */
#define DU_REFRESH_NS (30ull * 1000000000ull)
static pthread_mutex_t du_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t du_cached, du_at_ns; /* du_lock */
static bool du_running;              /* du_lock */

static void *du_walk(void *arg)
{
    (void)arg;
    du_total = 0;
    nftw(g_srv.cfg.data_dir, du_visit, 16, FTW_PHYS);
    pthread_mutex_lock(&du_lock);
    du_cached = du_total;
    du_at_ns = hs_now_ns_srv();
    du_running = false;
    pthread_mutex_unlock(&du_lock);
    return NULL;
}

static int add_disk(void *ctx, const hs_tenant_usage *u)
{
    *(uint64_t *)ctx += u->disk_bytes;
    return 0;
}

uint64_t hs_data_dir_bytes(void)
{
    pthread_mutex_lock(&du_lock);
    uint64_t now = hs_now_ns_srv(), v = du_cached;
    bool have = du_at_ns != 0;
    if (!du_running && (!have || now - du_at_ns >= DU_REFRESH_NS)) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        du_running = pthread_create(&t, &a, du_walk, NULL) == 0;
        pthread_attr_destroy(&a);
    }
    pthread_mutex_unlock(&du_lock);
    if (!have) {
        v = 0;
        hs_db_usage(g_srv.db, NULL, add_disk, &v, NULL);
    }
    return v;
}

static uint64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    uint64_t n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory stream itself */
}

/* ---- exposition --------------------------------------------------------------------------- */

/* Writes a label value escaped per the exposition format (\\, \", \n). */
static void put_label(FILE *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(o, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", o);
        else
            fputc(*v, o);
    }
}

static void put_num(FILE *o, double v)
{
    char b[40];
    if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", o);
    else {
        hs_fmt_double(v, b, sizeof(b));
        fputs(b, o);
    }
}

static void family(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes the _bucket/_sum/_count series of h; labels is "" or `a="b",` style text. */
static void put_hist(FILE *o, const char *name, const char *labels, const hist *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += h->bucket[i];
        fprintf(o, "%s_bucket{%sle=\"", name, labels);
        put_num(o, i < NBOUNDS ? bounds[i] : INFINITY);
        fprintf(o, "\"} %llu\n", (unsigned long long)cum);
    }
    size_t ll = strlen(labels);
    fprintf(o, "%s_sum%s%.*s%s ", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
            ll ? "}" : "");
    put_num(o, h->sum);
    fprintf(o, "\n%s_count%s%.*s%s %llu\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, labels,
            ll ? "}" : "", (unsigned long long)h->count);
}

typedef struct coll_row {
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    hs_collection_stats st;
} coll_row;

typedef struct coll_rows {
    coll_row *r;
    size_t n, cap;
} coll_rows;

static int add_row(void *ctx, const char *tenant, const char *name)
{
    coll_rows *rows = ctx;
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 64;
        coll_row *nr = realloc(rows->r, cap * sizeof(*nr));
        if (!nr)
            return 1;
        rows->r = nr;
        rows->cap = cap;
    }
    coll_row *r = &rows->r[rows->n];
    snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
    snprintf(r->name, sizeof(r->name), "%s", name);
    if (hs_ops_stats_named(tenant, name, &r->st, NULL) == HS_OK)
        rows->n++;
    return 0;
}

#define METRICS_ALL_COLLECTIONS 1000

typedef struct tenant_row {
    char tenant[HS_NAME_MAX + 1];
    uint64_t collections, loaded, points, disk, ram;
} tenant_row;

typedef struct tenant_rows {
    tenant_row *r;
    size_t n, cap;
} tenant_rows;

static int add_tenant(void *ctx, const hs_tenant_usage *u)
{
    tenant_rows *rows = ctx;
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 16;
        tenant_row *nr = realloc(rows->r, cap * sizeof(*nr));
        if (!nr)
            return 1;
        rows->r = nr;
        rows->cap = cap;
    }
    tenant_row *t = &rows->r[rows->n++];
    snprintf(t->tenant, sizeof(t->tenant), "%s", u->tenant);
    t->collections = u->collections;
    t->loaded = u->loaded;
    t->points = u->points;
    t->disk = u->disk_bytes;
    t->ram = u->ram_bytes;
    return 0;
}

static void coll_labels(char *buf, size_t len, const char *tenant, const char *name)
{
    /* names match ^[A-Za-z0-9_.-]+$: nothing to escape */
    snprintf(buf, len, "tenant=\"%s\",collection=\"%s\",", tenant, name);
}

static void on_timing(void *ctx, hs_timing what, double seconds)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    hist_add(what == HS_TIMING_LOAD ? &load_hist : &fsync_hist, seconds);
    pthread_mutex_unlock(&lock);
}

void hs_metrics_init(void) { hs_set_timing_observer(on_timing, NULL); }

/* Per tenant: the engine's sums, whatever the number of collections. */
static void put_tenant_gauges(FILE *o)
{
    static const struct {
        const char *name, *help;
    } tenant_gauges[] = {
        {"hyperspace_tenant_collections", "Collections of the tenant."},
        {"hyperspace_tenant_loaded_collections", "Of them, loaded."},
        {"hyperspace_tenant_points", "Live points of the tenant's collections."},
        {"hyperspace_tenant_disk_bytes", "Bytes of the tenant's vector and log files."},
        {"hyperspace_tenant_memory_bytes", "Memory of the tenant's loaded collections."},
    };
    tenant_rows tr = {0};
    hs_db_usage(g_srv.db, NULL, add_tenant, &tr, NULL);
    for (size_t g = 0; g < sizeof(tenant_gauges) / sizeof(tenant_gauges[0]); g++) {
        family(o, tenant_gauges[g].name, "gauge", tenant_gauges[g].help);
        for (size_t i = 0; i < tr.n; i++) {
            const tenant_row *t = &tr.r[i];
            uint64_t v = g == 0 ? t->collections : g == 1 ? t->loaded : g == 2 ? t->points
                         : g == 3 ? t->disk : t->ram;
            fprintf(o, "%s{tenant=\"%s\"} %llu\n", tenant_gauges[g].name, t->tenant,
                    (unsigned long long)v);
        }
    }
    free(tr.r);

}

/* Per collection gauges (ncoll: the node's collection count). */
static void put_collection_gauges(FILE *o, uint64_t ncoll)
{
    char lab[200];
    /* per collection: every collection on a node with at most METRICS_ALL_COLLECTIONS of them,
     * else the loaded ones only (cold ones are in their tenant's figures) */
    coll_rows rows = {0};
    if (ncoll <= METRICS_ALL_COLLECTIONS)
        hs_collection_list(g_srv.db, NULL, add_row, &rows, NULL);
    else
        hs_collection_list_loaded(g_srv.db, add_row, &rows, NULL);
    static const struct {
        const char *name, *help;
        int field;
    } gauges[] = {
        {"hyperspace_collection_points", "Live points.", 0},
        {"hyperspace_collection_deleted_points", "Deleted or replaced points holding a slot.", 1},
        {"hyperspace_collection_indexing_queue", "Points not yet in the graph.", 2},
        {"hyperspace_collection_loaded", "1 when loaded, 0 when cold.", 3},
        {"hyperspace_collection_memory_bytes", "Memory of a loaded collection.", 4},
        {"hyperspace_collection_unreachable_points",
         "Graph points no search can reach, at the latest check (loaded and checked only).", 5},
    };
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        family(o, gauges[g].name, "gauge", gauges[g].help);
        for (size_t i = 0; i < rows.n; i++) {
            const hs_collection_stats *st = &rows.r[i].st;
            if (gauges[g].field == 5 && st->unreachable < 0)
                continue;
            uint64_t v = gauges[g].field == 0   ? st->count
                         : gauges[g].field == 1 ? st->deleted
                         : gauges[g].field == 2 ? st->indexing_queue
                         : gauges[g].field == 3 ? (uint64_t)(st->loaded != 0)
                         : gauges[g].field == 4 ? st->memory_bytes
                                                : (uint64_t)st->unreachable;
            coll_labels(lab, sizeof(lab), rows.r[i].tenant, rows.r[i].name);
            lab[strlen(lab) - 1] = 0;
            fprintf(o, "%s{%s} %llu\n", gauges[g].name, lab, (unsigned long long)v);
        }
    }
    family(o, "hyperspace_collection_resident_bytes", "gauge",
           "Bytes of a loaded collection in RAM now, by tier (graph, codes, vectors, payload).");
    for (size_t i = 0; i < rows.n; i++) {
        const hs_collection_stats *st = &rows.r[i].st;
        if (!st->loaded)
            continue;
        coll_labels(lab, sizeof(lab), rows.r[i].tenant, rows.r[i].name);
        lab[strlen(lab) - 1] = 0;
        const char *tier[4] = {"graph", "codes", "vectors", "payload"};
        uint64_t v[4] = {st->resident_graph_bytes, st->resident_codes_bytes,
                         st->resident_vector_bytes, st->resident_payload_bytes};
        for (int t = 0; t < 4; t++)
            fprintf(o, "hyperspace_collection_resident_bytes{%s,tier=\"%s\"} %llu\n", lab,
                    tier[t], (unsigned long long)v[t]);
    }
    free(rows.r);

}

char *hs_metrics_text(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *o = open_memstream(&buf, &size);
    if (!o)
        return NULL;
    uint64_t ncoll, points, loaded, failed;
    hs_db_totals(g_srv.db, &ncoll, &points, &loaded, &failed);
    uint64_t rss = hs_process_rss();
    double cpu_pct = hs_process_cpu_percent();
    uint64_t disk = hs_data_dir_bytes();

    family(o, "hyperspace_active_collections", "gauge", "Collections loaded in memory.");
    fprintf(o, "hyperspace_active_collections %llu\n", (unsigned long long)loaded);
    family(o, "hyperspace_idle_collections", "gauge", "Collections not loaded (cold).");
    fprintf(o, "hyperspace_idle_collections %llu\n", (unsigned long long)(ncoll - loaded));
    family(o, "hyperspace_total_vectors", "gauge", "Live points over all collections.");
    fprintf(o, "hyperspace_total_vectors %llu\n", (unsigned long long)points);
    family(o, "hyperspace_ram_usage_mb", "gauge", "Resident memory in MiB.");
    fprintf(o, "hyperspace_ram_usage_mb %llu\n", (unsigned long long)((rss + 524288) / 1048576));
    family(o, "hyperspace_disk_usage_mb", "gauge", "Allocated bytes of the data directory in MiB.");
    fprintf(o, "hyperspace_disk_usage_mb %llu\n", (unsigned long long)(disk / 1048576));
    family(o, "hyperspace_cpu_usage_percent", "gauge", "Process CPU over the last window.");
    fprintf(o, "hyperspace_cpu_usage_percent %d\n", (int)lround(cpu_pct));

    family(o, "hyperspace_info", "gauge", "Build and node identity.");
    fprintf(o, "hyperspace_info{version=\"%s\",implementation=\"hyperspace-c\",role=\"%s\","
               "node_id=\"%s\"} 1\n",
            HS_API_VERSION,
            __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE) ? "follower" : "leader",
            g_srv.node_id);
    family(o, "hyperspace_uptime_seconds", "gauge", "Seconds since start.");
    fputs("hyperspace_uptime_seconds ", o);
    put_num(o, (double)(hs_now_ns_srv() - g_srv.start_ns) / 1e9);
    fputc('\n', o);
    family(o, "hyperspace_logical_clock", "gauge", "The node's logical clock.");
    fprintf(o, "hyperspace_logical_clock %llu\n", (unsigned long long)hs_db_clock(g_srv.db));

    put_tenant_gauges(o);
    put_collection_gauges(o, ncoll);

    char lab[200];
    pthread_mutex_lock(&lock);
    static const struct {
        const char *name, *help;
        int field;
    } counters[] = {
        {"hyperspace_collection_searches_total", "Search queries.", 0},
        {"hyperspace_collection_upserts_total", "Points upserted.", 1},
        {"hyperspace_collection_deletes_total", "Points deleted.", 2},
    };
    for (size_t g = 0; g < 3; g++) {
        family(o, counters[g].name, "counter", counters[g].help);
        for (coll_m *c = colls; c; c = c->next) {
            coll_labels(lab, sizeof(lab), c->tenant, c->name);
            lab[strlen(lab) - 1] = 0;
            uint64_t v = counters[g].field == 0 ? c->searches
                         : counters[g].field == 1 ? c->upserts
                                                  : c->deletes;
            fprintf(o, "%s{%s} %llu\n", counters[g].name, lab, (unsigned long long)v);
        }
    }
    family(o, "hyperspace_collection_search_duration_seconds", "histogram",
           "Server time of one search query.");
    for (coll_m *c = colls; c; c = c->next) {
        coll_labels(lab, sizeof(lab), c->tenant, c->name);
        put_hist(o, "hyperspace_collection_search_duration_seconds", lab, &c->search);
    }
    family(o, "hyperspace_requests_total", "counter", "Requests finished.");
    for (req_m *r = reqs; r; r = r->next) {
        fprintf(o, "hyperspace_requests_total{transport=\"%s\",method=\"", r->transport);
        put_label(o, r->method);
        fprintf(o, "\",status=\"");
        put_label(o, r->status);
        fprintf(o, "\"} %llu\n", (unsigned long long)r->n);
    }
    family(o, "hyperspace_request_duration_seconds", "histogram",
           "Request time, receipt to last byte.");
    for (dur_m *d = durs; d; d = d->next) {
        char l2[200];
        size_t p = (size_t)snprintf(l2, sizeof(l2), "transport=\"%s\",method=\"", d->transport);
        for (const char *m = d->method; *m && p + 4 < sizeof(l2); m++) {
            if (*m == '\\' || *m == '"')
                l2[p++] = '\\';
            l2[p++] = *m;
        }
        snprintf(l2 + p, sizeof(l2) - p, "\",");
        put_hist(o, "hyperspace_request_duration_seconds", l2, &d->h);
    }
    family(o, "hyperspace_auth_failures_total", "counter", "Requests refused for their key.");
    fprintf(o, "hyperspace_auth_failures_total{transport=\"grpc\"} %llu\n",
            (unsigned long long)auth_fail_grpc);
    fprintf(o, "hyperspace_auth_failures_total{transport=\"http\"} %llu\n",
            (unsigned long long)auth_fail_http);
    hist load_copy = load_hist, fsync_copy = fsync_hist;
    pthread_mutex_unlock(&lock);

    hs_db_counters dc;
    hs_db_counters_get(g_srv.db, &dc);
    family(o, "hyperspace_collection_loads_total", "counter", "Cold collections loaded.");
    fprintf(o, "hyperspace_collection_loads_total %llu\n", (unsigned long long)dc.loads);
    family(o, "hyperspace_collection_load_duration_seconds", "histogram",
           "Time to load a cold collection.");
    put_hist(o, "hyperspace_collection_load_duration_seconds", "", &load_copy);
    family(o, "hyperspace_collection_evictions_total", "counter", "Collections unloaded.");
    fprintf(o, "hyperspace_collection_evictions_total{reason=\"idle\"} %llu\n",
            (unsigned long long)dc.evictions_idle);
    fprintf(o, "hyperspace_collection_evictions_total{reason=\"lru\"} %llu\n",
            (unsigned long long)dc.evictions_lru);
    fprintf(o, "hyperspace_collection_evictions_total{reason=\"memory\"} %llu\n",
            (unsigned long long)dc.evictions_memory);
    family(o, "hyperspace_memory_limit_bytes", "gauge",
           "The memory limit of the loaded collections (HS_MEMORY_LIMIT; 0 = none).");
    fprintf(o, "hyperspace_memory_limit_bytes %llu\n",
            (unsigned long long)g_srv.cfg.memory_limit);
    family(o, "hyperspace_wal_fsyncs_total", "counter", "WAL fsyncs.");
    fprintf(o, "hyperspace_wal_fsyncs_total %llu\n", (unsigned long long)dc.wal_fsyncs);
    family(o, "hyperspace_wal_fsync_duration_seconds", "histogram", "Duration of each WAL fsync.");
    put_hist(o, "hyperspace_wal_fsync_duration_seconds", "", &fsync_copy);
    family(o, "hyperspace_wal_fsync_failures_total", "counter", "Failed WAL fsyncs.");
    fprintf(o, "hyperspace_wal_fsync_failures_total %llu\n",
            (unsigned long long)dc.wal_fsync_failures);
    family(o, "hyperspace_snapshots_total", "counter", "Collection snapshots written.");
    fprintf(o, "hyperspace_snapshots_total{result=\"ok\"} %llu\n",
            (unsigned long long)dc.snapshots_ok);
    fprintf(o, "hyperspace_snapshots_total{result=\"error\"} %llu\n",
            (unsigned long long)dc.snapshots_failed);

    /* replication: the leader's streams (repl_leader.c), the follower's client (repl.h) */
    family(o, "hyperspace_replication_followers", "gauge", "Open Replicate streams (leader).");
    fprintf(o, "hyperspace_replication_followers %llu\n",
            (unsigned long long)hs_repl_leader_streams());
    family(o, "hyperspace_replication_records_sent_total", "counter",
           "Records sent to followers (leader).");
    fprintf(o, "hyperspace_replication_records_sent_total %llu\n",
            (unsigned long long)hs_repl_leader_records_sent());
    family(o, "hyperspace_replication_connected", "gauge",
           "1 while the follower's stream is open.");
    fprintf(o, "hyperspace_replication_connected %llu\n",
            (unsigned long long)(hs_repl_follower_connected() ? 1 : 0));
    family(o, "hyperspace_replication_watermark", "gauge", "Follower watermark.");
    fprintf(o, "hyperspace_replication_watermark %llu\n",
            (unsigned long long)hs_repl_follower_watermark());
    family(o, "hyperspace_replication_records_applied_total", "counter",
           "Records applied (follower).");
    fprintf(o, "hyperspace_replication_records_applied_total %llu\n",
            (unsigned long long)hs_repl_follower_records_applied());
    family(o, "hyperspace_replication_errors_total", "counter",
           "Skipped or failed records and stream errors (follower).");
    fprintf(o, "hyperspace_replication_errors_total %llu\n",
            (unsigned long long)hs_repl_follower_errors());
    family(o, "hyperspace_replication_digest_checks_total", "counter",
           "Collections whose digest the follower compared with the leader's.");
    fprintf(o, "hyperspace_replication_digest_checks_total %llu\n",
            (unsigned long long)hs_repl_follower_digest_checks());
    family(o, "hyperspace_replication_digest_mismatches_total", "counter",
           "Digest mismatches found by the follower (each repaired by a snapshot bootstrap).");
    fprintf(o, "hyperspace_replication_digest_mismatches_total %llu\n",
            (unsigned long long)hs_repl_follower_digest_mismatches());
    family(o, "hyperspace_replication_leader_changes_continued_total", "counter",
           "Leader changes the follower took without a resync (its history a prefix of the new "
           "leader's).");
    fprintf(o, "hyperspace_replication_leader_changes_continued_total %llu\n",
            (unsigned long long)hs_repl_follower_continued());
    family(o, "hyperspace_replication_full_resyncs_total", "counter",
           "Times the follower discarded its data to resynchronise (a diverged history, a leader "
           "without epochs, a snapshot bootstrap).");
    fprintf(o, "hyperspace_replication_full_resyncs_total %llu\n",
            (unsigned long long)hs_repl_follower_resyncs());
    family(o, "hyperspace_replication_sync_timeouts_total", "counter",
           "Writes answered REPLICATION_TIMEOUT: fewer followers than --sync-replicas confirmed "
           "them in time (leader).");
    fprintf(o, "hyperspace_replication_sync_timeouts_total %llu\n",
            (unsigned long long)hs_repl_leader_sync_timeouts());

    family(o, "process_resident_memory_bytes", "gauge", "Resident memory in bytes.");
    fprintf(o, "process_resident_memory_bytes %llu\n", (unsigned long long)rss);
    family(o, "process_cpu_seconds_total", "counter", "User and system CPU time.");
    fputs("process_cpu_seconds_total ", o);
    put_num(o, hs_process_cpu_seconds());
    fputc('\n', o);
    family(o, "process_open_fds", "gauge", "Open file descriptors.");
    fprintf(o, "process_open_fds %llu\n", (unsigned long long)open_fds());
    family(o, "process_start_time_seconds", "gauge", "Unix start time.");
    fputs("process_start_time_seconds ", o);
    put_num(o, floor(g_srv.start_unix));
    fputc('\n', o);
    if (fclose(o) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
