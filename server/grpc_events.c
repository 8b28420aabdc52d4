/*
 * grpc_events.c: SubscribeToEvents, the change stream of one collection, or of every
 * collection of the caller's tenant when the request names none, over gRPC (docs/api/grpc.md,
 * "Change stream").
 *
 * A subscription is an engine change reader (hs_changes, or the node-wide hs_node_changes
 * filtered to the tenant) tied to a server-streaming call.  One
 * thread serves every subscription: it sends the next change of each subscription whose
 * previous message has gone out, so a call has at most one message in flight and the reader
 * reads the log only as fast as the client takes messages (back-pressure: nothing queues in
 * memory, a slow client only keeps its position in the log).  When no subscription has anything
 * to send the thread waits for the change generation (events.c) to move: a write applied, a
 * message sent, a client gone.  Writers never wait for it.
 *
 * Ending: the client leaving (RECV_CLOSE completes), the collection's deletion (after its
 * COLLECTION_DELETED event: status OK), a reader error (its status), or shutdown (UNAVAILABLE);
 * the status goes out once no message is in flight.  A subscription is freed when the thread
 * has unlinked it and both the close and the status batches completed (refs), in whatever order
 * the completion queue reports them.
 *
 * Locking: subs_mu guards the list and `stopping`; each call's mu guards its send flags and the
 * subscription's ending fields; subs_mu is never taken inside a call's mu.
 */
#include <grpc/byte_buffer.h>
#include <grpc/status.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/grpc_int.h"
#include "util/log.h"

/* Subscriptions served at once: each holds a reader (a window of up to 1 MiB while active). */
#define MAX_SUBS 1024
/* The thread looks again this often even when nothing woke it (a drop notice, a slow disk). */
#define IDLE_MS 1000

struct hs_esub {
    hs_gcall *call;
    hs_changes *cur;
    hs_node_changes *node; /* instead of cur: every collection of the tenant */
    char tenant[HS_NAME_MAX + 1];
    unsigned kinds;        /* node: the kinds wanted (0 = all) */
    char collection[HS_NAME_MAX + 1];
    unsigned key;   /* hs_events_key of its collection */
    bool idle;      /* found nothing new at its last step (events thread) */
    /* call->mu: */
    bool end;   /* end with end_status once nothing is in flight */
    int end_status;
    char end_msg[512];
    int refs;   /* the list, the close batch, the status batch */
    struct hs_esub *next;
};

static pthread_mutex_t subs_mu = PTHREAD_MUTEX_INITIALIZER;
static hs_esub *subs;
static size_t nsubs;
static bool stopping;
static pthread_t thread;
static bool running;

/* Drops one reference (caller holds c->mu, released here); the last frees the call. */
static void unref_unlock(hs_gcall *c)
{
    hs_esub *s = c->events;
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last)
        return;
    hs_changes_close(s->cur);
    hs_node_changes_close(s->node);
    free(s);
    c->events = NULL;
    hs_gcall_free(c);
}

/* Sends the final status when it is due (c->mu held). */
static void maybe_finish(hs_gcall *c)
{
    hs_esub *s = c->events;
    if (!s->end || c->send_in_flight || c->done_sent)
        return;
    c->done_sent = true;
    hs_gcall_finish(c, s->end_status, s->end_msg);
}

static void end_with(hs_gcall *c, int status, const char *msg)
{
    hs_esub *s = c->events;
    if (s->end)
        return;
    s->end = true;
    s->end_status = status;
    snprintf(s->end_msg, sizeof(s->end_msg), "%s", msg);
}

void hs_events_stream_event(hs_gcall *c, int kind, bool ok)
{
    pthread_mutex_lock(&c->mu);
    if (kind == TAG_SENT) {
        c->send_in_flight = false;
        if (!ok)
            end_with(c, GRPC_STATUS_CANCELLED, "The client left");
        maybe_finish(c); /* shutdown or an end waited for this message */
        pthread_mutex_unlock(&c->mu);
    } else { /* TAG_CLOSE: the client left (or the call ended) */
        c->closed = true;
        end_with(c, GRPC_STATUS_CANCELLED, "The client left");
        maybe_finish(c);
        unref_unlock(c);
    }
    hs_events_poke();
}

