/*
 * repl_follower.c: the replication client of a follower (spec behaviour.md B11.3-B11.5,
 * grpc.md section 5.2, the replication contract's follower part).
 *
 * One thread owns everything here except the status fields.  It loops over sessions: a fresh
 * channel to the leader (keepalive ping every 10 s, timeout 10 s), one Replicate call from the
 * watermark, the records applied in order with the leader's clocks (hs_db_replicate; runs of
 * upserts of one collection with consecutive clocks go together to hs_db_replicate_upserts), and
 * then a wait before the next session: 0.5 s doubling to 30 s, each randomised by +-20 %, back
 * to 0.5 s after a session that delivered a record or stayed open 30 s (B11.3).
 *
 *   watermark   the highest clock applied (in memory, atomic).  Records are applied without
 *               waiting for an fsync (strict nodes excepted: repl_apply.c); the node's logs are
 *               synced (hs_db_sync) once the stream is quiet for the node's group-commit
 *               interval (batch mode; 0.1 s in async mode) and at least every 0.1 s (batch) or
 *               1 s (async) while it is busy, and at every stream end.  What was applied before
 *               a sync is the durable watermark: it is reported to the leader with
 *               ReplicationAck and written to <data dir>/.replication (at most once per second
 *               and at stream end).  After a crash the follower resumes from the file; records
 *               re-sent above it are skipped by the engine's clock rules, so the file may lag
 *               what is applied.
 *   leader id   the leader's node id (initial metadata x-hyperspace-node-id), kept in the same
 *               file.  A different one (or a first one while local collections exist) means a
 *               new leader: every local collection and drop note is forgotten
 *               (hs_db_replica_reset), the watermark is 0, the new id is persisted, then the
 *               follower connects again (B11.5).
 *   bootstrap   a stream ending FAILED_PRECONDITION with trailing metadata x-hyperspace-resync:
 *               snapshot means the leader's log no longer holds what follows the watermark: the
 *               archive of ReplicateSnapshot is stored (hs_snapshot_import), every local
 *               collection and drop note forgotten (hs_db_replica_reset: no drop of this node
 *               may skip the leader's creates, none may reach a reader of a promoted node;
 *               readers from below the archive's clock bootstrap), the archive restored and
 *               the watermark set to its clock.
 *               Watermark 0 is persisted before anything is dropped, so a crash in between
 *               starts the bootstrap again instead of resuming on half a state.
 *
 *   checks      after each catch-up (the first POLL_MS of a session without a record) and every
 *               --repl-verify-sec, with nothing left to apply: the digests are compared with
 *               the leader's (repl_verify.c); a mismatch ends the session as a resync, so the
 *               snapshot bootstrap above repairs it.
 *
 * Stopping (promotion, shutdown): hs_repl_follower_stop sets `stop` and cancels the call in flight
 * under F.lock; the thread notices within 200 ms at most (every wait on the completion queue is
 * bounded), drains its calls, syncs and persists, and returns; the caller joins it.
 * Locking: F.lock guards the fields marked (lock); the counters are atomics; stop_lock
 * serialises callers of hs_repl_follower_stop so that each returns only once the thread is gone.
 */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/grpc_int.h"
#include "server/repl.h"
#include "server/repl_apply.h"
#include "server/repl_history.h"
#include "server/repl_verify.h"
#include "util/log.h"

#define STATE_FILE ".replication"
#define BOOT_ARCHIVE "replication-bootstrap.hsnap"
#define POLL_MS 200                    /* the longest wait on the queue (stop latency) */
#define GATHER_MS 2                    /* how long a pending batch waits for the next record */
/* A quiet stream is synced (then acknowledged) this long after its last apply: the node's
 * group-commit interval in batch mode, SYNC_QUIET_S otherwise; a busy one at least every
 * SYNC_BUSY_BATCH_S (batch) or SYNC_BUSY_S (async). */
#define SYNC_QUIET_S 0.1
#define SYNC_BUSY_BATCH_S 0.1
#define SYNC_BUSY_S 1.0
#define PERSIST_S 1.0                  /* the state file at most this often while applying */
#define ACK_DEADLINE_S 10
#define ACK_MIN_S 0.1                  /* between acknowledgements (a failing one is retried) */
#define BACKOFF_FIRST_S 0.5
#define BACKOFF_MAX_S 30.0
#define HEALTHY_OPEN_S 30.0            /* a stream open this long resets the backoff */

/* completion-queue tags */
enum { T_SEND = 1, T_INIT, T_MSG, T_STATUS, T_ACK };
#define TAG(k) ((void *)(intptr_t)(k))

typedef struct follower {
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* stop requests (lock) */
    bool running;             /* (lock) the thread exists and was not joined */
    bool stop;                /* (lock) */
    grpc_call *active;        /* (lock) the Replicate or snapshot call to cancel on stop */
    char leader_id[64];       /* (lock) persisted leader node id */
    pthread_t thread;
    /* atomics */
    int connected;
    uint64_t reconnects;
    /* the client thread's own */
    grpc_completion_queue *cq;
    grpc_channel *ch;
    void *m_replicate, *m_snapshot, *m_ack;
    uint64_t durable;         /* synced (hs_db_sync) watermark */
    uint64_t persisted;       /* watermark in the state file */
    char persisted_leader[64];
    double last_sync, last_persist;
    /* the acknowledgement in flight (one at a time) */
    grpc_call *ack;
    grpc_byte_buffer *ack_send, *ack_reply;
    grpc_metadata_array ack_init, ack_trail;
    grpc_status_code ack_status;
    grpc_slice ack_details;
    uint64_t acked, ack_clock;
    double last_ack;
    bool ack_unimplemented;
    bool sync_mode;           /* the leader waits for acknowledgements (HS_REPL_SYNC_MD) */
    bool sync_failed, ack_failed; /* the last sync / acknowledgement failed: no hurry then */
    double last_verify;       /* when the last convergence check ran (repl_verify.c) */
    char leader_hist[HS_HISTORY_WIRE_CAP + 64]; /* the leader's epochs as its last call gave */
    char send_hist[HS_HISTORY_WIRE_CAP];        /* ours, sent with the Replicate in flight */
    /* atomics: leader changes taken without a resync, full resyncs (reset or snapshot) */
    uint64_t continued, resyncs;
} follower;

