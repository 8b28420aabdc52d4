/*
 * grpc_load.c: end-to-end load over gRPC against a running hyperspace-server
 * (build/bin/hs-grpc-load).  A C client on the gRPC core API: one channel and one completion
 * queue per client thread, registered calls, every op of a unary call in one batch.
 *
 *   hs-grpc-load search --target H:P --collection C --query F --truth F [--k 10]
 *                       [--concurrency 16] [--seconds 10]
 *       Search QPS (each thread cycles through the queries) and recall@k against the truth.
 *   hs-grpc-load ingest --target H:P --collection C --dim D --n N [--batch 1000]
 *                       [--concurrency 1] [--durability async|batch|strict] [--base F]
 *                       [--rate R] [--from ID]
 *       BatchInsert throughput in vectors per second (ids ID..ID+N-1, --from default 0; vectors
 *       from --base when given, else seeded random); the collection must exist.  --rate paces
 *       the load to R vectors per second over all threads (a steady write load, e.g. for
 *       bench/repl_bench.py); 0 (default) = as fast as possible.
 *   --api-key K sends x-api-key.  One line of key=value results on stdout.
 */
#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <math.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hyperspace.pb-c.h"
#include "texmex.h"

typedef struct opts {
    const char *mode, *target, *collection, *query, *truth, *base, *api_key;
    size_t k, concurrency, dim, n, batch, from;
    double seconds, rate;
    int durability;
} opts;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "hs-grpc-load: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- one client connection ---------------------------------------------------------------- */

typedef struct client {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    void *search_call, *batch_call;
    const opts *o;
} client;

static void client_open(client *c, const opts *o)
{
    c->o = o;
    grpc_channel_credentials *cred = grpc_insecure_credentials_create();
    grpc_arg args[1] = {{.type = GRPC_ARG_INTEGER,
                         .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                         .value.integer = 64 << 20}};
    grpc_channel_args ca = {1, args};
    c->ch = grpc_channel_create(o->target, cred, &ca);
    grpc_channel_credentials_release(cred);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->search_call = grpc_channel_register_call(c->ch, "/hyperspace.Database/Search", NULL, NULL);
    c->batch_call =
        grpc_channel_register_call(c->ch, "/hyperspace.Database/BatchInsert", NULL, NULL);
}

static void client_close(client *c)
{
    grpc_channel_destroy(c->ch);
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
}

/* One unary call: sends req (packed), returns the reply bytes (caller frees) or NULL with the
 * status in *status / *details. */
static uint8_t *unary(client *c, void *reg, const uint8_t *req, size_t req_len, size_t *out_len,
                      grpc_status_code *status, char *details, size_t dlen)
{
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_seconds(60, GPR_TIMESPAN));
    grpc_call *call = grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                          c->cq, reg, deadline, NULL);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_metadata md[1];
    size_t nmd = 0;
    if (c->o->api_key) {
        md[0].key = grpc_slice_from_static_string("x-api-key");
        md[0].value = grpc_slice_from_static_string(c->o->api_key);
        nmd = 1;
    }
    grpc_metadata_array init_md, trail_md;
    grpc_metadata_array_init(&init_md);
    grpc_metadata_array_init(&trail_md);
    grpc_byte_buffer *recv = NULL;
    grpc_slice status_details;
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trail_md;
    ops[5].data.recv_status_on_client.status = status;
    ops[5].data.recv_status_on_client.status_details = &status_details;
    if (grpc_call_start_batch(call, ops, 6, (void *)call, NULL) != GRPC_CALL_OK)
        die("grpc_call_start_batch failed", NULL);
    grpc_event ev = grpc_completion_queue_pluck(c->cq, call, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    if (!ev.success)
        die("call failed", NULL);
    uint8_t *out = NULL;
    *out_len = 0;
    if (recv) {
        grpc_byte_buffer_reader rd;
        grpc_byte_buffer_reader_init(&rd, recv);
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        *out_len = GRPC_SLICE_LENGTH(all);
        out = malloc(*out_len ? *out_len : 1);
        memcpy(out, GRPC_SLICE_START_PTR(all), *out_len);
        grpc_slice_unref(all);
        grpc_byte_buffer_destroy(recv);
    }
    char *d = grpc_slice_to_c_string(status_details);
    snprintf(details, dlen, "%s", d);
    gpr_free(d);
    grpc_slice_unref(status_details);
    grpc_metadata_array_destroy(&init_md);
    grpc_metadata_array_destroy(&trail_md);
    grpc_byte_buffer_destroy(send);
    grpc_call_unref(call);
    return out;
}

/* ---- search ------------------------------------------------------------------------------- */

