/*
 * repl_leader.c: the leader side of replication (spec behaviour.md B11.2, grpc.md 5.2; repl.h):
 *
 *   Replicate          a server stream of every logged operation of the node with a clock above
 *                      the follower's `last_logical_clock`, catch-up then live, one ReplicationLog
 *                      per change, read from the engine's node-wide change reader
 *                      (hs_node_changes_*), which delivers changes in strictly increasing clock
 *                      order up to the applied clock, so no record is skipped or sent twice;
 *   ReplicateSnapshot  a node snapshot (hs_snapshot_write) streamed in chunks of <= 1 MiB, the
 *                      last one carrying the archive's clock: the bootstrap of a follower whose
 *                      position the log no longer holds;
 *   ReplicationAck     a follower's durable watermark and address, kept per follower for
 *                      cluster status (lag in records and in seconds);
 *   ClusterStatus      the gRPC form of GET /api/cluster/status.
 *
 * Streams.  Each stream has a thread of its own, so a follower reading from an old part of the
 * log (disk reads) never delays another.  The thread reads the next change only once the
 * previous message has gone out (one message in flight per stream; gRPC flow control is the
 * back-pressure: nothing queues, a slow follower only keeps its position).  When everything up to
 * the applied clock has been sent the stream is live and its thread waits for the applied clock
 * to move (hs_db_wait_applied, IDLE_MS at a time, so that an ended stream or shutdown is seen
 * within that).  A live stream more than HS_REPL_SLOW_RECORDS behind the applied clock is ended
 * with E_REPL_SLOW (UNAVAILABLE); the follower reconnects from its watermark and catches up,
 * which is not cut (a stream is live only once it has caught up).
 *
 * Endings: the client leaving (CANCELLED, nothing to send), the log no longer holding the
 * position or a position ahead of the node clock (FAILED_PRECONDITION with trailing metadata
 * x-hyperspace-resync: snapshot), E_REPL_SLOW, a read error (its mapped status), shutdown
 * (UNAVAILABLE `Server is shutting down`).  The status goes out once no message is in flight; a
 * message stuck behind a client that does not read is cancelled with the status instead (slow
 * and shutdown), which completes it.  A stream's memory is freed when its thread, its close batch
 * and its status batch are all done (refs), in whatever order.
 *
 * `downstream_peers` are the open Replicate streams: a stream leaves the list as soon as its
 * close batch completes (the client left) or its thread ends.  Followers are known from their
 * acknowledgements and from the node id their streams carry (request metadata); lag in seconds
 * comes from samples of the applied clock that a sampler thread takes as the clock moves.
 *
 * Locking: list_mu guards the stream list, the counts and `stopping`; each call's mu guards its
 * send flags and the stream's ending fields, and is the mutex of the stream's cv; fol_mu guards
 * the follower table and the clock samples.  Order: list_mu before a call's mu; fol_mu is never
 * held with another.  The engine is called without any of them except hs_db_applied_clock (an
 * atomic read), which may be called under a call's mu.
 */
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperspace.pb-c.h"
#include "server/grpc_int.h"
#include "server/repl.h"
#include "server/repl_history.h"
#include "util/log.h"

/* How long a stream's thread sleeps at most before it looks at its ending flags again (the
 * client gone, shutdown): the latency of those, not of records (applied changes wake it). */
#define IDLE_MS 250
/* A follower that takes no snapshot chunk for this long has its snapshot stream ended: a node
 * snapshot holds up checkpoints and drops on the leader while it runs. */
#define SNAPSHOT_STALL_MS 30000
/* Clock samples kept for lag in seconds, at most one per SAMPLE_NS: >= 100 s of history. */
#define NSAMPLES 1024
#define SAMPLE_NS 100000000ull

enum { KIND_LOG, KIND_SNAPSHOT };

struct hs_rstream {
    hs_gcall *call;
    int kind;
    uint64_t after;         /* Replicate: last_logical_clock (immutable) */
    char peer[64];          /* ip:port (immutable) */
    char node_id[40];       /* the follower's, from its request metadata; "" = not sent */
    bool same_history;      /* Replicate: `after` lies in our history (its epochs, checked) */
    pthread_cond_t cv;      /* with call->mu: a send completed, the client left, stop */
    /* call->mu: */
    bool end;               /* end with end_status once nothing is in flight */
    bool resync;            /* the status carries x-hyperspace-resync: snapshot */
    int end_status;
    char end_msg[512];
    int refs;               /* the thread, the close batch, the status batch */
    /* list_mu: */
    bool listed;
    struct hs_rstream *next;
    /* the stream's thread (read under call->mu by it only) */
    uint64_t pos;           /* every change <= pos was sent (or is in flight) */
    bool live;              /* caught up with the applied clock at least once */
};

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t threads_cv = PTHREAD_COND_INITIALIZER; /* nthreads reached 0 */
static hs_rstream *streams;
static size_t nlog, nsnap, nthreads;
static bool stopping;
static uint64_t records_sent; /* atomic */

/* ---- follower table and clock samples (fol_mu) --------------------------------------------- */

typedef struct follower {
    bool used;
    char node_id[40];
    char address[128];
    uint64_t watermark;
    uint64_t last_ack_ms;   /* unix ms, 0 = none */
    uint64_t seen_ns;       /* monotonic: last ack or stream open (eviction order) */
} follower;

static pthread_mutex_t fol_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fol_cv; /* with fol_mu: an acknowledgement arrived (CLOCK_MONOTONIC) */
static pthread_once_t fol_cv_once = PTHREAD_ONCE_INIT;
static uint64_t sync_timeouts; /* atomic: writes answered REPLICATION_TIMEOUT */
static follower fols[HS_REPL_MAX_FOLLOWERS];
static struct {
    uint64_t ns, clock;
} samples[NSAMPLES];
static size_t nsamp, samp_head; /* samp_head: the next slot */

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Records that the applied clock was `clock` now (fol_mu held), at most one sample per SAMPLE_NS
 * and only when the clock moved. */