static follower F = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void) { return (double)hs_now_ns_srv() / 1e9; }

static bool stopping(void)
{
    pthread_mutex_lock(&F.lock);
    bool s = F.stop;
    pthread_mutex_unlock(&F.lock);
    return s;
}

/* ---- status ------------------------------------------------------------------------------ */

uint64_t hs_repl_follower_connected(void)
{
    return (uint64_t)__atomic_load_n(&F.connected, __ATOMIC_ACQUIRE);
}

uint64_t hs_repl_follower_continued(void)
{
    return __atomic_load_n(&F.continued, __ATOMIC_RELAXED);
}

uint64_t hs_repl_follower_resyncs(void)
{
    return __atomic_load_n(&F.resyncs, __ATOMIC_RELAXED);
}

uint64_t hs_repl_follower_reconnects(void)
{
    return __atomic_load_n(&F.reconnects, __ATOMIC_RELAXED);
}

void hs_repl_follower_leader_id(char *buf, size_t cap)
{
    pthread_mutex_lock(&F.lock);
    snprintf(buf, cap, "%s", F.leader_id);
    pthread_mutex_unlock(&F.lock);
}

/* ---- the state file -------------------------------------------------------------------------- */

static int state_path(char *buf, size_t cap, const char *suffix)
{
    int n = snprintf(buf, cap, "%s/%s%s", g_srv.cfg.data_dir, STATE_FILE, suffix);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Reads the state file into F (watermark, leader id).  A missing file is a new follower; an
 * unreadable one is logged and treated as none (the leader id is then unknown, so local
 * collections are dropped at the first connection: nothing stale survives). */
static void state_load(void)
{
    char path[1200];
    if (state_path(path, sizeof(path), ""))
        return;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno != ENOENT)
            hs_log(HS_LOG_WARN, "replication: cannot read %s: %s; starting without a leader",
                   path, strerror(errno));
        return;
    }
    char text[512];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *j = cJSON_Parse(text);
    const cJSON *id = j ? cJSON_GetObjectItemCaseSensitive(j, "leader_node_id") : NULL;
    const cJSON *w = j ? cJSON_GetObjectItemCaseSensitive(j, "watermark") : NULL;
    if (!cJSON_IsString(id) || !cJSON_IsNumber(w) || w->valuedouble < 0 ||
        strlen(id->valuestring) >= sizeof(F.leader_id)) {
        hs_log(HS_LOG_WARN, "replication: %s is not valid; starting without a leader", path);
        cJSON_Delete(j);
        return;
    }
    /* the watermark read exactly from its digits (a double holds only 53 bits); the leader id
     * (checked by id_ok when received) cannot contain the member's name */
    unsigned long long wm = (unsigned long long)w->valuedouble;
    const char *at = strstr(text, "\"watermark\"");
    at = at ? strchr(at, ':') : NULL;
    if (at)
        wm = strtoull(at + 1, NULL, 10);
    pthread_mutex_lock(&F.lock);
    snprintf(F.leader_id, sizeof(F.leader_id), "%s", id->valuestring);
    pthread_mutex_unlock(&F.lock);
    snprintf(F.persisted_leader, sizeof(F.persisted_leader), "%s", id->valuestring);
    hs_repl_set_watermark(wm);
    F.durable = F.persisted = F.acked = wm;
    cJSON_Delete(j);
}

/* Writes {leader id, watermark w} atomically (temporary file, fsync, rename, directory fsync). */
static int state_write(const char *leader_id, uint64_t w)
{
    char path[1200], tmp[1210], text[256];
    if (state_path(path, sizeof(path), "") || state_path(tmp, sizeof(tmp), ".tmp"))
        return -1;
    cJSON *s = cJSON_CreateString(leader_id);
    char *quoted = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    if (!quoted)
        return -1;
    int len = snprintf(text, sizeof(text), "{\"leader_node_id\":%s,\"watermark\":%llu}\n", quoted,
                       (unsigned long long)w);
    free(quoted);
    if (len <= 0 || (size_t)len >= sizeof(text))
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    int rc = write(fd, text, (size_t)len) == len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc || rename(tmp, path) != 0)
        goto fail;
    int dfd = open(g_srv.cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    F.persisted = w;
    snprintf(F.persisted_leader, sizeof(F.persisted_leader), "%s", leader_id);
    F.last_persist = now_s();
    return 0;
fail:
    hs_log(HS_LOG_ERROR, "replication: cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

static void leader_id(char *buf, size_t cap) { hs_repl_follower_leader_id(buf, cap); }

/* Makes every applied record durable; the durable watermark is then what was applied before. */
static int sync_now(void)
{
    uint64_t w = hs_repl_watermark();
    F.last_sync = now_s();
    if (w == F.durable)
        return 0;
    hs_error err;
    if (hs_db_sync(g_srv.db, &err) != HS_OK) {
        hs_log(HS_LOG_ERROR, "replication: sync failed: %s", err.message);
        hs_repl_error("sync failed: %s", err.message);
        hs_repl_count_errors(1);
        F.sync_failed = true;
        return -1;
    }
    F.sync_failed = false;
    F.durable = w;
    return 0;
}

static void persist_durable(void)
{
    char id[64];
    leader_id(id, sizeof(id));
    if (F.durable != F.persisted || strcmp(id, F.persisted_leader))
        state_write(id, F.durable);
}

/* ---- calls --------------------------------------------------------------------------------- */

static void open_channel(void)
{
    grpc_arg args[7];
    int i = 0;
    const int msg_max = 64 << 20; /* grpc.md section 1 */
    args[i++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = msg_max}};
    args[i++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = msg_max}};
    /* B11.3: ping every 10 s, dead after 10 s more; pings also while no record flows */
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 10000}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 10000}};
    args[i++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}};
    /* the session loop does the backing off; a transparent retry would hide a stream end */
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}};
    grpc_channel_args ca = {(size_t)i, args};
    grpc_channel_credentials *cred = grpc_insecure_credentials_create();
    F.ch = grpc_channel_create(g_srv.cfg.leader_target, cred, &ca);
    grpc_channel_credentials_release(cred);
    F.m_replicate = grpc_channel_register_call(F.ch, "/hyperspace.Database/Replicate", NULL, NULL);
    F.m_snapshot =
        grpc_channel_register_call(F.ch, "/hyperspace.Database/ReplicateSnapshot", NULL, NULL);
    F.m_ack = grpc_channel_register_call(F.ch, "/hyperspace.Database/ReplicationAck", NULL, NULL);
}

