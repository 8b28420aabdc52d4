/*
 * http_api.c: the HTTP/JSON API (spec http.md): routing, CORS, the check order of B9.3, request
 * parsing with cJSON, the binary bulk format, the error envelope and every route of section 6.
 *
 * Responses are written with a small string builder rather than cJSON, because the spec fixes
 * the number formats (shortest round-trip doubles, exact unsigned 64-bit integers) and the order
 * of members.  Request JSON is parsed by cJSON after two checks cJSON does not make: the body is
 * valid UTF-8 and nests at most 64 levels (checked without recursion).
 */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/filters.h"
#include "server/ops.h"
#include "server/http_int.h"
#include "util/log.h"
#include "util/numfmt.h"
#include "util/utf8.h"

#define JSON_MAX_DEPTH 64
#define MAX_IDS 10000

/* ---- string builder --------------------------------------------------------------------------- */

typedef struct sb {
    char *p;
    size_t n, cap;
    bool oom;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
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

static void sb_puts(sb *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        sb_put(b, tmp, (size_t)n);
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
    sb_put(b, big, (size_t)n);
    free(big);
}

static void sb_u64(sb *b, uint64_t v) { sb_printf(b, "%llu", (unsigned long long)v); }

static void sb_double(sb *b, double v)
{
    char num[40];
    size_t n = hs_fmt_double(v == 0.0 ? 0.0 : v, num, sizeof(num));
    sb_put(b, num, n);
}

/* A JSON string.  Bytes that are not valid UTF-8 (possible in metadata written over gRPC) are
 * written as U+FFFD so the output is always valid JSON. */
static void sb_str(sb *b, const char *s, size_t n)
{
    bool valid = hs_utf8_valid(s, n);
    sb_put(b, "\"", 1);
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
            sb_put(b, s + i - run, run);
            run = 0;
            sb_puts(b, esc);
        } else {
            run++;
        }
    }
    sb_put(b, s + n - run, run);
    sb_put(b, "\"", 1);
}

static void sb_cstr(sb *b, const char *s) { sb_str(b, s, strlen(s)); }

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

static void resp_error(hs_hresp *r, const hs_fail *f, const char *extra_details)
{
    sb b = {0};
    sb_puts(&b, "{\"error\":{\"code\":");
    sb_cstr(&b, hs_err_http_code(f->id));
    sb_puts(&b, ",\"message\":");
    sb_cstr(&b, f->message);
    if (f->details[0] || (extra_details && *extra_details)) {
        sb_puts(&b, ",\"details\":{");
        sb_puts(&b, f->details);
        if (extra_details && *extra_details) {
            if (f->details[0])
                sb_puts(&b, ",");
            sb_puts(&b, extra_details);
        }
        sb_puts(&b, "}");
    }
    sb_puts(&b, "}}");
    resp_take(r, hs_err_http_status(f->id), &b, "application/json");
    if (r->status == 401)
        hs_hresp_header(r, "WWW-Authenticate", "Bearer realm=\"hyperspace\"");
}

static void resp_empty(hs_hresp *r, int status)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = status;
    r->content_type = NULL;
}

/* ---- request context ------------------------------------------------------------------------- */

typedef struct hctx {
    const hs_hreq *req;
    hs_hstate *st;
    hs_hresp *resp;
    cJSON *json; /* the body object, or NULL */
    hs_fail f;
    char extra[64]; /* extra details members (batch index) */
    sb out;
} hctx;

typedef struct route {
    const char *method;
    const char *templ;
    hs_role role;
    bool global, write;
    int body; /* BODY_* */
    void (*run)(hctx *c);
} route;

enum { BODY_NONE, BODY_JSON, BODY_JSON_OPT, BODY_JSON_OR_BINARY };

static int fail(hctx *c, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(hctx *c, int id, const char *fmt, ...)
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

static int fail_engine(hctx *c, int rc, const hs_error *err)
{
    return hs_fail_from_engine(&c->f, rc, err);
}

/* Prefixes the failure's message ("vectors[3]: ") and records the batch index. */
static void fail_prefix(hctx *c, const char *what, long index)
{
    char m[sizeof(c->f.message)];
    snprintf(m, sizeof(m), "%s", c->f.message);
    snprintf(c->f.message, sizeof(c->f.message), "%s[%ld]: %.470s", what, index, m);
    if (!strcmp(what, "vectors"))
        c->f.entry1 = index + 1;
}

static const char *tenant(hctx *c) { return c->st->auth.tenant; }

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
static bool pct_decode(const char *s, size_t n, char *out, size_t cap, bool plus_is_space)
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
static const char *query_arg(hctx *c, const char *name, char *buf, size_t cap)
{
    const char *v = c->req->arg ? c->req->arg(c->req->ctx, name) : NULL;
    if (!v)
        return NULL;
    if (!pct_decode(v, strlen(v), buf, cap, true))
        snprintf(buf, cap, "%s", v);
    return buf;
}

/* Decimal u64 without sign, spaces or leading '+'; at most max. */
static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
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
typedef struct json_shape {
    size_t max_depth;
    bool unterminated;
    bool long_digits; /* a run of 16 or more digits outside strings (see exact_numbers) */
} json_shape;

static json_shape json_scan(const char *s, size_t n)
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
typedef struct num_walk {
    const char *s;
    size_t n, at; /* the scan position in s */
    bool oom;
} num_walk;

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

static void exact_numbers(cJSON *item, num_walk *w)
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
            exact_numbers(item->child, w);
    }
}

/* Refuses a JSON text with a NUL in a string (json_find_nul); `what` prefixes the field path
 * ("vectors[3].metadata" for the binary format's metadata).  Returns the error id or 0. */
static int nul_fail(hctx *c, const char *s, size_t n, const char *what)
{
    char path[200];
    bool member;
    if (!json_find_nul(s, n, path, sizeof(path), &member))
        return 0;
    char field[300];
    snprintf(field, sizeof(field), "%s%s%s", what, *what && *path ? "." : "", path);
    if (!*field)
        return fail(c, HS_ERR_FIELD, "The request body has a %s containing a NUL character "
                    "(\\u0000), which strings cannot hold", member ? "member name" : "string");
    if (member)
        return fail(c, HS_ERR_FIELD, "Field '%s' has a member name containing a NUL character "
                    "(\\u0000), which names cannot hold", field);
    return fail(c, HS_ERR_FIELD, "Field '%s' contains a NUL character (\\u0000), which strings "
                "cannot hold", field);
}

