/*
 * http_events.c: GET /api/collections/{name}/events, the change stream over HTTP as a long
 * poll (docs/api/http.md, "Change stream"), and GET /api/events, the same for every collection
 * of the tenant at once (each event names its collection; a drop ends nothing): the events after `after` (up to `limit`, and about
 * 4 MiB), waiting up to `wait_ms` for the first one; `next` is what to pass as `after` on the
 * next request.  Without `after` it answers at once with no event and the collection's current
 * position, from which a client follows it.  Each request opens its own engine reader, so the
 * client's position is all the state there is; the connection's thread waits on the change
 * generation (events.c) and never holds a lock while it waits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_route.h"

#define EVENTS_LIMIT_MAX 1000
#define EVENTS_WAIT_MAX_MS 30000
#define EVENTS_BYTES 4194304 /* a response stops growing past this (after one event at least) */

/* The kinds named by a `types` list ("upsert,delete,create,drop"); false on an unknown one. */
static bool kinds_of(const char *s, unsigned *kinds)
{
    static const struct {
        const char *name;
        hs_change_kind kind;
    } names[] = {{"upsert", HS_CHANGE_UPSERT}, {"delete", HS_CHANGE_DELETE},
                 {"create", HS_CHANGE_CREATE}, {"drop", HS_CHANGE_DROP}};
    *kinds = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        bool known = false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !known; i++)
            if (strlen(names[i].name) == n && !strncmp(s, names[i].name, n)) {
                *kinds |= 1u << names[i].kind;
                known = true;
            }
        if (!known)
            return false;
        s += n + (s[n] == ',');
    }
    return *kinds != 0;
}

static void config_json(sb *b, const hs_collection_config *cfg)
{
    hs_sb_printf(b, "{\"dimension\":%u,\"metric\":", cfg->dimension);
    hs_sb_cstr(b, hs_metric_name(cfg->metric));
    hs_sb_puts(b, ",\"quantization\":");
    hs_sb_cstr(b, hs_quant_name(cfg->quantization));
    hs_sb_printf(b, ",\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u", cfg->m,
                 cfg->ef_construction, cfg->ef_search);
    hs_sb_puts(b, cfg->id_type == HS_ID_STRING ? ",\"id_type\":\"string\"}" : "}");
}

static void event_json(sb *b, const hs_change *ch, const char *collection)
{
    static const char *types[] = {"", "create", "upsert", "delete", "drop"};
    hs_sb_puts(b, "{");
    if (collection) {
        hs_sb_puts(b, "\"collection\":");
        hs_sb_cstr(b, collection);
        hs_sb_puts(b, ",");
    }
    hs_sb_puts(b, "\"type\":");
    hs_sb_cstr(b, types[ch->kind]);
    hs_sb_puts(b, ",\"clock\":");
    hs_sb_u64(b, ch->clock);
    if (ch->kind == HS_CHANGE_UPSERT) {
        point_out o = {b, true, true, 0, 0};
        hs_sb_puts(b, ",\"point\":");
        hs_http_point_json(&o, &ch->point);
    } else if (ch->kind == HS_CHANGE_DELETE) {
        hs_sb_puts(b, ",\"id\":");
        hs_http_id_json(b, &ch->point);
    } else if (ch->kind == HS_CHANGE_CREATE) {
        hs_sb_puts(b, ",\"config\":");
        config_json(b, &ch->config);
    }
    hs_sb_put(b, "}", 1);
}

/* The query arguments: *has_after / *after, *limit, *wait_ms, *kinds; false after a failure. */
static bool arguments(hctx *c, hs_op_events_req *q, uint64_t *limit, uint64_t *wait_ms)
{
    char buf[64];
    const char *a = hs_http_query_arg(c, "after", buf, sizeof(buf));
    q->has_after = a != NULL;
    if (a && !hs_http_parse_u64(a, strlen(a), UINT64_MAX, &q->after)) {
        hs_http_fail(c, HS_ERR_FIELD, "Field 'after' must be a clock (an integer >= 0)");
        return false;
    }
    const char *l = hs_http_query_arg(c, "limit", buf, sizeof(buf));
    if (l && (!hs_http_parse_u64(l, strlen(l), EVENTS_LIMIT_MAX, limit) || *limit < 1)) {
        hs_http_fail(c, HS_ERR_FIELD, "Field 'limit' must be an integer between 1 and %d",
                     EVENTS_LIMIT_MAX);
        return false;
    }
    const char *w = hs_http_query_arg(c, "wait_ms", buf, sizeof(buf));
    if (w && !hs_http_parse_u64(w, strlen(w), EVENTS_WAIT_MAX_MS, wait_ms)) {
        hs_http_fail(c, HS_ERR_FIELD, "Field 'wait_ms' must be an integer between 0 and %d",
                     EVENTS_WAIT_MAX_MS);
        return false;
    }
    const char *t = hs_http_query_arg(c, "types", buf, sizeof(buf));
    if (t && !kinds_of(t, &q->kinds)) {
        hs_http_fail(c, HS_ERR_FIELD, "Field 'types' must list event types among upsert, "
                     "delete, create and drop, separated by commas");
        return false;
    }
    return true;
}

