/*
 * repl_apply.c: a follower applies its leader's records (spec behaviour.md B11.3, the
 * replication contract): each through hs_db_replicate with the leader's clock, runs of upserts
 * of one collection with consecutive clocks (a leader's batch) together through
 * hs_db_replicate_upserts.  The engine skips what it already holds by the clocks, so records
 * re-sent after a restart change nothing.  An InsertOp carries the v2 fields plus id64 (ids
 * above 2^32 - 1), string_id and typed_metadata; a CreateCollectionOp the collection's
 * parameters.
 *
 * Failures: a record for a collection the node does not have, or one the node refuses (its
 * values), is logged, counted and skipped (the watermark moves past it: B11.3); any other
 * engine failure (I/O, no space, memory) ends the stream, which starts again from the watermark.
 * Runs only on the replication client's thread; the counters are read from any thread.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/grpc_int.h"
#include "server/repl.h"
#include "server/repl_apply.h"
#include "util/log.h"

#define BATCH_MAX 1024          /* records in one hs_db_replicate_upserts */
#define BATCH_BYTES (16u << 20) /* vector bytes in one run */

static struct {
    pthread_mutex_t lock;
    char last_error[512]; /* guarded by lock */
    uint64_t watermark, applied, errors; /* atomic */
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- counters -------------------------------------------------------------------------------- */

uint64_t hs_repl_watermark(void) { return __atomic_load_n(&S.watermark, __ATOMIC_ACQUIRE); }
void hs_repl_set_watermark(uint64_t w) { __atomic_store_n(&S.watermark, w, __ATOMIC_RELEASE); }
void hs_repl_count_errors(uint64_t n) { __atomic_fetch_add(&S.errors, n, __ATOMIC_RELAXED); }

void hs_repl_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&S.lock);
    vsnprintf(S.last_error, sizeof(S.last_error), fmt, ap);
    pthread_mutex_unlock(&S.lock);
    va_end(ap);
}

void hs_repl_clear_error(void)
{
    pthread_mutex_lock(&S.lock);
    S.last_error[0] = 0;
    pthread_mutex_unlock(&S.lock);
}

uint64_t hs_repl_follower_watermark(void) { return hs_repl_watermark(); }

uint64_t hs_repl_follower_records_applied(void)
{
    return __atomic_load_n(&S.applied, __ATOMIC_RELAXED);
}

uint64_t hs_repl_follower_errors(void) { return __atomic_load_n(&S.errors, __ATOMIC_RELAXED); }

void hs_repl_follower_last_error(char *buf, size_t cap)
{
    pthread_mutex_lock(&S.lock);
    snprintf(buf, cap, "%s", S.last_error);
    pthread_mutex_unlock(&S.lock);
}

/* ---- applying records ------------------------------------------------------------------------ */

/* The durability records are applied with.  A strict node fsyncs each apply; otherwise the
 * apply is handed to the OS and the client's hs_db_sync makes it durable as the node's mode
 * asks (batch: within its interval once the stream is quiet; see repl_follower.c), so a run of
 * records never waits for a group commit (a wait per run held a busy follower seconds behind). */
static hs_durability apply_mode(void)
{
    return g_srv.cfg.wal_mode == HS_DURABILITY_STRICT ? HS_DURABILITY_STRICT
                                                      : HS_DURABILITY_ASYNC;
}

/* A run of upserts of one collection with consecutive clocks, applied as one
 * hs_db_replicate_upserts; the records stay unpacked until then (the points point into them). */
struct hs_repl_batch {
    Hyperspace__ReplicationLog *recs[BATCH_MAX];
    hs_point pts[BATCH_MAX];
    hs_gmeta meta[BATCH_MAX];
    size_t n, bytes;
    uint64_t first;
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
};

/* "<tenant>/<name>" into its parts (no '/': the default tenant); -1 when a part is too long. */
static int split_name(const char *q, char *tenant, char *name)
{
    const char *slash = strchr(q, '/');
    const char *n = slash ? slash + 1 : q;
    size_t tl = slash ? (size_t)(slash - q) : strlen(HS_DEFAULT_TENANT);
    if (tl == 0 || tl > HS_NAME_MAX || strlen(n) == 0 || strlen(n) > HS_NAME_MAX)
        return -1;
    memcpy(tenant, slash ? q : HS_DEFAULT_TENANT, tl);
    tenant[tl] = 0;
    strcpy(name, n);
    return 0;
}