static void close_channel(void)
{
    if (F.ch)
        grpc_channel_destroy(F.ch);
    F.ch = NULL;
}

static gpr_timespec after_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* The request metadata of every call: this node's id (the leader tells its followers' streams
 * apart by it) and the x-api-key the follower presents (HS_LEADER_API_KEY) when set. */
static size_t call_md(grpc_metadata md[2])
{
    size_t n = 0;
    md[n].key = grpc_slice_from_static_string(HS_REPL_NODE_ID_MD);
    md[n++].value = grpc_slice_from_static_string(g_srv.node_id);
    if (g_srv.cfg.leader_api_key[0]) {
        md[n].key = grpc_slice_from_static_string("x-api-key");
        md[n++].value = grpc_slice_from_static_string(g_srv.cfg.leader_api_key);
    }
    return n;
}

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
    grpc_slice s = grpc_slice_malloc(protobuf_c_message_get_packed_size(m));
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *b = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return b;
}

/* A node id as a leader may send it (a UUID; letters, digits, '-', '_', '.'), so that it is
 * safe in the state file and in logs. */
static bool id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("-_.", id[i]))
            return false;
    return true;
}

static bool md_value(const grpc_metadata_array *a, const char *key, char *out, size_t cap)
{
    for (size_t i = 0; i < a->count; i++)
        if (!grpc_slice_str_cmp(a->metadata[i].key, key)) {
            size_t n = GRPC_SLICE_LENGTH(a->metadata[i].value);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, GRPC_SLICE_START_PTR(a->metadata[i].value), n);
            out[n] = 0;
            return true;
        }
    return false;
}

/* A server-streaming call: the request sent and the client's side closed (T_SEND), the initial
 * metadata (T_INIT) and the status (T_STATUS) asked for.  Messages are asked for one at a time
 * (recv_next, T_MSG).  The call is registered as F.active so that a stop cancels it. */
typedef struct stream {
    grpc_call *call;
    grpc_byte_buffer *send;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *recv;
    int pending;              /* batches started and not completed */
    bool got_init, got_status, recv_armed, cancelled;
} stream;

static int stream_open(stream *s, void *method, const ProtobufCMessage *req)
{
    memset(s, 0, sizeof(*s));
    grpc_metadata_array_init(&s->init_md);
    grpc_metadata_array_init(&s->trail_md);
    s->details = grpc_empty_slice();
    s->call = grpc_channel_create_registered_call(F.ch, NULL, GRPC_PROPAGATE_DEFAULTS, F.cq,
                                                  method, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                  NULL);
    pthread_mutex_lock(&F.lock);
    bool stop = F.stop;
    if (!stop)
        F.active = s->call;
    pthread_mutex_unlock(&F.lock);
    if (stop)
        grpc_call_cancel(s->call, NULL);
    s->send = pack(req);
    grpc_metadata md[3];
    size_t nmd = call_md(md);
    if (method == F.m_replicate && F.send_hist[0]) { /* where our position lies (leader side) */
        md[nmd].key = grpc_slice_from_static_string(HS_REPL_HISTORY_MD);
        md[nmd++].value = grpc_slice_from_static_string(F.send_hist);
    }
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    grpc_call_error e1 = grpc_call_start_batch(s->call, ops, 3, TAG(T_SEND), NULL);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[0].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    grpc_call_error e2 = grpc_call_start_batch(s->call, ops, 1, TAG(T_INIT), NULL);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    grpc_call_error e3 = grpc_call_start_batch(s->call, ops, 1, TAG(T_STATUS), NULL);
    s->pending = (e1 == GRPC_CALL_OK) + (e2 == GRPC_CALL_OK) + (e3 == GRPC_CALL_OK);
    if (e1 != GRPC_CALL_OK || e2 != GRPC_CALL_OK || e3 != GRPC_CALL_OK) {
        hs_log(HS_LOG_ERROR, "replication: cannot start a call (%d %d %d)", e1, e2, e3);
        grpc_call_cancel(s->call, NULL);
        s->cancelled = true;
        return -1;
    }
    return 0;
}

static void recv_next(stream *s)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    s->recv = NULL;
    if (grpc_call_start_batch(s->call, &op, 1, TAG(T_MSG), NULL) == GRPC_CALL_OK) {
        s->pending++;
        s->recv_armed = true;
    }
}

static void stream_cancel(stream *s)
{
    if (!s->cancelled)
        grpc_call_cancel(s->call, NULL);
    s->cancelled = true;
}

static void stream_close(stream *s)
{
    pthread_mutex_lock(&F.lock);
    if (F.active == s->call)
        F.active = NULL;
    pthread_mutex_unlock(&F.lock);
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_byte_buffer_destroy(s->send);
    grpc_metadata_array_destroy(&s->init_md);
    grpc_metadata_array_destroy(&s->trail_md);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
    memset(s, 0, sizeof(*s));
}

/* The status as "NAME: details" for logs and last_error. */
static void status_text(const stream *s, char *buf, size_t cap)
{
    char *d = grpc_slice_to_c_string(s->details);
    snprintf(buf, cap, "%s: %s", hs_grpc_status_name(s->status), d && *d ? d : "(no details)");
    gpr_free(d);
}

/* A message's bytes (the caller frees the slice). */
static grpc_slice take_message(stream *s)
{
    grpc_byte_buffer_reader rd;
    grpc_byte_buffer_reader_init(&rd, s->recv);
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    grpc_byte_buffer_destroy(s->recv);
    s->recv = NULL;
    return all;
}

/* ---- acknowledgements ------------------------------------------------------------------------ */

