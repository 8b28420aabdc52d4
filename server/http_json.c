/*
 * http_json.c: the pieces every HTTP route uses: the string builder responses are written with
 * (shortest round-trip doubles, exact unsigned 64-bit integers, members in the spec's order,
    * which is why cJSON does not write them), the failure helpers, percent-decoding and small
 * parsers, the checks made on a body before cJSON parses it (valid UTF-8, depth <= 64 without
 * recursion, no NUL in a string, naming the field; long digit runs kept exact) and the output
 * pieces shared by several routes (metadata, points, statistics, digests).
 */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_route.h"
#include "util/log.h"
#include "util/numfmt.h"
#include "util/utf8.h"

/* ---- string builder --------------------------------------------------------------------------- */

void hs_sb_put(sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void hs_sb_puts(sb *b, const char *s) { hs_sb_put(b, s, strlen(s)); }

void hs_sb_printf(sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        hs_sb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    hs_sb_put(b, big, (size_t)n);
    free(big);
}

void hs_sb_u64(sb *b, uint64_t v) { hs_sb_printf(b, "%llu", (unsigned long long)v); }

void hs_sb_double(sb *b, double v)
{
    char num[40];
    size_t n = hs_fmt_double(v == 0.0 ? 0.0 : v, num, sizeof(num));
    hs_sb_put(b, num, n);
}

/* A JSON string.  Bytes that are not valid UTF-8 (possible in metadata written over gRPC) are
 * written as U+FFFD so the output is always valid JSON. */
static void sb_str(sb *b, const char *s, size_t n)
{
    bool valid = hs_utf8_valid(s, n);
    hs_sb_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch == '\n')
            esc = "\\n";
        else if (ch == '\r')
            esc = "\\r";
        else if (ch == '\t')
            esc = "\\t";
        else if (ch < 0x20) {
            snprintf(u, sizeof(u), "\\u%04x", ch);
            esc = u;
        } else if (ch >= 0x80 && !valid)
            esc = "\\ufffd";
        if (esc) {
            hs_sb_put(b, s + i - run, run);
            run = 0;
            hs_sb_puts(b, esc);
        } else {
            run++;
        }
    }
    hs_sb_put(b, s + n - run, run);
    hs_sb_put(b, "\"", 1);
}

void hs_sb_cstr(sb *b, const char *s) { sb_str(b, s, strlen(s)); }

void hs_sb_str(sb *b, const char *s, size_t n) { sb_str(b, s, n); }

void hs_http_id_json(sb *b, const hs_point_view *p)
{
    if (p->sid)
        sb_str(b, p->sid, p->sid_len);
    else
        hs_sb_u64(b, p->id);
}

int hs_http_fail(hctx *c, int id, const char *fmt, ...)
{
    c->f.id = id;
    c->f.details[0] = 0;
    c->f.entry1 = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->f.message, sizeof(c->f.message), fmt, ap);
    va_end(ap);
    return id;
}

int hs_http_fail_engine(hctx *c, int rc, const hs_error *err)
{
    return hs_fail_from_engine(&c->f, rc, err);
}

/* Prefixes the failure's message ("vectors[3]: ") and records the batch index. */
void hs_http_fail_prefix(hctx *c, const char *what, long index)
{
    char m[sizeof(c->f.message)];
    snprintf(m, sizeof(m), "%s", c->f.message);
    snprintf(c->f.message, sizeof(c->f.message), "%s[%ld]: %.470s", what, index, m);
    if (!strcmp(what, "vectors"))
        c->f.entry1 = index + 1;
}

const char *hs_http_tenant(hctx *c) { return c->st->auth.tenant; }

/* ---- percent-decoding and small parsers -------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes of s[0..n) into out (cap bytes with the NUL).  False on a bad escape, an
 * encoded NUL or overflow. */
bool hs_http_pct_decode(const char *s, size_t n, char *out, size_t cap, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return false;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            ch = hi * 16 + lo;
            if (ch == 0)
                return false;
            i += 2;
        } else if (ch == '+' && plus_is_space) {
            ch = ' ';
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = (char)ch;
    }
    out[o] = 0;
    return true;
}