static int parse_body(hctx *c, bool optional)
{
    const char *s = c->req->body ? c->req->body : "";
    size_t n = c->req->body_len;
    size_t ws = 0;
    while (ws < n && (s[ws] == ' ' || s[ws] == '\t' || s[ws] == '\r' || s[ws] == '\n'))
        ws++;
    if (ws == n && optional) {
        c->json = cJSON_CreateObject();
        return c->json ? 0 : fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    if (!hs_utf8_valid(s, n))
        return fail(c, HS_ERR_JSON, "Malformed JSON: invalid UTF-8");
    json_shape shape = json_scan(s, n);
    if (shape.max_depth > JSON_MAX_DEPTH)
        return fail(c, HS_ERR_JSON, "Malformed JSON: nesting deeper than 64 levels");
    if (nul_fail(c, s, n, ""))
        return c->f.id;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!j) {
        size_t at = end && end >= s && end <= s + n ? (size_t)(end - s) : 0;
        if (at >= n || shape.unterminated)
            return fail(c, HS_ERR_JSON, "Malformed JSON: unexpected end of input at byte %zu", n);
        return fail(c, HS_ERR_JSON, "Malformed JSON: unexpected input at byte %zu", at);
    }
    size_t at = end ? (size_t)(end - s) : n;
    while (at < n && (s[at] == ' ' || s[at] == '\t' || s[at] == '\r' || s[at] == '\n'))
        at++;
    if (at < n) {
        cJSON_Delete(j);
        return fail(c, HS_ERR_JSON, "Malformed JSON: unexpected input at byte %zu", at);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return fail(c, HS_ERR_JSON, "Malformed JSON: request body must be a JSON object");
    }
    c->json = j;
    if (shape.long_digits) {
        num_walk w = {s, n, 0, false};
        exact_numbers(j->child, &w);
        if (w.oom)
            return fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    return 0;
}

/* A member of an object: the last one with this name wins (http.md 4.3); null = absent. */
static cJSON *member(const cJSON *obj, const char *name)
{
    cJSON *found = NULL;
    if (!cJSON_IsObject(obj))
        return NULL;
    for (cJSON *it = obj->child; it; it = it->next)
        if (it->string && !strcmp(it->string, name))
            found = it;
    return cJSON_IsNull(found) ? NULL : found;
}

static int field_missing(hctx *c, const char *field)
{
    return fail(c, HS_ERR_FIELD, "Missing field '%s'", field);
}

/* An integer field: any JSON number with an integral value in [lo, hi]. */
static int get_int(hctx *c, const cJSON *obj, const char *field, bool required, int64_t lo,
                   int64_t hi, int64_t *out, bool *present)
{
    cJSON *v = member(obj, field);
    if (present)
        *present = v != NULL;
    if (!v)
        return required ? field_missing(c, field) : 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
        return fail(c, HS_ERR_FIELD, "Field '%s' must be an integer between %lld and %lld", field,
                    (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return 0;
}

/* A required array member of the body (its items are checked one by one later). */
static cJSON *get_object_array(hctx *c, const char *field)
{
    cJSON *arr = member(c->json, field);
    if (!arr)
        field_missing(c, field);
    else if (!cJSON_IsArray(arr))
        fail(c, HS_ERR_FIELD, "Field '%s' must be an array of objects", field);
    return cJSON_IsArray(arr) ? arr : NULL;
}

static int get_string(hctx *c, const cJSON *obj, const char *field, bool required,
                      const char **out)
{
    cJSON *v = member(obj, field);
    *out = NULL;
    if (!v)
        return required ? field_missing(c, field) : 0;
    if (!cJSON_IsString(v))
        return fail(c, HS_ERR_FIELD, "Field '%s' must be a string", field);
    *out = v->valuestring;
    return 0;
}

static int get_bool(hctx *c, const cJSON *obj, const char *field, bool dflt, bool *out)
{
    cJSON *v = member(obj, field);
    *out = dflt;
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return fail(c, HS_ERR_FIELD, "Field '%s' must be a boolean", field);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A vector: a JSON array of numbers (overflowing numbers are infinite; the engine rejects them
 * with E_NONFINITE).  *out is malloc'd. */
static int get_vector(hctx *c, const cJSON *obj, const char *field, double **out, size_t *n)
{
    cJSON *v = member(obj, field);
    *out = NULL;
    *n = 0;
    if (!v)
        return field_missing(c, field);
    if (!cJSON_IsArray(v))
        return fail(c, HS_ERR_FIELD, "Field '%s' must be an array of numbers", field);
    size_t len = (size_t)cJSON_GetArraySize(v);
    double *x = malloc((len ? len : 1) * sizeof(double));
    if (!x)
        return fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    size_t i = 0;
    for (cJSON *it = v->child; it; it = it->next, i++) {
        if (!cJSON_IsNumber(it)) {
            free(x);
            return fail(c, HS_ERR_FIELD, "Field '%s' must be an array of numbers", field);
        }
        x[i] = it->valuedouble;
    }
    *out = x;
    *n = len;
    return 0;
}

/* The text of a metadata / filter value (http.md 4.3); false for null, arrays, objects and
 * numbers that overflowed (*overflow is then set: that is E_FIELD, not a type error). */
static bool scalar_text(const cJSON *v, char *buf, size_t cap, const char **text, size_t *len,
                        bool *overflow)
{
    *overflow = false;
    if (cJSON_IsString(v)) {
        *text = v->valuestring;
        *len = strlen(v->valuestring);
    } else if (cJSON_IsBool(v)) {
        *text = cJSON_IsTrue(v) ? "true" : "false";
        *len = strlen(*text);
    } else if (cJSON_IsNumber(v)) {
        if (!isfinite(v->valuedouble)) {
            *overflow = true;
            return false;
        }
        if (v->valuestring) { /* an integer literal beyond 2^53, exact (parse_body) */
            *text = v->valuestring;
            *len = strlen(v->valuestring);
            return true;
        }
        *len = hs_fmt_double(v->valuedouble == 0.0 ? 0.0 : v->valuedouble, buf, cap);
        *text = buf;
    } else {
        return false;
    }
    return true;
}

/* Metadata as key/value pairs with texts owned by `store` (freed by the caller). */
typedef struct kvbuf {
    hs_kv *kv;
    size_t n;
    char *texts; /* number texts, 40 bytes each */
} kvbuf;

static void kvbuf_free(kvbuf *k)
{
    free(k->kv);
    free(k->texts);
    k->kv = NULL;
    k->texts = NULL;
    k->n = 0;
}

static int get_metadata_obj(hctx *c, const cJSON *m, kvbuf *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = (size_t)cJSON_GetArraySize(m);
    if (!n)
        return 0;
    out->kv = calloc(n, sizeof(hs_kv));
    out->texts = malloc(n * 40);
    if (!out->kv || !out->texts) {
        kvbuf_free(out);
        return fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    size_t i = 0;
    for (cJSON *it = m->child; it; it = it->next, i++) {
        const char *text;
        size_t len;
        bool overflow;
        if (!scalar_text(it, out->texts + i * 40, 40, &text, &len, &overflow)) {
            kvbuf_free(out);
            if (overflow)
                return fail(c, HS_ERR_FIELD, "Field 'metadata.%.256s' must be a finite number",
                            it->string);
            return fail(c, HS_ERR_METADATA,
                        "Invalid metadata: value of key '%.256s' must be a string, number or "
                        "boolean", it->string);
        }
        out->kv[i] = (hs_kv){it->string, strlen(it->string), text, len};
    }
    out->n = n;
    return 0;
}

static int get_metadata(hctx *c, const cJSON *obj, kvbuf *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *m = member(obj, "metadata");
    if (!m)
        return 0;
    if (!cJSON_IsObject(m))
        return fail(c, HS_ERR_FIELD, "Field 'metadata' must be an object");
    return get_metadata_obj(c, m, out);
}

static bool durability_text(const char *s, hs_durability *d)
{
    static const char *names[] = {"default", "async", "batch", "strict"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, names[i]) || (s[0] == '0' + i && !s[1])) {
            *d = (hs_durability)i;
            return true;
        }
    return false;
}

static int durability_fail(hctx *c, const char *got)
{
    return fail(c, HS_ERR_PARAM_RANGE,
                "durability must be one of default, async, batch, strict (got '%.64s')", got);
}

/* durability: the body member wins over the query parameter (http.md 4.4). */
static int get_durability(hctx *c, hs_durability *d)
{
    *d = HS_DURABILITY_DEFAULT;
    cJSON *v = c->json ? member(c->json, "durability") : NULL;
    if (v) {
        if (cJSON_IsString(v)) {
            if (!durability_text(v->valuestring, d))
                return durability_fail(c, v->valuestring);
            return 0;
        }
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 3 &&
            v->valuedouble == floor(v->valuedouble)) {
            *d = (hs_durability)(int)v->valuedouble;
            return 0;
        }
        char *t = cJSON_PrintUnformatted(v);
        durability_fail(c, t ? t : "?");
        free(t);
        return c->f.id;
    }
    char buf[80];
    const char *q = query_arg(c, "durability", buf, sizeof(buf));
    if (q && !durability_text(q, d))
        return durability_fail(c, q);
    return 0;
}

/* The conditions of a search / count / scroll / delete body (http.md 6.10).  `name[i]` names
 * the condition in messages. */
static int range_bound(hctx *c, const cJSON *v, const char *name, size_t i, const char *which,
                       bool *has, int64_t *out)
{
    *has = false;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsNumber(v) && v->valuestring &&
        hs_parse_int64(v->valuestring, strlen(v->valuestring), out)) {
        *has = true; /* an integer literal beyond 2^53, exact */
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && d >= -9223372036854775808.0 &&
            d < 9223372036854775808.0) {
            *out = (int64_t)d;
            *has = true;
            return 0;
        }
    } else if (cJSON_IsString(v) && hs_parse_int64(v->valuestring, strlen(v->valuestring), out)) {
        *has = true;
        return 0;
    }
    return fail(c, HS_ERR_FILTER, "Invalid filter: %s[%zu] %s must be an integer", name, i, which);
}

/* One condition object: {"type":"match"|"range",...} or {"match":{...}} / {"range":{...}}. */
static int parse_cond(hctx *c, const cJSON *it, const char *name, size_t i, hs_group g,
                      hs_filter_set *fs)
{
    char where[48];
    snprintf(where, sizeof(where), "%s[%zu]", name, i);
    if (!cJSON_IsObject(it))
        return fail(c, HS_ERR_FILTER, "Invalid filter: %s has no condition", where);
    const cJSON *body = it;
    const char *kind = NULL;
    cJSON *type = member(it, "type");
    if (type) {
        if (!cJSON_IsString(type))
            return fail(c, HS_ERR_FILTER, "Invalid filter: %s has unknown type", where);
        kind = type->valuestring;
    } else if (member(it, "match")) {
        kind = "match";
        body = member(it, "match");
    } else if (member(it, "range")) {
        kind = "range";
        body = member(it, "range");
    } else {
        return fail(c, HS_ERR_FILTER, "Invalid filter: %s has no condition", where);
    }
    if (!cJSON_IsObject(body))
        return fail(c, HS_ERR_FILTER, "Invalid filter: %s has no condition", where);
    cJSON *key = member(body, "key");
    if (!key || !cJSON_IsString(key))
        return fail(c, HS_ERR_FILTER, "Invalid filter: %s key must be a string", where);
    if (!strcasecmp(kind, "match")) {
        cJSON *val = member(body, "value");
        char buf[40];
        const char *text;
        size_t len;
        bool overflow = false;
        bool ok = val && scalar_text(val, buf, sizeof(buf), &text, &len, &overflow);
        if (overflow)
            return fail(c, HS_ERR_FIELD, "Field '%s.value' must be a finite number", where);
        if (!ok)
            return fail(c, HS_ERR_FILTER,
                        "Invalid filter: %s value must be a string, number or boolean", where);
        if (hs_filter_add_match(fs, g, key->valuestring, strlen(key->valuestring), text, len,
                                where, &c->f))
            return c->f.id;
    } else if (!strcasecmp(kind, "range")) {
        bool hg, hl;
        int64_t gv = 0, lv = 0;
        if (range_bound(c, member(body, "gte"), name, i, "gte", &hg, &gv) ||
            range_bound(c, member(body, "lte"), name, i, "lte", &hl, &lv))
            return c->f.id;
        if (hs_filter_add_range(fs, g, key->valuestring, strlen(key->valuestring), hg, gv, hl, lv,
                                where, &c->f))
            return c->f.id;
    } else {
        return fail(c, HS_ERR_FILTER, "Invalid filter: %s has unknown type '%.64s'", where, kind);
    }
    return 0;
}

/* The condition lists: `filters` and `must` (ANDed), `should` (at least one), `must_not`. */
static const struct {
    const char *name;
    hs_group group;
} cond_lists[] = {
    {"filters", HS_GROUP_MUST},
    {"must", HS_GROUP_MUST},
    {"should", HS_GROUP_SHOULD},
    {"must_not", HS_GROUP_MUST_NOT},
};

static int get_filters(hctx *c, const cJSON *obj, hs_filter_set *fs)
{
    hs_filter_init(fs);
    cJSON *map = member(obj, "filter");
    if (map && !cJSON_IsObject(map))
        return fail(c, HS_ERR_FIELD, "Field 'filter' must be an object");
    size_t total = (size_t)cJSON_GetArraySize(map);
    for (size_t l = 0; l < sizeof(cond_lists) / sizeof(cond_lists[0]); l++) {
        cJSON *list = member(obj, cond_lists[l].name);
        if (list && !cJSON_IsArray(list))
            return fail(c, HS_ERR_FIELD, "Field '%s' must be an array", cond_lists[l].name);
        total += (size_t)cJSON_GetArraySize(list);
    }
    if (total > HS_FILTER_MAX_CONDITIONS)
        return fail(c, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    for (cJSON *it = map ? map->child : NULL; it; it = it->next) {
        char buf[40];
        const char *text;
        size_t len;
        bool overflow;
        bool ok = scalar_text(it, buf, sizeof(buf), &text, &len, &overflow);
        if (overflow)
            return fail(c, HS_ERR_FIELD, "Field 'filter.%.256s' must be a finite number",
                        it->string);
        if (!ok)
            return fail(c, HS_ERR_FILTER,
                        "Invalid filter: value of key '%.256s' must be a string, number or boolean",
                        it->string);
        if (hs_filter_add_match(fs, HS_GROUP_MUST, it->string, strlen(it->string), text, len,
                                "filter", &c->f))
            return c->f.id;
    }
    for (size_t l = 0; l < sizeof(cond_lists) / sizeof(cond_lists[0]); l++) {
        cJSON *list = member(obj, cond_lists[l].name);
        size_t i = 0;
        for (cJSON *it = list ? list->child : NULL; it; it = it->next, i++)
            if (parse_cond(c, it, cond_lists[l].name, i, cond_lists[l].group, fs))
                return c->f.id;
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
        sb_put(m->b, ",", 1);
    sb_str(m->b, k, kl);
    sb_put(m->b, ":", 1);
    sb_str(m->b, v, vl);
    return m->b->oom;
}

/* The point's metadata as a JSON object of strings. */
static void meta_object(sb *b, const hs_point_view *p)
{
    meta_out m = {b, 0};
    sb_put(b, "{", 1);
    hs_meta_each(p, meta_member, &m);
    sb_put(b, "}", 1);
}

static void vector_json(sb *b, const double *v, size_t n)
{
    sb_put(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_put(b, ",", 1);
        sb_double(b, v[i]);
    }
    sb_put(b, "]", 1);
}

/* {"id":..,"vector":[..],"metadata":{..}} (vector only when asked for) */
typedef struct point_out {
    sb *b;
    bool with_vector, with_metadata;
    size_t count;
    uint64_t last_id;
} point_out;

static int point_json(void *ctx, const hs_point_view *p)
{
    point_out *o = ctx;
    sb *b = o->b;
    if (o->count++)
        sb_put(b, ",", 1);
    sb_puts(b, "{\"id\":");
    sb_u64(b, p->id);
    if (o->with_vector && p->vector) {
        sb_puts(b, ",\"vector\":");
        vector_json(b, p->vector, p->dim);
    }
    if (o->with_metadata) {
        sb_puts(b, ",\"metadata\":");
        meta_object(b, p);
    }
    sb_put(b, "}", 1);
    o->last_id = p->id;
    return b->oom;
}

static int peek_json(void *ctx, const hs_point_view *p)
{
    point_out *o = ctx;
    sb *b = o->b;
    if (o->count++)
        sb_put(b, ",", 1);
    sb_put(b, "[", 1);
    sb_u64(b, p->id);
    sb_put(b, ",", 1);
    vector_json(b, p->vector, p->vector ? p->dim : 0);
    sb_put(b, ",", 1);
    meta_object(b, p);
    sb_put(b, "]", 1);
    return b->oom;
}

static void stats_members(sb *b, const hs_collection_stats *st)
{
    sb_puts(b, "\"dimension\":");
    sb_u64(b, st->config.dimension);
    sb_puts(b, ",\"metric\":");
    sb_cstr(b, hs_metric_name(st->config.metric));
    sb_puts(b, ",\"quantization\":");
    sb_cstr(b, hs_quant_name(st->config.quantization));
    sb_puts(b, ",\"indexing_queue\":");
    sb_u64(b, st->indexing_queue);
    sb_puts(b, ",\"deleted_count\":");
    sb_u64(b, st->deleted);
    sb_puts(b, ",\"memory_bytes\":");
    sb_u64(b, st->memory_bytes);
    sb_puts(b, ",\"loaded\":");
    sb_puts(b, st->loaded ? "true" : "false");
    sb_puts(b, ",\"m\":");
    sb_u64(b, st->config.m);
    sb_puts(b, ",\"ef_construction\":");
    sb_u64(b, st->config.ef_construction);
    sb_puts(b, ",\"ef_search\":");
    sb_u64(b, st->config.ef_search);
}

static void digest_members(sb *b, const char *name, const hs_digest *d)
{
    sb_puts(b, "\"collection_name\":");
    sb_cstr(b, name);
    sb_puts(b, ",\"logical_clock\":");
    sb_u64(b, d->clock);
    sb_puts(b, ",\"vector_count\":");
    sb_u64(b, d->count);
    sb_puts(b, ",\"count\":");
    sb_u64(b, d->count);
    sb_puts(b, ",\"state_hash\":");
    sb_u64(b, d->state_hash);
    sb_printf(b, ",\"state_hash_hex\":\"%016llx\"", (unsigned long long)d->state_hash);
    sb_puts(b, ",\"buckets\":[");
    for (int i = 0; i < 256; i++) {
        if (i)
            sb_put(b, ",", 1);
        sb_u64(b, d->buckets[i]);
    }
    sb_put(b, "]", 1);
}

/* ---- collection helpers --------------------------------------------------------------------- */

static int open_coll(hctx *c, bool create_default, hs_collection **h)
{
    return hs_ops_open(tenant(c), c->st->name, create_default, h, &c->f);
}

/* The per-collection maintenance routes: runs the operation on the route's collection (loading
 * it), then fills st with its figures.  Returns the failure id or 0. */
static int on_coll(hctx *c, hs_op_kind kind, void *arg, hs_collection_stats *st)
{
    return hs_op_collection(tenant(c), c->st->name, kind, arg, st, &c->f);
}

static void write_reply(hctx *c, const char *what, uint64_t n, uint64_t clock)
{
    sb_printf(&c->out, "{\"%s\":%llu,\"logical_clock\":%llu}", what, (unsigned long long)n,
              (unsigned long long)clock);
}

/* ---- routes: collections ---------------------------------------------------------------------- */

typedef struct names {
    char (*v)[HS_NAME_MAX + 1];
    char (*t)[HS_NAME_MAX + 1];
    size_t n, cap;
} names;

static int add_name(void *ctx, const char *t, const char *name)
{
    names *ns = ctx;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        void *v = realloc(ns->v, cap * sizeof(*ns->v));
        if (!v)
            return HS_ENOMEM;
        ns->v = v;
        v = realloc(ns->t, cap * sizeof(*ns->t));
        if (!v)
            return HS_ENOMEM;
        ns->t = v;
        ns->cap = cap;
    }
    snprintf(ns->v[ns->n], sizeof(ns->v[0]), "%s", name);
    snprintf(ns->t[ns->n], sizeof(ns->t[0]), "%s", t ? t : "");
    ns->n++;
    return 0;
}

static void r_list(hctx *c)
{
    names ns = {0};
    hs_error err;
    int rc = hs_collection_list(g_srv.db, tenant(c), add_name, &ns, &err);
    if (rc) {
        fail_engine(c, rc, &err);
    } else {
        sb_put(&c->out, "[", 1);
        size_t shown = 0;
        for (size_t i = 0; i < ns.n; i++) {
            hs_collection_stats st;
            if (hs_collection_stats_get(g_srv.db, tenant(c), ns.v[i], &st, &err) != HS_OK)
                continue; /* dropped meanwhile */
            if (shown++)
                sb_put(&c->out, ",", 1);
            sb_puts(&c->out, "{\"name\":");
            sb_cstr(&c->out, ns.v[i]);
            sb_puts(&c->out, ",\"count\":");
            sb_u64(&c->out, st.count);
            sb_puts(&c->out, ",\"dimension\":");
            sb_u64(&c->out, st.config.dimension);
            sb_puts(&c->out, ",\"metric\":");
            sb_cstr(&c->out, hs_metric_name(st.config.metric));
            sb_puts(&c->out, ",\"quantization\":");
            sb_cstr(&c->out, hs_quant_name(st.config.quantization));
            sb_puts(&c->out, ",\"indexing_queue\":");
            sb_u64(&c->out, st.indexing_queue);
            sb_puts(&c->out, ",\"deleted_count\":");
            sb_u64(&c->out, st.deleted);
            sb_puts(&c->out, ",\"loaded\":");
            sb_puts(&c->out, st.loaded ? "true" : "false");
            if (st.error[0]) {
                char m[512];
                snprintf(m, sizeof(m), "Collection '%s' failed to load: %s", ns.v[i], st.error);
                sb_puts(&c->out, ",\"error\":");
                sb_cstr(&c->out, m);
            }
            sb_put(&c->out, "}", 1);
        }
        sb_put(&c->out, "]", 1);
    }
    free(ns.v);
    free(ns.t);
}

static void r_create(hctx *c)
{
    const char *name, *metric, *quant;
    int64_t dim = 0, m = 0, efc = 0, efs = 0;
    if (get_string(c, c->json, "name", true, &name) ||
        get_int(c, c->json, "dimension", true, 0, 4294967295LL, &dim, NULL) ||
        get_string(c, c->json, "metric", true, &metric) ||
        get_string(c, c->json, "quantization", false, &quant) ||
        get_int(c, c->json, "m", false, 0, 4294967295LL, &m, NULL) ||
        get_int(c, c->json, "ef_construction", false, 0, 4294967295LL, &efc, NULL) ||
        get_int(c, c->json, "ef_search", false, 0, 4294967295LL, &efs, NULL))
        return;
    hs_op_create_req q = {name, dim, metric, quant, m, efc, efs};
    hs_collection_stats st;
    if (hs_op_create(tenant(c), &q, &st, &c->f))
        return;
    sb *b = &c->out;
    sb_puts(b, "{\"name\":");
    sb_cstr(b, name);
    sb_puts(b, ",\"dimension\":");
    sb_u64(b, st.config.dimension);
    sb_puts(b, ",\"metric\":");
    sb_cstr(b, hs_metric_name(st.config.metric));
    sb_puts(b, ",\"quantization\":");
    sb_cstr(b, hs_quant_name(st.config.quantization));
    sb_printf(b, ",\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u,\"logical_clock\":%llu}",
              st.config.m, st.config.ef_construction, st.config.ef_search,
              (unsigned long long)st.clock);
    c->resp->status = 201;
    hs_hresp_header(c->resp, "Location", "/api/collections/%s", name);
}

static void r_info(hctx *c)
{
    hs_digest d;
    hs_collection_stats st;
    if (on_coll(c, HS_OP_DIGEST, &d, &st))
        return;
    sb_put(&c->out, "{", 1);
    digest_members(&c->out, c->st->name, &d);
    sb_puts(&c->out, ",\"name\":");
    sb_cstr(&c->out, c->st->name);
    sb_puts(&c->out, ",");
    stats_members(&c->out, &st);
    sb_put(&c->out, "}", 1);
}

static void r_drop(hctx *c)
{
    if (hs_op_drop(tenant(c), c->st->name, &c->f))
        return;
    c->resp->status = 204;
}

static void r_stats(hctx *c)
{
    hs_collection_stats st;
    if (hs_op_stats(tenant(c), c->st->name, &st, &c->f))
        return;
    sb_puts(&c->out, "{\"count\":");
    sb_u64(&c->out, st.count);
    sb_put(&c->out, ",", 1);
    stats_members(&c->out, &st);
    sb_put(&c->out, "}", 1);
}

static void r_digest(hctx *c)
{
    hs_digest d;
    hs_collection_stats st;
    if (on_coll(c, HS_OP_DIGEST, &d, &st))
        return;
    sb_put(&c->out, "{", 1);
    digest_members(&c->out, c->st->name, &d);
    sb_put(&c->out, "}", 1);
}

static void r_config(hctx *c)
{
    int64_t es = 0, ec = 0;
    bool has_es, has_ec;
    if (get_int(c, c->json, "ef_search", false, INT64_MIN / 2, INT64_MAX / 2, &es, &has_es) ||
        get_int(c, c->json, "ef_construction", false, INT64_MIN / 2, INT64_MAX / 2, &ec, &has_ec))
        return;
    hs_op_configure_req q = {has_es, has_ec, es, ec};
    hs_collection_stats st;
    if (on_coll(c, HS_OP_CONFIGURE, &q, &st))
        return;
    sb_puts(&c->out, "{\"name\":");
    sb_cstr(&c->out, c->st->name);
    sb_printf(&c->out, ",\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u}", st.config.m,
              st.config.ef_construction, st.config.ef_search);
}

/* ---- routes: writes ---------------------------------------------------------------------------- */

/* Upserts pts into the route's collection and writes the reply. */
static void upsert(hctx *c, const hs_point *pts, size_t n, hs_durability d, bool batch)
{
    hs_op_write w;
    if (!hs_op_upsert(tenant(c), c->st->name, pts, n, d, batch, true, &w, &c->f))
        write_reply(c, "upserted", w.n, w.clock);
}

/* One point object of insert / insert batch; vec and meta are the caller's to free. */
static int point_from_json(hctx *c, const cJSON *o, hs_point *p, double **vec, kvbuf *meta)
{
    int64_t id;
    size_t dim;
    *vec = NULL;
    memset(meta, 0, sizeof(*meta));
    if (!cJSON_IsObject(o))
        return fail(c, HS_ERR_FIELD, "Field 'vectors' must be an array of objects");
    if (get_int(c, o, "id", true, 0, 4294967295LL, &id, NULL) ||
        get_vector(c, o, "vector", vec, &dim) || get_metadata(c, o, meta))
        return c->f.id;
    *p = (hs_point){(uint64_t)id, *vec, dim, meta->kv, meta->n};
    return 0;
}

static void r_insert(hctx *c)
{
    hs_point p;
    double *vec = NULL;
    kvbuf meta = {0};
    hs_durability d;
    if (!point_from_json(c, c->json, &p, &vec, &meta) && !get_durability(c, &d))
        upsert(c, &p, 1, d, false);
    free(vec);
    kvbuf_free(&meta);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The binary bulk format (http.md 5). */
static void insert_binary(hctx *c)
{
    const unsigned char *b = (const unsigned char *)c->req->body;
    size_t len = c->req->body_len;
    hs_durability d;
    if (get_durability(c, &d))
        return;
    if (len < 20 || memcmp(b, "HSF1", 4)) {
        if (len >= 4 && !memcmp(b, "HSF1", 4))
            fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected at least 20",
                 len);
        else
            fail(c, HS_ERR_BINARY, "Invalid binary body: bad magic");
        return;
    }
    uint32_t dim = rd32(b + 4), count = rd32(b + 8), flags = rd32(b + 12), first = rd32(b + 16);
    if (flags & ~3u) {
        fail(c, HS_ERR_BINARY, "Invalid binary body: unknown flags 0x%x", flags);
        return;
    }
    bool has_ids = flags & 1, has_meta = flags & 2;
    /* fixed part: header, ids, vectors (in 64 bits: no overflow for u32 inputs) */
    uint64_t need = 20 + (has_ids ? 4ull * count : 0) + 4ull * dim * count;
    if (need > len || (!has_meta && need != len)) {
        fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected %llu", len,
             (unsigned long long)need);
        return;
    }
    /* metadata section: walk the lengths */
    uint64_t at = need;
    if (has_meta) {
        for (uint32_t i = 0; i < count; i++) {
            if (at + 4 > len) {
                fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected %llu",
                     len, (unsigned long long)(at + 4));
                return;
            }
            uint32_t ml = rd32(b + at);
            if (at + 4 + ml <= len) { /* refused before anything is opened or created */
                char what[48];
                snprintf(what, sizeof(what), "vectors[%u].metadata", i);
                if (nul_fail(c, (const char *)b + at + 4, ml, what))
                    return;
            }
            at += 4ull + ml;
        }
        if (at != len) {
            fail(c, HS_ERR_BINARY, "Invalid binary body: length is %zu bytes, expected %llu", len,
                 (unsigned long long)at);
            return;
        }
    }
    hs_collection *h = NULL;
    if (open_coll(c, count > 0, &h))
        return;
    hs_collection_stats st;
    hs_collection_stats_of(h, &st);
    if (count && dim != st.config.dimension) {
        hs_collection_close(h);
        fail(c, HS_ERR_DIMENSION_MISMATCH, "Vector dimension mismatch. Expected %u, got %u",
             st.config.dimension, dim);
        snprintf(c->f.details, sizeof(c->f.details), "\"expected\":%u,\"got\":%u",
                 st.config.dimension, dim);
        return;
    }
    if (!has_ids && count && (uint64_t)first + count - 1 > 4294967295ull) {
        hs_collection_close(h);
        fail(c, HS_ERR_BINARY, "Invalid binary body: ids overflow 4294967295");
        return;
    }
    hs_point *pts = calloc(count ? count : 1, sizeof(hs_point));
    double *vecs = malloc((count ? (size_t)count * dim : 1) * sizeof(double));
    kvbuf *metas = calloc(count ? count : 1, sizeof(kvbuf));
    cJSON **docs = calloc(count ? count : 1, sizeof(cJSON *));
    if (!pts || !vecs || !metas || !docs) {
        fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        goto out;
    }
    const unsigned char *ids = b + 20, *fl = b + 20 + (has_ids ? 4ull * count : 0);
    for (size_t i = 0; i < (size_t)count * dim; i++) {
        uint32_t bits = rd32(fl + 4 * i);
        float f;
        memcpy(&f, &bits, sizeof(f));
        vecs[i] = (double)f;
    }
    at = need;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t id = has_ids ? rd32(ids + 4ull * i) : (uint64_t)first + i;
        pts[i] = (hs_point){id, vecs + (size_t)i * dim, dim, NULL, 0};
        if (!has_meta)
            continue;
        uint32_t ml = rd32(b + at);
        const char *mj = (const char *)b + at + 4;
        at += 4ull + ml;
        if (!ml)
            continue;
        const char *end = NULL;
        cJSON *doc = NULL;
        json_shape shape = json_scan(mj, ml);
        if (hs_utf8_valid(mj, ml) && shape.max_depth <= JSON_MAX_DEPTH)
            doc = cJSON_ParseWithLengthOpts(mj, ml, &end, 0);
        docs[i] = doc;
        bool ok = doc && cJSON_IsObject(doc) && end == mj + ml;
        if (ok && shape.long_digits) {
            num_walk w = {mj, ml, 0, false};
            exact_numbers(doc->child, &w);
            ok = !w.oom;
        }
        hs_fail saved = c->f;
        if (ok && get_metadata_obj(c, doc, &metas[i])) {
            ok = false;
            c->f = saved;
        }
        if (!ok) {
            fail(c, HS_ERR_BINARY,
                 "Invalid binary body: metadata of vectors[%u] is not a JSON object of strings", i);
            goto out;
        }
        pts[i].meta = metas[i].kv;
        pts[i].nmeta = metas[i].n;
    }
    hs_op_write w;
    if (!hs_op_upsert(tenant(c), c->st->name, pts, count, d, true, true, &w, &c->f))
        write_reply(c, "upserted", w.n, w.clock);
