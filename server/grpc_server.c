/*
 * grpc_server.c: the gRPC server on the gRPC core C API.
 *
 * One completion queue shared by a pool of threads (gRPC allows several threads in
 * grpc_completion_queue_next), with a few grpc_server_request_call requests kept outstanding.
 * Every call is a small state machine driven by tagged batches:
 *   NEW     the call arrived: re-arm request_call, authenticate from the metadata (before the
 *           message is read), then either answer at once (a rejection) or read the message;
 *   READ    the message is here: run the RPC (grpc_api.c) and send reply + status;
 *   DONE    the final batch completed: free the call.
 * Every answer carries initial metadata (a reply without it hangs grpc-core clients).
 * Server streams (Monitor) are handed to grpc_api.c's streamer, which sends one message per
 * second from its own thread; a separate RECV_CLOSE_ON_SERVER batch tells when the client left.
 * Metadata a call sends besides (the leader's node id on Replicate, the leader's address on a
 * write a follower refuses, a resync request) is kept in the call until it is freed.
 *
 * Settings: 64 MiB messages, SO_REUSEPORT off (a second server on a busy port fails), keepalive
 * pings every 30 s with a 10 s timeout, client pings accepted every 5 s without strikes.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/grpc_int.h"
#include "server/repl.h"
#include "util/log.h"

#define OUTSTANDING 16

struct hs_grpc {
    grpc_server *server;
    grpc_completion_queue *cq;
    grpc_completion_queue *shutdown_cq;
    pthread_t *threads;
    int nthreads;
    int stopping; /* atomic */
    int active;   /* atomic: calls accepted and not yet freed */
};

static hs_grpc *g_grpc;

static void arm_request(hs_grpc *g);

static hs_gcall *call_new(hs_grpc *g)
{
    hs_gcall *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->g = g;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    c->tag_new.call = c;
    c->tag_new.kind = TAG_NEW;
    c->tag_read.call = c;
    c->tag_read.kind = TAG_READ;
    c->tag_done.call = c;
    c->tag_done.kind = TAG_DONE;
    c->tag_close.call = c;
    c->tag_close.kind = TAG_CLOSE;
    c->tag_sent.call = c;
    c->tag_sent.kind = TAG_SENT;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void hs_gcall_free(hs_gcall *c)
{
    if (c->counted)
        __atomic_sub_fetch(&c->g->active, 1, __ATOMIC_ACQ_REL);
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->recv)
        grpc_byte_buffer_destroy(c->recv);
    for (size_t i = 0; i < c->n_initial_md; i++)
        grpc_slice_unref(c->initial_md[i].value);
    for (size_t i = 0; i < c->n_trailers; i++)
        grpc_slice_unref(c->trailers[i].value);
    pthread_mutex_destroy(&c->mu);
    free(c->reply);
    free(c);
}

static void arm_request(hs_grpc *g)
{
    hs_gcall *c = call_new(g);
    if (!c)
        return;
    if (grpc_server_request_call(g->server, &c->call, &c->details, &c->md, g->cq, g->cq,
                                 &c->tag_new) != GRPC_CALL_OK) {
        hs_gcall_free(c);
    }
}

/* Metadata value of `key` (names arrive lower-case), NULL when absent. */
static const char *md_value(const hs_gcall *c, const char *key, size_t *len)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (grpc_slice_str_cmp(c->md.metadata[i].key, key) == 0) {
            *len = GRPC_SLICE_LENGTH(c->md.metadata[i].value);
            return (const char *)GRPC_SLICE_START_PTR(c->md.metadata[i].value);
        }
    }
    *len = 0;
    return NULL;
}

static void authenticate(hs_gcall *c)
{
    size_t klen = 0, tlen = 0;
    const char *key = md_value(c, "x-api-key", &klen);
    if (!key) {
        size_t alen;
        const char *a = md_value(c, "authorization", &alen);
        if (a && alen > 7 && !strncasecmp(a, "bearer ", 7)) {
            key = a + 7;
            klen = alen - 7;
        }
    }
    const char *tenant = md_value(c, "x-hyperspace-user-id", &tlen);
    hs_authenticate(key, klen, tenant, tlen, &c->auth);
}