/* A query argument, percent-decoded ("" when it cannot be decoded); NULL when absent. */
const char *hs_http_query_arg(hctx *c, const char *name, char *buf, size_t cap)
{
    const char *v = c->req->arg ? c->req->arg(c->req->ctx, name) : NULL;
    if (!v)
        return NULL;
    if (!hs_http_pct_decode(v, strlen(v), buf, cap, true))
        snprintf(buf, cap, "%s", v);
    return buf;
}

/* Decimal u64 without sign, spaces or leading '+'; at most max. */
bool hs_http_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* ---- JSON input -------------------------------------------------------------------------------- */

/* The nesting of a JSON text, without recursion: the depth of the deepest array/object (the
 * scan stops once it passes the limit) and whether the text ends inside a string or an open
 * array/object (truncated input). */

json_shape hs_http_json_scan(const char *s, size_t n)
{
    size_t depth = 0, run = 0;
    json_shape r = {0, false, false};
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        run = !in_str && ch >= '0' && ch <= '9' ? run + 1 : 0;
        if (run >= 16)
            r.long_digits = true;
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > r.max_depth)
                r.max_depth = depth;
            if (r.max_depth > JSON_MAX_DEPTH)
                return r;
        } else if ((ch == ']' || ch == '}') && depth) {
            depth--;
        }
    }
    r.unterminated = in_str || depth > 0;
    return r;
}

/*
 * Embedded NULs: cJSON turns "\u0000" (or a raw 0 byte) inside a string into a C string that
 * ends there, so "a\u0000b" would silently become "a".  Every string of a body is checked here
 * before parsing, by one pass that follows the members and array positions (at most
 * JSON_MAX_DEPTH levels, checked before) so that the refusal names the field:
 * "metadata.b", "points[2].metadata" (a member name).  Only runs when the text holds a 0 byte
 * or the six characters \u0000 somewhere.
 */
typedef struct json_level {
    bool object;
    const char *key; /* the current member name (raw, unescaped), or NULL */
    size_t key_len;
    long index;      /* the current array position */
} json_level;

/* Writes the path of the value at levels [0, depth) into out. */
static void json_path(const json_level *lv, size_t depth, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < depth && o + 1 < cap; i++) {
        int w;
        if (lv[i].object)
            w = snprintf(out + o, cap - o, "%s%.*s", o ? "." : "",
                         (int)(lv[i].key_len > 64 ? 64 : lv[i].key_len), lv[i].key ? lv[i].key : "");
        else
            w = snprintf(out + o, cap - o, "[%ld]", lv[i].index);
        if (w < 0)
            break;
        o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
    }
}

/* True when a string of the text holds a NUL; *member tells whether it is a member name. */
static bool json_find_nul(const char *s, size_t n, char *path, size_t cap, bool *member)
{
    if (!memchr(s, 0, n) && !memmem(s, n, "\\u0000", 6))
        return false;
    json_level lv[JSON_MAX_DEPTH + 1];
    size_t depth = 0;
    bool expect_key = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            size_t start = ++i;
            bool nul = false;
            for (; i < n && s[i] != '"'; i++) {
                if (s[i] == 0)
                    nul = true;
                else if (s[i] == '\\') {
                    if (i + 5 < n && !memcmp(s + i + 1, "u0000", 5))
                        nul = true;
                    i++;
                }
            }
            bool is_key = depth && lv[depth - 1].object && expect_key;
            if (nul) { /* a member name: the path of its object; a value: its own path */
                *member = is_key;
                json_path(lv, is_key ? depth - 1 : depth, path, cap);
                return true;
            }
            if (is_key) {
                lv[depth - 1].key = s + start;
                lv[depth - 1].key_len = i - start;
                expect_key = false;
            }
        } else if (ch == '{' || ch == '[') {
            if (depth > JSON_MAX_DEPTH)
                return false;
            lv[depth++] = (json_level){ch == '{', NULL, 0, 0};
            expect_key = ch == '{';
        } else if ((ch == '}' || ch == ']') && depth) {
            depth--;
            expect_key = false;
        } else if (ch == ',' && depth) {
            if (lv[depth - 1].object)
                expect_key = true;
            else
                lv[depth - 1].index++;
        }
    }
    return false;
}