out:
    for (uint32_t i = 0; docs && metas && i < count; i++) {
        cJSON_Delete(docs[i]);
        kvbuf_free(&metas[i]);
    }
    free(docs);
    free(metas);
    free(vecs);
    free(pts);
    hs_collection_close(h);
}

static void r_insert_batch(hctx *c)
{
    if (c->st->binary) {
        insert_binary(c);
        return;
    }
    if (parse_body(c, false))
        return;
    cJSON *arr = get_object_array(c, "vectors");
    if (!arr)
        return;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    hs_point *pts = calloc(n ? n : 1, sizeof(hs_point));
    double **vecs = calloc(n ? n : 1, sizeof(double *));
    kvbuf *metas = calloc(n ? n : 1, sizeof(kvbuf));
    hs_durability d;
    if (!pts || !vecs || !metas) {
        fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    } else {
        size_t i = 0;
        for (cJSON *it = arr->child; it; it = it->next, i++)
            if (point_from_json(c, it, &pts[i], &vecs[i], &metas[i])) {
                fail_prefix(c, "vectors", (long)i);
                break;
            }
        if (!c->f.id && !get_durability(c, &d))
            upsert(c, pts, n, d, true);
    }
    for (size_t i = 0; vecs && metas && i < n; i++) {
        free(vecs[i]);
        kvbuf_free(&metas[i]);
    }
    free(pts);
    free(vecs);
    free(metas);
}

