/*
 * meta.c: the metadata codec (see meta.h for the encoding).
 *
 * Reading never trusts the bytes: hs_meta_read checks each entry's lengths, its type and, for a
 * list, every element before a caller sees it, so the iterators and the text forms below can
 * walk a value that was read without checking it again.
 */
#include "util/meta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "util/numfmt.h"

/* ---- sizes and encoding ------------------------------------------------------------------ */

static size_t scalar_payload(const hs_value *v)
{
    switch (v->type) {
    case HS_VALUE_STRING:
        return v->len;
    case HS_VALUE_BOOL:
        return 1;
    default: /* INT, FLOAT */
        return 8;
    }
}

/* Payload bytes and type of an entry's value. */
static size_t value_payload(const hs_kv *kv, uint32_t *type)
{
    const hs_value *v = kv->typed;
    if (!v) {
        *type = HS_VALUE_STRING;
        return kv->value_len;
    }
    *type = (uint32_t)v->type;
    if (v->type != HS_VALUE_LIST)
        return scalar_payload(v);
    size_t n = 4;
    for (size_t i = 0; i < v->count; i++)
        n += 1 + (v->items[i].type == HS_VALUE_STRING ? 4 : 0) + scalar_payload(&v->items[i]);
    return n;
}

size_t hs_meta_size(const hs_point *pt)
{
    size_t n = 4;
    uint32_t type;
    for (size_t i = 0; i < pt->nmeta; i++)
        n += 8 + pt->meta[i].key_len + value_payload(&pt->meta[i], &type);
    return n;
}

static uint8_t *put_scalar(uint8_t *o, const hs_value *v)
{
    switch (v->type) {
    case HS_VALUE_STRING:
        if (v->len)
            memcpy(o, v->str, v->len);
        return o + v->len;
    case HS_VALUE_INT:
        hs_put_le64(o, (uint64_t)v->i);
        return o + 8;
    case HS_VALUE_FLOAT: {
        double f = v->f == 0.0 ? 0.0 : v->f; /* -0.0 is stored as 0.0 */
        uint64_t bits;
        memcpy(&bits, &f, 8);
        hs_put_le64(o, bits);
        return o + 8;
    }
    default: /* BOOL */
        *o = v->i ? 1 : 0;
        return o + 1;
    }
}

static uint8_t *put_value(uint8_t *o, const hs_kv *kv)
{
    const hs_value *v = kv->typed;
    if (!v) {
        if (kv->value_len)
            memcpy(o, kv->value, kv->value_len);
        return o + kv->value_len;
    }
    if (v->type != HS_VALUE_LIST)
        return put_scalar(o, v);
    hs_put_le32(o, (uint32_t)v->count);
    o += 4;
    for (size_t i = 0; i < v->count; i++) {
        const hs_value *e = &v->items[i];
        *o++ = (uint8_t)e->type;
        if (e->type == HS_VALUE_STRING) {
            hs_put_le32(o, (uint32_t)e->len);
            o += 4;
        }
        o = put_scalar(o, e);
    }
    return o;
}

/* Writes the entries of kv[0..n) at o (no count), each key once; returns the end and adds the
 * number of entries written to *count. */
static uint8_t *encode_entries(const hs_kv *meta, size_t n, uint8_t *o, uint32_t *count)
{
    for (size_t i = 0; i < n; i++) {
        const hs_kv *kv = &meta[i];
        bool later = false; /* a later entry with the same key wins (protobuf map rule) */
        for (size_t j = i + 1; j < n && !later; j++)
            later = meta[j].key_len == kv->key_len && !memcmp(meta[j].key, kv->key, kv->key_len);
        if (later)
            continue;
        hs_put_le32(o, (uint32_t)kv->key_len);
        memcpy(o + 4, kv->key, kv->key_len);
        o += 4 + kv->key_len;
        uint32_t type;
        size_t len = value_payload(kv, &type);
        hs_put_le32(o, type << HS_META_TYPE_SHIFT | (uint32_t)len);
        o = put_value(o + 4, kv);
        (*count)++;
    }
    return o;
}

size_t hs_meta_encode(const hs_point *pt, uint8_t *out)
{
    uint32_t count = 0;
    uint8_t *o = encode_entries(pt->meta, pt->nmeta, out + 4, &count);
    hs_put_le32(out, count);
    return (size_t)(o - out);
}