/*
 * Integer literals beyond 2^53 (http.md 4.3: "an integer literal within int64 becomes its
 * decimal text"; Range bounds are int64): cJSON keeps only the double, so after a successful
 * parse the number tokens of the text are matched, in document order, with the number items
 * of the tree, and those holding such a literal get its exact text in valuestring (cJSON frees
 * it with the item; cJSON_IsNumber still holds).  Runs only when the text has a run of 16 or
 * more digits outside strings.
 */

/* The next number token after w->at: [*start, *end). */
static bool next_number(num_walk *w, size_t *start, size_t *end)
{
    bool in_str = false;
    for (size_t i = w->at; i < w->n; i++) {
        char ch = w->s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t j = i + 1;
            while (j < w->n && strchr("0123456789+-.eE", w->s[j]))
                j++;
            *start = i;
            *end = j;
            w->at = j;
            return true;
        }
    }
    return false;
}

void hs_http_exact_numbers(cJSON *item, num_walk *w)
{
    for (; item && !w->oom; item = item->next) {
        if (cJSON_IsNumber(item)) {
            size_t a, b;
            if (!next_number(w, &a, &b))
                return;
            int64_t v;
            bool integer = b - a >= 16 && hs_parse_int64(w->s + a, b - a, &v);
            if (integer && (v > (INT64_C(1) << 53) || v < -(INT64_C(1) << 53))) {
                char *t = malloc(b - a + 1);
                if (!t) {
                    w->oom = true;
                    return;
                }
                memcpy(t, w->s + a, b - a);
                t[b - a] = 0;
                item->valuestring = t;
            }
        }
        if (item->child)
            hs_http_exact_numbers(item->child, w);
    }
}

/* Refuses a JSON text with a NUL in a string (json_find_nul); `what` prefixes the field path
 * ("vectors[3].metadata" for the binary format's metadata).  Returns the error id or 0. */
int hs_http_nul_fail(hctx *c, const char *s, size_t n, const char *what)
{
    char path[200];
    bool member;
    if (!json_find_nul(s, n, path, sizeof(path), &member))
        return 0;
    char field[300];
    snprintf(field, sizeof(field), "%s%s%s", what, *what && *path ? "." : "", path);
    if (!*field)
        return hs_http_fail(c, HS_ERR_FIELD, "The request body has a %s containing a NUL character "
                            "(\\u0000), which strings cannot hold", member ? "member name" : "string");
    if (member)
        return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' has a member name containing a NUL character "
                            "(\\u0000), which names cannot hold", field);
    return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' contains a NUL character (\\u0000), which strings "
                        "cannot hold", field);
}