/* Waits for the change generation to move past `gen` (at most until the deadline, a second
 * at a time so that shutdown is seen); false when the request should answer now. */
static bool wait_more(hctx *c, uint64_t deadline, uint64_t gen)
{
    uint64_t now = hs_now_ns_srv();
    if (c->f.id || now >= deadline || !hs_events_observed() ||
        __atomic_load_n(&g_srv.state, __ATOMIC_ACQUIRE) == SRV_STOPPING)
        return false;
    uint64_t left_ms = (deadline - now) / 1000000u + 1;
    uint64_t applied = hs_db_applied_clock(g_srv.db);
    if (applied < hs_db_clock(g_srv.db) && /* the observer runs before a change is applied: */
        !__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE)) /* (a follower's clock is +1) */
        hs_db_wait_applied(g_srv.db, applied, 5); /* a node reader woken by it looks again */
    else
        hs_events_wait(gen, left_ms > 1000 ? 1000 : (int)left_ms);
    return true;
}

void hs_route_events(hctx *c)
{
    hs_op_events_req q = {c->st->name, 0, false, 0};
    uint64_t limit = 100, wait_ms = 0;
    if (!arguments(c, &q, &limit, &wait_ms))
        return;
    hs_changes *cur;
    if (hs_op_events_open(hs_http_tenant(c), &q, &cur, &c->f))
        return;
    uint64_t deadline = hs_now_ns_srv() + wait_ms * 1000000u;
    size_t n = 0;
    hs_sb_puts(&c->out, "{\"collection\":");
    hs_sb_cstr(&c->out, c->st->name);
    hs_sb_puts(&c->out, ",\"events\":[");
    bool ended = false;
    while (q.has_after && !c->f.id && !ended) {
        uint64_t gen = hs_events_gen();
        for (;;) {
            hs_change ch;
            int got = 0;
            hs_error err;
            memset(&err, 0, sizeof(err));
            int rc = hs_changes_next(cur, &ch, &got, &err);
            if (rc && n) {
                ended = true; /* the events so far go out; the next request gets the error */
                break;
            }
            if (rc) {
                hs_op_events_fail(c->st->name, rc, &err, &c->f);
                break;
            }
            if (!got)
                break;
            if (n++)
                hs_sb_put(&c->out, ",", 1);
            event_json(&c->out, &ch, NULL);
            ended = ch.kind == HS_CHANGE_DROP;
            if (n == limit || c->out.n >= EVENTS_BYTES || ended)
                break;
        }
        if (n || !wait_more(c, deadline, gen))
            break;
    }
    if (!c->f.id) {
        hs_sb_puts(&c->out, "],\"next\":");
        hs_sb_u64(&c->out, hs_changes_position(cur));
        hs_sb_put(&c->out, "}", 1);
    }
    hs_changes_close(cur);
}

void hs_route_node_events(hctx *c)
{
    hs_op_events_req q = {"", 0, false, 0};
    uint64_t limit = 100, wait_ms = 0;
    if (!arguments(c, &q, &limit, &wait_ms))
        return;
    hs_node_changes *cur;
    if (hs_op_node_events_open(&q, &cur, &c->f))
        return;
    const char *tenant = hs_http_tenant(c);
    uint64_t deadline = hs_now_ns_srv() + wait_ms * 1000000u;
    size_t n = 0;
    hs_sb_puts(&c->out, "{\"events\":[");
    while (q.has_after && !c->f.id) {
        uint64_t gen = hs_events_gen();
        for (;;) {
            hs_node_change nc;
            int got = 0;
            hs_fail f = {0};
            hs_op_node_events_next(cur, tenant, q.kinds, &nc, &got, &f);
            if (f.id && n)
                break; /* the events so far go out; the next request gets the error */
            if (f.id) {
                c->f = f;
                break;
            }
            if (got < 0)
                continue;
            if (!got)
                break;
            if (n++)
                hs_sb_put(&c->out, ",", 1);
            event_json(&c->out, &nc.change, nc.name);
            if (n == limit || c->out.n >= EVENTS_BYTES)
                break;
        }
        if (n || !wait_more(c, deadline, gen))
            break;
    }
    if (!c->f.id) {
        hs_sb_puts(&c->out, "],\"next\":");
        hs_sb_u64(&c->out, hs_node_changes_position(cur));
        hs_sb_put(&c->out, "}", 1);
    }
    hs_node_changes_close(cur);
}