/* Sends ReplicationAck(durable watermark) unless one is in flight or the leader lacks the RPC. */
static void ack_send(void)
{
    if (F.ack || F.ack_unimplemented || F.durable == F.acked || !F.ch ||
        ((!F.sync_mode || F.ack_failed) && now_s() - F.last_ack < ACK_MIN_S))
        return;
    F.last_ack = now_s();
    char addr[320];
    snprintf(addr, sizeof(addr), strchr(g_srv.cfg.host, ':') ? "[%s]:%d" : "%s:%d",
             g_srv.cfg.host, g_srv.cfg.grpc_port);
    Hyperspace__ReplicationAckRequest req = HYPERSPACE__REPLICATION_ACK_REQUEST__INIT;
    req.node_id = g_srv.node_id;
    req.durable_clock = F.durable;
    req.address = addr;
    F.ack_clock = F.durable;
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_seconds(ACK_DEADLINE_S, GPR_TIMESPAN));
    F.ack = grpc_channel_create_registered_call(F.ch, NULL, GRPC_PROPAGATE_DEFAULTS, F.cq,
                                                F.m_ack, deadline, NULL);
    F.ack_send = pack(&req.base);
    grpc_metadata_array_init(&F.ack_init);
    grpc_metadata_array_init(&F.ack_trail);
    F.ack_details = grpc_empty_slice();
    grpc_metadata md[2];
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = call_md(md);
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = F.ack_send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &F.ack_init;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &F.ack_reply;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &F.ack_trail;
    ops[5].data.recv_status_on_client.status = &F.ack_status;
    ops[5].data.recv_status_on_client.status_details = &F.ack_details;
    F.ack_reply = NULL;
    if (grpc_call_start_batch(F.ack, ops, 6, TAG(T_ACK), NULL) != GRPC_CALL_OK) {
        hs_log(HS_LOG_ERROR, "replication: cannot start ReplicationAck");
        grpc_call_unref(F.ack);
        F.ack = NULL;
        grpc_byte_buffer_destroy(F.ack_send);
        grpc_metadata_array_destroy(&F.ack_init);
        grpc_metadata_array_destroy(&F.ack_trail);
        return;
    }
}

static void ack_done(bool ok)
{
    F.ack_failed = !(ok && F.ack_status == GRPC_STATUS_OK);
    if (ok && F.ack_status == GRPC_STATUS_OK) {
        F.acked = F.ack_clock;
    } else if (F.ack_status == GRPC_STATUS_UNIMPLEMENTED) {
        F.ack_unimplemented = true;
        hs_log(HS_LOG_INFO, "replication: the leader takes no ReplicationAck; not acknowledging");
    } else if (F.ack_status != GRPC_STATUS_CANCELLED) {
        char *d = grpc_slice_to_c_string(F.ack_details);
        hs_log(HS_LOG_DEBUG, "replication: ReplicationAck failed: %s: %s",
               hs_grpc_status_name(F.ack_status), d ? d : "");
        gpr_free(d);
    }
    if (F.ack_reply)
        grpc_byte_buffer_destroy(F.ack_reply);
    grpc_byte_buffer_destroy(F.ack_send);
    grpc_metadata_array_destroy(&F.ack_init);
    grpc_metadata_array_destroy(&F.ack_trail);
    grpc_slice_unref(F.ack_details);
    grpc_call_unref(F.ack);
    F.ack = NULL;
    F.ack_reply = F.ack_send = NULL;
}

/* B11.5: a new leader.  Local data goes first, then the new id is persisted with watermark 0
 * (a crash in between finds the old id still recorded and drops again). */
static int take_new_leader(const char *id)
{
    if (hs_repl_reset(0))
        return -1;
    __atomic_fetch_add(&F.resyncs, 1, __ATOMIC_RELAXED);
    /* nothing held: the leader's epochs (none from a leader without them) are ours; a crash
     * before this resets again */
    if (hs_history_adopt(F.leader_hist))
        return -1;
    hs_repl_set_watermark(0);
    F.durable = F.acked = 0;
    F.ack_unimplemented = false;
    pthread_mutex_lock(&F.lock);
    snprintf(F.leader_id, sizeof(F.leader_id), "%s", id);
    pthread_mutex_unlock(&F.lock);
    return state_write(id, 0);
}

/* ---- one Replicate stream -------------------------------------------------------------------- */

/* END_AGAIN: a new call at once (the watermark changed after the request went out) */
typedef enum end_kind { END_RETRY, END_RESYNC, END_NEW_LEADER, END_STOP, END_AGAIN } end_kind;

typedef struct session {
    stream st;
    hs_repl_batch *b;
    bool accepted;     /* the leader's id checked: records are applied */
    bool no_id;        /* the leader sent no node id */
    bool abort;        /* records are no longer applied (an error, a new leader) */
    end_kind end;
    uint64_t delivered;
    double opened;
    char new_leader[64];
    bool verify_due;   /* a convergence check at the first quiet moment (after catch-up) */
} session;

static void session_abort(session *s, end_kind e)
{
    if (s->abort)
        return;
    s->abort = true;
    s->end = e;
    stream_cancel(&s->st);
}

/* Waits until nothing this node ticked itself is still being applied (a write of a leader
 * that just lost its key); false after 5 s. */
static bool writes_settled(void)
{
    for (int i = 0; i < 50; i++) {
        uint64_t clock = hs_db_clock(g_srv.db);
        if (hs_db_applied_clock(g_srv.db) >= clock)
            return true;
        hs_db_wait_applied(g_srv.db, clock - 1, 100);
    }
    return false;
}

/* Issue 15 item 4: this node goes on with the leader when what it holds is a prefix of the
 * leader's history (repl_history.h); a diverged node resyncs fully.  1: go on (the leader's
 * epochs adopted, a new leader recorded); 0: the session ends (a resync, or a retry);
 * -1: the leader's epochs do not parse (the session ends). */