typedef struct tkey_order {
    const char *const *keys;
} tkey_order;

static int cmp_tkey(const void *a, const void *b, void *ctx)
{
    const tkey_order *o = ctx;
    return strcmp(o->keys[*(const size_t *)a], o->keys[*(const size_t *)b]);
}

/* A record's metadata as the engine takes it, in the leader's stored order: `metadata` holds
 * every entry's string form in that order, `typed_metadata` the entries whose value is not a
 * string (those take their typed value).  The strings stay the record's. */
static int meta_of(const Hyperspace__InsertOp *op, hs_gmeta *m)
{
    size_t n = op->n_metadata, nt = op->n_typed_metadata, k = 0;
    memset(m, 0, sizeof(*m));
    hs_kv *out = calloc(n + nt ? n + nt : 1, sizeof(hs_kv));
    const char **tk = malloc((nt ? nt : 1) * sizeof(*tk));
    const Hyperspace__MetadataValue **tv = malloc((nt ? nt : 1) * sizeof(*tv));
    size_t *order = malloc((nt ? nt : 1) * sizeof(*order));
    bool *used = calloc(nt ? nt : 1, sizeof(*used));
    int rc = -1;
    if (!out || !tk || !tv || !order || !used)
        goto done;
    for (size_t j = 0; j < nt; j++) {
        tk[j] = op->typed_metadata[j]->key;
        tv[j] = op->typed_metadata[j]->value;
        order[j] = j;
    }
    if (nt && hs_gmeta_build(m, NULL, NULL, 0, tk, tv, nt)) /* m->kv[j]: typed entry j */
        goto done;
    tkey_order o = {tk};
    qsort_r(order, nt, sizeof(*order), cmp_tkey, &o);
    for (size_t i = 0; i < n; i++) {
        const char *key = op->metadata[i]->key, *val = op->metadata[i]->value;
        size_t lo = 0, hi = nt;
        while (lo < hi) { /* the typed entry of this key, if any */
            size_t mid = (lo + hi) / 2;
            if (strcmp(tk[order[mid]], key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nt && !strcmp(tk[order[lo]], key)) {
            if (!used[order[lo]])
                out[k++] = m->kv[order[lo]];
            used[order[lo]] = true;
        } else {
            out[k++] = (hs_kv){key, strlen(key), val, strlen(val), NULL};
        }
    }
    for (size_t j = 0; j < nt; j++)
        if (!used[j])
            out[k++] = m->kv[j];
    free(m->kv);
    m->kv = out;
    m->n = k;
    out = NULL;
    rc = 0;
done:
    free(out);
    free(tk);
    free(tv);
    free(order);
    free(used);
    if (rc)
        hs_gmeta_free(m);
    return rc;
}

void hs_repl_batch_clear(hs_repl_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        hs_gmeta_free(&b->meta[i]);
        hyperspace__replication_log__free_unpacked(b->recs[i], NULL);
    }
    b->n = b->bytes = 0;
}

/* Failures that no retry can cure (the record itself does not fit this node): the record is
 * skipped and counted so that the stream goes on; anything else ends the stream, which starts
 * again from the watermark after the backoff. */
static bool permanent(int rc)
{
    switch (rc) {
    case HS_EINVAL: case HS_ERANGE: case HS_EDIM: case HS_EEMPTY: case HS_ENONFINITE:
    case HS_EZERO: case HS_EBALL: case HS_EHYPERBOLOID: case HS_EMETADATA: case HS_ENAME:
        return true;
    default:
        return false;
    }
}

/* Applies the run point by point after it was refused as a whole for one of its points: only
 * the points that cannot be applied are skipped. */
static int flush_each(hs_repl_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t applied = 0;
        uint64_t c = b->first + i;
        hs_error err;
        int rc = hs_db_replicate_upserts(g_srv.db, b->tenant, b->name, c, &b->pts[i], 1,
                                         apply_mode(), &applied, &err);
        if (rc == HS_OK) {
            __atomic_fetch_add(&S.applied, applied, __ATOMIC_RELAXED);
        } else if (permanent(rc)) {
            hs_log(HS_LOG_ERROR, "replication: upsert into '%s/%s' (clock %llu) skipped: %s",
                   b->tenant, b->name, (unsigned long long)c, err.message);
            hs_repl_error("upsert into '%s/%s' skipped: %s", b->tenant, b->name, err.message);
            hs_repl_count_errors(1);
        } else {
            hs_log(HS_LOG_ERROR, "replication: upsert into '%s/%s' (clock %llu) failed: %s",
                   b->tenant, b->name, (unsigned long long)c, err.message);
            hs_repl_error("upsert into '%s/%s' failed: %s", b->tenant, b->name, err.message);
            hs_repl_count_errors(1);
            hs_repl_batch_clear(b);
            return -1;
        }
        hs_repl_set_watermark(c);
    }
    hs_repl_batch_clear(b);
    return 0;
}