static void r_delete_point(hctx *c)
{
    hs_durability d;
    if (get_durability(c, &d))
        return;
    uint64_t id = c->st->id;
    hs_op_write w;
    if (!hs_op_delete(tenant(c), c->st->name, &id, 1, NULL, d, true, &w, &c->f))
        write_reply(c, "deleted", w.n, w.clock);
}

/* A list of ids from a JSON array (1..10000 of them). */
static int get_ids(hctx *c, const cJSON *arr, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return fail(c, HS_ERR_FIELD, "Field 'ids' must be an array of integers");
    size_t len = (size_t)cJSON_GetArraySize(arr);
    if (len < 1 || len > MAX_IDS)
        return fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and 10000 (got %zu)", len);
    uint64_t *ids = malloc(len * sizeof(uint64_t));
    if (!ids)
        return fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    size_t i = 0;
    for (cJSON *it = arr->child; it; it = it->next, i++) {
        double d = it->valuedouble;
        if (!cJSON_IsNumber(it) || !isfinite(d) || d != floor(d) || d < 0 || d > 4294967295.0) {
            free(ids);
            return fail(c, HS_ERR_FIELD,
                        "Field 'ids' must be an array of integers between 0 and 4294967295");
        }
        ids[i] = (uint64_t)d;
    }
    *out = ids;
    *n = len;
    return 0;
}