static void sample_locked(uint64_t clock, uint64_t now)
{
    if (nsamp) {
        size_t last = (samp_head + NSAMPLES - 1) % NSAMPLES;
        if (samples[last].clock >= clock || now - samples[last].ns < SAMPLE_NS)
            return;
    }
    samples[samp_head].ns = now;
    samples[samp_head].clock = clock;
    samp_head = (samp_head + 1) % NSAMPLES;
    if (nsamp < NSAMPLES)
        nsamp++;
}

/* The sampler: records the applied clock as it moves (at most one sample per SAMPLE_NS), so that
 * lag in seconds is known whether or not a stream or an acknowledgement looked at the clock. */
static pthread_t sampler;
static bool sampler_running;

static void *sampler_main(void *arg)
{
    (void)arg;
    uint64_t seen = 0;
    while (!__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
        uint64_t a = hs_db_wait_applied(g_srv.db, seen, IDLE_MS);
        if (a <= seen)
            continue;
        seen = a;
        pthread_mutex_lock(&fol_mu);
        sample_locked(a, hs_now_ns_srv());
        pthread_mutex_unlock(&fol_mu);
        struct timespec pause = {0, (long)SAMPLE_NS};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Seconds since the applied clock first went above `watermark` (fol_mu held): the time of the
 * oldest sample above it (a lower bound when even the oldest kept sample is above it). */
static double lag_seconds_locked(uint64_t watermark, uint64_t applied, uint64_t now)
{
    if (watermark >= applied)
        return 0;
    uint64_t t = now;
    for (size_t i = 0; i < nsamp; i++) {
        size_t k = (samp_head + NSAMPLES - nsamp + i) % NSAMPLES;
        if (samples[k].clock > watermark) {
            t = samples[k].ns;
            break;
        }
    }
    return now > t ? (double)(now - t) / 1e9 : 0;
}

/* The entry of node_id, made (taking the least recently heard one's place when full) when
 * missing (fol_mu held). */
static follower *follower_of(const char *node_id)
{
    follower *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < HS_REPL_MAX_FOLLOWERS; i++) {
        follower *f = &fols[i];
        if (f->used && !strcmp(f->node_id, node_id))
            return f;
        if (!f->used && !free_slot)
            free_slot = f;
        if (f->used && (!oldest || f->seen_ns < oldest->seen_ns))
            oldest = f;
    }
    follower *f = free_slot ? free_slot : oldest;
    memset(f, 0, sizeof(*f));
    f->used = true;
    snprintf(f->node_id, sizeof(f->node_id), "%s", node_id);
    return f;
}

/* A stream of node_id opened at `after` (its watermark) from peer. */
static void follower_stream_opened(const char *node_id, uint64_t after, const char *peer)
{
    pthread_mutex_lock(&fol_mu);
    follower *f = follower_of(node_id);
    f->watermark = after;
    if (!f->address[0])
        snprintf(f->address, sizeof(f->address), "%s", peer);
    f->seen_ns = hs_now_ns_srv();
    pthread_mutex_unlock(&fol_mu);
}

/* ---- stream endings (call->mu held) ---------------------------------------------------------- */

static void end_with(hs_rstream *s, int status, const char *msg)
{
    if (s->end)
        return;
    s->end = true;
    s->end_status = status;
    snprintf(s->end_msg, sizeof(s->end_msg), "%s", msg);
    pthread_cond_broadcast(&s->cv);
}

static void end_fail(hs_rstream *s, const hs_fail *f)
{
    end_with(s, hs_err_grpc_status(f->id), f->message);
}

/* Sends the final status when it is due. */
static void maybe_finish(hs_gcall *c)
{
    hs_rstream *s = c->repl;
    if (!s->end || c->send_in_flight || c->done_sent)
        return;
    c->done_sent = true;
    if (s->resync)
        hs_gcall_trailer(c, HS_REPL_RESYNC_MD, "snapshot");
    hs_gcall_finish(c, s->end_status, s->end_msg);
}

/* Ends a stream whose message may be stuck behind a client that does not read (slow follower,
 * shutdown): the cancel completes the message, whose completion then sends the status. */
static void cancel_stuck(hs_gcall *c)
{
    hs_rstream *s = c->repl;
    if (s->end && c->send_in_flight && !c->done_sent)
        grpc_call_cancel_with_status(c->call, (grpc_status_code)s->end_status, s->end_msg, NULL);
}

/* Drops one reference (caller holds c->mu, released here); the last frees the call. */
static void unref_unlock(hs_gcall *c)
{
    hs_rstream *s = c->repl;
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last)
        return;
    pthread_cond_destroy(&s->cv);
    free(s);
    c->repl = NULL;
    hs_gcall_free(c);
}

static void unlist(hs_rstream *s)
{
    pthread_mutex_lock(&list_mu);
    if (s->listed) {
        for (hs_rstream **p = &streams; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                break;
            }
        s->listed = false;
        if (s->kind == KIND_LOG)
            nlog--;
        else
            nsnap--;
    }
    pthread_mutex_unlock(&list_mu);
}