typedef struct worker {
    pthread_t t;
    const opts *o;
    const texmex *q, *truth;
    size_t first;
    double stop_at;
    uint64_t done, hits;
} worker;

static void *search_main(void *arg)
{
    worker *w = arg;
    const opts *o = w->o;
    client c;
    client_open(&c, o);
    double *vec = malloc(w->q->dim * sizeof(double));
    size_t qi = w->first;
    while (now_s() < w->stop_at) {
        qi %= w->q->n;
        for (size_t j = 0; j < w->q->dim; j++)
            vec[j] = w->q->f[qi * w->q->dim + j];
        Hyperspace__SearchRequest r = HYPERSPACE__SEARCH_REQUEST__INIT;
        r.collection = (char *)o->collection;
        r.vector = vec;
        r.n_vector = w->q->dim;
        r.top_k = (uint32_t)o->k;
        size_t len = hyperspace__search_request__get_packed_size(&r);
        uint8_t *buf = malloc(len);
        hyperspace__search_request__pack(&r, buf);
        size_t rl;
        grpc_status_code st;
        char det[256];
        uint8_t *rep = unary(&c, c.search_call, buf, len, &rl, &st, det, sizeof(det));
        free(buf);
        if (st != GRPC_STATUS_OK)
            die("Search failed", det);
        Hyperspace__SearchResponse *resp = hyperspace__search_response__unpack(NULL, rl, rep);
        free(rep);
        if (!resp)
            die("bad SearchResponse", NULL);
        if (w->truth) {
            for (size_t a = 0; a < resp->n_results && a < o->k; a++)
                for (size_t b = 0; b < o->k && b < w->truth->dim; b++)
                    if ((int64_t)resp->results[a]->id == w->truth->i[qi * w->truth->dim + b]) {
                        w->hits++;
                        break;
                    }
        }
        hyperspace__search_response__free_unpacked(resp, NULL);
        w->done++;
        qi++;
    }
    free(vec);
    client_close(&c);
    return NULL;
}

static int run_search(const opts *o)
{
    texmex q = texmex_read(o->query, false);
    texmex truth = {0};
    if (o->truth)
        truth = texmex_read(o->truth, true);
    worker *w = calloc(o->concurrency, sizeof(*w));
    /* warm up: one pass of 200 queries on one connection */
    worker warm = {.o = o, .q = &q, .stop_at = now_s() + 1.0};
    search_main(&warm);
    double t0 = now_s();
    for (size_t i = 0; i < o->concurrency; i++) {
        w[i] = (worker){.o = o, .q = &q, .truth = o->truth ? &truth : NULL,
                        .first = i * q.n / o->concurrency, .stop_at = t0 + o->seconds};
        pthread_create(&w[i].t, NULL, search_main, &w[i]);
    }
    uint64_t done = 0, hits = 0;
    for (size_t i = 0; i < o->concurrency; i++) {
        pthread_join(w[i].t, NULL);
        done += w[i].done;
        hits += w[i].hits;
    }
    double secs = now_s() - t0;
    printf("mode=search concurrency=%zu k=%zu queries=%llu seconds=%.2f qps=%.0f", o->concurrency,
           o->k, (unsigned long long)done, secs, (double)done / secs);
    if (o->truth)
        printf(" recall=%.4f", (double)hits / (double)(done * o->k));
    printf("\n");
    free(w);
    free(q.f);
    free(truth.i);
    return 0;
}

/* ---- ingest ------------------------------------------------------------------------------- */

typedef struct iworker {
    pthread_t t;
    const opts *o;
    const texmex *base;
    size_t from, to; /* ids */
} iworker;