/* Sends the final status (with initial metadata if not sent yet and the reply if any). */
void hs_gcall_finish(hs_gcall *c, int status, const char *message)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (!c->sent_initial) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = c->n_initial_md;
        ops[n].data.send_initial_metadata.metadata = c->n_initial_md ? c->initial_md : NULL;
        n++;
        c->sent_initial = true;
    }
    grpc_byte_buffer *bb = NULL;
    if (status == GRPC_STATUS_OK && c->reply) {
        grpc_slice s = grpc_slice_from_copied_buffer((const char *)c->reply, c->reply_len);
        bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = bb;
        n++;
    }
    grpc_slice details = grpc_slice_from_copied_string(message ? message : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)status;
    ops[n].data.send_status_from_server.status_details = &details;
    ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trailers;
    ops[n].data.send_status_from_server.trailing_metadata = c->n_trailers ? c->trailers : NULL;
    n++;
    if (!c->close_armed) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
        n++;
    }
    c->final_status = status;
    hs_metrics_request("grpc", c->method_name, hs_grpc_status_name(status),
                       (double)(hs_now_ns_srv() - c->start_ns) / 1e9);
    if (status == GRPC_STATUS_UNAUTHENTICATED)
        hs_metrics_auth_failure("grpc");
    if (grpc_call_start_batch(c->call, ops, n, &c->tag_done, NULL) != GRPC_CALL_OK)
        hs_gcall_free(c); /* cannot happen for a valid call; never leak it */
    grpc_slice_unref(details);
    if (bb)
        grpc_byte_buffer_destroy(bb);
}

void hs_gcall_fail(hs_gcall *c, const hs_fail *f)
{
    /* a write refused by a follower names the leader, so that a client can go there (repl.h) */
    if (f->id == HS_ERR_FOLLOWER_WRITE && g_srv.cfg.leader[0])
        hs_gcall_trailer(c, HS_REPL_LEADER_MD, g_srv.cfg.leader);
    hs_gcall_finish(c, hs_err_grpc_status(f->id), f->message);
}

/* The answer to a method this server does not serve, naming it (printable ASCII only, at most
 * 120 characters of the client's path). */
static void unimplemented_text(const char *path, size_t len, char *text, size_t cap)
{
    char name[128];
    size_t n = 0;
    for (size_t i = 0; i < len && n < 120; i++)
        name[n++] = path[i] >= 0x20 && path[i] < 0x7f && path[i] != '\'' ? path[i] : '?';
    name[n] = 0;
    snprintf(text, cap, "Method '%s%s' is not implemented by this server", name,
             len > n ? "..." : "");
}

static void on_new(hs_gcall *c, bool ok)
{
    hs_grpc *g = c->g;
    if (!ok) { /* the server is shutting down */
        hs_gcall_free(c);
        return;
    }
    c->counted = true;
    __atomic_add_fetch(&g->active, 1, __ATOMIC_ACQ_REL);
    if (!__atomic_load_n(&g->stopping, __ATOMIC_ACQUIRE))
        arm_request(g);
    c->start_ns = hs_now_ns_srv();
    const char *path = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    size_t plen = GRPC_SLICE_LENGTH(c->details.method);
    c->rpc = hs_grpc_find_rpc(path, plen);
    snprintf(c->method_name, sizeof(c->method_name), "%s", c->rpc ? c->rpc->name : "unknown");
    if (!c->rpc) {
        char text[256];
        unimplemented_text(path, plen, text, sizeof(text));
        hs_gcall_finish(c, GRPC_STATUS_UNIMPLEMENTED, text);
        return;
    }
    authenticate(c);
    hs_fail f = {0};
    /* a method open to anyone (HealthCheck) does not look at the key */
    if (c->auth.err && c->rpc->role != HS_ROLE_NONE)
        hs_auth_fail(&c->auth, &f);
    else
        hs_ops_permit(&c->auth, c->rpc->role, c->rpc->global, c->rpc->write, c->rpc->name, &f);
    if (f.id) {
        hs_gcall_fail(c, &f);
        return;
    }
    hs_repl_initial_md(c); /* Replicate: the leader's node id */
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->n_initial_md;
    ops[0].data.send_initial_metadata.metadata = c->n_initial_md ? c->initial_md : NULL;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &c->recv;
    c->sent_initial = true;
    if (grpc_call_start_batch(c->call, ops, 2, &c->tag_read, NULL) != GRPC_CALL_OK)
        hs_gcall_free(c);
}

static void on_read(hs_gcall *c, bool ok)
{
    if (!ok || !c->recv) {
        hs_gcall_finish(c, GRPC_STATUS_INTERNAL, "the request message did not arrive");
        return;
    }
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, c->recv)) {
        hs_gcall_finish(c, GRPC_STATUS_INTERNAL, "cannot read the request message");
        return;
    }
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    hs_grpc_run(c, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
    grpc_slice_unref(s);
}

static void *cq_thread(void *arg)
{
    hs_grpc *g = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        hs_gtag *t = ev.tag;
        hs_gcall *c = t->call;
        switch (t->kind) {
        case TAG_NEW:
            on_new(c, ev.success);
            break;
        case TAG_READ:
            on_read(c, ev.success);
            break;
        case TAG_DONE:
            if (c->stream)
                hs_grpc_stream_done(c);
            else
                hs_gcall_free(c);
            break;
        case TAG_CLOSE:
        case TAG_SENT:
            hs_grpc_stream_event(c, t->kind, ev.success);
            break;
        }
    }
}