void hs_repl_stream_event(hs_gcall *c, int kind, bool ok)
{
    hs_rstream *s = c->repl;
    pthread_mutex_lock(&c->mu);
    if (kind == TAG_SENT) {
        c->send_in_flight = false;
        if (!ok)
            end_with(s, GRPC_STATUS_CANCELLED, "The client left");
        pthread_cond_broadcast(&s->cv);
        maybe_finish(c);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    /* TAG_CLOSE: the client left (or the call ended): out of downstream_peers at once */
    c->closed = true;
    end_with(s, GRPC_STATUS_CANCELLED, "The client left");
    pthread_cond_broadcast(&s->cv);
    maybe_finish(c);
    pthread_mutex_unlock(&c->mu);
    unlist(s);
    pthread_mutex_lock(&c->mu);
    unref_unlock(c);
}

void hs_repl_stream_done(hs_gcall *c)
{
    pthread_mutex_lock(&c->mu);
    unref_unlock(c);
}

/* Starts sending buf on c (c->mu held, nothing in flight); false when it could not start. */
static bool send_bytes(hs_gcall *c, const uint8_t *buf, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    c->send_in_flight = true;
    bool ok = grpc_call_start_batch(c->call, &op, 1, &c->tag_sent, NULL) == GRPC_CALL_OK;
    if (!ok) {
        c->send_in_flight = false;
        end_with(c->repl, GRPC_STATUS_INTERNAL, "Internal error: the record could not be sent");
    }
    grpc_byte_buffer_destroy(bb);
    return ok;
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cv, mu, &ts);
}

/* ---- ReplicationLog messages ------------------------------------------------------------------ */

/* Packs msg into *out (malloc'd); false when out of memory. */
static bool pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    *out = malloc(*len ? *len : 1);
    if (*out)
        protobuf_c_message_pack(msg, *out);
    return *out != NULL;
}

/* The point's id into the op's id / id64 / string_id (sid: a buffer of HS_SID_MAX + 1). */
#define SET_POINT_ID(op, pt, buf)                                                              \
    do {                                                                                       \
        if ((pt)->sid) {                                                                       \
            memcpy(buf, (pt)->sid, (pt)->sid_len);                                             \
            buf[(pt)->sid_len] = 0;                                                            \
            (op)->string_id = buf;                                                             \
        } else if ((pt)->id > UINT32_MAX) {                                                    \
            (op)->id64 = (pt)->id;                                                             \
        } else {                                                                               \
            (op)->id = (uint32_t)(pt)->id;                                                     \
        }                                                                                      \
    } while (0)

/* An upsert: the stored vector, every metadata entry in its string form, and the entries whose
 * value is not a string typed (hs_gmeta_build on the follower keeps the typed value of a key in
 * both maps). */
static bool pack_insert(Hyperspace__ReplicationLog *log, const hs_change *ch, uint8_t **out,
                        size_t *len)
{
    Hyperspace__InsertOp op = HYPERSPACE__INSERT_OP__INIT;
    char sid[HS_SID_MAX + 1];
    SET_POINT_ID(&op, &ch->point, sid);
    op.vector = (double *)ch->point.vector;
    op.n_vector = ch->point.vector ? ch->point.dim : 0;
    hs_gstrmap m;
    hs_gtyped t = {0};
    bool ok = hs_gstrmap_collect(&m, &hyperspace__insert_op__metadata_entry__descriptor,
                                 &ch->point) == 0 &&
              hs_gtyped_collect(&t, &ch->point) == 0;
    Hyperspace__InsertOp__TypedMetadataEntry *te = malloc((t.n + 1) * sizeof(*te));
    Hyperspace__InsertOp__TypedMetadataEntry **tp = malloc((t.n + 1) * sizeof(*tp));
    ok = ok && te && tp;
    size_t nt = 0;
    for (size_t i = 0; ok && i < t.n; i++) {
        if (t.vals[i]->kind_case == HYPERSPACE__METADATA_VALUE__KIND_STRING_VALUE)
            continue;
        hyperspace__insert_op__typed_metadata_entry__init(&te[nt]);
        te[nt].key = t.keys[i];
        te[nt].value = t.vals[i];
        tp[nt] = &te[nt];
        nt++;
    }
    if (ok) {
        op.n_metadata = m.n;
        op.metadata = (Hyperspace__InsertOp__MetadataEntry **)m.ptrs;
        op.n_typed_metadata = nt;
        op.typed_metadata = tp;
        log->operation_case = HYPERSPACE__REPLICATION_LOG__OPERATION_INSERT;
        log->insert = &op;
        ok = pack(&log->base, out, len);
    }
    hs_gstrmap_free(&m);
    free(te);
    free(tp);
    hs_gtyped_free(&t);
    return ok;
}

/* Packs the ReplicationLog of a change into *out (malloc'd); false when out of memory. */
static bool pack_change(const hs_node_change *nc, uint8_t **out, size_t *len)
{
    char collection[2 * HS_NAME_MAX + 2];
    snprintf(collection, sizeof(collection), "%s/%s", nc->tenant, nc->name);
    const hs_change *ch = &nc->change;
    Hyperspace__ReplicationLog log = HYPERSPACE__REPLICATION_LOG__INIT;
    log.logical_clock = ch->clock;
    log.origin_node_id = g_srv.node_id;
    log.collection = collection;
    if (ch->kind == HS_CHANGE_UPSERT)
        return pack_insert(&log, ch, out, len);
    Hyperspace__DeleteOp del = HYPERSPACE__DELETE_OP__INIT;
    Hyperspace__CreateCollectionOp cre = HYPERSPACE__CREATE_COLLECTION_OP__INIT;
    Hyperspace__DeleteCollectionOp drop = HYPERSPACE__DELETE_COLLECTION_OP__INIT;
    char sid[HS_SID_MAX + 1];
    switch (ch->kind) {
    case HS_CHANGE_DELETE:
        SET_POINT_ID(&del, &ch->point, sid);
        log.operation_case = HYPERSPACE__REPLICATION_LOG__OPERATION_DELETE;
        log.delete_ = &del;
        break;
    case HS_CHANGE_CREATE:
        cre.dimension = ch->config.dimension;
        cre.metric = (char *)hs_metric_name(ch->config.metric);
        cre.quantization = (char *)hs_quant_name(ch->config.quantization);
        cre.m = ch->config.m;
        cre.ef_construction = ch->config.ef_construction;
        cre.ef_search = ch->config.ef_search;
        cre.id_type = ch->config.id_type == HS_ID_STRING ? "string" : "integer";
        log.operation_case = HYPERSPACE__REPLICATION_LOG__OPERATION_CREATE_COLLECTION;
        log.create_collection = &cre;
        break;
    default: /* HS_CHANGE_DROP */
        log.operation_case = HYPERSPACE__REPLICATION_LOG__OPERATION_DELETE_COLLECTION;
        log.delete_collection = &drop;
        break;
    }
    return pack(&log.base, out, len);
}