static int check_history(session *s, const char *id, const char *cur)
{
    bool own = !cur[0] && hs_repl_has_collections(); /* a former leader's data */
    if (own && !writes_settled()) {
        hs_log(HS_LOG_WARN, "replication: writes of this node are still being applied; "
               "retrying");
        session_abort(s, END_RETRY);
        return 0;
    }
    uint64_t held = hs_db_held_clock(g_srv.db), at;
    int p = hs_history_prefix(F.leader_hist, held, &at);
    if (p < 0) {
        hs_log(HS_LOG_ERROR, "replication: the epochs the leader %s sent do not parse; not "
               "following it", id);
        hs_repl_error("the leader's %s does not parse", HS_REPL_HISTORY_MD);
        hs_repl_count_errors(1);
        session_abort(s, END_RETRY);
        return -1;
    }
    if (!p) {
        hs_log(HS_LOG_WARN, "replication: this node's history parts from the leader %s's at "
               "clock %llu and it holds changes up to %llu; discarding local data and "
               "resynchronising", id, (unsigned long long)at, (unsigned long long)held);
        snprintf(s->new_leader, sizeof(s->new_leader), "%s", id);
        session_abort(s, END_NEW_LEADER);
        return 0;
    }
    if (hs_history_adopt(F.leader_hist)) {
        session_abort(s, END_RETRY);
        return 0;
    }
    if (!strcmp(cur, id) || (!cur[0] && !own))
        return 1; /* the same leader, or a first one of an empty follower (recorded below) */
    /* a position in the old leader's clock space above every change held may be a clock the
     * new leader uses: resume after the last change held at most (everything up to it is
     * here: applied in order, or this node's own) */
    uint64_t was = hs_repl_watermark(), from = own || was > held ? held : was;
    if (from != was) {
        hs_repl_set_watermark(from);
        if (sync_now()) {
            session_abort(s, END_RETRY);
            return 0;
        }
    }
    pthread_mutex_lock(&F.lock);
    snprintf(F.leader_id, sizeof(F.leader_id), "%s", id);
    pthread_mutex_unlock(&F.lock);
    if (state_write(id, F.durable)) {
        session_abort(s, END_RETRY);
        return 0;
    }
    __atomic_fetch_add(&F.continued, 1, __ATOMIC_RELAXED);
    hs_log(HS_LOG_INFO, "Leader changed from %s to %s; this node's history is a prefix of the "
           "new leader's (holds changes up to clock %llu, the histories part at %llu): "
           "continuing from clock %llu without a resync", cur[0] ? cur : "(this node)", id,
           (unsigned long long)held, (unsigned long long)at, (unsigned long long)from);
    if (from != was) { /* the call asked from the old watermark: ask again */
        session_abort(s, END_AGAIN);
        return 0;
    }
    return 1;
}

/* The leader's id (B11.5): the recorded one goes on; the first one of a follower without local
 * data is recorded; any other means a new leader. */
static void on_init(session *s, bool ok)
{
    char id[64], cur[64];
    if (!ok)
        return; /* the call failed: its status says why */
    if (!md_value(&s->st.init_md, HS_REPL_NODE_ID_MD, id, sizeof(id)) || !id[0]) {
        s->no_id = true; /* a failing call's status follows; a record would be refused */
        recv_next(&s->st);
        return;
    }
    if (!id_ok(id)) {
        hs_log(HS_LOG_ERROR, "replication: the leader at %s sent a node id this node does not "
               "take; not following it", g_srv.cfg.leader_target);
        hs_repl_error("the leader's node id is not valid");
        hs_repl_count_errors(1);
        session_abort(s, END_RETRY);
        return;
    }
    leader_id(cur, sizeof(cur));
    F.leader_hist[0] = 0;
    if (md_value(&s->st.init_md, HS_REPL_HISTORY_MD, F.leader_hist, sizeof(F.leader_hist))) {
        int h = check_history(s, id, cur);
        if (h <= 0) {
            if (h < 0)
                F.leader_hist[0] = 0;
            return;
        }
    } else if (hs_history_adopt("")) { /* a leader without epochs: none describe our data */
        session_abort(s, END_RETRY);
        return;
    } else if (strcmp(cur, id) && (cur[0] || hs_repl_has_collections())) {
        /* a leader without epochs: any other leader means a resync */
        hs_log(HS_LOG_WARN, "Leader changed from %s to %s; discarding local data and "
               "resynchronising", cur[0] ? cur : "(unknown)", id);
        snprintf(s->new_leader, sizeof(s->new_leader), "%s", id);
        session_abort(s, END_NEW_LEADER);
        return;
    }
    if (!cur[0]) {
        pthread_mutex_lock(&F.lock);
        snprintf(F.leader_id, sizeof(F.leader_id), "%s", id);
        pthread_mutex_unlock(&F.lock);
        if (state_write(id, F.durable)) {
            session_abort(s, END_RETRY);
            return;
        }
    }
    char sync[8];
    F.sync_mode = md_value(&s->st.init_md, HS_REPL_SYNC_MD, sync, sizeof(sync)) &&
                  !strcmp(sync, "1");
    s->accepted = true;
    s->opened = now_s();
    s->verify_due = g_srv.cfg.repl_verify_sec > 0;
    __atomic_store_n(&F.connected, 1, __ATOMIC_RELEASE);
    hs_repl_clear_error();
    hs_log(HS_LOG_INFO, "replication: streaming from leader %s at %s after clock %llu", id,
           g_srv.cfg.leader_target, (unsigned long long)hs_repl_watermark());
    F.acked = UINT64_MAX; /* tell the leader about this follower at once */
    ack_send();
    recv_next(&s->st);
}

static void on_message(session *s)
{
    if (!s->st.recv)
        return; /* the end of the stream: the status follows */
    grpc_slice m = take_message(&s->st);
    if (s->abort) {
        grpc_slice_unref(m);
        return;
    }
    if (s->no_id || !s->accepted) {
        grpc_slice_unref(m);
        hs_log(HS_LOG_ERROR, "replication: the leader at %s sent no %s; not following it",
               g_srv.cfg.leader_target, HS_REPL_NODE_ID_MD);
        hs_repl_error("the leader sent no %s", HS_REPL_NODE_ID_MD);
        hs_repl_count_errors(1);
        session_abort(s, END_RETRY);
        return;
    }
    Hyperspace__ReplicationLog *r =
        hyperspace__replication_log__unpack(NULL, GRPC_SLICE_LENGTH(m), GRPC_SLICE_START_PTR(m));
    grpc_slice_unref(m);
    if (!r) {
        hs_log(HS_LOG_ERROR, "replication: a record from the leader does not decode");
        hs_repl_error("a record from the leader does not decode");
        hs_repl_count_errors(1);
        session_abort(s, END_RETRY);
        return;
    }
    s->delivered++;
    if (hs_repl_take(s->b, r)) {
        session_abort(s, END_RETRY);
        return;
    }
    recv_next(&s->st);
}