size_t hs_meta_rewrite_size(const uint8_t *stored, const hs_kv *kv, size_t n)
{
    hs_point pt = {0, NULL, 0, kv, n};
    return (stored ? hs_get_le32(stored) : 0) + hs_meta_size(&pt);
}

size_t hs_meta_rewrite(const uint8_t *stored, bool (*drop)(void *ctx, const char *k, size_t kl),
                       void *ctx, const hs_kv *kv, size_t n, uint8_t *out)
{
    uint8_t *o = out + 4;
    uint32_t count = 0;
    if (stored) {
        const uint8_t *p = stored + 8, *end = stored + 4 + hs_get_le32(stored);
        uint32_t total = hs_get_le32(stored + 4);
        for (uint32_t i = 0; i < total; i++) {
            const uint8_t *start = p, *payload;
            const char *k;
            uint32_t kl, word;
            if (!hs_meta_skip(&p, end, &k, &kl, &word, &payload))
                break; /* not reached: a stored blob was checked when it was written or read */
            if (drop && drop(ctx, k, kl))
                continue;
            memcpy(o, start, (size_t)(p - start));
            o += p - start;
            count++;
        }
    }
    o = encode_entries(kv, n, o, &count);
    hs_put_le32(out, count);
    return (size_t)(o - out);
}

/* ---- reading ------------------------------------------------------------------------------ */

static bool finite_stored(double f) { return isfinite(f) && !(f == 0.0 && signbit(f)); }

/* Reads one scalar of type t from r (a list element: strings carry their u32 length). */
static bool read_element(hs_reader *r, uint32_t t, hs_mval *out)
{
    const uint8_t *at;
    uint32_t len;
    out->type = (hs_value_type)t;
    switch (t) {
    case HS_VALUE_STRING:
        if (!hs_read_le32(r, &len) || !hs_read_span(r, len, &at))
            return false;
        out->str = (const char *)at;
        out->len = len;
        return true;
    case HS_VALUE_INT:
        if (!hs_read_span(r, 8, &at))
            return false;
        out->i = (int64_t)hs_get_le64(at);
        return true;
    case HS_VALUE_FLOAT: {
        if (!hs_read_span(r, 8, &at))
            return false;
        uint64_t bits = hs_get_le64(at);
        memcpy(&out->f, &bits, 8);
        return finite_stored(out->f);
    }
    case HS_VALUE_BOOL:
        if (!hs_read_span(r, 1, &at) || *at > 1)
            return false;
        out->i = *at;
        return true;
    default:
        return false;
    }
}

/* Decodes a payload of type t and len bytes at p into v, checking it. */
static bool decode_value(uint32_t t, const uint8_t *p, uint32_t len, hs_mval *v)
{
    memset(v, 0, sizeof(*v));
    if (t == HS_VALUE_STRING) {
        v->type = HS_VALUE_STRING;
        v->str = (const char *)p;
        v->len = len;
        return true;
    }
    if (t == HS_VALUE_LIST) {
        hs_reader r = hs_reader_of(p, len);
        uint32_t n;
        if (!hs_read_le32(&r, &n) || n > hs_reader_left(&r) / 2)
            return false;
        v->type = HS_VALUE_LIST;
        v->list = r.p;
        v->list_len = len - 4;
        v->count = n;
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *tp;
            hs_mval e;
            if (!hs_read_span(&r, 1, &tp) || !read_element(&r, *tp, &e))
                return false;
        }
        return hs_reader_left(&r) == 0;
    }
    if ((t == HS_VALUE_INT || t == HS_VALUE_FLOAT) && len != 8)
        return false;
    if (t == HS_VALUE_BOOL && len != 1)
        return false;
    hs_reader r = hs_reader_of(p, len);
    return read_element(&r, t, v);
}

bool hs_meta_skip(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  uint32_t *word, const uint8_t **payload)
{
    hs_reader r = {*p, end};
    const uint8_t *kp;
    if (!hs_read_le32(&r, kl) || !hs_read_span(&r, *kl, &kp) || !hs_read_le32(&r, word) ||
        !hs_read_span(&r, *word & HS_META_LEN_MASK, payload))
        return false;
    *k = (const char *)kp;
    *p = r.p;
    return true;
}

bool hs_meta_decode(uint32_t word, const uint8_t *payload, hs_mval *v)
{
    return decode_value(word >> HS_META_TYPE_SHIFT, payload, word & HS_META_LEN_MASK, v);
}

bool hs_meta_read(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  hs_mval *v)
{
    const uint8_t *q = *p, *vp;
    uint32_t word;
    if (!hs_meta_skip(&q, end, k, kl, &word, &vp) || !hs_meta_decode(word, vp, v))
        return false;
    *p = q;
    return true;
}