void hs_events_stream_done(hs_gcall *c)
{
    pthread_mutex_lock(&c->mu);
    unref_unlock(c);
}

/* ---- messages ------------------------------------------------------------------------------- */

/* Packs an upsert's event into *out (malloc'd); false when out of memory. */
static bool pack_upsert(const hs_change *ch, const char *collection, uint8_t **out, size_t *len)
{
    Hyperspace__VectorInsertedEvent ev = HYPERSPACE__VECTOR_INSERTED_EVENT__INIT;
    ev.id = (uint32_t)ch->point.id;
    ev.collection = (char *)collection;
    ev.logical_clock = ch->clock;
    ev.origin_node_id = g_srv.node_id;
    ev.vector = (double *)ch->point.vector;
    ev.n_vector = ch->point.vector ? ch->point.dim : 0;
    char *sid = ch->point.sid ? strndup(ch->point.sid, ch->point.sid_len) : NULL;
    if (sid)
        ev.string_id = sid;
    hs_gstrmap m;
    hs_gtyped t = {0};
    bool ok = hs_gstrmap_collect(&m, &hyperspace__vector_inserted_event__metadata_entry__descriptor,
                                 &ch->point) == 0 &&
              hs_gtyped_collect(&t, &ch->point) == 0;
    Hyperspace__VectorInsertedEvent__TypedMetadataEntry *te = malloc((t.n + 1) * sizeof(*te));
    Hyperspace__VectorInsertedEvent__TypedMetadataEntry **tp = malloc((t.n + 1) * sizeof(*tp));
    ok = ok && te && tp && (sid || !ch->point.sid);
    for (size_t i = 0; ok && i < t.n; i++) {
        hyperspace__vector_inserted_event__typed_metadata_entry__init(&te[i]);
        te[i].key = t.keys[i];
        te[i].value = t.vals[i];
        tp[i] = &te[i];
    }
    Hyperspace__EventMessage msg = HYPERSPACE__EVENT_MESSAGE__INIT;
    if (ok) {
        ev.n_metadata = m.n;
        ev.metadata = (Hyperspace__VectorInsertedEvent__MetadataEntry **)m.ptrs;
        ev.n_typed_metadata = t.n;
        ev.typed_metadata = tp;
        msg.type = HYPERSPACE__EVENT_TYPE__VECTOR_INSERTED;
        msg.payload_case = HYPERSPACE__EVENT_MESSAGE__PAYLOAD_VECTOR_INSERTED;
        msg.vector_inserted = &ev;
        *len = protobuf_c_message_get_packed_size(&msg.base);
        *out = malloc(*len ? *len : 1);
        ok = *out != NULL;
    }
    if (ok)
        protobuf_c_message_pack(&msg.base, *out);
    hs_gstrmap_free(&m);
    free(te);
    free(tp);
    free(sid);
    hs_gtyped_free(&t);
    return ok;
}

