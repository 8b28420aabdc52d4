/*
 * repl_verify.c: a follower's convergence checks (issue 15 item 2; docs/ARCHITECTURE.md,
 * "Convergence checks").
 *
 * A round compares, for every collection of this node's catalog, its digest with the leader's
 * (GetDigest on the session's channel, with the leader key and the collection's tenant), once
 * the records received so far are applied.  Only a collection both sides report at the same
 * clock is compared (otherwise it is in flux: skipped this round); a leader's collection missing
 * here is a mismatch once the watermark has passed its clock (the leader's lists: ListCollections
 * of each tenant this node knows, and of the default tenant).  A mismatch is logged at ERROR and
 * counted; the caller repairs it with the snapshot bootstrap (hs_repl_reset + ReplicateSnapshot
 * + restore): the whole node, not the one collection, because that path exists, is crash-safe
 * (watermark 0 persisted first) and leaves no question about one collection's clocks or drop
 * notes restored under a running stream.
 *
 * Each call is bounded by VERIFY_DEADLINE_S and cancelled within POLL_MS of a stop request; the
 * client thread applies nothing while a round runs.  The counters are atomics, the last result
 * is under V.lock.
 */
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/grpc_int.h"
#include "server/ops.h"
#include "server/repl.h"
#include "server/repl_verify.h"
#include "util/log.h"

#define VERIFY_DEADLINE_S 5 /* each ListCollections / GetDigest call */
#define POLL_MS 200         /* the longest wait before a stop request is noticed */
#define DEFAULT_TENANT "default_admin"

static struct {
    pthread_mutex_t lock;
    uint64_t checks, mismatches; /* atomics: collections compared, mismatches found */
    uint64_t last_ms;            /* (lock) unix time of the last round, 0 = none */
    char last[200];              /* (lock) its result */
} V = {.lock = PTHREAD_MUTEX_INITIALIZER};

uint64_t hs_repl_follower_digest_checks(void)
{
    return __atomic_load_n(&V.checks, __ATOMIC_RELAXED);
}

uint64_t hs_repl_follower_digest_mismatches(void)
{
    return __atomic_load_n(&V.mismatches, __ATOMIC_RELAXED);
}

void hs_repl_follower_last_check(uint64_t *unix_ms, char *buf, size_t cap)
{
    pthread_mutex_lock(&V.lock);
    *unix_ms = V.last_ms;
    snprintf(buf, cap, "%s", V.last);
    pthread_mutex_unlock(&V.lock);
}

static void round_done(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void round_done(const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&V.lock);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(V.last, sizeof(V.last), fmt, ap);
    va_end(ap);
    V.last_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    pthread_mutex_unlock(&V.lock);
}

/* ---- calls to the leader ------------------------------------------------------------------- */

/* One unary call to the leader as `tenant`; the reply's bytes in *out (free with
 * grpc_slice_unref) when the status is OK.  Returns the status (CANCELLED on stop). */
static grpc_status_code unary(const hs_repl_verify_ctx *ctx, const char *method,
                              const char *tenant, const ProtobufCMessage *req, grpc_slice *out)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_seconds(VERIFY_DEADLINE_S, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_call(ctx->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               grpc_slice_from_static_string(method), NULL,
                                               deadline, NULL);
    grpc_slice s = grpc_slice_malloc(protobuf_c_message_get_packed_size(req));
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1), *reply = NULL;
    grpc_slice_unref(s);
    grpc_metadata_array init, trail;
    grpc_metadata_array_init(&init);
    grpc_metadata_array_init(&trail);
    grpc_slice details = grpc_empty_slice();
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_metadata md[3];
    size_t n = ctx->nmd < 2 ? ctx->nmd : 2;
    memcpy(md, ctx->md, n * sizeof(*md));
    md[n].key = grpc_slice_from_static_string("x-hyperspace-user-id");
    md[n++].value = grpc_slice_from_static_string(tenant);
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &reply;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    if (grpc_call_start_batch(call, ops, 6, (void *)(intptr_t)1, NULL) == GRPC_CALL_OK) {
        for (;;) { /* bounded waits: a stop cancels the call */
            gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                              gpr_time_from_millis(POLL_MS, GPR_TIMESPAN));
            if (grpc_completion_queue_pluck(cq, (void *)(intptr_t)1, until, NULL).type ==
                GRPC_OP_COMPLETE)
                break;
            if (ctx->stopping())
                grpc_call_cancel(call, NULL);
        }
    }
    if (status == GRPC_STATUS_OK && reply) {
        grpc_byte_buffer_reader rd;
        grpc_byte_buffer_reader_init(&rd, reply);
        *out = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
    } else if (status == GRPC_STATUS_OK) {
        status = GRPC_STATUS_INTERNAL; /* no reply */
    }
    if (reply)
        grpc_byte_buffer_destroy(reply);
    grpc_byte_buffer_destroy(send);
    grpc_metadata_array_destroy(&init);
    grpc_metadata_array_destroy(&trail);
    grpc_slice_unref(details);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    return status;
}