/* ---- the Replicate stream's thread ------------------------------------------------------------ */

/* The ending of a position the log cannot serve (call->mu held). */
static void end_reader_error(hs_rstream *s, int rc, const hs_error *err)
{
    char text[400];
    if (rc == HS_ETRUNCATED) {
        snprintf(text, sizeof(text), "Log truncated after clock %llu; bootstrap from a snapshot",
                 (unsigned long long)s->pos);
        s->resync = true;
        end_with(s, hs_err_grpc_status(HS_ERR_REPL_RESYNC), text);
    } else if (rc == HS_ERANGE) {
        snprintf(text, sizeof(text), "Clock %llu is ahead of this leader's clock %llu; bootstrap "
                 "from a snapshot", (unsigned long long)err->actual,
                 (unsigned long long)err->expected);
        s->resync = true;
        end_with(s, hs_err_grpc_status(HS_ERR_REPL_RESYNC), text);
    } else {
        hs_fail f = {0};
        hs_fail_from_engine(&f, rc, err);
        end_fail(s, &f);
    }
}

/* Waits until nothing is in flight (true) or the stream ends (false); a live stream too far
 * behind the applied clock is ended here. */
static bool wait_turn(hs_rstream *s)
{
    hs_gcall *c = s->call;
    hs_db *db = g_srv.db;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        uint64_t applied = hs_db_applied_clock(db);
        if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
            end_with(s, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
        else if (s->live && applied > s->pos && applied - s->pos > HS_REPL_SLOW_RECORDS)
            end_with(s, hs_err_grpc_status(HS_ERR_REPL_SLOW),
                     "Follower fell more than 65536 records behind; reconnect to resume");
        if (s->end || !c->send_in_flight)
            break;
        timed_wait(&s->cv, &c->mu, IDLE_MS);
    }
    bool go = !s->end;
    pthread_mutex_unlock(&c->mu);
    return go;
}