static void r_points_delete(hctx *c)
{
    cJSON *ids_j = member(c->json, "ids");
    bool has_filter = member(c->json, "filter") != NULL;
    for (size_t l = 0; l < sizeof(cond_lists) / sizeof(cond_lists[0]); l++)
        has_filter = has_filter || member(c->json, cond_lists[l].name);
    hs_filter_set fs;
    hs_filter_init(&fs);
    uint64_t *ids = NULL;
    size_t nids = 0;
    hs_durability d;
    if (ids_j && has_filter) {
        fail(c, HS_ERR_SELECTOR, "Provide exactly one of 'ids' or a filter");
        goto out;
    }
    if (!ids_j && !has_filter) {
        fail(c, HS_ERR_SELECTOR, "Provide exactly one of 'ids' or a filter");
        goto out;
    }
    if (ids_j ? get_ids(c, ids_j, &ids, &nids) : get_filters(c, c->json, &fs))
        goto out;
    if (!ids_j && fs.n == 0) {
        fail(c, HS_ERR_SELECTOR, "Delete by filter needs at least one condition");
        goto out;
    }
    if (get_durability(c, &d))
        goto out;
    hs_op_write w;
    if (!hs_op_delete(tenant(c), c->st->name, ids_j ? ids : NULL, nids, &fs, d, true, &w, &c->f))
        write_reply(c, "deleted", w.n, w.clock);
out:
    hs_filter_free(&fs);
    free(ids);
}

/* ---- routes: reads ----------------------------------------------------------------------------- */

typedef struct search_q {
    double *vec;
    hs_filter_set fs;
    hs_op_search_req r; /* vector, text and filter point into this struct and the JSON tree */
} search_q;

static void search_q_free(search_q *q)
{
    free(q->vec);
    hs_filter_free(&q->fs);
}

/* Decodes one search body (step 5 of B9.3) into q, with the operations layer's checks where
 * the spec orders them (top_k after the vector, alpha and the query length after hybrid_query). */
static int search_parse(hctx *c, const cJSON *o, search_q *q)
{
    memset(q, 0, sizeof(*q));
    hs_filter_init(&q->fs);
    if (!cJSON_IsObject(o))
        return fail(c, HS_ERR_FIELD, "Field 'searches' must be an array of objects");
    int64_t k = 0;
    const char *hq = NULL;
    if (get_vector(c, o, "vector", &q->vec, &q->r.dim) ||
        get_int(c, o, "top_k", false, 0, INT64_MAX / 2, &k, NULL) ||
        hs_op_check_top_k((uint64_t)k, &c->f))
        return c->f.id;
    q->r.vector = q->vec;
    q->r.top_k = (uint64_t)k;
    if (get_string(c, o, "hybrid_query", false, &hq))
        return c->f.id;
    if (hq) {
        cJSON *a = member(o, "hybrid_alpha");
        if (a && !cJSON_IsNumber(a))
            return fail(c, HS_ERR_FIELD, "Field 'hybrid_alpha' must be a number");
        q->r.hybrid = true;
        q->r.text = hq;
        q->r.text_len = strlen(hq);
        q->r.has_alpha = a != NULL;
        q->r.alpha = a ? a->valuedouble : 0.5;
        if (hs_op_check_hybrid(q->r.has_alpha, q->r.alpha, q->r.text_len, &c->f))
            return c->f.id;
    }
    q->r.filter = &q->fs;
    return get_filters(c, o, &q->fs);
}