bool hs_meta_next(const uint8_t **p, const uint8_t *end, const char **k, uint32_t *kl,
                  const char **v, uint32_t *vl)
{
    const uint8_t *start = *p;
    hs_mval mv;
    if (!hs_meta_read(p, end, k, kl, &mv))
        return false;
    uint32_t word = hs_get_le32(start + 4 + *kl);
    *vl = word & HS_META_LEN_MASK;
    *v = (const char *)start + 8 + *kl;
    return true;
}

bool hs_meta_blob_ok(const uint8_t *b, size_t len)
{
    if (len < 4)
        return false;
    uint32_t n = hs_get_le32(b);
    const uint8_t *p = b + 4, *end = b + len;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        hs_mval v;
        if (!hs_meta_read(&p, end, &k, &kl, &v))
            return false;
    }
    return p == end;
}

void hs_scalars_init(hs_scalars *s, const hs_mval *v)
{
    s->v = v;
    s->done = false;
    s->left = v->type == HS_VALUE_LIST ? v->count : 0;
    s->p = v->list;
    s->end = v->list ? v->list + v->list_len : NULL;
}

bool hs_scalars_next(hs_scalars *s, hs_mval *out)
{
    if (s->v->type != HS_VALUE_LIST) {
        if (s->done)
            return false;
        s->done = true;
        *out = *s->v;
        return true;
    }
    if (s->left == 0)
        return false;
    hs_reader r = {s->p, s->end};
    const uint8_t *tp;
    memset(out, 0, sizeof(*out));
    if (!hs_read_span(&r, 1, &tp) || !read_element(&r, *tp, out))
        return false; /* cannot happen after hs_meta_read */
    s->p = r.p;
    s->left--;
    return true;
}

void hs_mval_number(const hs_mval *v, bool *is_int, int64_t *i, double *f)
{
    if (v->type == HS_VALUE_INT) {
        *is_int = true;
        *i = v->i;
        *f = (double)v->i;
        return;
    }
    *f = v->f;
    /* [-2^63, 2^63): every integral double in it converts exactly */
    *is_int = v->f == floor(v->f) && v->f >= -9223372036854775808.0 &&
              v->f < 9223372036854775808.0;
    *i = *is_int ? (int64_t)v->f : 0;
}

/* ---- string forms ------------------------------------------------------------------------- */

typedef struct tbuf {
    char *buf;
    size_t cap, n;
} tbuf;

static void tput(tbuf *t, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (t->n < t->cap)
        memcpy(t->buf + t->n, s, t->n + n <= t->cap ? n : t->cap - t->n);
    t->n += n;
}

/* A string as JSON text: quoted, with '"', '\' and control characters escaped. */
static void tput_json_string(tbuf *t, const char *s, size_t n)
{
    if (n == 0) {
        tput(t, "\"\"", 2);
        return;
    }
    tput(t, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        tput(t, s + run, i - run);
        run = i + 1;
        char esc[8];
        const char *named = ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : ch == '\n' ? "\\n"
                            : ch == '\r' ? "\\r" : ch == '\t' ? "\\t" : ch == '\b' ? "\\b"
                            : ch == '\f' ? "\\f" : NULL;
        if (!named) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            named = esc;
        }
        tput(t, named, strlen(named));
    }
    tput(t, s + run, n - run);
    tput(t, "\"", 1);
}

static void tput_scalar(tbuf *t, const hs_mval *v, bool in_list)
{
    char num[48];
    switch (v->type) {
    case HS_VALUE_STRING:
        if (in_list)
            tput_json_string(t, v->str, v->len);
        else
            tput(t, v->str, v->len);
        return;
    case HS_VALUE_INT:
        tput(t, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)v->i));
        return;
    case HS_VALUE_FLOAT:
        tput(t, num, hs_fmt_double(v->f, num, sizeof(num)));
        return;
    default:
        tput(t, v->i ? "true" : "false", v->i ? 4 : 5);
        return;
    }
}

size_t hs_mval_text(const hs_mval *v, char *buf, size_t cap)
{
    tbuf t = {buf, cap, 0};
    if (v->type != HS_VALUE_LIST) {
        tput_scalar(&t, v, false);
        return t.n;
    }
    hs_scalars s;
    hs_mval e;
    hs_scalars_init(&s, v);
    tput(&t, "[", 1);
    for (uint32_t i = 0; hs_scalars_next(&s, &e); i++) {
        if (i)
            tput(&t, ",", 1);
        tput_scalar(&t, &e, true);
    }
    tput(&t, "]", 1);
    return t.n;
}

