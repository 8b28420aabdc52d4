/*
 * http_api.c: the HTTP/JSON API (spec http.md): the two request stages (stage 1 on the headers:
 * routing, CORS, the check order of B9.3; stage 2 with the body: the JSON checks, the route), the
 * route table, responses and the error envelope.  The routes are in http_collections.c,
 * http_points.c and http_node.c (see http_route.h).
 */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/http_route.h"
#include "server/repl.h"
#include "util/log.h"
#include "util/numfmt.h"
#include "util/utf8.h"


/* ---- responses -------------------------------------------------------------------------------- */

void hs_hresp_header(hs_hresp *r, const char *name, const char *fmt, ...)
{
    hs_hheader *h = NULL;
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name))
            h = &r->headers[i];
    if (!h) {
        if (r->nheaders == HS_HTTP_MAX_RESP_HEADERS)
            return;
        h = &r->headers[r->nheaders++];
        h->name = name;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof(h->value), fmt, ap);
    va_end(ap);
}

void hs_hresp_free(hs_hresp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    if (r->has_file)
        close(r->file_fd);
    r->has_file = false;
}

static void resp_take(hs_hresp *r, int status, sb *b, const char *ctype)
{
    free(r->body);
    if (b->oom) {
        free(b->p);
        static const char oom[] =
            "{\"error\":{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"Out of memory\"}}";
        r->body = strdup(oom);
        r->len = r->body ? strlen(oom) : 0;
        r->status = 503;
        r->content_type = "application/json";
        return;
    }
    r->status = status;
    r->body = b->p;
    r->len = b->n;
    r->content_type = ctype;
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Whether the configured leader can be a header value (printable, fits). */
static bool leader_header_ok(const char *l)
{
    size_t n = 0;
    for (; l[n]; n++)
        if ((unsigned char)l[n] < 0x20 || l[n] == 0x7f)
            return false;
    return n > 0 && n < sizeof(((hs_hheader *)0)->value);
}

static void resp_error(hs_hresp *r, const hs_fail *f, const char *extra_details)
{
    sb b = {0};
    hs_sb_puts(&b, "{\"error\":{\"code\":");
    hs_sb_cstr(&b, hs_err_http_code(f->id));
    hs_sb_puts(&b, ",\"message\":");
    hs_sb_cstr(&b, f->message);
    if (f->details[0] || (extra_details && *extra_details)) {
        hs_sb_puts(&b, ",\"details\":{");
        hs_sb_puts(&b, f->details);
        if (extra_details && *extra_details) {
            if (f->details[0])
                hs_sb_puts(&b, ",");
            hs_sb_puts(&b, extra_details);
        }
        hs_sb_puts(&b, "}");
    }
    hs_sb_puts(&b, "}}");
    resp_take(r, hs_err_http_status(f->id), &b, "application/json");
    if (r->status == 401)
        hs_hresp_header(r, "WWW-Authenticate", "Bearer realm=\"hyperspace\"");
    if (f->id == HS_ERR_FOLLOWER_WRITE && leader_header_ok(g_srv.cfg.leader))
        hs_hresp_header(r, "X-Hyperspace-Leader", "%s", g_srv.cfg.leader);
}

static void resp_empty(hs_hresp *r, int status)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = status;
    r->content_type = NULL;
}

/* ---- the route table ------------------------------------------------------------------------- */