int hs_http_parse_body(hctx *c, bool optional)
{
    const char *s = c->req->body ? c->req->body : "";
    size_t n = c->req->body_len;
    size_t ws = 0;
    while (ws < n && (s[ws] == ' ' || s[ws] == '\t' || s[ws] == '\r' || s[ws] == '\n'))
        ws++;
    if (ws == n && optional) {
        c->json = cJSON_CreateObject();
        return c->json ? 0 : hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    if (!hs_utf8_valid(s, n))
        return hs_http_fail(c, HS_ERR_JSON, "Malformed JSON: invalid UTF-8");
    json_shape shape = hs_http_json_scan(s, n);
    if (shape.max_depth > JSON_MAX_DEPTH)
        return hs_http_fail(c, HS_ERR_JSON, "Malformed JSON: nesting deeper than 64 levels");
    if (hs_http_nul_fail(c, s, n, ""))
        return c->f.id;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j) {
        size_t at = end && end >= s && end <= s + n ? (size_t)(end - s) : 0;
        if (at >= n || shape.unterminated)
            return hs_http_fail(c, HS_ERR_JSON, "Malformed JSON: unexpected end of input at byte %zu", n);
        return hs_http_fail(c, HS_ERR_JSON, "Malformed JSON: unexpected input at byte %zu", at);
    }
    size_t at = end ? (size_t)(end - s) : n;
    while (at < n && (s[at] == ' ' || s[at] == '\t' || s[at] == '\r' || s[at] == '\n'))
        at++;
    if (at < n) {
        cJSON_Delete(j);
        return hs_http_fail(c, HS_ERR_JSON, "Malformed JSON: unexpected input at byte %zu", at);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return hs_http_fail(c, HS_ERR_JSON, "Malformed JSON: request body must be a JSON object");
    }
    c->json = j;
    if (shape.long_digits) {
        num_walk w = {s, n, 0, false};
        hs_http_exact_numbers(j->child, &w);
        if (w.oom)
            return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    return 0;
}

/* ---- output pieces ------------------------------------------------------------------------- */

typedef struct meta_out {
    sb *b;
    size_t n; /* members written */
} meta_out;

static int meta_member(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    meta_out *m = ctx;
    if (m->n++)
        hs_sb_put(m->b, ",", 1);
    sb_str(m->b, k, kl);
    hs_sb_put(m->b, ":", 1);
    sb_str(m->b, v, vl);
    return m->b->oom;
}

/* The point's metadata as a JSON object of strings. */
void hs_http_meta_object(sb *b, const hs_point_view *p)
{
    meta_out m = {b, 0};
    hs_sb_put(b, "{", 1);
    if (hs_meta_each(p, meta_member, &m) < 0)
        b->oom = true;
    hs_sb_put(b, "}", 1);
}

static void typed_json(sb *b, const hs_value *v)
{
    switch (v->type) {
    case HS_VALUE_STRING:
        sb_str(b, v->str, v->len);
        return;
    case HS_VALUE_INT:
        hs_sb_printf(b, "%lld", (long long)v->i);
        return;
    case HS_VALUE_FLOAT:
        hs_sb_double(b, v->f);
        return;
    case HS_VALUE_BOOL:
        hs_sb_puts(b, v->i ? "true" : "false");
        return;
    default:
        hs_sb_put(b, "[", 1);
        for (size_t i = 0; i < v->count; i++) {
            if (i)
                hs_sb_put(b, ",", 1);
            typed_json(b, &v->items[i]); /* scalars: a list holds no list */
        }
        hs_sb_put(b, "]", 1);
    }
}

static int typed_member(void *ctx, const char *k, size_t kl, const hs_value *v)
{
    meta_out *m = ctx;
    if (m->n++)
        hs_sb_put(m->b, ",", 1);
    sb_str(m->b, k, kl);
    hs_sb_put(m->b, ":", 1);
    typed_json(m->b, v);
    return m->b->oom;
}

void hs_http_typed_member(sb *b, const hs_point_view *p)
{
    if (!hs_meta_has_typed(p))
        return;
    meta_out m = {b, 0};
    hs_sb_puts(b, ",\"typed_metadata\":{");
    if (hs_meta_each_typed(p, typed_member, &m) < 0)
        b->oom = true;
    hs_sb_put(b, "}", 1);
}

static void vector_json(sb *b, const double *v, size_t n)
{
    hs_sb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            hs_sb_put(b, ",", 1);
        hs_sb_double(b, v[i]);
    }
    hs_sb_put(b, "]", 1);
}

int hs_http_point_json(void *ctx, const hs_point_view *p)
{
    point_out *o = ctx;
    sb *b = o->b;
    if (o->count++)
        hs_sb_put(b, ",", 1);
    hs_sb_puts(b, "{\"id\":");
    hs_http_id_json(b, p);
    if (o->with_vector && p->vector) {
        hs_sb_puts(b, ",\"vector\":");
        vector_json(b, p->vector, p->dim);
    }
    if (o->with_metadata) {
        hs_sb_puts(b, ",\"metadata\":");
        hs_http_meta_object(b, p);
        hs_http_typed_member(b, p);
    }
    hs_sb_put(b, "}", 1);
    o->last_id = p->id;
    return b->oom;
}