typedef struct result_meta {
    sb *meta; /* one per result */
} result_meta;

static int on_result(void *ctx, size_t i, const hs_point_view *p)
{
    result_meta *rm = ctx;
    meta_object(&rm->meta[i], p);
    return 0;
}

/* Runs q against h and appends the JSON result array to c->out. */
static int search_run(hctx *c, hs_collection *h, search_q *q)
{
    size_t k = hs_op_search_k(&q->r);
    hs_hit *hits = malloc(k * sizeof(hs_hit));
    result_meta rm = {calloc(k, sizeof(sb))};
    size_t n = 0;
    if (!hits || !rm.meta) {
        free(hits);
        free(rm.meta);
        return fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    q->r.filter = &q->fs;
    q->r.on_result = on_result;
    q->r.result_ctx = &rm;
    if (!hs_op_search(tenant(c), c->st->name, h, &q->r, hits, &n, &c->f)) {
        sb *b = &c->out;
        sb_put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_puts(b, "{\"id\":");
            sb_u64(b, hits[i].id);
            sb_puts(b, ",\"distance\":");
            sb_double(b, hits[i].distance);
            sb_puts(b, ",\"metadata\":");
            if (rm.meta[i].oom)
                b->oom = true;
            else if (rm.meta[i].n)
                sb_put(b, rm.meta[i].p, rm.meta[i].n);
            else
                sb_puts(b, "{}"); /* not reported by the engine: no metadata known */
            if (q->r.hybrid) {
                sb_puts(b, ",\"score\":");
                sb_double(b, hits[i].score);
            }
            sb_put(b, "}", 1);
        }
        sb_put(b, "]", 1);
    }
    for (size_t i = 0; i < k; i++)
        free(rm.meta[i].p);
    free(rm.meta);
    free(hits);
    return c->f.id;
}

static void r_search(hctx *c)
{
    search_q q;
    hs_collection *h = NULL;
    if (!search_parse(c, c->json, &q) && !open_coll(c, false, &h))
        search_run(c, h, &q);
    hs_collection_close(h);
    search_q_free(&q);
}

static void r_search_batch(hctx *c)
{
    cJSON *arr = get_object_array(c, "searches");
    if (!arr)
        return;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    search_q *qs = calloc(n ? n : 1, sizeof(search_q));
    hs_collection *h = NULL;
    if (!qs) {
        fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        return;
    }
    size_t i = 0, parsed = 0;
    for (cJSON *it = arr->child; it; it = it->next, i++) {
        parsed++;
        if (search_parse(c, it, &qs[i])) {
            fail_prefix(c, "searches", (long)i);
            goto out;
        }
    }
    if (open_coll(c, false, &h))
        goto out;
    sb_put(&c->out, "[", 1);
    for (i = 0; i < n; i++) {
        if (i)
            sb_put(&c->out, ",", 1);
        if (search_run(c, h, &qs[i])) {
            fail_prefix(c, "searches", (long)i);
            goto out;
        }
    }
    sb_put(&c->out, "]", 1);
out:
    hs_collection_close(h);
    for (i = 0; i < parsed; i++)
        search_q_free(&qs[i]);
    free(qs);
}