static void serve_log(hs_rstream *s, hs_node_changes *r)
{
    hs_gcall *c = s->call;
    hs_db *db = g_srv.db;
    for (;;) {
        if (!wait_turn(s))
            return;
        hs_node_change nc;
        int got = 0;
        hs_error err;
        memset(&err, 0, sizeof(err));
        int rc = hs_node_changes_next(r, &nc, &got, &err);
        if (rc != HS_OK) {
            pthread_mutex_lock(&c->mu);
            end_reader_error(s, rc, &err);
            pthread_mutex_unlock(&c->mu);
            return;
        }
        if (!got) { /* everything applied has gone out: live, wait for the next change */
            uint64_t pos = hs_node_changes_position(r);
            pthread_mutex_lock(&c->mu);
            s->live = true;
            s->pos = pos;
            pthread_mutex_unlock(&c->mu);
            hs_db_wait_applied(db, pos, IDLE_MS);
            continue;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        bool packed = pack_change(&nc, &buf, &len);
        pthread_mutex_lock(&c->mu);
        if (!packed)
            end_with(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
        else if (!s->end && send_bytes(c, buf, len)) {
            s->pos = nc.change.clock;
            __atomic_add_fetch(&records_sent, 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&c->mu);
        free(buf);
    }
}

/* The thread is done with s: the status when due (or a stuck message cancelled), out of the
 * list, its reference dropped. */
static void thread_exit(hs_rstream *s)
{
    hs_gcall *c = s->call;
    pthread_mutex_lock(&c->mu);
    end_with(s, GRPC_STATUS_INTERNAL, "Internal error: the stream ended"); /* when none yet */
    if (s->end_status == GRPC_STATUS_UNAVAILABLE)
        cancel_stuck(c);
    maybe_finish(c);
    pthread_mutex_unlock(&c->mu);
    unlist(s);
    pthread_mutex_lock(&c->mu);
    unref_unlock(c);
    pthread_mutex_lock(&list_mu);
    if (--nthreads == 0)
        pthread_cond_broadcast(&threads_cv);
    pthread_mutex_unlock(&list_mu);
}

static void *log_main(void *arg)
{
    hs_rstream *s = arg;
    hs_node_changes *r = NULL;
    hs_error err;
    memset(&err, 0, sizeof(err));
    s->pos = s->after;
    int rc = hs_node_changes_open_ex(g_srv.db, s->after,
                                     s->same_history ? HS_NODE_CHANGES_SAME_HISTORY : 0, &r, &err);
    hs_log(HS_LOG_INFO, "Replication stream to %s%s%s opened after clock %llu%s", s->peer,
           s->node_id[0] ? " (node " : "", s->node_id[0] ? s->node_id : "",
           (unsigned long long)s->after, s->node_id[0] ? ")" : "");
    if (rc != HS_OK) {
        pthread_mutex_lock(&s->call->mu);
        end_reader_error(s, rc, &err);
        pthread_mutex_unlock(&s->call->mu);
    } else {
        serve_log(s, r);
    }
    hs_node_changes_close(r);
    pthread_mutex_lock(&s->call->mu);
    hs_log(s->end_status == GRPC_STATUS_CANCELLED ? HS_LOG_INFO : HS_LOG_WARN,
           "Replication stream to %s ended at clock %llu: %s", s->peer,
           (unsigned long long)s->pos, s->end_msg);
    pthread_mutex_unlock(&s->call->mu);
    thread_exit(s);
    return NULL;
}

/* ---- the ReplicateSnapshot stream's thread ---------------------------------------------------- */

typedef struct snap_out {
    hs_rstream *s;
    uint8_t *buf; /* HS_REPL_CHUNK_BYTES */
    size_t n;
} snap_out;

/* Sends one SnapshotChunk once the previous one has gone out; false when the stream ended. */
static bool send_chunk(hs_rstream *s, const uint8_t *data, size_t n, uint64_t clock, bool last)
{
    Hyperspace__SnapshotChunk ch = HYPERSPACE__SNAPSHOT_CHUNK__INIT;
    ch.data.data = (uint8_t *)data;
    ch.data.len = n;
    ch.clock = clock;
    ch.last = last;
    uint8_t *buf = NULL;
    size_t len = 0;
    bool packed = pack(&ch.base, &buf, &len);
    hs_gcall *c = s->call;
    uint64_t deadline = hs_now_ns_srv() + SNAPSHOT_STALL_MS * 1000000ull;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (!packed)
            end_with(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
        else if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
            end_with(s, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
        else if (c->send_in_flight && hs_now_ns_srv() >= deadline)
            end_with(s, GRPC_STATUS_UNAVAILABLE, "The follower took no snapshot data for 30 s; "
                     "the snapshot stream was ended");
        if (s->end || !c->send_in_flight)
            break;
        timed_wait(&s->cv, &c->mu, IDLE_MS);
    }
    if (s->end)
        cancel_stuck(c);
    bool ok = !s->end && send_bytes(c, buf, len);
    pthread_mutex_unlock(&c->mu);
    free(buf);
    return ok;
}

static int snap_sink(void *ctx, const void *buf, size_t len)
{
    snap_out *o = ctx;
    const uint8_t *p = buf;
    while (len) {
        size_t k = HS_REPL_CHUNK_BYTES - o->n < len ? HS_REPL_CHUNK_BYTES - o->n : len;
        memcpy(o->buf + o->n, p, k);
        o->n += k;
        p += k;
        len -= k;
        if (o->n == HS_REPL_CHUNK_BYTES) {
            if (!send_chunk(o->s, o->buf, o->n, 0, false))
                return -ECANCELED;
            o->n = 0;
        }
    }
    return 0;
}

static void *snap_main(void *arg)
{
    hs_rstream *s = arg;
    hs_gcall *c = s->call;
    snap_out o = {s, malloc(HS_REPL_CHUNK_BYTES), 0};
    hs_snapshot_info info;
    memset(&info, 0, sizeof(info));
    hs_error err;
    memset(&err, 0, sizeof(err));
    int rc = o.buf ? hs_snapshot_write(g_srv.db, NULL, NULL, snap_sink, &o, &info, &err)
                   : HS_ENOMEM;
    if (rc == HS_OK && send_chunk(s, o.buf, o.n, info.clock, true)) {
        hs_log(HS_LOG_INFO, "Snapshot of the node at clock %llu (%llu bytes, %u collections) "
               "sent to %s%s%s", (unsigned long long)info.clock,
               (unsigned long long)info.bytes, info.collections, s->peer,
               s->node_id[0] ? " for node " : "", s->node_id);
        pthread_mutex_lock(&c->mu);
        end_with(s, GRPC_STATUS_OK, "");
        pthread_mutex_unlock(&c->mu);
    } else {
        pthread_mutex_lock(&c->mu);
        if (!s->end) { /* the stream did not end first: the snapshot failed */
            hs_fail f = {0};
            hs_fail_from_engine(&f, rc, &err);
            end_fail(s, &f);
        }
        hs_log(HS_LOG_WARN, "Snapshot stream to %s ended: %s", s->peer, s->end_msg);
        pthread_mutex_unlock(&c->mu);
    }
    free(o.buf);
    thread_exit(s);
    return NULL;
}

/* ---- opening a stream ------------------------------------------------------------------------ */

static void peer_of(hs_gcall *c, char *out, size_t cap)
{
    char *p = grpc_call_get_peer(c->call);
    const char *q = p ? p : "unknown";
    if (!strncmp(q, "ipv4:", 5) || !strncmp(q, "ipv6:", 5))
        q += 5;
    snprintf(out, cap, "%s", q);
    gpr_free(p);
}

/* A node id as the leader keeps it: the printable ASCII of v[0..n), at most cap - 1 bytes. */
static void node_id_copy(char *out, size_t cap, const char *v, size_t n)
{
    size_t k = 0;
    for (size_t j = 0; j < n && k + 1 < cap; j++)
        if (v[j] > 0x20 && v[j] < 0x7f)
            out[k++] = v[j];
    out[k] = 0;
}

/* The follower's node id from the request metadata ("" when it sent none). */
static void node_id_of(hs_gcall *c, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; i < c->md.count; i++)
        if (!grpc_slice_str_cmp(c->md.metadata[i].key, HS_REPL_NODE_ID_MD))
            return node_id_copy(out, cap,
                                (const char *)GRPC_SLICE_START_PTR(c->md.metadata[i].value),
                                GRPC_SLICE_LENGTH(c->md.metadata[i].value));
}

/* Whether the follower's epochs (request metadata HS_REPL_HISTORY_MD) put `after` in this node's
 * history: then what a replica reset of this node forgot does not concern it (repl_history.h;
 * the follower checks the same with what it really holds before it applies anything). */
static bool same_history(hs_gcall *c, uint64_t after)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (grpc_slice_str_cmp(c->md.metadata[i].key, HS_REPL_HISTORY_MD))
            continue;
        size_t n = GRPC_SLICE_LENGTH(c->md.metadata[i].value);
        char *wire = malloc(n + 1);
        if (!wire)
            return false;
        memcpy(wire, GRPC_SLICE_START_PTR(c->md.metadata[i].value), n);
        wire[n] = 0;
        uint64_t at;
        bool same = n <= HS_HISTORY_WIRE_CAP && hs_history_prefix(wire, after, &at) == 1;
        free(wire);
        return same;
    }
    return false;
}

/* Lists the stream, arms the close batch and starts its thread; false (and f set) when it
 * cannot (the caller answers). */
static bool stream_start(hs_gcall *c, hs_rstream *s, void *(*main_fn)(void *), hs_fail *f)
{
    pthread_mutex_lock(&list_mu);
    size_t *count = s->kind == KIND_LOG ? &nlog : &nsnap;
    if (stopping || *count >= HS_REPL_MAX_STREAMS) {
        pthread_mutex_unlock(&list_mu);
        if (stopping)
            return hs_fail_set(f, HS_ERR_SHUTTING_DOWN, "Server is shutting down"), false;
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Too many replication streams (at most %d at "
                           "once)", HS_REPL_MAX_STREAMS), false;
    }
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &a);
    pthread_condattr_destroy(&a);
    s->call = c;
    s->refs = 3;
    c->repl = s;
    c->stream = true;
    c->close_armed = true;
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&c->mu); /* the thread waits until the close batch is armed */
    bool started = pthread_create(&t, &ta, main_fn, s) == 0;
    pthread_attr_destroy(&ta);
    if (!started) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&list_mu);
        c->repl = NULL;
        c->stream = false;
        c->close_armed = false;
        pthread_cond_destroy(&s->cv);
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory"), false;
    }
    nthreads++;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_close, NULL) == GRPC_CALL_OK) {
        s->listed = true; /* a listed stream holds its close reference until it is unlisted */
        s->next = streams;
        streams = s;
        (*count)++;
    } else { /* no close completion will come: its reference goes now, the stream ends */
        s->refs--;
        c->closed = true;
        end_with(s, GRPC_STATUS_CANCELLED, "The client left");
    }
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&list_mu);
    return true;
}