static grpc_channel_args *server_args(void)
{
    static grpc_arg args[8];
    static grpc_channel_args ca;
    int i = 0;
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 64 << 20}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = 64 << 20}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 30000}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 10000}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                           {.integer = 5000}};
    args[i++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = 0}};
    ca.num_args = (size_t)i;
    ca.args = args;
    return &ca;
}

int hs_grpc_start(const char *host, int port, hs_grpc **out)
{
    *out = NULL;
    hs_grpc *g = calloc(1, sizeof(*g));
    if (!g)
        return -1;
    grpc_init();
    g->server = grpc_server_create(server_args(), NULL);
    g->cq = grpc_completion_queue_create_for_next(NULL);
    g->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_register_completion_queue(g->server, g->cq, NULL);
    grpc_server_register_completion_queue(g->server, g->shutdown_cq, NULL);
    char addr[300];
    snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int bound = grpc_server_add_http2_port(g->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0) {
        hs_log(HS_LOG_ERROR, "cannot listen for gRPC on %s", addr);
        grpc_server_destroy(g->server);
        grpc_completion_queue_shutdown(g->cq);
        grpc_completion_queue_destroy(g->cq);
        grpc_completion_queue_shutdown(g->shutdown_cq);
        grpc_completion_queue_destroy(g->shutdown_cq);
        free(g);
        return -1;
    }
    grpc_server_start(g->server);
    g_grpc = g;
    /* one per CPU the process may run on, plus two for handlers blocked on the disk (a strict
     * write's fsync, a rebuild): more threads than that only take turns on the same CPUs and
     * evict each other's search working sets */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        cpus = CPU_COUNT(&set);
    g->nthreads = (int)(cpus > 0 ? cpus : 1) + 2;
    g->threads = calloc((size_t)g->nthreads, sizeof(pthread_t));
    for (int i = 0; i < OUTSTANDING; i++)
        arm_request(g);
    for (int i = 0; i < g->nthreads; i++)
        pthread_create(&g->threads[i], NULL, cq_thread, g);
    hs_grpc_streams_start();
    hs_log(HS_LOG_INFO, "gRPC listening on %s:%d", host, bound);
    *out = g;
    return 0;
}

/*
 * Shutdown: grpc_server_shutdown_and_notify stops accepting and completes only when every call
 * has ended *and* every client connection has gone, and an idle channel a client keeps open
 * does not go by itself.  So the wait is for the calls in flight (g->active, polled every
 * 50 ms, at most grace_ms); once none is left (or the grace is over),
 * grpc_server_cancel_all_calls ends what remains and disconnects every channel, and the
 * shutdown completes at once; the completion queue is shut down after the last call is freed.
 */
void hs_grpc_stop(hs_grpc *g, int grace_ms)
{
    if (!g)
        return;
    __atomic_store_n(&g->stopping, 1, __ATOMIC_RELEASE);
    hs_grpc_streams_stop(); /* streams end with UNAVAILABLE */
    int tag;
    grpc_server_shutdown_and_notify(g->server, g->shutdown_cq, &tag);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
    bool done = false;
    while (!done) {
        gpr_timespec step = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(50, GPR_TIMESPAN));
        if (gpr_time_cmp(step, deadline) > 0)
            step = deadline;
        grpc_event ev = grpc_completion_queue_pluck(g->shutdown_cq, &tag, step, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            done = true;
        else if (!__atomic_load_n(&g->active, __ATOMIC_ACQUIRE) ||
                 gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0)
            break;
    }
    if (!done) {
        int left = __atomic_load_n(&g->active, __ATOMIC_ACQUIRE);
        if (left)
            hs_log(HS_LOG_WARN, "gRPC: cancelling %d calls still running after %d ms", left,
                   grace_ms);
        grpc_server_cancel_all_calls(g->server);
        grpc_completion_queue_pluck(g->shutdown_cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    }
    /* The server's shutdown completes once its calls are cancelled, but a handler still running
     * (a rebuild, a strict write waiting for a follower) answers when it returns, and a batch
     * started on a completion queue already shut down aborts the process: the queue is shut
     * down only once no call is left (each one's last completion frees it). */
    for (int waited_ms = 0; __atomic_load_n(&g->active, __ATOMIC_ACQUIRE) > 0; waited_ms += 10) {
        if (waited_ms % 5000 == 0)
            hs_log(HS_LOG_INFO, "gRPC: waiting for %d calls to finish",
                   __atomic_load_n(&g->active, __ATOMIC_ACQUIRE));
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    grpc_server_destroy(g->server);
    grpc_completion_queue_shutdown(g->cq);
    for (int i = 0; i < g->nthreads; i++)
        pthread_join(g->threads[i], NULL);
    grpc_completion_queue_destroy(g->cq);
    grpc_completion_queue_shutdown(g->shutdown_cq);
    grpc_completion_queue_destroy(g->shutdown_cq);
    free(g->threads);
    free(g);
    g_grpc = NULL;
    grpc_shutdown();
}