/* Packs the EventMessage of a change into *out (malloc'd); false when out of memory. */
static bool pack_change(const hs_change *ch, const char *collection, uint8_t **out, size_t *len)
{
    if (ch->kind == HS_CHANGE_UPSERT)
        return pack_upsert(ch, collection, out, len);
    Hyperspace__EventMessage msg = HYPERSPACE__EVENT_MESSAGE__INIT;
    Hyperspace__VectorDeletedEvent del = HYPERSPACE__VECTOR_DELETED_EVENT__INIT;
    Hyperspace__CollectionCreatedEvent cre = HYPERSPACE__COLLECTION_CREATED_EVENT__INIT;
    Hyperspace__CreateCollectionOp op = HYPERSPACE__CREATE_COLLECTION_OP__INIT;
    Hyperspace__CollectionDeletedEvent drop = HYPERSPACE__COLLECTION_DELETED_EVENT__INIT;
    char sid[HS_SID_MAX + 1]; /* a string id, NUL-terminated for the message */
    switch (ch->kind) {
    case HS_CHANGE_DELETE:
        del.id = (uint32_t)ch->point.id;
        if (ch->point.sid) {
            memcpy(sid, ch->point.sid, ch->point.sid_len);
            sid[ch->point.sid_len] = 0;
            del.string_id = sid;
        }
        del.collection = (char *)collection;
        del.logical_clock = ch->clock;
        del.origin_node_id = g_srv.node_id;
        msg.type = HYPERSPACE__EVENT_TYPE__VECTOR_DELETED;
        msg.payload_case = HYPERSPACE__EVENT_MESSAGE__PAYLOAD_VECTOR_DELETED;
        msg.vector_deleted = &del;
        break;
    case HS_CHANGE_CREATE:
        op.dimension = ch->config.dimension;
        op.metric = (char *)hs_metric_name(ch->config.metric);
        op.quantization = (char *)hs_quant_name(ch->config.quantization);
        op.m = ch->config.m;
        op.ef_construction = ch->config.ef_construction;
        op.ef_search = ch->config.ef_search;
        op.id_type = ch->config.id_type == HS_ID_STRING ? "string" : "integer";
        cre.collection = (char *)collection;
        cre.logical_clock = ch->clock;
        cre.origin_node_id = g_srv.node_id;
        cre.config = &op;
        msg.type = HYPERSPACE__EVENT_TYPE__COLLECTION_CREATED;
        msg.payload_case = HYPERSPACE__EVENT_MESSAGE__PAYLOAD_COLLECTION_CREATED;
        msg.collection_created = &cre;
        break;
    default: /* HS_CHANGE_DROP */
        drop.collection = (char *)collection;
        drop.logical_clock = ch->clock;
        drop.origin_node_id = g_srv.node_id;
        msg.type = HYPERSPACE__EVENT_TYPE__COLLECTION_DELETED;
        msg.payload_case = HYPERSPACE__EVENT_MESSAGE__PAYLOAD_COLLECTION_DELETED;
        msg.collection_deleted = &drop;
        break;
    }
    *len = protobuf_c_message_get_packed_size(&msg.base);
    *out = malloc(*len ? *len : 1);
    if (*out)
        protobuf_c_message_pack(&msg.base, *out);
    return *out != NULL;
}

/* Starts sending bytes on c (c->mu held, nothing in flight). */
static void send_bytes(hs_gcall *c, const uint8_t *buf, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    c->send_in_flight = true;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_sent, NULL) != GRPC_CALL_OK) {
        c->send_in_flight = false;
        end_with(c, GRPC_STATUS_INTERNAL, "Internal error: the event could not be sent");
    }
    grpc_byte_buffer_destroy(bb);
}

/* ---- the thread ----------------------------------------------------------------------------- */

/* One step of subscription s: its next change sent, or its end.  True when it sent.  An idle
 * subscription whose collection did not change (`changed`) is not looked at. */
static bool step(hs_esub *s, bool changed)
{
    hs_gcall *c = s->call;
    pthread_mutex_lock(&c->mu);
    if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE))
        end_with(c, GRPC_STATUS_UNAVAILABLE, "Server is shutting down");
    bool busy = c->send_in_flight || s->end;
    maybe_finish(c);
    pthread_mutex_unlock(&c->mu);
    if (busy || (s->idle && !changed))
        return false;
    hs_change ch;
    hs_node_change nc;
    const char *name = s->collection;
    int got = 0;
    hs_fail f = {0};
    if (s->node) { /* every collection of the tenant: a drop ends nothing */
        hs_op_node_events_next(s->node, s->tenant, s->kinds, &nc, &got, &f);
        ch = nc.change;
        name = nc.name;
    } else {
        hs_error err;
        memset(&err, 0, sizeof(err));
        int rc = hs_changes_next(s->cur, &ch, &got, &err); /* the log: no lock held */
        if (rc != HS_OK)
            hs_op_events_fail(s->collection, rc, &err, &f);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    bool packed = !f.id && got == 1 && pack_change(&ch, name, &buf, &len);
    s->idle = !f.id && got == 0;
    pthread_mutex_lock(&c->mu);
    if (f.id) {
        end_with(c, hs_err_grpc_status(f.id), f.message);
    } else if (got == 1 && !packed) {
        end_with(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "Out of memory");
    } else if (got == 1 && !s->end) {
        send_bytes(c, buf, len);
        if (ch.kind == HS_CHANGE_DROP && !s->node) /* the collection is gone */
            end_with(c, GRPC_STATUS_OK, "");
    }
    maybe_finish(c);
    pthread_mutex_unlock(&c->mu);
    free(buf);
    return packed || got < 0;
}