static bool refuse_on_follower(hs_gcall *c)
{
    if (!__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE))
        return false;
    hs_fail f = {0};
    hs_fail_set(&f, HS_ERR_FOLLOWER_REPLICATE, "I am a follower, cannot replicate from me");
    hs_gcall_fail(c, &f);
    return true;
}

static hs_rstream *stream_new(hs_gcall *c, int kind)
{
    hs_rstream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->kind = kind;
    peer_of(c, s->peer, sizeof(s->peer));
    node_id_of(c, s->node_id, sizeof(s->node_id));
    return s;
}

void hs_repl_replicate(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__ReplicationRequest *r = hyperspace__replication_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    uint64_t after = r->last_logical_clock;
    hyperspace__replication_request__free_unpacked(r, NULL);
    if (refuse_on_follower(c))
        return;
    hs_fail f = {0};
    hs_rstream *s = stream_new(c, KIND_LOG);
    if (!s) {
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
        return hs_gcall_fail(c, &f);
    }
    s->after = after;
    s->same_history = after > 0 && same_history(c, after);
    if (s->node_id[0])
        follower_stream_opened(s->node_id, after, s->peer);
    if (!stream_start(c, s, log_main, &f)) {
        free(s);
        hs_gcall_fail(c, &f);
    }
}

void hs_repl_snapshot(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__ReplicationSnapshotRequest *r =
        hyperspace__replication_snapshot_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    char node_id[40];
    node_id_copy(node_id, sizeof(node_id), r->node_id, strlen(r->node_id));
    hyperspace__replication_snapshot_request__free_unpacked(r, NULL);
    if (refuse_on_follower(c))
        return;
    hs_fail f = {0};
    hs_rstream *s = stream_new(c, KIND_SNAPSHOT);
    if (!s) {
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
        return hs_gcall_fail(c, &f);
    }
    if (!s->node_id[0]) /* the request's when the metadata has none */
        memcpy(s->node_id, node_id, sizeof(node_id));
    hs_log(HS_LOG_INFO, "Streaming a snapshot of the node to %s%s%s", s->peer,
           s->node_id[0] ? " for node " : "", s->node_id);
    if (!stream_start(c, s, snap_main, &f)) {
        free(s);
        hs_gcall_fail(c, &f);
    }
}

void hs_repl_initial_md(hs_gcall *c)
{
    if (!c->rpc || (c->rpc->run != hs_repl_replicate && c->rpc->run != hs_repl_snapshot) ||
        __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE) || c->n_initial_md)
        return;
    c->initial_md[0].key = grpc_slice_from_static_string(HS_REPL_NODE_ID_MD);
    c->initial_md[0].value = grpc_slice_from_copied_string(g_srv.node_id);
    c->n_initial_md = 1;
    if (g_srv.cfg.sync_replicas && c->rpc->run == hs_repl_replicate) {
        /* writes wait for acknowledgements: the follower acknowledges as soon as it applied */
        c->initial_md[1].key = grpc_slice_from_static_string(HS_REPL_SYNC_MD);
        c->initial_md[1].value = grpc_slice_from_static_string("1");
        c->n_initial_md = 2;
    }
    char wire[HS_HISTORY_WIRE_CAP];
    hs_history_wire(wire, sizeof(wire));
    if (wire[0]) { /* where a follower's history parts from ours (repl_history.h) */
        c->initial_md[c->n_initial_md].key = grpc_slice_from_static_string(HS_REPL_HISTORY_MD);
        c->initial_md[c->n_initial_md].value = grpc_slice_from_copied_string(wire);
        c->n_initial_md++;
    }
}

/* ---- synchronous acknowledgement ---------------------------------------------------------------- */

static void fol_cv_init(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fol_cv, &ca);
    pthread_condattr_destroy(&ca);
}