/* ---- the collections compared ---------------------------------------------------------------- */

typedef struct coll_list {
    char (*tenant)[HS_NAME_MAX + 1];
    char (*name)[HS_NAME_MAX + 1];
    size_t n, cap;
    size_t nlocal; /* the first nlocal are this node's */
} coll_list;

static int list_add(void *ctx, const char *tenant, const char *name)
{
    coll_list *l = ctx;
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
    snprintf(l->tenant[l->n], sizeof(l->tenant[0]), "%s", tenant);
    snprintf(l->name[l->n], sizeof(l->name[0]), "%s", name);
    l->n++;
    return 0;
}

static bool list_has(const coll_list *l, const char *tenant, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->tenant[i], tenant) && !strcmp(l->name[i], name))
            return true;
    return false;
}

/* Adds the leader's collections of `tenant` that l does not hold; false when the call failed. */
static bool add_leader_list(const hs_repl_verify_ctx *ctx, coll_list *l, const char *tenant)
{
    Hyperspace__Empty req = HYPERSPACE__EMPTY__INIT;
    grpc_slice m;
    if (unary(ctx, "/hyperspace.Database/ListCollections", tenant, &req.base, &m) !=
        GRPC_STATUS_OK)
        return false;
    Hyperspace__ListCollectionsResponse *r = hyperspace__list_collections_response__unpack(
        NULL, GRPC_SLICE_LENGTH(m), GRPC_SLICE_START_PTR(m));
    grpc_slice_unref(m);
    for (size_t i = 0; r && i < r->n_collections; i++)
        if (strlen(r->collections[i]) <= HS_NAME_MAX && !list_has(l, tenant, r->collections[i]) &&
            list_add(l, tenant, r->collections[i]) != 0)
            break;
    if (r)
        hyperspace__list_collections_response__free_unpacked(r, NULL);
    return r != NULL;
}

/* ---- one round ------------------------------------------------------------------------------- */

typedef struct tally {
    size_t compared, skipped, failed, bad;
    char first_bad[2 * HS_NAME_MAX + 2];
} tally;

/* The leader's digest of tenant/name: 1 = got, 0 = not found there, -1 = the call failed. */
static int leader_digest(const hs_repl_verify_ctx *ctx, const char *tenant, const char *name,
                         Hyperspace__DigestResponse **out)
{
    Hyperspace__DigestRequest req = HYPERSPACE__DIGEST_REQUEST__INIT;
    req.collection = (char *)name;
    grpc_slice m;
    grpc_status_code st = unary(ctx, "/hyperspace.Database/GetDigest", tenant, &req.base, &m);
    if (st == GRPC_STATUS_NOT_FOUND)
        return 0;
    if (st != GRPC_STATUS_OK)
        return -1;
    *out = hyperspace__digest_response__unpack(NULL, GRPC_SLICE_LENGTH(m), GRPC_SLICE_START_PTR(m));
    grpc_slice_unref(m);
    return *out && (*out)->n_buckets == 256 ? 1 : -1;
}