#define C "/api/collections/{name}"
#define S "/api/snapshots/{snapshot}"
static const route routes[] = {
    {"GET", "/healthz", HS_ROLE_NONE, false, false, BODY_NONE, hs_route_healthz},
    {"GET", "/readyz", HS_ROLE_NONE, false, false, BODY_NONE, hs_route_readyz},
    {"GET", "/metrics", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_prometheus},
    {"GET", "/api/collections", HS_ROLE_READER, false, false, BODY_NONE, hs_route_list},
    {"POST", "/api/collections", HS_ROLE_WRITER, false, true, BODY_JSON, hs_route_create},
    {"GET", C, HS_ROLE_READER, false, false, BODY_NONE, hs_route_info},
    {"DELETE", C, HS_ROLE_WRITER, false, true, BODY_NONE, hs_route_drop},
    {"GET", C "/stats", HS_ROLE_READER, false, false, BODY_NONE, hs_route_stats},
    {"GET", C "/digest", HS_ROLE_READER, false, false, BODY_NONE, hs_route_digest},
    {"PATCH", C "/config", HS_ROLE_ADMIN, false, false, BODY_JSON_OPT, hs_route_config},
    {"POST", C "/insert", HS_ROLE_WRITER, false, true, BODY_JSON, hs_route_insert},
    {"POST", C "/insert/batch", HS_ROLE_WRITER, false, true, BODY_JSON_OR_BINARY, hs_route_insert_batch},
    {"POST", C "/search", HS_ROLE_READER, false, false, BODY_JSON, hs_route_search},
    {"POST", C "/search/batch", HS_ROLE_READER, false, false, BODY_JSON, hs_route_search_batch},
    {"POST", C "/points/delete", HS_ROLE_WRITER, false, true, BODY_JSON, hs_route_points_delete},
    {"GET", C "/points/{id}", HS_ROLE_READER, false, false, BODY_NONE, hs_route_get_point},
    {"DELETE", C "/points/{id}", HS_ROLE_WRITER, false, true, BODY_NONE, hs_route_delete_point},
    {"GET", C "/points", HS_ROLE_READER, false, false, BODY_NONE, hs_route_get_points},
    {"POST", C "/scroll", HS_ROLE_READER, false, false, BODY_JSON_OPT, hs_route_scroll},
    {"POST", C "/count", HS_ROLE_READER, false, false, BODY_JSON_OPT, hs_route_count},
    {"GET", C "/peek", HS_ROLE_READER, false, false, BODY_NONE, hs_route_peek},
    {"POST", C "/payload", HS_ROLE_WRITER, false, true, BODY_JSON, hs_route_payload},
    {"PATCH", C "/payload", HS_ROLE_WRITER, false, true, BODY_JSON, hs_route_payload},
    {"POST", C "/freeze", HS_ROLE_ADMIN, false, true, BODY_NONE, hs_route_freeze},
    {"POST", C "/unfreeze", HS_ROLE_ADMIN, false, true, BODY_NONE, hs_route_unfreeze},
    {"POST", "/api/search/multi", HS_ROLE_READER, false, false, BODY_JSON, hs_route_search_multi},
    {"GET", C "/events", HS_ROLE_READER, false, false, BODY_NONE, hs_route_events},
    {"GET", "/api/events", HS_ROLE_READER, false, false, BODY_NONE, hs_route_node_events},
    {"POST", C "/rebuild", HS_ROLE_ADMIN, false, false, BODY_NONE, hs_route_rebuild},
    {"POST", C "/snapshot", HS_ROLE_ADMIN, false, false, BODY_NONE, hs_route_coll_snapshot},
    {"POST", "/api/admin/snapshot", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_snapshot},
    {"POST", "/api/admin/vacuum", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_vacuum},
    {"GET", "/api/admin/usage", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_usage},
    {"GET", "/api/cluster/status", HS_ROLE_READER, false, false, BODY_NONE, hs_route_cluster},
    {"POST", "/api/cluster/promote", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_promote},
    {"GET", "/api/status", HS_ROLE_READER, false, false, BODY_NONE, hs_route_status},
    {"GET", "/api/metrics", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_api_metrics},
    {"GET", "/api/logs", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_logs},
    /* snapshot archives (http_snapshots.c) */
    {"GET", "/api/snapshots", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_snapshots_list},
    {"POST", "/api/snapshots", HS_ROLE_ADMIN, true, false, BODY_JSON_OPT, hs_route_snapshots_create},
    {"GET", S, HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_snapshot_download},
    {"PUT", S, HS_ROLE_ADMIN, true, false, BODY_STREAM, hs_route_snapshot_upload},
    {"DELETE", S, HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_snapshot_delete},
    {"GET", S "/manifest", HS_ROLE_ADMIN, true, false, BODY_NONE, hs_route_snapshot_manifest},
    {"POST", S "/restore", HS_ROLE_ADMIN, true, true, BODY_JSON_OPT, hs_route_snapshot_restore},
};
#undef S
#undef C
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches a path against a template; {name} and {id} take one non-empty segment each. */
/* Where the path parameters of a matched template are. */
typedef struct params {
    const char *name, *id, *snapshot;
    size_t name_len, id_len, snapshot_len;
} params;