/* Followers whose acknowledged durable watermark is at or above clock (fol_mu held). */
static uint32_t confirmed_locked(uint64_t clock)
{
    uint32_t n = 0;
    for (size_t i = 0; i < HS_REPL_MAX_FOLLOWERS; i++)
        n += fols[i].used && fols[i].watermark >= clock;
    return n;
}

static __thread int request_sync = -1; /* the running request's own, -1 = none */

int hs_repl_sync_parse(const char *v, size_t len, int *out, hs_fail *f)
{
    char text[16];
    unsigned long n = 0;
    bool ok = len > 0 && len < sizeof(text);
    if (ok) {
        memcpy(text, v, len);
        text[len] = 0;
        for (size_t i = 0; i < len && ok; i++)
            ok = text[i] >= '0' && text[i] <= '9';
        n = ok ? strtoul(text, NULL, 10) : 0;
    }
    if (!ok || n > HS_REPL_SYNC_MAX)
        return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "%s must be a whole number from 0 to %d "
                           "(got '%.*s')", HS_REPL_SYNC_MD_REQUEST, HS_REPL_SYNC_MAX,
                           (int)(len > 32 ? 32 : len), v), -1;
    *out = (int)n;
    return 0;
}

void hs_repl_sync_request(int n)
{
    request_sync = n;
}

uint32_t hs_repl_sync_need(void)
{
    uint32_t node = g_srv.cfg.sync_replicas;
    return request_sync > (int)node ? (uint32_t)request_sync : node;
}

int hs_repl_sync_wait(uint64_t clock, hs_fail *f)
{
    uint32_t need = hs_repl_sync_need();
    if (!need || !clock || __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE))
        return 0;
    pthread_once(&fol_cv_once, fol_cv_init);
    uint32_t ms = g_srv.cfg.sync_timeout_ms;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&fol_mu);
    uint32_t got;
    while ((got = confirmed_locked(clock)) < need &&
           pthread_cond_timedwait(&fol_cv, &fol_mu, &until) != ETIMEDOUT)
        ;
    got = confirmed_locked(clock);
    pthread_mutex_unlock(&fol_mu);
    if (got >= need)
        return 0;
    __atomic_add_fetch(&sync_timeouts, 1, __ATOMIC_RELAXED);
    return hs_fail_set(f, HS_ERR_REPL_TIMEOUT, "The write (clock %llu) was confirmed by %u of the "
                       "%u followers required within %u ms; it is durable on the leader and "
                       "reaches the followers when they catch up", (unsigned long long)clock, got,
                       need, ms);
}

uint64_t hs_repl_leader_sync_timeouts(void)
{
    return __atomic_load_n(&sync_timeouts, __ATOMIC_RELAXED);
}

/* ---- ReplicationAck ---------------------------------------------------------------------------- */

void hs_repl_ack(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__ReplicationAckRequest *r =
        hyperspace__replication_ack_request__unpack(NULL, len, msg);
    if (!r)
        return hs_grpc_bad_message(c);
    hs_fail f = {0};
    size_t idn = strlen(r->node_id);
    if (__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE))
        hs_fail_set(&f, HS_ERR_FOLLOWER_REPLICATE, "I am a follower, cannot replicate from me");
    else if (idn == 0 || idn >= sizeof(fols[0].node_id))
        hs_fail_set(&f, HS_ERR_INVALID_ARGUMENT, "node_id must be 1 to %zu characters (got %zu)",
                    sizeof(fols[0].node_id) - 1, idn);
    else if (strlen(r->address) >= sizeof(fols[0].address))
        hs_fail_set(&f, HS_ERR_INVALID_ARGUMENT, "address must be at most %zu characters",
                    sizeof(fols[0].address) - 1);
    if (f.id) {
        hyperspace__replication_ack_request__free_unpacked(r, NULL);
        return hs_gcall_fail(c, &f);
    }
    uint64_t applied = hs_db_applied_clock(g_srv.db);
    pthread_mutex_lock(&fol_mu);
    uint64_t now = hs_now_ns_srv();
    sample_locked(applied, now);
    follower *fo = follower_of(r->node_id);
    fo->watermark = r->durable_clock;
    if (r->address[0])
        snprintf(fo->address, sizeof(fo->address), "%s", r->address);
    fo->last_ack_ms = unix_ms();
    fo->seen_ns = now;
    pthread_once(&fol_cv_once, fol_cv_init);
    pthread_cond_broadcast(&fol_cv); /* writes waiting for acknowledgements */
    pthread_mutex_unlock(&fol_mu);
    char text[80];
    snprintf(text, sizeof(text), "Acknowledged clock %llu", (unsigned long long)r->durable_clock);
    hyperspace__replication_ack_request__free_unpacked(r, NULL);
    hs_grpc_status_reply(c, text);
}

/* ---- status ------------------------------------------------------------------------------------ */

void hs_repl_leader_status_get(hs_repl_leader_status *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t applied = hs_db_applied_clock(g_srv.db);
    out->applied_clock = applied;
    char ids[HS_REPL_MAX_STREAMS][40];
    size_t nids = 0;
    pthread_mutex_lock(&list_mu);
    for (hs_rstream *s = streams; s; s = s->next) {
        if (s->kind != KIND_LOG)
            continue;
        if (out->npeers < HS_REPL_MAX_STREAMS)
            snprintf(out->peers[out->npeers++], sizeof(out->peers[0]), "%s", s->peer);
        if (s->node_id[0] && nids < HS_REPL_MAX_STREAMS)
            memcpy(ids[nids++], s->node_id, sizeof(ids[0]));
    }
    pthread_mutex_unlock(&list_mu);
    pthread_mutex_lock(&fol_mu);
    uint64_t now = hs_now_ns_srv();
    sample_locked(applied, now);
    for (size_t i = 0; i < HS_REPL_MAX_FOLLOWERS; i++) {
        const follower *f = &fols[i];
        if (!f->used)
            continue;
        hs_repl_follower_info *o = &out->followers[out->nfollowers++];
        memcpy(o->node_id, f->node_id, sizeof(o->node_id));
        memcpy(o->address, f->address, sizeof(o->address));
        o->watermark = f->watermark;
        o->lag_records = applied > f->watermark ? applied - f->watermark : 0;
        o->lag_seconds = lag_seconds_locked(f->watermark, applied, now);
        o->last_ack_ms = f->last_ack_ms;
        for (size_t k = 0; k < nids && !o->connected; k++)
            o->connected = !strcmp(ids[k], f->node_id);
        /* in sync: connected and caught up, or behind for less than the sync timeout */
        o->in_sync = o->connected &&
                     (o->lag_records == 0 || o->lag_seconds * 1000 < g_srv.cfg.sync_timeout_ms);
    }
    pthread_mutex_unlock(&fol_mu);
}