/* Syncing, acknowledging and persisting as the stream goes (see the top of the file). */
static void housekeeping(session *s, bool quiet)
{
    double t = now_s();
    bool batch = g_srv.cfg.wal_mode == HS_DURABILITY_BATCH;
    double every = quiet ? (batch ? g_srv.cfg.wal_batch_ms / 1000.0 : SYNC_QUIET_S)
                         : (batch ? SYNC_BUSY_BATCH_S : SYNC_BUSY_S);
    if (quiet && F.sync_mode)
        every = 0; /* the leader's writers wait: sync and acknowledge what was received */
    if (hs_repl_watermark() != F.durable && t - F.last_sync >= every)
        sync_now();
    if (s->accepted && !s->abort && !s->st.got_status)
        ack_send();
    if (F.durable != F.persisted && t - F.last_persist >= PERSIST_S)
        persist_durable();
}

/* Why the stream ended, when nothing decided it before: a resync request, or a failure
 * (logged; authentication failures at ERROR). */
static end_kind classify_end(session *s)
{
    char text[600], resync[32];
    if (stopping())
        return END_STOP;
    status_text(&s->st, text, sizeof(text));
    if (s->st.status == GRPC_STATUS_FAILED_PRECONDITION &&
        md_value(&s->st.trail_md, HS_REPL_RESYNC_MD, resync, sizeof(resync)) &&
        !strcmp(resync, "snapshot")) {
        hs_log(HS_LOG_WARN, "replication: %s; bootstrapping from the leader's snapshot", text);
        return END_RESYNC;
    }
    bool auth = s->st.status == GRPC_STATUS_UNAUTHENTICATED ||
                s->st.status == GRPC_STATUS_PERMISSION_DENIED;
    hs_log(auth ? HS_LOG_ERROR : HS_LOG_WARN, "replication: stream from %s ended: %s%s",
           g_srv.cfg.leader_target, text,
           auth ? " (check HS_LEADER_API_KEY: the leader needs a global admin key)" : "");
    hs_repl_error("%s", text);
    hs_repl_count_errors(1);
    return END_RETRY;
}

/* One session: the Replicate call from the watermark until it ends.  *delivered and *open_s say
 * how it went (for the backoff); new_leader gets the id of a new leader (END_NEW_LEADER). */