static bool templ_match(const char *t, const char *p, params *pp)
{
    while (*t && *p) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            const char *seg_end = strchr(p, '/');
            size_t seg = seg_end ? (size_t)(seg_end - p) : strlen(p);
            if (!seg)
                return false;
            if (!strncmp(t, "{name}", 6)) {
                pp->name = p;
                pp->name_len = seg;
            } else if (!strncmp(t, "{snapshot}", 10)) {
                pp->snapshot = p;
                pp->snapshot_len = seg;
            } else {
                pp->id = p;
                pp->id_len = seg;
            }
            t = close + 1;
            p += seg;
        } else if (*t++ != *p++) {
            return false;
        }
    }
    return !*t && !*p;
}

/* The routes whose template matches the path: the first such template, its methods in *allow. */
static const char *match_path(const char *path, char *allow, size_t cap, params *pp)
{
    const char *templ = NULL;
    allow[0] = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (templ && strcmp(routes[i].templ, templ))
            continue;
        if (!templ && !templ_match(routes[i].templ, path, pp))
            continue;
        templ = routes[i].templ;
        size_t l = strlen(allow);
        snprintf(allow + l, cap - l, "%s%s", l ? ", " : "", routes[i].method);
        if (!strcmp(routes[i].method, "GET")) {
            l = strlen(allow);
            snprintf(allow + l, cap - l, ", HEAD");
        }
    }
    if (templ) {
        size_t l = strlen(allow);
        snprintf(allow + l, cap - l, ", OPTIONS");
    }
    return templ;
}

/* ---- stage 1 ---------------------------------------------------------------------------------- */

uint64_t hs_http_body_limit(void)
{
    uint32_t mb = g_srv.cfg.max_body_mb ? g_srv.cfg.max_body_mb : 32;
    return (uint64_t)mb * 1048576ull;
}

/* The Access-Control-Allow-Origin value for an Origin, or "" (http.md 3). */
static void cors_decide(const char *origin, char *out, size_t cap)
{
    out[0] = 0;
    if (!origin || !*origin)
        return;
    if (!g_srv.cfg.cors_set) {
        if (!hs_auth_enabled())
            snprintf(out, cap, "*");
        return;
    }
    const char *s = g_srv.cfg.cors_origins;
    size_t ol = strlen(origin);
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *te = e;
        while (te > s && te[-1] == ' ')
            te--;
        size_t l = (size_t)(te - s);
        if (l == 1 && *s == '*') {
            snprintf(out, cap, "*");
            return;
        }
        if (l && l == ol && !strncasecmp(s, origin, l)) {
            snprintf(out, cap, "%s", origin);
            return;
        }
        s = e;
    }
}

static const char *hdr(const hs_hreq *r, const char *name)
{
    return r->header ? r->header(r->ctx, name) : NULL;
}

static void answer_fail(hs_hresp *resp, const hs_fail *f) { resp_error(resp, f, NULL); }

/* Content-Type check: JSON (or missing), or the binary format where allowed. */
static int media_type(const hs_hreq *req, int body_kind, bool *binary, hs_fail *f)
{
    *binary = false;
    const char *ct = hdr(req, "Content-Type");
    if (!ct)
        return 0;
    size_t l = strcspn(ct, ";");
    while (l && (ct[l - 1] == ' ' || ct[l - 1] == '\t'))
        l--;
    if (l == 16 && !strncasecmp(ct, "application/json", 16))
        return 0;
    if (body_kind == BODY_JSON_OR_BINARY && l == 28 &&
        !strncasecmp(ct, "application/x-hyperspace-f32", 28)) {
        *binary = true;
        return 0;
    }
    return hs_fail_set(f, HS_ERR_MEDIA_TYPE, "Unsupported Content-Type '%.128s'; expected %s", ct,
                       body_kind == BODY_JSON_OR_BINARY
                           ? "application/json or application/x-hyperspace-f32"
                           : "application/json");
}

/* {id} of a collection of string ids: the percent-decoded segment is the string id (any
 * segment, digits too); collections of integer ids (or none) read a decimal as before. */