static void mismatch(tally *t, const char *tenant, const char *name,
                     const Hyperspace__DigestResponse *d, const hs_digest *mine)
{
    t->bad++;
    __atomic_fetch_add(&V.mismatches, 1, __ATOMIC_RELAXED);
    if (!t->first_bad[0])
        snprintf(t->first_bad, sizeof(t->first_bad), "%s/%s", tenant, name);
    if (!mine)
        hs_log(HS_LOG_ERROR, "replication: digest mismatch: collection '%s' of tenant '%s' is "
               "missing here; the leader has it at clock %llu (hash %llu, %llu points)", name,
               tenant, (unsigned long long)d->logical_clock, (unsigned long long)d->state_hash,
               (unsigned long long)d->count);
    else
        hs_log(HS_LOG_ERROR, "replication: digest mismatch: collection '%s' of tenant '%s' at "
               "clock %llu: leader hash %llu (%llu points), follower clock %llu hash %llu (%llu "
               "points)", name, tenant, (unsigned long long)d->logical_clock,
               (unsigned long long)d->state_hash, (unsigned long long)d->count,
               (unsigned long long)mine->clock, (unsigned long long)mine->state_hash,
               (unsigned long long)mine->count);
}

/* Compares one collection (local: this node's catalog holds it). */
static void compare_one(const hs_repl_verify_ctx *ctx, uint64_t watermark, const char *tenant,
                        const char *name, bool local, tally *t)
{
    Hyperspace__DigestResponse *d = NULL;
    int got = leader_digest(ctx, tenant, name, &d);
    hs_fail f = {0};
    hs_digest mine;
    if (got > 0 && local)
        hs_op_collection(tenant, name, HS_OP_DIGEST, &mine, NULL, &f);
    bool missing = !local || f.id == HS_ERR_NOT_FOUND;
    if (got < 0 || (got > 0 && !missing && f.id)) {
        t->failed++;
    } else if (got == 0) {
        t->skipped++; /* dropped there: the drop is on its way (or in a record not sent yet) */
    } else if ((missing && d->logical_clock > watermark) ||
               (!missing && mine.clock != d->logical_clock)) {
        t->skipped++; /* in flux: written (or created) after what was applied here */
    } else {
        t->compared++;
        __atomic_fetch_add(&V.checks, 1, __ATOMIC_RELAXED);
        if (missing)
            mismatch(t, tenant, name, d, NULL);
        else if (mine.state_hash != d->state_hash || mine.count != d->count ||
                 memcmp(mine.buckets, d->buckets, sizeof(mine.buckets)))
            mismatch(t, tenant, name, d, &mine);
    }
    if (d)
        hyperspace__digest_response__free_unpacked(d, NULL);
}

bool hs_repl_verify_round(const hs_repl_verify_ctx *ctx, uint64_t watermark)
{
    coll_list l = {0};
    tally t = {0};
    hs_error err;
    if (hs_collection_list(g_srv.db, NULL, list_add, &l, &err) != HS_OK) {
        round_done("incomplete: the local collections cannot be listed");
        free(l.tenant), free(l.name);
        return false;
    }
    l.nlocal = l.n;
    /* the leader's lists: each tenant this node knows once, and the default tenant */
    for (size_t i = 0; i <= l.nlocal && !ctx->stopping(); i++) {
        char tenant[HS_NAME_MAX + 1]; /* a copy: adding to l moves its arrays */
        snprintf(tenant, sizeof(tenant), "%s", i < l.nlocal ? l.tenant[i] : DEFAULT_TENANT);
        bool asked = false;
        for (size_t j = 0; j < i && !asked; j++) /* j < nlocal: the list grows meanwhile */
            asked = !strcmp(l.tenant[j], tenant);
        if (!asked && !add_leader_list(ctx, &l, tenant))
            t.failed++;
    }
    for (size_t i = 0; i < l.n && !ctx->stopping(); i++)
        compare_one(ctx, watermark, l.tenant[i], l.name[i], i < l.nlocal, &t);
    free(l.tenant);
    free(l.name);
    if (t.bad)
        round_done("mismatch: %zu of %zu compared (first %s); resynchronising from a snapshot",
                   t.bad, t.compared, t.first_bad);
    else if (t.failed)
        round_done("incomplete: %zu compared equal, %zu skipped (in flux), %zu calls failed",
                   t.compared, t.skipped, t.failed);
    else
        round_done("ok: %zu compared equal, %zu skipped (in flux)", t.compared, t.skipped);
    hs_log(t.bad ? HS_LOG_WARN : HS_LOG_DEBUG, "replication: digest check: %zu compared, %zu "
           "mismatched, %zu skipped, %zu calls failed", t.compared, t.bad, t.skipped, t.failed);
    return t.bad > 0;
}