/* Unlinks the subscriptions that sent their status (and, when stopping, every one: one whose
 * message is stuck behind a client that does not read is cancelled with the status, which
 * completes the send, whose completion then sends the final batch). */
static void sweep(bool all)
{
    pthread_mutex_lock(&subs_mu);
    for (hs_esub **p = &subs; *p;) {
        hs_esub *s = *p;
        hs_gcall *c = s->call;
        pthread_mutex_lock(&c->mu);
        if (all && c->send_in_flight && !c->done_sent)
            grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE,
                                         "Server is shutting down", NULL);
        if (c->done_sent || all) {
            *p = s->next;
            nsubs--;
            unref_unlock(c);
        } else {
            pthread_mutex_unlock(&c->mu);
            p = &s->next;
        }
    }
    pthread_mutex_unlock(&subs_mu);
}

static void *events_main(void *arg)
{
    (void)arg;
    uint64_t dirty[HS_EVENTS_KEYS / 64];
    uint64_t full_due = 0;
    for (;;) {
        uint64_t gen = hs_events_gen();
        /* taken before the reads: a change applied after it is in the next take */
        hs_events_take_dirty(dirty);
        uint64_t now = hs_now_ns_srv();
        bool full = now >= full_due; /* every subscription looks once in a while */
        if (full)
            full_due = now + (uint64_t)IDLE_MS * 1000000u;
        pthread_mutex_lock(&subs_mu);
        hs_esub *head = subs; /* new ones go in front; only this thread unlinks */
        bool stop = stopping;
        pthread_mutex_unlock(&subs_mu);
        bool sent = false, node = false;
        for (hs_esub *s = head; s; s = s->next) {
            sent |= step(s, full || s->node || (dirty[s->key / 64] >> (s->key % 64) & 1));
            node |= s->node != NULL;
        }
        sweep(false);
        if (stop)
            break;
        node = node && !__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE); /* clock is +1 */
        uint64_t applied = node ? hs_db_applied_clock(g_srv.db) : 0;
        if (!sent && node && applied < hs_db_clock(g_srv.db))
            hs_db_wait_applied(g_srv.db, applied, 5); /* observed before applied: look again */
        else if (!sent)
            hs_events_wait(gen, IDLE_MS);
    }
    sweep(true); /* the ones with a message in flight end from its completion */
    return NULL;
}

void hs_events_start(void)
{
    pthread_mutex_lock(&subs_mu);
    stopping = false;
    pthread_mutex_unlock(&subs_mu);
    running = pthread_create(&thread, NULL, events_main, NULL) == 0;
}

void hs_events_stop(void)
{
    pthread_mutex_lock(&subs_mu);
    __atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&subs_mu);
    hs_events_poke();
    if (running)
        pthread_join(thread, NULL);
    running = false;
}

/* ---- the RPC -------------------------------------------------------------------------------- */