static int with_vector_arg(hctx *c, bool *out)
{
    char buf[16];
    const char *v = query_arg(c, "with_vector", buf, sizeof(buf));
    *out = true;
    if (!v)
        return 0;
    if (!strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else if (strcasecmp(v, "true") && strcmp(v, "1"))
        return fail(c, HS_ERR_FIELD, "Field 'with_vector' must be a boolean");
    return 0;
}

static void r_get_point(hctx *c)
{
    bool wv;
    if (with_vector_arg(c, &wv))
        return;
    hs_collection *h = NULL;
    if (open_coll(c, false, &h))
        return;
    point_out o = {&c->out, wv, true, 0, 0};
    hs_error err;
    int rc = hs_point_visit(h, c->st->id, wv, point_json, &o, &err);
    hs_collection_close(h);
    if (rc == HS_ENOTFOUND)
        fail(c, HS_ERR_POINT_NOT_FOUND, "Point %llu not found in collection '%s'",
             (unsigned long long)c->st->id, c->st->name);
    else if (rc)
        fail_engine(c, rc, &err);
}

static void r_get_points(hctx *c)
{
    bool wv;
    if (with_vector_arg(c, &wv))
        return;
    const char *raw = c->req->arg ? c->req->arg(c->req->ctx, "ids") : NULL;
    if (!raw) {
        fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and 10000 (got 0)");
        return;
    }
    size_t rl = strlen(raw);
    char *s = malloc(rl + 1);
    uint64_t *ids = malloc((rl / 2 + 2) * sizeof(uint64_t));
    uint64_t *seen = malloc((rl / 2 + 2) * sizeof(uint64_t));
    size_t n = 0, nseen = 0;
    hs_collection *h = NULL;
    if (!s || !ids || !seen) {
        fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        goto out;
    }
    if (!pct_decode(raw, rl, s, rl + 1, true))
        snprintf(s, rl + 1, "%s", raw);
    for (char *tok = s;;) {
        char *comma = strchr(tok, ',');
        size_t tl = comma ? (size_t)(comma - tok) : strlen(tok);
        uint64_t id;
        if (!parse_u64(tok, tl, 4294967295ull, &id)) {
            fail(c, HS_ERR_INVALID_ARGUMENT, "Invalid point id '%.*s'", (int)(tl > 64 ? 64 : tl),
                 tok);
            goto out;
        }
        ids[n++] = id;
        if (!comma)
            break;
        tok = comma + 1;
    }
    if (n > MAX_IDS) {
        fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and 10000 (got %zu)", n);
        goto out;
    }
    if (open_coll(c, false, &h))
        goto out;
    point_out o = {&c->out, wv, true, 0, 0};
    sb_put(&c->out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        /* each id at most once: `seen` stays sorted */
        size_t lo = 0, hi = nseen;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (seen[mid] < ids[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < nseen && seen[lo] == ids[i])
            continue;
        memmove(seen + lo + 1, seen + lo, (nseen - lo) * sizeof(uint64_t));
        seen[lo] = ids[i];
        nseen++;
        hs_error err;
        int rc = hs_point_visit(h, ids[i], wv, point_json, &o, &err);
        if (rc && rc != HS_ENOTFOUND) {
            fail_engine(c, rc, &err);
            goto out;
        }
    }
    sb_put(&c->out, "]", 1);
out:
    hs_collection_close(h);
    free(s);
    free(ids);
    free(seen);
}

static void r_scroll(hctx *c)
{
    int64_t limit = 100;
    bool has_limit, wv, wm;
    const char *cursor = NULL;
    hs_filter_set fs;
    hs_filter_init(&fs);
    hs_collection *h = NULL;
    if (get_int(c, c->json, "limit", false, INT64_MIN / 2, INT64_MAX / 2, &limit, &has_limit) ||
        get_bool(c, c->json, "with_vector", false, &wv) ||
        get_bool(c, c->json, "with_metadata", true, &wm))
        goto out;
    if (!has_limit)
        limit = 100;
    if (limit < 1 || limit > 1000) {
        fail(c, HS_ERR_PARAM_RANGE, "limit must be between 1 and 1000 (got %lld)",
             (long long)limit);
        goto out;
    }
    cJSON *cj = member(c->json, "cursor");
    uint64_t after = 0;
    if (cj) {
        if (!cJSON_IsString(cj) || !parse_u64(cj->valuestring, strlen(cj->valuestring),
                                              4294967295ull, &after)) {
            fail(c, HS_ERR_CURSOR, "Invalid cursor");
            goto out;
        }
        cursor = cj->valuestring;
    }
    if (get_filters(c, c->json, &fs) || open_coll(c, false, &h))
        goto out;
    point_out o = {&c->out, wv, wm, 0, 0};
    int more = 0;
    hs_error err;
    sb_puts(&c->out, "{\"points\":[");
    int rc = hs_filter_empty(&fs) ? HS_OK
                      : hs_scroll_where(h, cursor != NULL, after, (size_t)limit, wv,
                                        fs.n ? hs_filter_accept : NULL, &fs, point_json, &o,
                                        &more, &err);
    if (rc) {
        fail_engine(c, rc, &err);
        goto out;
    }
    sb_puts(&c->out, "],\"next_cursor\":");
    if (more && o.count)
        sb_printf(&c->out, "\"%llu\"", (unsigned long long)o.last_id);
    else
        sb_puts(&c->out, "null");
    sb_put(&c->out, "}", 1);
out:
    hs_collection_close(h);
    hs_filter_free(&fs);
}

static void r_count(hctx *c)
{
    hs_filter_set fs;
    hs_collection *h = NULL;
    if (get_filters(c, c->json, &fs) || open_coll(c, false, &h))
        goto out;
    uint64_t n = 0;
    hs_error err;
    int rc = hs_filter_empty(&fs) ? HS_OK
                      : hs_count_where(h, fs.n ? hs_filter_accept : NULL, &fs, &n, &err);
    if (rc)
        fail_engine(c, rc, &err);
    else
        sb_printf(&c->out, "{\"count\":%llu}", (unsigned long long)n);
out:
    hs_collection_close(h);
    hs_filter_free(&fs);
}

static void r_peek(hctx *c)
{
    char buf[32];
    uint64_t limit = 50, cursor = 0;
    const char *l = query_arg(c, "limit", buf, sizeof(buf));
    if (l) {
        if (!parse_u64(l, strlen(l), UINT64_MAX, &limit)) {
            fail(c, HS_ERR_FIELD, "Field 'limit' must be an integer between 1 and 100");
            return;
        }
        limit = limit < 1 ? 1 : limit > 100 ? 100 : limit;
    }
    const char *cur = query_arg(c, "cursor", buf, sizeof(buf));
    if (cur && !parse_u64(cur, strlen(cur), UINT64_MAX, &cursor)) {
        fail(c, HS_ERR_CURSOR, "Invalid cursor");
        return;
    }
    hs_collection *h = NULL;
    if (open_coll(c, false, &h))
        return;
    point_out o = {&c->out, true, true, 0, 0};
    uint64_t next = 0;
    int more = 0;
    hs_error err;
    sb_put(&c->out, "[", 1);
    int rc = hs_peek(h, cursor, (size_t)limit, 1, peek_json, &o, &next, &more, &err);
    hs_collection_close(h);
    if (rc) {
        fail_engine(c, rc, &err);
        return;
    }
    sb_put(&c->out, "]", 1);
    if (more)
        hs_hresp_header(c->resp, "X-Next-Cursor", "%llu", (unsigned long long)next);
}

/* ---- routes: maintenance ----------------------------------------------------------------------- */

static void r_rebuild(hctx *c)
{
    hs_collection_stats st;
    if (on_coll(c, HS_OP_REBUILD, NULL, &st))
        return;
    sb_puts(&c->out, "{\"status\":\"Index rebuilt and reloaded successfully\",\"collection\":");
    sb_cstr(&c->out, c->st->name);
    sb_printf(&c->out, ",\"count\":%llu}", (unsigned long long)st.count);
}

static void r_coll_snapshot(hctx *c)
{
    hs_collection_stats st;
    if (on_coll(c, HS_OP_CHECKPOINT, NULL, &st))
        return;
    sb_puts(&c->out, "{\"status\":\"Snapshot completed\",\"collection\":");
    sb_cstr(&c->out, c->st->name);
    sb_printf(&c->out, ",\"logical_clock\":%llu}", (unsigned long long)st.clock);
}

static void r_snapshot(hctx *c)
{
    size_t n = 0;
    if (hs_op_snapshot(&n, &c->f))
        return;
    sb_printf(&c->out, "{\"status\":\"Snapshot completed for %zu collections\",\"collections\":%zu}",
              n, n);
}

static void r_vacuum(hctx *c)
{
    size_t n = 0;
    uint64_t reclaimed = 0;
    if (hs_op_vacuum(&n, &reclaimed, &c->f))
        return;
    sb_printf(&c->out,
              "{\"status\":\"Success\",\"message\":\"Vacuum completed: %zu collections compacted, "
              "%llu entries reclaimed\",\"collections_compacted\":%zu,\"entries_reclaimed\":%llu}",
              n, (unsigned long long)reclaimed, n, (unsigned long long)reclaimed);
}

typedef struct usage {
    char tenant[HS_NAME_MAX + 1];
    uint64_t collections, vectors, disk;
} usage;

static int cmp_usage(const void *a, const void *b)
{
    return strcmp(((const usage *)a)->tenant, ((const usage *)b)->tenant);
}

static void r_usage(hctx *c)
{
    names ns = {0};
    hs_error err;
    int rc = hs_collection_list(g_srv.db, NULL, add_name, &ns, &err);
    usage *u = calloc(ns.n ? ns.n : 1, sizeof(usage));
    size_t nu = 0;
    if (rc || !u) {
        if (rc)
            fail_engine(c, rc, &err);
        else
            fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        goto out;
    }
    for (size_t i = 0; i < ns.n; i++) {
        hs_collection_stats st;
        if (hs_collection_stats_get(g_srv.db, ns.t[i], ns.v[i], &st, &err) != HS_OK)
            continue;
        size_t j = 0;
        while (j < nu && strcmp(u[j].tenant, ns.t[i]))
            j++;
        if (j == nu)
            snprintf(u[nu++].tenant, sizeof(u[0].tenant), "%s", ns.t[i]);
        u[j].collections++;
        u[j].vectors += st.count;
        u[j].disk += st.disk_bytes;
    }
    qsort(u, nu, sizeof(usage), cmp_usage);
    sb_put(&c->out, "{", 1);
    for (size_t j = 0; j < nu; j++) {
        if (j)
            sb_put(&c->out, ",", 1);
        sb_cstr(&c->out, u[j].tenant);
        sb_printf(&c->out, ":{\"collection_count\":%llu,\"vector_count\":%llu,"
                           "\"disk_usage_bytes\":%llu}",
                  (unsigned long long)u[j].collections, (unsigned long long)u[j].vectors,
                  (unsigned long long)u[j].disk);
    }
    sb_put(&c->out, "}", 1);
out:
    free(u);
    free(ns.v);
    free(ns.t);
}

static const char *role_text(void)
{
    return __atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE) ? "Follower" : "Leader";
}

static void r_cluster(hctx *c)
{
    sb *b = &c->out;
    sb_puts(b, "{\"node_id\":");
    sb_cstr(b, g_srv.node_id);
    sb_puts(b, ",\"role\":");
    sb_cstr(b, role_text());
    sb_puts(b, ",\"upstream_peer\":");
    if (__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE) && g_srv.cfg.leader[0])
        sb_cstr(b, g_srv.cfg.leader);
    else
        sb_puts(b, "null");
    uint64_t clock = hs_db_clock(g_srv.db);
    sb_printf(b, ",\"downstream_peers\":[],\"logical_clock\":%llu,\"replication\":",
              (unsigned long long)clock);
    if (__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE))
        sb_printf(b, "{\"connected\":false,\"leader_node_id\":null,\"watermark\":%llu,"
                     "\"reconnects\":0,\"last_error\":\"Replication is not available in this "
                     "build\"}}",
                  (unsigned long long)clock);
    else
        sb_puts(b, "null}");
}

static void r_promote(hctx *c)
{
    const char *prev = role_text();
    /* a follower stops following (this build streams nothing from a leader yet) and records
     * its new role before answering, so it stays a leader after a restart without --role */
    if (__atomic_load_n(&g_srv.follower, __ATOMIC_ACQUIRE)) {
        if (hs_ops_role_persist(false)) {
            fail(c, HS_ERR_INTERNAL, "Internal error: cannot record the new role in %s/.role",
                 g_srv.cfg.data_dir);
            return;
        }
        __atomic_store_n(&g_srv.follower, false, __ATOMIC_RELEASE);
        hs_log(HS_LOG_INFO, "promoted to leader");
    }
    sb_puts(&c->out, "{\"role\":\"Leader\",\"previous_role\":");
    sb_cstr(&c->out, prev);
    sb_puts(&c->out, ",\"node_id\":");
    sb_cstr(&c->out, g_srv.node_id);
    sb_printf(&c->out, ",\"logical_clock\":%llu}", (unsigned long long)hs_db_clock(g_srv.db));
}

static void r_status(hctx *c)
{
    uint64_t up = (hs_now_ns_srv() - g_srv.start_ns) / 1000000000ull;
    char uptime[48];
    if (up < 60)
        snprintf(uptime, sizeof(uptime), "%llus", (unsigned long long)up);
    else if (up < 3600)
        snprintf(uptime, sizeof(uptime), "%llum %llus", (unsigned long long)(up / 60),
                 (unsigned long long)(up % 60));
    else
        snprintf(uptime, sizeof(uptime), "%lluh %llum", (unsigned long long)(up / 3600),
                 (unsigned long long)(up % 3600 / 60));
    sb *b = &c->out;
    sb_printf(b, "{\"status\":\"ONLINE\",\"version\":\"%s\",\"uptime\":\"%s\",\"uptime_seconds\":%llu",
              HS_API_VERSION, uptime, (unsigned long long)up);
    sb_printf(b, ",\"config\":{\"dimension\":%u,\"metric\":\"%s\",\"quantization\":\"%s\"}",
              g_srv.cfg.dimension, hs_metric_name(g_srv.cfg.metric),
              hs_quant_name(g_srv.cfg.quantization));
    sb_puts(b, ",\"embedding\":null,\"role\":");
    sb_cstr(b, role_text());
    sb_puts(b, ",\"node_id\":");
    sb_cstr(b, g_srv.node_id);
    sb_put(b, "}", 1);
}