static end_kind run_session(hs_repl_batch *b, uint64_t *delivered, double *open_s, char *new_leader)
{
    session s;
    memset(&s, 0, sizeof(s));
    s.b = b;
    s.end = END_RETRY;
    open_channel();
    F.ack_unimplemented = false;
    F.sync_mode = false;
    Hyperspace__ReplicationRequest req = HYPERSPACE__REPLICATION_REQUEST__INIT;
    req.last_logical_clock = hs_repl_watermark();
    hs_history_wire(F.send_hist, sizeof(F.send_hist));
    if (stream_open(&s.st, F.m_replicate, &req.base))
        s.abort = true;
    while (s.st.pending > 0 || F.ack) {
        int wait = hs_repl_batch_pending(b) ? GATHER_MS : POLL_MS;
        /* sync mode: nothing more buffered means apply, sync and acknowledge now (one poll) */
        if (F.sync_mode && !s.abort &&
            (hs_repl_batch_pending(b) ||
             (!F.sync_failed && hs_repl_watermark() != F.durable) ||
             (!F.ack && !F.ack_failed && !F.ack_unimplemented && F.durable != F.acked)))
            wait = 0;
        grpc_event ev = grpc_completion_queue_next(F.cq, after_ms(wait), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            if (!s.abort && hs_repl_flush(b))
                session_abort(&s, END_RETRY);
            housekeeping(&s, true);
            /* convergence checks: after catch-up (POLL_MS without a record), and periodically */
            uint32_t every = g_srv.cfg.repl_verify_sec;
            if (!s.abort && s.accepted && !s.st.got_status && every &&
                ((s.verify_due && wait == POLL_MS) || now_s() - F.last_verify >= every)) {
                s.verify_due = false;
                F.last_verify = now_s();
                grpc_metadata md[2];
                hs_repl_verify_ctx vc = {F.ch, md, call_md(md), stopping};
                if (hs_repl_verify_round(&vc, hs_repl_watermark()) && !stopping())
                    session_abort(&s, END_RESYNC);
            }
            if (stopping()) {
                stream_cancel(&s.st);
                if (F.ack)
                    grpc_call_cancel(F.ack, NULL);
            }
            continue;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        switch ((intptr_t)ev.tag) {
        case T_SEND:
            s.st.pending--;
            break;
        case T_INIT:
            s.st.pending--;
            s.st.got_init = true;
            if (!s.abort)
                on_init(&s, ev.success);
            break;
        case T_MSG:
            s.st.pending--;
            s.st.recv_armed = false;
            on_message(&s);
            break;
        case T_STATUS:
            s.st.pending--;
            s.st.got_status = true;
            break;
        case T_ACK:
            ack_done(ev.success);
            break;
        }
        if (!s.abort)
            housekeeping(&s, false);
        if (s.st.got_status && s.st.pending == 0 && F.ack && stopping())
            grpc_call_cancel(F.ack, NULL);
    }
    if (!s.abort && hs_repl_flush(b))
        s.abort = true, s.end = END_RETRY;
    hs_repl_batch_clear(b);
    __atomic_store_n(&F.connected, 0, __ATOMIC_RELEASE);
    if (!s.abort)
        s.end = classify_end(&s);
    else if (stopping())
        s.end = END_STOP;
    if (s.end == END_NEW_LEADER)
        snprintf(new_leader, 64, "%s", s.new_leader);
    sync_now();
    persist_durable();
    stream_close(&s.st);
    close_channel();
    *delivered = s.delivered;
    *open_s = s.accepted ? now_s() - s.opened : 0;
    return s.end;
}

/* ---- snapshot bootstrap ---------------------------------------------------------------------- */

typedef struct snap {
    stream st;
    Hyperspace__SnapshotChunk *chunk; /* the chunk being read, c->off bytes of it so far */
    size_t off;
    bool last;     /* the chunk marked last was received */
    bool ended;    /* the end of the messages was received */
    bool failed;   /* the stream cannot give a whole archive */
    uint64_t clock, bytes;
    char leader[64]; /* the node id the stream gave */
    char hist[HS_HISTORY_WIRE_CAP + 64]; /* its epochs ("" when it sent none) */
} snap;

/* Handles the next event of the snapshot call (a stop cancels it); false once nothing is
 * pending.  Messages are asked for by the reader (snap_next), one at a time. */
static bool snap_event(snap *c)
{
    while (c->st.pending > 0) {
        grpc_event ev = grpc_completion_queue_next(F.cq, after_ms(POLL_MS), NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            if (stopping()) {
                c->failed = true;
                stream_cancel(&c->st);
            }
            continue;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            return false;
        c->st.pending--;
        if ((intptr_t)ev.tag == T_INIT) {
            char id[64], cur[64];
            c->st.got_init = true;
            leader_id(cur, sizeof(cur));
            if (ev.success && md_value(&c->st.init_md, HS_REPL_NODE_ID_MD, id, sizeof(id)) &&
                id[0]) {
                if ((cur[0] && strcmp(id, cur)) || !id_ok(id)) {
                    hs_log(HS_LOG_WARN, "replication: the snapshot comes from %s, not from the "
                           "leader %s; not taken", id_ok(id) ? id : "(invalid id)",
                           cur[0] ? cur : "(unknown)");
                    c->failed = true;
                    stream_cancel(&c->st);
                } else {
                    snprintf(c->leader, sizeof(c->leader), "%s", id);
                    if (!md_value(&c->st.init_md, HS_REPL_HISTORY_MD, c->hist, sizeof(c->hist)))
                        c->hist[0] = 0;
                }
            }
        } else if ((intptr_t)ev.tag == T_STATUS) {
            c->st.got_status = true;
        } else if ((intptr_t)ev.tag == T_MSG) {
            c->st.recv_armed = false;
            if (!c->st.recv) {
                c->ended = true;
                c->failed |= !c->last; /* ended early: the status says why */
                return true;
            }
            grpc_slice m = take_message(&c->st);
            c->chunk = hyperspace__snapshot_chunk__unpack(NULL, GRPC_SLICE_LENGTH(m),
                                                          GRPC_SLICE_START_PTR(m));
            grpc_slice_unref(m);
            c->off = 0;
            if (!c->chunk || c->last) { /* undecodable, or more after the last chunk */
                c->failed = true;
                stream_cancel(&c->st);
                return true;
            }
            c->bytes += c->chunk->data.len;
            if (c->chunk->last) {
                c->last = true;
                c->clock = c->chunk->clock;
            }
        }
        return true;
    }
    return false;
}

/* Drops the chunk read to its end; asks for the next message and waits for it (or for the
 * stream's end).  false when no more data can come. */
static bool snap_next(snap *c)
{
    if (c->chunk) {
        hyperspace__snapshot_chunk__free_unpacked(c->chunk, NULL);
        c->chunk = NULL;
    }
    while (!c->chunk && !c->ended && !c->failed) {
        if (!c->st.recv_armed && c->st.got_init)
            recv_next(&c->st);
        if (!snap_event(c)) { /* nothing pending: nothing more can come */
            c->failed |= !c->ended;
            return false;
        }
    }
    return c->chunk != NULL;
}

/* hs_snapshot_import's source: the chunks' bytes in order; 0 after the last chunk. */
static long snap_source(void *ctx, void *buf, size_t cap)
{
    snap *c = ctx;
    for (;;) {
        if (c->chunk && c->off < c->chunk->data.len) {
            size_t n = c->chunk->data.len - c->off;
            n = n < cap ? n : cap;
            memcpy(buf, c->chunk->data.data + c->off, n);
            c->off += n;
            return (long)n;
        }
        if (c->last)
            return 0;
        if (!snap_next(c))
            return c->failed || !c->ended ? -EIO : 0;
    }
}

/* Reads the snapshot call to its end after the import: nothing but empty chunks may follow the
 * archive.  True when the stream gave exactly one whole archive and ended OK. */
static bool snap_finish(snap *c)
{
    while (!c->ended && !c->failed) {
        if (c->chunk && c->off < c->chunk->data.len)
            c->failed = true; /* bytes after the archive's end */
        else
            snap_next(c);
    }
    if (c->chunk && c->off < c->chunk->data.len)
        c->failed = true;
    if (c->failed)
        stream_cancel(&c->st);
    while (snap_event(c)) /* the status */
        ;
    return !c->failed && c->last && c->st.got_status && c->st.status == GRPC_STATUS_OK;
}

/* Bootstrap from the leader's snapshot (see the top of the file); 0 or -1 (logged). */
static int bootstrap(void)
{
    char id[64], text[600];
    double t0 = now_s();
    hs_error err;
    snap c;
    memset(&c, 0, sizeof(c));
    hs_snapshot_delete(g_srv.db, BOOT_ARCHIVE, NULL); /* a crashed attempt's */
    open_channel();
    Hyperspace__ReplicationSnapshotRequest req = HYPERSPACE__REPLICATION_SNAPSHOT_REQUEST__INIT;
    req.node_id = g_srv.node_id;
    int rc = -1;
    snprintf(text, sizeof(text), "the call did not start");
    if (stream_open(&c.st, F.m_snapshot, &req.base) == 0) {
        hs_snapshot_info info;
        int irc = hs_snapshot_import(g_srv.db, BOOT_ARCHIVE, snap_source, &c, &info, &err);
        bool stream_failed = c.failed; /* then the import failed for want of bytes */
        if (irc != HS_OK)
            c.failed = true;
        if (snap_finish(&c)) {
            c.clock = c.clock ? c.clock : info.clock;
            rc = 0;
        } else if (irc != HS_OK && !stream_failed) {
            snprintf(text, sizeof(text), "the archive does not import: %s", err.message);
        } else if (c.st.status == GRPC_STATUS_OK) {
            snprintf(text, sizeof(text), "the stream did not hold one whole archive");
        } else {
            status_text(&c.st, text, sizeof(text));
        }
    } else {
        while (snap_event(&c)) /* what the call started completes before it is freed */
            ;
    }
    if (c.chunk)
        hyperspace__snapshot_chunk__free_unpacked(c.chunk, NULL);
    stream_close(&c.st);
    close_channel();
    if (rc) {
        if (!stopping()) {
            hs_log(HS_LOG_ERROR, "replication: snapshot bootstrap failed: %s", text);
            hs_repl_error("snapshot bootstrap failed: %s", text);
            hs_repl_count_errors(1);
        }
        hs_snapshot_delete(g_srv.db, BOOT_ARCHIVE, NULL);
        return -1;
    }
    /* watermark 0 first: a crash from here on bootstraps again */
    leader_id(id, sizeof(id));
    if (!id[0] && c.leader[0]) { /* the Replicate call that asked for this named no leader */
        snprintf(id, sizeof(id), "%s", c.leader);
        pthread_mutex_lock(&F.lock);
        snprintf(F.leader_id, sizeof(F.leader_id), "%s", id);
        pthread_mutex_unlock(&F.lock);
    }
    hs_repl_set_watermark(0);
    F.durable = F.acked = 0;
    if (state_write(id, 0) || hs_repl_reset(c.clock))
        goto fail;
    hs_restore_opts o;
    hs_restore_opts_init(&o);
    o.replace = 1;
    if (hs_snapshot_restore(g_srv.db, BOOT_ARCHIVE, &o, NULL, NULL, &err) != HS_OK) {
        hs_log(HS_LOG_ERROR, "replication: the leader's snapshot does not restore: %s",
               err.message);
        hs_repl_error("the leader's snapshot does not restore: %s", err.message);
        goto fail;
    }
    hs_snapshot_delete(g_srv.db, BOOT_ARCHIVE, NULL);
    /* what is held now is the leader's up to the archive's clock: its epochs are ours */
    if (hs_history_adopt(c.hist[0] ? c.hist : F.leader_hist))
        goto fail;
    __atomic_fetch_add(&F.resyncs, 1, __ATOMIC_RELAXED);
    hs_repl_set_watermark(c.clock);
    if (sync_now() || state_write(id, c.clock))
        return -1;
    uint64_t cols = 0, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    hs_log(HS_LOG_INFO, "replication: bootstrapped from the leader's snapshot at clock %llu "
           "(%llu collections, %llu bytes) in %.2f s", (unsigned long long)c.clock,
           (unsigned long long)cols, (unsigned long long)c.bytes, now_s() - t0);
    return 0;
fail:
    hs_repl_count_errors(1);
    hs_snapshot_delete(g_srv.db, BOOT_ARCHIVE, NULL);
    return -1;
}

/* ---- the thread ------------------------------------------------------------------------------ */

/* Sleeps `seconds` unless stopped first. */
static void pause_for(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&F.lock);
    while (!F.stop && pthread_cond_timedwait(&F.wake, &F.lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&F.lock);
}

static void *client_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "hs-repl-follow");
    hs_repl_batch *b = hs_repl_batch_new();
    F.cq = grpc_completion_queue_create_for_next(NULL);
    double delay = BACKOFF_FIRST_S;
    uint64_t seed = hs_now_ns_srv() ^ (uintptr_t)b;
    bool first = true;
    while (b && !stopping()) {
        if (!first)
            __atomic_fetch_add(&F.reconnects, 1, __ATOMIC_RELAXED);
        first = false;
        uint64_t delivered = 0;
        double open_s = 0;
        char new_leader[64] = "";
        end_kind e = run_session(b, &delivered, &open_s, new_leader);
        if (e == END_STOP || stopping())
            break;
        if (e == END_AGAIN)
            continue;
        if (e == END_NEW_LEADER && take_new_leader(new_leader) == 0)
            continue; /* at once, from clock 0 */
        if (e == END_RESYNC && bootstrap() == 0)
            continue; /* at once, from the archive's clock */
        if (delivered || open_s >= HEALTHY_OPEN_S)
            delay = BACKOFF_FIRST_S;
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        double jitter = 0.8 + 0.4 * (double)(seed >> 11) / 9007199254740992.0;
        pause_for(delay * jitter);
        delay = delay * 2 < BACKOFF_MAX_S ? delay * 2 : BACKOFF_MAX_S;
    }
    if (!b)
        hs_log(HS_LOG_ERROR, "replication: out of memory; the client stopped");
    sync_now();
    persist_durable();
    grpc_completion_queue_shutdown(F.cq);
    while (grpc_completion_queue_next(F.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(F.cq);
    F.cq = NULL;
    hs_repl_batch_free(b);
    return NULL;
}

int hs_repl_follower_start(void)
{
    state_load();
    char id[64];
    leader_id(id, sizeof(id));
    grpc_init();
    pthread_mutex_lock(&F.lock);
    F.stop = false;
    int rc = pthread_create(&F.thread, NULL, client_main, NULL);
    F.running = rc == 0;
    pthread_mutex_unlock(&F.lock);
    if (rc) {
        grpc_shutdown();
        hs_log(HS_LOG_ERROR, "replication: cannot start the client thread: %s", strerror(rc));
        return -1;
    }
    hs_log(HS_LOG_INFO, "replication: following %s from clock %llu (leader %s)",
           g_srv.cfg.leader_target, (unsigned long long)hs_repl_watermark(),
           id[0] ? id : "not known yet");
    return 0;
}

void hs_repl_follower_stop(void)
{
    pthread_mutex_lock(&stop_lock);
    pthread_mutex_lock(&F.lock);
    bool running = F.running;
    F.stop = true;
    if (F.active)
        grpc_call_cancel(F.active, NULL);
    pthread_cond_broadcast(&F.wake);
    pthread_mutex_unlock(&F.lock);
    if (running) {
        pthread_join(F.thread, NULL);
        pthread_mutex_lock(&F.lock);
        F.running = false;
        pthread_mutex_unlock(&F.lock);
        grpc_shutdown();
        hs_log(HS_LOG_INFO, "replication: client stopped at clock %llu",
               (unsigned long long)hs_repl_watermark());
    }
    pthread_mutex_unlock(&stop_lock);
}