uint64_t hs_repl_leader_streams(void)
{
    pthread_mutex_lock(&list_mu);
    uint64_t n = nlog;
    pthread_mutex_unlock(&list_mu);
    return n;
}

uint64_t hs_repl_leader_records_sent(void)
{
    return __atomic_load_n(&records_sent, __ATOMIC_RELAXED);
}

/* The follower's own replication into rs (strings in the buffers). */
static void follower_state(Hyperspace__ReplicationState *rs, char *leader_id, size_t id_cap,
                           char *last_error, size_t err_cap, char *check, size_t check_cap)
{
    hs_repl_follower_last_check(&rs->last_digest_check_ms, check, check_cap);
    rs->last_digest_check = check;
    rs->digest_checks = hs_repl_follower_digest_checks();
    rs->digest_mismatches = hs_repl_follower_digest_mismatches();
    hs_repl_follower_leader_id(leader_id, id_cap);
    hs_repl_follower_last_error(last_error, err_cap);
    rs->connected = hs_repl_follower_connected() != 0;
    rs->leader_node_id = leader_id;
    rs->watermark = hs_repl_follower_watermark();
    rs->reconnects = hs_repl_follower_reconnects();
    rs->last_error = last_error;
    rs->leader_changes_continued = hs_repl_follower_continued();
    rs->full_resyncs = hs_repl_follower_resyncs();
}

void hs_repl_cluster_status(hs_gcall *c, const uint8_t *msg, size_t len)
{
    (void)msg;
    (void)len;
    bool is_follower = __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE);
    Hyperspace__ClusterStatusResponse out = HYPERSPACE__CLUSTER_STATUS_RESPONSE__INIT;
    Hyperspace__ReplicationState rs = HYPERSPACE__REPLICATION_STATE__INIT;
    char leader_id[64], last_error[512], check[200];
    hs_repl_leader_status *st = calloc(1, sizeof(*st));
    Hyperspace__FollowerStatus *fs = calloc(HS_REPL_MAX_FOLLOWERS, sizeof(*fs));
    Hyperspace__FollowerStatus **fp = calloc(HS_REPL_MAX_FOLLOWERS, sizeof(*fp));
    char **peers = calloc(HS_REPL_MAX_STREAMS, sizeof(*peers));
    out.node_id = g_srv.node_id;
    out.role = is_follower ? "Follower" : "Leader";
    out.upstream_peer = is_follower ? g_srv.cfg.leader : "";
    out.logical_clock = hs_db_clock(g_srv.db);
    char epoch[24] = "";
    uint64_t epoch_id;
    hs_history_current(&epoch_id, &out.epoch_start);
    if (epoch_id)
        snprintf(epoch, sizeof(epoch), "%016llx", (unsigned long long)epoch_id);
    out.epoch_id = epoch;
    if (!st || !fs || !fp || !peers) {
        hs_gcall_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    } else if (is_follower) {
        follower_state(&rs, leader_id, sizeof(leader_id), last_error, sizeof(last_error), check,
                       sizeof(check));
        out.replication = &rs;
        hs_grpc_reply(c, &out.base);
    } else {
        hs_repl_leader_status_get(st);
        for (size_t i = 0; i < st->npeers; i++)
            peers[i] = st->peers[i];
        out.n_downstream_peers = st->npeers;
        out.downstream_peers = peers;
        for (size_t i = 0; i < st->nfollowers; i++) {
            const hs_repl_follower_info *f = &st->followers[i];
            hyperspace__follower_status__init(&fs[i]);
            fs[i].node_id = (char *)f->node_id;
            fs[i].address = (char *)f->address;
            fs[i].watermark = f->watermark;
            fs[i].lag_records = f->lag_records;
            fs[i].lag_seconds = f->lag_seconds;
            fs[i].connected = f->connected;
            fs[i].last_ack_ms = f->last_ack_ms;
            fs[i].in_sync = f->in_sync;
            fp[i] = &fs[i];
        }
        out.n_followers = st->nfollowers;
        out.followers = fp;
        hs_grpc_reply(c, &out.base);
    }
    free(peers);
    free(fp);
    free(fs);
    free(st);
}

/* ---- start and stop ---------------------------------------------------------------------------- */

void hs_repl_leader_start(void)
{
    pthread_mutex_lock(&list_mu);
    __atomic_store_n(&stopping, false, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&list_mu);
    sampler_running = pthread_create(&sampler, NULL, sampler_main, NULL) == 0;
}

void hs_repl_leader_stop(void)
{
    pthread_mutex_lock(&list_mu);
    __atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
    for (hs_rstream *s = streams; s; s = s->next) {
        hs_gcall *c = s->call;
        pthread_mutex_lock(&c->mu);
        end_with(s, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
        cancel_stuck(c);
        pthread_mutex_unlock(&c->mu);
    }
    while (nthreads)
        pthread_cond_wait(&threads_cv, &list_mu);
    pthread_mutex_unlock(&list_mu);
    if (sampler_running)
        pthread_join(sampler, NULL);
    sampler_running = false;
}