static void r_api_metrics(hctx *c)
{
    uint64_t cols, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    uint64_t up = (hs_now_ns_srv() - g_srv.start_ns) / 1000000000ull;
    sb *b = &c->out;
    sb_printf(b, "{\"total_vectors\":%llu,\"active_collections\":%llu,\"idle_collections\":%llu,"
                 "\"total_collections\":%llu,\"ram_usage_mb\":%llu,\"cpu_usage_percent\":%llu,"
                 "\"disk_usage_mb\":%llu,\"qps\":",
              (unsigned long long)pts, (unsigned long long)loaded,
              (unsigned long long)(cols - loaded), (unsigned long long)cols,
              (unsigned long long)llround((double)hs_process_rss() / 1048576.0),
              (unsigned long long)llround(hs_process_cpu_percent()),
              (unsigned long long)llround((double)hs_data_dir_bytes() / 1048576.0));
    sb_double(b, hs_ops_qps());
    sb_printf(b, ",\"uptime_seconds\":%llu}", (unsigned long long)up);
}

static void r_prometheus(hctx *c)
{
    size_t len = 0;
    char *text = hs_metrics_text(&len);
    if (!text) {
        fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        return;
    }
    free(c->out.p);
    c->out.p = text;
    c->out.n = len;
    c->out.cap = len + 1;
    c->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void r_logs(hctx *c)
{
    char buf[32];
    uint64_t limit = 100;
    const char *l = query_arg(c, "limit", buf, sizeof(buf));
    if (l) {
        if (!parse_u64(l, strlen(l), UINT64_MAX, &limit)) {
            fail(c, HS_ERR_FIELD, "Field 'limit' must be an integer between 1 and 1000");
            return;
        }
        limit = limit < 1 ? 1 : limit > 1000 ? 1000 : limit;
    }
    char **lines = NULL;
    size_t n = hs_logring_tail(&lines, (size_t)limit);
    sb_put(&c->out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_put(&c->out, ",", 1);
        sb_cstr(&c->out, lines[i]);
    }
    sb_put(&c->out, "]", 1);
    hs_logring_free(lines, n);
}

static void r_healthz(hctx *c) { sb_puts(&c->out, "{\"status\":\"ok\"}"); }

static void r_readyz(hctx *c)
{
    int state = __atomic_load_n(&g_srv.state, __ATOMIC_ACQUIRE);
    if (state != SRV_READY) {
        sb_puts(&c->out, state == SRV_STARTING ? "{\"status\":\"starting\"}"
                                               : "{\"status\":\"shutting_down\"}");
        c->resp->status = 503;
        return;
    }
    uint64_t cols, pts, loaded, failed;
    hs_db_totals(g_srv.db, &cols, &pts, &loaded, &failed);
    sb_puts(&c->out, "{\"status\":\"ready\",\"role\":");
    sb_cstr(&c->out, role_text());
    sb_printf(&c->out, ",\"quarantined_collections\":%llu}", (unsigned long long)failed);
}

/* ---- the route table ------------------------------------------------------------------------- */

#define C "/api/collections/{name}"
static const route routes[] = {
    {"GET", "/healthz", HS_ROLE_NONE, false, false, BODY_NONE, r_healthz},
    {"GET", "/readyz", HS_ROLE_NONE, false, false, BODY_NONE, r_readyz},
    {"GET", "/metrics", HS_ROLE_ADMIN, true, false, BODY_NONE, r_prometheus},
    {"GET", "/api/collections", HS_ROLE_READER, false, false, BODY_NONE, r_list},
    {"POST", "/api/collections", HS_ROLE_WRITER, false, true, BODY_JSON, r_create},
    {"GET", C, HS_ROLE_READER, false, false, BODY_NONE, r_info},
    {"DELETE", C, HS_ROLE_WRITER, false, true, BODY_NONE, r_drop},
    {"GET", C "/stats", HS_ROLE_READER, false, false, BODY_NONE, r_stats},
    {"GET", C "/digest", HS_ROLE_READER, false, false, BODY_NONE, r_digest},
    {"PATCH", C "/config", HS_ROLE_ADMIN, false, false, BODY_JSON_OPT, r_config},
    {"POST", C "/insert", HS_ROLE_WRITER, false, true, BODY_JSON, r_insert},
    {"POST", C "/insert/batch", HS_ROLE_WRITER, false, true, BODY_JSON_OR_BINARY, r_insert_batch},
    {"POST", C "/search", HS_ROLE_READER, false, false, BODY_JSON, r_search},
    {"POST", C "/search/batch", HS_ROLE_READER, false, false, BODY_JSON, r_search_batch},
    {"POST", C "/points/delete", HS_ROLE_WRITER, false, true, BODY_JSON, r_points_delete},
    {"GET", C "/points/{id}", HS_ROLE_READER, false, false, BODY_NONE, r_get_point},
    {"DELETE", C "/points/{id}", HS_ROLE_WRITER, false, true, BODY_NONE, r_delete_point},
    {"GET", C "/points", HS_ROLE_READER, false, false, BODY_NONE, r_get_points},
    {"POST", C "/scroll", HS_ROLE_READER, false, false, BODY_JSON_OPT, r_scroll},
    {"POST", C "/count", HS_ROLE_READER, false, false, BODY_JSON_OPT, r_count},
    {"GET", C "/peek", HS_ROLE_READER, false, false, BODY_NONE, r_peek},
    {"POST", C "/rebuild", HS_ROLE_ADMIN, false, false, BODY_NONE, r_rebuild},
    {"POST", C "/snapshot", HS_ROLE_ADMIN, false, false, BODY_NONE, r_coll_snapshot},
    {"POST", "/api/admin/snapshot", HS_ROLE_ADMIN, true, false, BODY_NONE, r_snapshot},
    {"POST", "/api/admin/vacuum", HS_ROLE_ADMIN, true, false, BODY_NONE, r_vacuum},
    {"GET", "/api/admin/usage", HS_ROLE_ADMIN, true, false, BODY_NONE, r_usage},
    {"GET", "/api/cluster/status", HS_ROLE_READER, false, false, BODY_NONE, r_cluster},
    {"POST", "/api/cluster/promote", HS_ROLE_ADMIN, true, false, BODY_NONE, r_promote},
    {"GET", "/api/status", HS_ROLE_READER, false, false, BODY_NONE, r_status},
    {"GET", "/api/metrics", HS_ROLE_ADMIN, true, false, BODY_NONE, r_api_metrics},
    {"GET", "/api/logs", HS_ROLE_ADMIN, true, false, BODY_NONE, r_logs},
};
#undef C
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches a path against a template; {name} and {id} take one non-empty segment each. */
static bool templ_match(const char *t, const char *p, const char **name, size_t *name_len,
                        const char **id, size_t *id_len)
{
    while (*t && *p) {
        if (*t == '{') {
            const char *close = strchr(t, '}');
            const char *seg_end = strchr(p, '/');
            size_t seg = seg_end ? (size_t)(seg_end - p) : strlen(p);
            if (!seg)
                return false;
            if (!strncmp(t, "{name}", 6)) {
                *name = p;
                *name_len = seg;
            } else {
                *id = p;
                *id_len = seg;
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
static const char *match_path(const char *path, char *allow, size_t cap, const char **name,
                              size_t *name_len, const char **id, size_t *id_len)
{
    const char *templ = NULL;
    allow[0] = 0;
    for (size_t i = 0; i < NROUTES; i++) {
        if (templ && strcmp(routes[i].templ, templ))
            continue;
        if (!templ && !templ_match(routes[i].templ, path, name, name_len, id, id_len))
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

bool hs_http_prepare(const hs_hreq *req, hs_hstate *st, hs_hresp *resp)
{
    memset(st, 0, sizeof(*st));
    memset(resp, 0, sizeof(*resp));
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
    const char *name = NULL, *id = NULL;
    size_t name_len = 0, id_len = 0;
    const char *templ = match_path(path, allow, sizeof(allow), &name, &name_len, &id, &id_len);
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
                                "content-type, x-api-key, authorization, x-hyperspace-user-id");
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
    /* the body: size and media type before a byte of it is read */
    if (r->body != BODY_NONE) {
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
        if (!pct_decode(name, name_len, decoded, sizeof(decoded), false)) {
            hs_fail_set(&f, HS_ERR_NAME_INVALID,
                        "Invalid collection name '%.*s': use 1-64 characters from A-Z a-z 0-9 _ "
                        ". - not starting with '.'",
                        (int)(name_len > 200 ? 200 : name_len), name);
        } else if ((rc = hs_check_collection_name(decoded, &err)) != HS_OK) {
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
    if (id && !parse_u64(id, id_len, 4294967295ull, &st->id)) {
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
    if ((r->body == BODY_JSON || r->body == BODY_JSON_OPT) && parse_body(&c, r->body == BODY_JSON_OPT))
        goto done;
    r->run(&c);
done:
    if (c.f.id) {
        free(c.out.p);
        if (c.f.entry1)
            snprintf(c.extra, sizeof(c.extra), "\"index\":%ld", c.f.entry1 - 1);
        resp_error(resp, &c.f, c.extra);
    } else if (resp->status == 204) {
        free(c.out.p);
        resp_empty(resp, 204);
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