/* The kinds of change the request's types ask for; -1 (and *bad) for an unknown type. */
static long kinds_of(const Hyperspace__EventSubscriptionRequest *r, size_t *bad)
{
    unsigned kinds = 0;
    for (size_t i = 0; i < r->n_types; i++) {
        switch ((int)r->types[i]) {
        case HYPERSPACE__EVENT_TYPE__VECTOR_INSERTED:
            kinds |= 1u << HS_CHANGE_UPSERT;
            break;
        case HYPERSPACE__EVENT_TYPE__VECTOR_DELETED:
            kinds |= 1u << HS_CHANGE_DELETE;
            break;
        case HYPERSPACE__EVENT_TYPE__COLLECTION_CREATED:
            kinds |= 1u << HS_CHANGE_CREATE;
            break;
        case HYPERSPACE__EVENT_TYPE__COLLECTION_DELETED:
            kinds |= 1u << HS_CHANGE_DROP;
            break;
        case HYPERSPACE__EVENT_TYPE__TRAJECTORY_STEP:
            kinds |= 1u << 31; /* asked for, never sent: not "every type" */
            break;
        default:
            *bad = i;
            return -1;
        }
    }
    return (long)kinds;
}

void hs_events_subscribe(hs_gcall *c, const uint8_t *msg, size_t len)
{
    Hyperspace__EventSubscriptionRequest *r =
        hyperspace__event_subscription_request__unpack(NULL, len, msg);
    if (!r) {
        hs_gcall_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "Malformed request message");
        return;
    }
    char text[160];
    size_t bad = 0;
    long kinds = kinds_of(r, &bad);
    hs_fail f = {0};
    hs_changes *cur = NULL;
    hs_node_changes *node = NULL;
    hs_esub *s = NULL;
    bool all = r->_collection_case != HYPERSPACE__EVENT_SUBSCRIPTION_REQUEST___COLLECTION_COLLECTION;
    if (kinds < 0) {
        snprintf(text, sizeof(text), "types[%zu] is %d, which is not an event type", bad,
                 (int)r->types[bad]);
        hs_fail_set(&f, HS_ERR_INVALID_ARGUMENT, "%s", text);
    } else {
        hs_op_events_req q = {
            all ? "" : r->collection, (unsigned)kinds,
            r->_after_clock_case == HYPERSPACE__EVENT_SUBSCRIPTION_REQUEST___AFTER_CLOCK_AFTER_CLOCK,
            r->after_clock};
        if (all)
            hs_op_node_events_open(&q, &node, &f);
        else
            hs_op_events_open(c->auth.tenant, &q, &cur, &f);
    }
    if (!f.id && !(s = calloc(1, sizeof(*s))))
        hs_fail_set(&f, HS_ERR_NO_MEMORY, "Out of memory");
    pthread_mutex_lock(&subs_mu);
    if (!f.id && (stopping || nsubs >= MAX_SUBS))
        hs_fail_set(&f, stopping ? HS_ERR_SHUTTING_DOWN : HS_ERR_NO_MEMORY,
                    stopping ? "Server is shutting down"
                             : "Too many event subscriptions (at most %d at once)", MAX_SUBS);
    if (f.id) {
        pthread_mutex_unlock(&subs_mu);
        hs_changes_close(cur);
        hs_node_changes_close(node);
        free(s);
        hs_gcall_fail(c, &f);
        hyperspace__event_subscription_request__free_unpacked(r, NULL);
        return;
    }
    snprintf(s->collection, sizeof(s->collection), "%s",
             all ? "" : *r->collection ? r->collection : "default");
    snprintf(s->tenant, sizeof(s->tenant), "%s", c->auth.tenant);
    s->kinds = kinds & 0x1f; /* TRAJECTORY_STEP's bit asks for nothing sent */
    if (!s->kinds && kinds)
        s->kinds = 1u << 30; /* only trajectory steps: nothing matches */
    s->call = c;
    s->cur = cur;
    s->node = node;
    s->key = hs_events_key(c->auth.tenant, s->collection);
    s->refs = 3;
    c->events = s;
    c->stream = true;
    c->close_armed = true;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, &c->tag_close, NULL) != GRPC_CALL_OK) {
        /* no close completion will come: its reference goes now, the stream ends */
        s->refs--;
        c->closed = true;
        end_with(c, GRPC_STATUS_CANCELLED, "The client left");
    }
    s->next = subs;
    subs = s;
    nsubs++;
    pthread_mutex_unlock(&subs_mu);
    hyperspace__event_subscription_request__free_unpacked(r, NULL);
    hs_events_poke();
}