static hs_mval mval_of(const hs_value *v)
{
    hs_mval m;
    memset(&m, 0, sizeof(m));
    m.type = v->type;
    m.str = v->str;
    m.len = (uint32_t)v->len;
    m.i = v->type == HS_VALUE_BOOL ? (v->i != 0) : v->i;
    m.f = v->f;
    return m;
}

size_t hs_value_text_len(const hs_value *v)
{
    tbuf t = {NULL, 0, 0};
    if (v->type != HS_VALUE_LIST) {
        hs_mval m = mval_of(v);
        tput_scalar(&t, &m, false);
        return t.n;
    }
    tput(&t, "[", 1);
    for (size_t i = 0; i < v->count; i++) {
        hs_mval m = mval_of(&v->items[i]);
        if (i)
            tput(&t, ",", 1);
        tput_scalar(&t, &m, true);
    }
    tput(&t, "]", 1);
    return t.n;
}

/* ---- walking stored blobs ----------------------------------------------------------------- */

typedef struct walk {
    const uint8_t *q, *end;
    uint32_t left;
} walk;

static bool walk_init(walk *w, const uint8_t *blob)
{
    if (!blob)
        return false;
    uint32_t len = hs_get_le32(blob);
    w->left = hs_get_le32(blob + 4);
    w->q = blob + 8;
    w->end = blob + 4 + len;
    return true;
}

static bool walk_next(walk *w, const char **k, uint32_t *kl, hs_mval *v)
{
    if (w->left == 0 || !hs_meta_read(&w->q, w->end, k, kl, v))
        return false;
    w->left--;
    return true;
}

int hs_meta_each_stored(const uint8_t *blob, hs_meta_fn fn, void *ctx)
{
    walk w;
    if (!walk_init(&w, blob))
        return 0;
    const char *k;
    uint32_t kl;
    hs_mval v;
    int rc = 0;
    char small[256];
    while (rc == 0 && walk_next(&w, &k, &kl, &v)) {
        if (v.type == HS_VALUE_STRING) {
            rc = fn(ctx, k, kl, v.str, v.len);
            continue;
        }
        size_t n = hs_mval_text(&v, small, sizeof(small));
        char *text = n <= sizeof(small) ? small : malloc(n);
        if (!text)
            return HS_ENOMEM;
        if (text != small)
            hs_mval_text(&v, text, n);
        rc = fn(ctx, k, kl, text, n);
        if (text != small)
            free(text);
    }
    return rc;
}

static hs_value value_of(const hs_mval *m)
{
    hs_value v;
    memset(&v, 0, sizeof(v));
    v.type = m->type;
    v.str = m->str;
    v.len = m->len;
    v.i = m->i;
    v.f = m->f;
    return v;
}

int hs_meta_each_typed_stored(const uint8_t *blob, hs_value_fn fn, void *ctx)
{
    walk w;
    if (!walk_init(&w, blob))
        return 0;
    const char *k;
    uint32_t kl;
    hs_mval v;
    int rc = 0;
    hs_value small[32];
    while (rc == 0 && walk_next(&w, &k, &kl, &v)) {
        hs_value tv = value_of(&v);
        if (v.type == HS_VALUE_LIST) {
            hs_value *items = v.count <= 32 ? small : malloc(v.count * sizeof(hs_value));
            if (!items)
                return HS_ENOMEM;
            hs_scalars s;
            hs_mval e;
            hs_scalars_init(&s, &v);
            for (size_t i = 0; hs_scalars_next(&s, &e); i++)
                items[i] = value_of(&e);
            tv.items = items;
            tv.count = v.count;
            rc = fn(ctx, k, kl, &tv);
            if (items != small)
                free(items);
            continue;
        }
        rc = fn(ctx, k, kl, &tv);
    }
    return rc;
}

bool hs_meta_has_typed_stored(const uint8_t *blob)
{
    walk w;
    if (!walk_init(&w, blob))
        return false;
    const char *k;
    const uint8_t *payload;
    uint32_t kl, word;
    for (; w.left && hs_meta_skip(&w.q, w.end, &k, &kl, &word, &payload); w.left--)
        if (word >> HS_META_TYPE_SHIFT != HS_VALUE_STRING)
            return true;
    return false;
}