static void *ingest_main(void *arg)
{
    iworker *w = arg;
    const opts *o = w->o;
    client c;
    client_open(&c, o);
    size_t dim = o->dim;
    Hyperspace__VectorData *vd = calloc(o->batch, sizeof(*vd));
    Hyperspace__VectorData **vp = calloc(o->batch, sizeof(*vp));
    double *vals = malloc(o->batch * dim * sizeof(double));
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ w->from;
    double t0 = now_s(), rate = o->rate / (double)o->concurrency; /* this thread's share */
    for (size_t id = w->from; id < w->to;) {
        if (rate > 0) { /* paced: batch k leaves at t0 + (vectors sent before it) / rate */
            double wait = t0 + (double)(id - w->from) / rate - now_s();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        size_t n = 0;
        for (; n < o->batch && id < w->to; n++, id++) {
            double *v = vals + n * dim;
            for (size_t j = 0; j < dim; j++) {
                if (w->base) {
                    v[j] = w->base->f[(id % w->base->n) * dim + j];
                } else {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    v[j] = (double)(seed >> 11) / 9007199254740992.0 - 0.5;
                }
            }
            Hyperspace__VectorData init = HYPERSPACE__VECTOR_DATA__INIT;
            vd[n] = init;
            vd[n].vector = v;
            vd[n].n_vector = dim;
            vd[n].id = (uint32_t)id;
            vp[n] = &vd[n];
        }
        Hyperspace__BatchInsertRequest r = HYPERSPACE__BATCH_INSERT_REQUEST__INIT;
        r.collection = (char *)o->collection;
        r.vectors = vp;
        r.n_vectors = n;
        r.durability = (Hyperspace__DurabilityLevel)o->durability;
        size_t len = hyperspace__batch_insert_request__get_packed_size(&r);
        uint8_t *buf = malloc(len);
        hyperspace__batch_insert_request__pack(&r, buf);
        size_t rl;
        grpc_status_code st;
        char det[256];
        uint8_t *rep = unary(&c, c.batch_call, buf, len, &rl, &st, det, sizeof(det));
        free(buf);
        free(rep);
        if (st != GRPC_STATUS_OK)
            die("BatchInsert failed", det);
    }
    free(vd);
    free(vp);
    free(vals);
    client_close(&c);
    return NULL;
}

static int run_ingest(const opts *o)
{
    texmex base = {0};
    if (o->base) {
        base = texmex_read(o->base, false);
        if (base.dim != o->dim)
            die("--base dimension differs from --dim", o->base);
    }
    iworker *w = calloc(o->concurrency, sizeof(*w));
    double t0 = now_s();
    for (size_t i = 0; i < o->concurrency; i++) {
        w[i] = (iworker){.o = o, .base = o->base ? &base : NULL,
                         .from = o->from + i * o->n / o->concurrency,
                         .to = o->from + (i + 1) * o->n / o->concurrency};
        pthread_create(&w[i].t, NULL, ingest_main, &w[i]);
    }
    for (size_t i = 0; i < o->concurrency; i++)
        pthread_join(w[i].t, NULL);
    double secs = now_s() - t0;
    static const char *names[] = {"default", "async", "batch", "strict"};
    printf("mode=ingest dim=%zu n=%zu batch=%zu concurrency=%zu durability=%s seconds=%.2f "
           "vec_per_s=%.0f\n",
           o->dim, o->n, o->batch, o->concurrency, names[o->durability], secs,
           (double)o->n / secs);
    free(w);
    free(base.f);
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {.k = 10, .concurrency = 16, .seconds = 10, .batch = 1000, .dim = 64, .n = 100000,
              .collection = "bench"};
    if (argc < 2)
        die("usage: hs-grpc-load search|ingest --target HOST:PORT [flags]", NULL);
    o.mode = argv[1];
    bool conc_set = false;
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("flag needs a value", k);
        i++;
        if (!strcmp(k, "--target"))
            o.target = v;
        else if (!strcmp(k, "--collection"))
            o.collection = v;
        else if (!strcmp(k, "--query"))
            o.query = v;
        else if (!strcmp(k, "--truth"))
            o.truth = v;
        else if (!strcmp(k, "--base"))
            o.base = v;
        else if (!strcmp(k, "--api-key"))
            o.api_key = v;
        else if (!strcmp(k, "--k"))
            o.k = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--concurrency"))
            o.concurrency = strtoul(v, NULL, 10), conc_set = true;
        else if (!strcmp(k, "--seconds"))
            o.seconds = strtod(v, NULL);
        else if (!strcmp(k, "--dim"))
            o.dim = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--n"))
            o.n = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--rate"))
            o.rate = strtod(v, NULL);
        else if (!strcmp(k, "--from"))
            o.from = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--batch"))
            o.batch = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--durability"))
            o.durability = !strcmp(v, "async") ? 1 : !strcmp(v, "batch") ? 2
                           : !strcmp(v, "strict") ? 3 : -1;
        else
            die("unknown flag", k);
    }
    if (!o.target || o.k == 0 || o.concurrency == 0 || o.batch == 0 || o.dim == 0 ||
        o.durability < 0)
        die("missing --target or a bad value", NULL);
    grpc_init();
    int rc;
    if (!strcmp(o.mode, "search")) {
        if (!o.query)
            die("search needs --query", NULL);
        rc = run_search(&o);
    } else if (!strcmp(o.mode, "ingest")) {
        if (!conc_set)
            o.concurrency = 1;
        rc = run_ingest(&o);
    } else {
        die("unknown mode", o.mode);
        rc = 2;
    }
    grpc_shutdown();
    return rc;
}