/* Applies the pending run; 0 (applied or skipped: the watermark moves past it) or -1. */
int hs_repl_flush(hs_repl_batch *b)
{
    if (!b->n)
        return 0;
    size_t applied = 0;
    uint64_t last = b->first + b->n - 1;
    hs_error err;
    int rc = hs_db_replicate_upserts(g_srv.db, b->tenant, b->name, b->first, b->pts, b->n,
                                     apply_mode(), &applied, &err);
    if (rc != HS_OK && rc != HS_ENOTFOUND && permanent(rc) && b->n > 1)
        return flush_each(b);
    if (rc == HS_OK) {
        __atomic_fetch_add(&S.applied, applied, __ATOMIC_RELAXED);
    } else if (rc == HS_ENOTFOUND || permanent(rc)) {
        hs_log(HS_LOG_ERROR, "replication: %zu upserts into '%s/%s' (clocks %llu-%llu) skipped: "
               "%s", b->n, b->tenant, b->name, (unsigned long long)b->first,
               (unsigned long long)last,
               rc == HS_ENOTFOUND ? "this node does not have the collection" : err.message);
        hs_repl_error("upserts into '%s/%s' skipped: %s", b->tenant, b->name,
                  rc == HS_ENOTFOUND ? "collection not found" : err.message);
        hs_repl_count_errors(b->n);
    } else {
        hs_log(HS_LOG_ERROR, "replication: upserts into '%s/%s' (clocks %llu-%llu) failed: %s",
               b->tenant, b->name, (unsigned long long)b->first, (unsigned long long)last,
               err.message);
        hs_repl_error("upserts into '%s/%s' failed: %s", b->tenant, b->name, err.message);
        hs_repl_count_errors(1);
        hs_repl_batch_clear(b);
        return -1;
    }
    hs_repl_set_watermark(last);
    hs_repl_batch_clear(b);
    return 0;
}

static int config_of(const Hyperspace__CreateCollectionOp *op, hs_collection_config *c)
{
    hs_collection_config_init(c);
    c->dimension = op->dimension;
    if (!op->metric || !hs_parse_metric(op->metric, &c->metric))
        return -1;
    if (op->quantization && op->quantization[0] &&
        !hs_parse_quant(op->quantization, &c->quantization))
        return -1;
    c->m = op->m;
    c->ef_construction = op->ef_construction;
    c->ef_search = op->ef_search;
    if (op->id_type && !strcasecmp(op->id_type, "string"))
        c->id_type = HS_ID_STRING;
    else if (op->id_type && op->id_type[0] && strcasecmp(op->id_type, "integer"))
        return -1;
    return 0;
}