int hs_http_peek_json(void *ctx, const hs_point_view *p)
{
    point_out *o = ctx;
    sb *b = o->b;
    if (o->count++)
        hs_sb_put(b, ",", 1);
    hs_sb_put(b, "[", 1);
    hs_http_id_json(b, p);
    hs_sb_put(b, ",", 1);
    vector_json(b, p->vector, p->vector ? p->dim : 0);
    hs_sb_put(b, ",", 1);
    hs_http_meta_object(b, p);
    hs_sb_put(b, "]", 1);
    return b->oom;
}

void hs_http_stats_members(sb *b, const hs_collection_stats *st)
{
    hs_sb_puts(b, "\"dimension\":");
    hs_sb_u64(b, st->config.dimension);
    hs_sb_puts(b, ",\"metric\":");
    hs_sb_cstr(b, hs_metric_name(st->config.metric));
    hs_sb_puts(b, ",\"quantization\":");
    hs_sb_cstr(b, hs_quant_name(st->config.quantization));
    hs_sb_puts(b, ",\"indexing_queue\":");
    hs_sb_u64(b, st->indexing_queue);
    hs_sb_puts(b, ",\"deleted_count\":");
    hs_sb_u64(b, st->deleted);
    hs_sb_puts(b, ",\"memory_bytes\":");
    hs_sb_u64(b, st->memory_bytes);
    hs_sb_puts(b, ",\"resident_bytes\":{\"graph\":");
    hs_sb_u64(b, st->resident_graph_bytes);
    hs_sb_puts(b, ",\"codes\":");
    hs_sb_u64(b, st->resident_codes_bytes);
    hs_sb_puts(b, ",\"vectors\":");
    hs_sb_u64(b, st->resident_vector_bytes);
    hs_sb_puts(b, ",\"payload\":");
    hs_sb_u64(b, st->resident_payload_bytes);
    hs_sb_puts(b, "},\"loaded\":");
    hs_sb_puts(b, st->loaded ? "true" : "false");
    hs_sb_puts(b, ",\"m\":");
    hs_sb_u64(b, st->config.m);
    hs_sb_puts(b, ",\"ef_construction\":");
    hs_sb_u64(b, st->config.ef_construction);
    hs_sb_puts(b, ",\"ef_search\":");
    hs_sb_u64(b, st->config.ef_search);
    hs_sb_printf(b, ",\"oversampling\":%g", st->config.oversampling);
    hs_sb_puts(b, st->frozen ? ",\"frozen\":true" : ",\"frozen\":false");
    if (st->config.id_type == HS_ID_STRING) /* absent for integer ids: the v2.0.0 shape */
        hs_sb_puts(b, ",\"id_type\":\"string\"");
}

void hs_http_digest_members(sb *b, const char *name, const hs_digest *d)
{
    hs_sb_puts(b, "\"collection_name\":");
    hs_sb_cstr(b, name);
    hs_sb_puts(b, ",\"logical_clock\":");
    hs_sb_u64(b, d->clock);
    hs_sb_puts(b, ",\"vector_count\":");
    hs_sb_u64(b, d->count);
    hs_sb_puts(b, ",\"count\":");
    hs_sb_u64(b, d->count);
    hs_sb_puts(b, ",\"state_hash\":");
    hs_sb_u64(b, d->state_hash);
    hs_sb_printf(b, ",\"state_hash_hex\":\"%016llx\"", (unsigned long long)d->state_hash);
    hs_sb_puts(b, ",\"buckets\":[");
    for (int i = 0; i < 256; i++) {
        if (i)
            hs_sb_put(b, ",", 1);
        hs_sb_u64(b, d->buckets[i]);
    }
    hs_sb_put(b, "]", 1);
}