static int path_sid(hs_hstate *st, const char *id, size_t id_len, hs_fail *f)
{
    if (hs_op_id_type(st->auth.tenant, st->name) != HS_ID_STRING)
        return 0;
    char buf[4 * HS_SID_MAX + 1]; /* room to tell a too long id by its length */
    if (!hs_http_pct_decode(id, id_len, buf, sizeof(buf), false))
        return hs_fail_set(f, HS_ERR_INVALID_ARGUMENT, "Invalid point id '%.*s': bad "
                           "percent-encoding, a %%00 or longer than %d bytes",
                           (int)(id_len > 64 ? 64 : id_len), id, HS_SID_MAX);
    size_t n = strlen(buf);
    if (hs_op_check_sid(buf, n, f))
        return f->id;
    memcpy(st->sid, buf, n + 1);
    st->sid_len = n;
    return 0;
}

/* The {snapshot} parameter: percent-decoded (%00 refused), then the snapshot name rule. */
static int snapshot_param(const params *pp, hs_hstate *st, hs_fail *f)
{
    char decoded[HS_SNAPSHOT_NAME_MAX * 3 + 4];
    hs_error err;
    int rc;
    size_t n = pp->snapshot_len;
    if (!hs_http_pct_decode(pp->snapshot, n, decoded, sizeof(decoded), false))
        return hs_fail_set(f, HS_ERR_SNAPSHOT_NAME, "Invalid snapshot name '%.*s': use 1-%d "
                           "characters from A-Z a-z 0-9 _ . - ending in .hsnap, not starting "
                           "with '.'", (int)(n > 200 ? 200 : n), pp->snapshot,
                           HS_SNAPSHOT_NAME_MAX);
    if ((rc = hs_name_check(HS_FIELD_SNAPSHOT, decoded, &err)) != HS_OK)
        return hs_fail_from_engine(f, rc, &err);
    memcpy(st->snapshot, decoded, strlen(decoded) + 1); /* valid names fit */
    return 0;
}