/* Applies one record that is not an upsert (create, drop, delete); 0 or -1 as flush. */
static int apply_one(const Hyperspace__ReplicationLog *r, const char *tenant, const char *name)
{
    hs_change ch;
    memset(&ch, 0, sizeof(ch));
    ch.clock = r->logical_clock;
    const char *what = "record";
    switch (r->operation_case) {
    case HYPERSPACE__REPLICATION_LOG__OPERATION_CREATE_COLLECTION:
        what = "create";
        ch.kind = HS_CHANGE_CREATE;
        if (!r->create_collection || config_of(r->create_collection, &ch.config)) {
            hs_log(HS_LOG_ERROR, "replication: create of '%s/%s' (clock %llu) has parameters "
                   "this node does not know: skipped", tenant, name,
                   (unsigned long long)ch.clock);
            hs_repl_error("create of '%s/%s' skipped: unknown parameters", tenant, name);
            hs_repl_count_errors(1);
            hs_repl_set_watermark(ch.clock);
            return 0;
        }
        break;
    case HYPERSPACE__REPLICATION_LOG__OPERATION_DELETE_COLLECTION:
        what = "drop";
        ch.kind = HS_CHANGE_DROP;
        break;
    case HYPERSPACE__REPLICATION_LOG__OPERATION_DELETE:
        what = "delete";
        ch.kind = HS_CHANGE_DELETE;
        if (r->delete_) {
            ch.point.id = r->delete_->id64 ? r->delete_->id64 : r->delete_->id;
            if (r->delete_->string_id && r->delete_->string_id[0]) {
                ch.point.sid = r->delete_->string_id;
                ch.point.sid_len = strlen(r->delete_->string_id);
            }
        }
        break;
    default:
        hs_log(HS_LOG_ERROR, "replication: record of an unknown kind (clock %llu, '%s/%s'): "
               "skipped", (unsigned long long)ch.clock, tenant, name);
        hs_repl_error("record of an unknown kind skipped (clock %llu)",
                      (unsigned long long)ch.clock);
        hs_repl_count_errors(1);
        hs_repl_set_watermark(ch.clock);
        return 0;
    }
    int applied = 0;
    hs_error err;
    int rc = hs_db_replicate(g_srv.db, tenant, name, &ch, NULL, 0, apply_mode(),
                             &applied, &err);
    if (rc == HS_ENOTFOUND && ch.kind == HS_CHANGE_DROP)
        rc = HS_OK; /* B11.3: dropping a missing collection is a no-op */
    if (rc == HS_OK) {
        if (applied)
            __atomic_fetch_add(&S.applied, 1, __ATOMIC_RELAXED);
        if (applied && ch.kind == HS_CHANGE_DROP)
            hs_metrics_forget(tenant, name);
    } else if (rc == HS_ENOTFOUND || permanent(rc)) {
        hs_log(HS_LOG_ERROR, "replication: %s in '%s/%s' (clock %llu) skipped: %s", what, tenant,
               name, (unsigned long long)ch.clock,
               rc == HS_ENOTFOUND ? "this node does not have the collection" : err.message);
        hs_repl_error("%s in '%s/%s' skipped: %s", what, tenant, name,
                  rc == HS_ENOTFOUND ? "collection not found" : err.message);
        hs_repl_count_errors(1);
    } else {
        hs_log(HS_LOG_ERROR, "replication: %s in '%s/%s' (clock %llu) failed: %s", what, tenant,
               name, (unsigned long long)ch.clock, err.message);
        hs_repl_error("%s in '%s/%s' failed: %s", what, tenant, name, err.message);
        hs_repl_count_errors(1);
        return -1;
    }
    hs_repl_set_watermark(ch.clock);
    return 0;
}

/* Takes one received record (and its ownership): an upsert joins or starts the pending run, any
 * other record first applies the run, then itself.  0, or -1 when the stream must end. */