bool hs_http_prepare(const hs_hreq *req, hs_hstate *st, hs_hresp *resp)
{
    memset(st, 0, sizeof(*st));
    memset(resp, 0, sizeof(*resp));
    st->sync_replicas = -1;
    st->start_ns = hs_now_ns_srv();
    st->templ = "other";
    hs_fail f = {0};
    const char *method = req->method ? req->method : "";
    const char *path = req->path ? req->path : "";
    st->head = !strcmp(method, "HEAD");
    cors_decide(hdr(req, "Origin"), st->cors_origin, sizeof(st->cors_origin));

    if (req->header_bytes > HS_HTTP_MAX_HEADER_BYTES) {
        hs_fail_set(&f, HS_ERR_HEADERS, "Request headers too large");
        answer_fail(resp, &f);
        return true;
    }
    if (req->nul_header) {
        if (*req->nul_header)
            hs_fail_set(&f, HS_ERR_FIELD, "Header '%.64s' contains a NUL character, which header "
                        "values cannot hold", req->nul_header);
        else
            hs_fail_set(&f, HS_ERR_FIELD, "The request line contains a NUL character");
        answer_fail(resp, &f);
        return true;
    }
    char allow[128];
    params pp = {0};
    const char *templ = match_path(path, allow, sizeof(allow), &pp);
    const char *name = pp.name, *id = pp.id;
    size_t name_len = pp.name_len, id_len = pp.id_len;
    bool api = !strncmp(path, "/api/", 5) || !strcmp(path, "/api");
    bool open_route = templ && (!strcmp(templ, "/healthz") || !strcmp(templ, "/readyz"));
    if (templ)
        st->templ = templ;

    /* CORS preflight and other OPTIONS requests: no authentication (http.md 3) */
    if (!strcmp(method, "OPTIONS")) {
        resp_empty(resp, 204);
        if (hdr(req, "Origin") && hdr(req, "Access-Control-Request-Method")) {
            if (st->cors_origin[0]) {
                hs_hresp_header(resp, "Access-Control-Allow-Methods",
                                "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
                hs_hresp_header(resp, "Access-Control-Allow-Headers",
                                "content-type, x-api-key, authorization, x-hyperspace-user-id, "
                                "x-hyperspace-sync-replicas");
                hs_hresp_header(resp, "Access-Control-Max-Age", "600");
            }
        } else {
            hs_hresp_header(resp, "Allow", "%s", templ ? allow : "GET, HEAD, OPTIONS");
        }
        return true;
    }
    /* the dashboard's paths: no authentication; this build embeds no dashboard */
    if (!api && !templ) {
        if (strcmp(method, "GET") && !st->head) {
            hs_fail_set(&f, HS_ERR_METHOD, "Method %.16s is not allowed on %.200s", method, path);
            answer_fail(resp, &f);
            hs_hresp_header(resp, "Allow", "GET, HEAD, OPTIONS");
            return true;
        }
        free(resp->body);
        resp->body = strdup("Dashboard not built");
        resp->len = resp->body ? strlen(resp->body) : 0;
        resp->status = 404;
        resp->content_type = "text/plain; charset=utf-8";
        return true;
    }
    const route *r = NULL;
    for (size_t i = 0; templ && i < NROUTES; i++)
        if (!strcmp(routes[i].templ, templ) &&
            (!strcmp(routes[i].method, method) || (st->head && !strcmp(routes[i].method, "GET"))))
            r = &routes[i];

    if (!open_route) {
        /* 1-2: key and tenant, from the headers alone */
        const char *key = hdr(req, "x-api-key");
        if (!key) {
            const char *a = hdr(req, "Authorization");
            if (a && !strncasecmp(a, "Bearer ", 7)) {
                key = a + 7;
                while (*key == ' ')
                    key++;
            }
        }
        const char *t = hdr(req, "x-hyperspace-user-id");
        hs_authenticate(key, key ? strlen(key) : 0, t, t ? strlen(t) : 0, &st->auth);
        if (st->auth.err) {
            hs_auth_fail(&st->auth, &f);
            if (st->auth.err == HS_ERR_AUTH_MISSING || st->auth.err == HS_ERR_AUTH_INVALID)
                hs_metrics_auth_failure("http");
            answer_fail(resp, &f);
            return true;
        }
    }
    if (!templ) {
        hs_fail_set(&f, HS_ERR_ROUTE, "API Route Not Found");
        answer_fail(resp, &f);
        return true;
    }
    if (!r) {
        hs_fail_set(&f, HS_ERR_METHOD, "Method %.16s is not allowed on %.200s", method, path);
        answer_fail(resp, &f);
        hs_hresp_header(resp, "Allow", "%s", allow);
        return true;
    }
    const char *sync = hdr(req, HS_REPL_SYNC_MD_REQUEST);
    if (sync && hs_repl_sync_parse(sync, strlen(sync), &st->sync_replicas, &f)) {
        answer_fail(resp, &f);
        return true;
    }
    st->route = r;
    if (!open_route) {
        /* 3-4: role, node state, follower rule */
        char op[96];
        snprintf(op, sizeof(op), "%s %s", r->method, r->templ);
        if (hs_ops_permit(&st->auth, r->role, r->global, r->write, op, &f)) {
            answer_fail(resp, &f);
            st->route = NULL;
            return true;
        }
    }
    /* the body: size and media type before a byte of it is read; a streamed body (an archive
     * upload) is raw bytes of any size, written to disk as they arrive */
    if (r->body == BODY_STREAM) {
        const char *ct = hdr(req, "Content-Type");
        if (ct && strncasecmp(ct, "application/octet-stream", 24)) {
            hs_fail_set(&f, HS_ERR_MEDIA_TYPE, "Unsupported Content-Type '%.128s'; expected "
                        "application/octet-stream", ct);
            answer_fail(resp, &f);
            st->route = NULL;
            return true;
        }
        st->streamed = true;
    } else if (r->body != BODY_NONE) {
        if (req->has_length && req->content_length > hs_http_body_limit()) {
            hs_http_too_large(st, resp);
            st->route = NULL;
            return true;
        }
        if (media_type(req, r->body, &st->binary, &f)) {
            answer_fail(resp, &f);
            st->route = NULL;
            return true;
        }
    }
    /* path parameters */
    if (name) {
        char decoded[HS_NAME_MAX * 3 + 4];
        hs_error err;
        int rc;
        if (!hs_http_pct_decode(name, name_len, decoded, sizeof(decoded), false)) {
            hs_fail_set(&f, HS_ERR_NAME_INVALID,
                        "Invalid collection name '%.*s': use 1-64 characters from A-Z a-z 0-9 _ "
                        ". - not starting with '.'",
                        (int)(name_len > 200 ? 200 : name_len), name);
        } else if ((rc = hs_name_check(HS_FIELD_COLLECTION, decoded, &err)) != HS_OK) {
            hs_fail_from_engine(&f, rc, &err);
        } else {
            memcpy(st->name, decoded, strlen(decoded) + 1); /* valid names fit */
        }
        if (f.id) {
            answer_fail(resp, &f);
            st->route = NULL;
            return true;
        }
    }
    if (pp.snapshot && snapshot_param(&pp, st, &f)) {
        answer_fail(resp, &f);
        st->route = NULL;
        return true;
    }
    if (id && path_sid(st, id, id_len, &f)) {
        answer_fail(resp, &f);
        st->route = NULL;
        return true;
    }
    if (id && !st->sid_len && !hs_http_parse_u64(id, id_len, 4294967295ull, &st->id)) {
        hs_fail_set(&f, HS_ERR_INVALID_ARGUMENT, "Invalid point id '%.*s'",
                    (int)(id_len > 64 ? 64 : id_len), id);
        answer_fail(resp, &f);
        st->route = NULL;
        return true;
    }
    return false;
}

void hs_http_too_large(hs_hstate *st, hs_hresp *resp)
{
    (void)st;
    hs_fail f;
    uint64_t limit = hs_http_body_limit();
    hs_fail_set(&f, HS_ERR_BODY_TOO_LARGE, "Request body exceeds %llu bytes",
                (unsigned long long)limit);
    snprintf(f.details, sizeof(f.details), "\"limit_bytes\":%llu", (unsigned long long)limit);
    resp_error(resp, &f, NULL);
}

/* ---- stage 2 ---------------------------------------------------------------------------------- */

void hs_http_run(const hs_hreq *req, hs_hstate *st, hs_hresp *resp)
{
    const route *r = st->route;
    if (!r)
        return;
    hctx c = {.req = req, .st = st, .resp = resp};
    resp->status = 200;
    if ((r->body == BODY_JSON || r->body == BODY_JSON_OPT) && hs_http_parse_body(&c, r->body == BODY_JSON_OPT))
        goto done;
    hs_repl_sync_request(st->sync_replicas); /* this thread runs the route to its end */
    r->run(&c);
    hs_repl_sync_request(-1);
done:
    if (c.f.id) {
        free(c.out.p);
        if (c.f.entry1)
            snprintf(c.extra, sizeof(c.extra), "\"index\":%ld", c.f.entry1 - 1);
        resp_error(resp, &c.f, c.extra);
    } else if (resp->status == 204) {
        free(c.out.p);
        resp_empty(resp, 204);
    } else if (resp->has_file) {
        free(c.out.p); /* the file is the body */
    } else {
        const char *ct = resp->content_type ? resp->content_type : "application/json";
        resp_take(resp, resp->status, &c.out, ct);
    }
    cJSON_Delete(c.json);
}

void hs_http_finalize(const hs_hreq *req, hs_hstate *st, hs_hresp *resp)
{
    (void)req;
    hs_hresp_header(resp, "X-Content-Type-Options", "nosniff");
    if (st->cors_origin[0]) {
        hs_hresp_header(resp, "Access-Control-Allow-Origin", "%s", st->cors_origin);
        if (strcmp(st->cors_origin, "*"))
            hs_hresp_header(resp, "Vary", "Origin");
        hs_hresp_header(resp, "Access-Control-Expose-Headers", "X-Next-Cursor");
    }
    char status[8];
    snprintf(status, sizeof(status), "%d", resp->status);
    char method[128];
    const char *m = req->method ? req->method : "?";
    snprintf(method, sizeof(method), "%.16s %s",
             strlen(m) <= 7 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(m) ? m : "OTHER",
             st->templ);
    hs_metrics_request("http", method, status, (double)(hs_now_ns_srv() - st->start_ns) / 1e9);
}