int hs_repl_take(hs_repl_batch *b, Hyperspace__ReplicationLog *r)
{
    uint64_t c = r->logical_clock;
    uint64_t seen = b->n ? b->first + b->n - 1 : hs_repl_watermark();
    char tenant[HS_NAME_MAX + 1], name[HS_NAME_MAX + 1];
    if (c <= seen) { /* never sent twice on one stream; ignored if it were */
        hyperspace__replication_log__free_unpacked(r, NULL);
        return 0;
    }
    if (!r->collection || split_name(r->collection, tenant, name)) {
        hyperspace__replication_log__free_unpacked(r, NULL);
        if (hs_repl_flush(b))
            return -1;
        hs_log(HS_LOG_ERROR, "replication: record with clock %llu names no valid collection: "
               "skipped", (unsigned long long)c);
        hs_repl_count_errors(1);
        hs_repl_set_watermark(c);
        return 0;
    }
    if (r->operation_case != HYPERSPACE__REPLICATION_LOG__OPERATION_INSERT || !r->insert) {
        int rc = hs_repl_flush(b);
        if (!rc)
            rc = apply_one(r, tenant, name);
        hyperspace__replication_log__free_unpacked(r, NULL);
        return rc;
    }
    const Hyperspace__InsertOp *op = r->insert;
    size_t vbytes = op->n_vector * sizeof(double);
    if (b->n && (c != b->first + b->n || b->n == BATCH_MAX || b->bytes + vbytes > BATCH_BYTES ||
                 strcmp(tenant, b->tenant) || strcmp(name, b->name))) {
        if (hs_repl_flush(b)) {
            hyperspace__replication_log__free_unpacked(r, NULL);
            return -1;
        }
    }
    size_t i = b->n;
    if (meta_of(op, &b->meta[i])) {
        hyperspace__replication_log__free_unpacked(r, NULL);
        hs_log(HS_LOG_ERROR, "replication: out of memory");
        hs_repl_error("out of memory");
        hs_repl_count_errors(1);
        return -1;
    }
    if (!i) {
        b->first = c;
        strcpy(b->tenant, tenant);
        strcpy(b->name, name);
    }
    hs_point *p = &b->pts[i];
    memset(p, 0, sizeof(*p));
    p->id = op->id64 ? op->id64 : op->id;
    if (op->string_id && op->string_id[0]) {
        p->sid = op->string_id;
        p->sid_len = strlen(op->string_id);
    }
    p->vector = op->vector;
    p->dim = op->n_vector;
    p->meta = b->meta[i].kv;
    p->nmeta = b->meta[i].n;
    b->recs[i] = r;
    b->n++;
    b->bytes += vbytes;
    return 0;
}

/* ---- local data ------------------------------------------------------------------------------ */

typedef struct names {
    char (*tenant)[HS_NAME_MAX + 1];
    char (*name)[HS_NAME_MAX + 1];
    size_t n, cap;
} names;

static int collect(void *ctx, const char *tenant, const char *name)
{
    names *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *t = realloc(l->tenant, cap * sizeof(*l->tenant));
        if (t)
            l->tenant = t;
        void *nm = realloc(l->name, cap * sizeof(*l->name));
        if (nm)
            l->name = nm;
        if (!t || !nm)
            return HS_ENOMEM;
        l->cap = cap;
    }
    snprintf(l->tenant[l->n], sizeof(l->tenant[l->n]), "%s", tenant);
    snprintf(l->name[l->n], sizeof(l->name[l->n]), "%s", name);
    l->n++;
    return 0;
}

bool hs_repl_has_collections(void)
{
    uint64_t cols = 0, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    return cols > 0;
}

/* Forgets every local collection and drop note (B11.5, snapshot bootstrap:
 * hs_db_replica_reset); 0 or -1 (logged). */
int hs_repl_reset(uint64_t horizon)
{
    names l = {0};
    hs_error err;
    int rc = hs_collection_list(g_srv.db, NULL, collect, &l, &err); /* for the metrics */
    if (rc == HS_OK)
        rc = hs_db_replica_reset(g_srv.db, horizon, &err);
    if (rc != HS_OK) {
        const char *m = rc == HS_ENOMEM ? "out of memory" : err.message;
        hs_log(HS_LOG_ERROR, "replication: cannot discard the local data: %s", m);
        hs_repl_error("cannot discard the local data: %s", m);
        rc = -1;
    } else {
        for (size_t i = 0; i < l.n; i++)
            hs_metrics_forget(l.tenant[i], l.name[i]);
        if (l.n)
            hs_log(HS_LOG_INFO, "replication: dropped %zu local collections", l.n);
    }
    free(l.tenant);
    free(l.name);
    return rc;
}

hs_repl_batch *hs_repl_batch_new(void) { return calloc(1, sizeof(hs_repl_batch)); }

size_t hs_repl_batch_pending(const hs_repl_batch *b) { return b->n; }

void hs_repl_batch_free(hs_repl_batch *b)
{
    if (b)
        hs_repl_batch_clear(b);
    free(b);
}
