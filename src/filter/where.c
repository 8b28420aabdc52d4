/*
 * where.c: conditions evaluated against stored metadata (see filter.h and hs_cond in
 * include/hyperspace.h).
 *
 * A leaf condition finds its key's entry (keys are unique in a blob) and holds when one scalar
 * of the value does (the value itself, or an element of a list).  Range bounds of both kinds
 * are first turned into one integer interval and one float interval (hs_range_norm) so that an
 * integer is compared with integers and a float with floats, each exactly: no integer beyond
 * 2^53 is rounded to a double and no float bound is truncated to an integer.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "filter/filter.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/meta.h"
#include "util/numfmt.h"

/* ---- Range bounds ------------------------------------------------------------------------ */

#define TWO63 9223372036854775808.0

/* The sign of d - n, exactly (d finite). */
static int cmp_di(double d, int64_t n)
{
    if (d >= TWO63)
        return 1;
    if (d < -TWO63)
        return -1;
    double fl = floor(d);
    int64_t k = (int64_t)fl; /* fl is in [-2^63, 2^63) */
    if (k != n)
        return k < n ? -1 : 1;
    return d > fl ? 1 : 0;
}

/* The smallest double >= n and the largest double <= n. */
static double ceil_double(int64_t n)
{
    double d = (double)n;
    return cmp_di(d, n) < 0 ? nextafter(d, INFINITY) : d;
}

static double floor_double(int64_t n)
{
    double d = (double)n;
    return cmp_di(d, n) > 0 ? nextafter(d, -INFINITY) : d;
}

static void int_lo(hs_nrange *r, int64_t lo)
{
    if (lo > r->ilo)
        r->ilo = lo;
}

static void int_hi(hs_nrange *r, int64_t hi)
{
    if (hi < r->ihi)
        r->ihi = hi;
}

/* Integers n >= x (strict: n > x) for a float bound x. */
static void int_lo_float(hs_nrange *r, double x, bool strict)
{
    if (isnan(x) || x >= TWO63) {
        r->iany = false;
        return;
    }
    if (x < -TWO63)
        return;
    if (strict) { /* n > x  <=>  n >= floor(x) + 1 */
        int64_t k = (int64_t)floor(x);
        if (k == INT64_MAX)
            r->iany = false;
        else
            int_lo(r, k + 1);
    } else { /* n >= ceil(x); ceil(x) < 2^63 as doubles that large are integral */
        int_lo(r, (int64_t)ceil(x));
    }
}

/* Integers n <= x (strict: n < x) for a float bound x. */
static void int_hi_float(hs_nrange *r, double x, bool strict)
{
    if (isnan(x) || x < -TWO63 || (strict && x == -TWO63)) {
        r->iany = false;
        return;
    }
    if (x >= TWO63)
        return;
    if (strict) { /* n < x  <=>  n <= ceil(x) - 1 */
        int64_t k = (int64_t)ceil(x);
        if (k == INT64_MIN)
            r->iany = false;
        else
            int_hi(r, k - 1);
    } else {
        int_hi(r, (int64_t)floor(x));
    }
}

static void float_lo(hs_nrange *r, double x)
{
    if (isnan(x))
        r->fany = false;
    else if (x > r->flo)
        r->flo = x;
}

static void float_hi(hs_nrange *r, double x)
{
    if (isnan(x))
        r->fany = false;
    else if (x < r->fhi)
        r->fhi = x;
}

void hs_range_norm(const hs_cond *c, hs_nrange *r)
{
    *r = (hs_nrange){true, true, INT64_MIN, INT64_MAX, -INFINITY, INFINITY};
    if (c->has_gte) {
        int_lo(r, c->gte);
        float_lo(r, ceil_double(c->gte));
    }
    if (c->has_gt) {
        if (c->gt == INT64_MAX)
            r->iany = false;
        else
            int_lo(r, c->gt + 1);
        float_lo(r, nextafter(floor_double(c->gt), INFINITY));
    }
    if (c->has_lte) {
        int_hi(r, c->lte);
        float_hi(r, floor_double(c->lte));
    }
    if (c->has_lt) {
        if (c->lt == INT64_MIN)
            r->iany = false;
        else
            int_hi(r, c->lt - 1);
        float_hi(r, nextafter(ceil_double(c->lt), -INFINITY));
    }
    if (c->fbounds & HS_FBOUND_GTE) {
        int_lo_float(r, c->fgte, false);
        float_lo(r, c->fgte);
    }
    if (c->fbounds & HS_FBOUND_GT) {
        int_lo_float(r, c->fgt, true);
        float_lo(r, isnan(c->fgt) ? c->fgt : nextafter(c->fgt, INFINITY));
    }
    if (c->fbounds & HS_FBOUND_LTE) {
        int_hi_float(r, c->flte, false);
        float_hi(r, c->flte);
    }
    if (c->fbounds & HS_FBOUND_LT) {
        int_hi_float(r, c->flt, true);
        float_hi(r, isnan(c->flt) ? c->flt : nextafter(c->flt, -INFINITY));
    }
    r->iany = r->iany && r->ilo <= r->ihi;
    r->fany = r->fany && r->flo <= r->fhi;
}

bool hs_range_empty(const hs_cond *c)
{
    hs_nrange r;
    hs_range_norm(c, &r);
    return !r.iany && !r.fany;
}

/* ---- one scalar against a leaf condition -------------------------------------------------- */

static bool in_range(const hs_nrange *r, const hs_mval *s)
{
    int64_t n;
    switch (s->type) {
    case HS_VALUE_INT:
        return r->iany && s->i >= r->ilo && s->i <= r->ihi;
    case HS_VALUE_FLOAT:
        return r->fany && s->f >= r->flo && s->f <= r->fhi;
    case HS_VALUE_STRING:
        return r->iany && hs_parse_int64(s->str, s->len, &n) && n >= r->ilo && n <= r->ihi;
    default:
        return false;
    }
}

static bool is_number(hs_value_type t) { return t == HS_VALUE_INT || t == HS_VALUE_FLOAT; }

static bool equals(const hs_cond *c, const hs_mval *s)
{
    const hs_value *t = c->typed;
    if (!t || t->type == HS_VALUE_STRING) {
        const char *v = t ? t->str : c->value;
        size_t vl = t ? t->len : c->value_len;
        return s->type == HS_VALUE_STRING && s->len == vl && (vl == 0 || !memcmp(s->str, v, vl));
    }
    if (t->type == HS_VALUE_BOOL)
        return s->type == HS_VALUE_BOOL && s->i == (t->i != 0);
    if (!is_number(t->type) || !is_number(s->type))
        return false;
    hs_mval tm = {.type = t->type, .i = t->i, .f = t->f};
    bool ai, bi;
    int64_t an, bn;
    double af, bf;
    hs_mval_number(s, &ai, &an, &af);
    hs_mval_number(&tm, &bi, &bn, &bf);
    return ai == bi && (ai ? an == bn : af == bf);
}

static bool has_prefix(const hs_cond *c, const hs_mval *s)
{
    return s->type == HS_VALUE_STRING && s->len >= c->value_len &&
           (c->value_len == 0 || !memcmp(s->str, c->value, c->value_len));
}

/* Whether one scalar of the key's value satisfies the leaf c (r: c's bounds for RANGE). */
static bool scalar_holds(const hs_cond *c, const hs_nrange *r, const hs_mval *s)
{
    switch (c->kind) {
    case HS_COND_MATCH:
        return equals(c, s);
    case HS_COND_RANGE:
        return in_range(r, s);
    case HS_COND_PREFIX:
        return has_prefix(c, s);
    default:
        return false;
    }
}

/* Finds key's entry in a stored blob. */
static bool find_key(const uint8_t *mem, const char *key, size_t kl, hs_mval *v)
{
    if (!mem)
        return false;
    uint32_t len = hs_get_le32(mem), count = hs_get_le32(mem + 4);
    const uint8_t *q = mem + 8, *end = mem + 4 + len;
    for (uint32_t i = 0; i < count; i++) {
        const char *k;
        const uint8_t *payload;
        uint32_t l, word;
        if (!hs_meta_skip(&q, end, &k, &l, &word, &payload))
            return false;
        if (l == kl && !memcmp(k, key, kl)) /* keys are unique */
            return hs_meta_decode(word, payload, v);
    }
    return false;
}

static bool leaf_holds(const hs_cond *c, const uint8_t *mem)
{
    hs_mval v, s;
    if (!find_key(mem, c->key, c->key_len, &v))
        return false;
    hs_nrange r;
    if (c->kind == HS_COND_RANGE)
        hs_range_norm(c, &r);
    hs_scalars it;
    hs_scalars_init(&it, &v);
    while (hs_scalars_next(&it, &s))
        if (scalar_holds(c, &r, &s))
            return true;
    return false;
}

/* Depth is bounded by hs_where_check (HS_COND_MAX_DEPTH). */
bool hs_cond_match_blob(const hs_cond *c, const uint8_t *mem)
{
    switch (c->kind) {
    case HS_COND_AND:
        for (size_t i = 0; i < c->nsub; i++)
            if (!hs_cond_match_blob(&c->sub[i], mem))
                return false;
        return true;
    case HS_COND_OR:
        for (size_t i = 0; i < c->nsub; i++)
            if (hs_cond_match_blob(&c->sub[i], mem))
                return true;
        return false;
    case HS_COND_NOT:
        return c->nsub == 1 && !hs_cond_match_blob(&c->sub[0], mem);
    default:
        return leaf_holds(c, mem);
    }
}

int hs_where_empty(const hs_where *w)
{
    for (size_t i = 0; i < w->nmust; i++) {
        const hs_cond *c = &w->must[i];
        if (c->kind == HS_COND_RANGE && hs_range_empty(c))
            return 1;
    }
    return 0;
}

bool hs_where_match_blob(const hs_where *w, const uint8_t *mem)
{
    for (size_t i = 0; i < w->nmust; i++)
        if (!hs_cond_match_blob(&w->must[i], mem))
            return false;
    if (w->nshould) {
        bool any = false;
        for (size_t i = 0; i < w->nshould && !any; i++)
            any = hs_cond_match_blob(&w->should[i], mem);
        if (!any)
            return false;
    }
    for (size_t i = 0; i < w->nmust_not; i++)
        if (hs_cond_match_blob(&w->must_not[i], mem))
            return false;
    return true;
}

int hs_where_match(const hs_where *w, const hs_point_view *p)
{
    return hs_where_match_blob(w, p->meta);
}

size_t hs_where_size(const hs_where *w) { return w->nmust + w->nshould + w->nmust_not; }

/* ---- checking ------------------------------------------------------------------------------ */

/* Why condition c (at nesting depth) cannot be evaluated, *bad the condition at fault;
 * HS_REASON_NONE when it can. */
static hs_reason cond_problem(const hs_cond *c, int depth, const hs_cond **bad)
{
    *bad = c;
    if (depth > HS_COND_MAX_DEPTH)
        return HS_REASON_TOO_MANY;
    switch (c->kind) {
    case HS_COND_AND:
    case HS_COND_OR:
    case HS_COND_NOT:
        if (c->nsub == 0 || !c->sub || (c->kind == HS_COND_NOT && c->nsub != 1))
            return HS_REASON_EMPTY;
        for (size_t i = 0; i < c->nsub; i++) {
            hs_reason why = cond_problem(&c->sub[i], depth + 1, bad);
            if (why != HS_REASON_NONE)
                return why;
        }
        return HS_REASON_NONE;
    case HS_COND_MATCH:
        if (c->typed && (c->typed->type > HS_VALUE_BOOL ||
                         (c->typed->type == HS_VALUE_FLOAT && !isfinite(c->typed->f))))
            return HS_REASON_TYPE;
        break;
    case HS_COND_RANGE:
        if (((c->fbounds & HS_FBOUND_GTE) && isnan(c->fgte)) ||
            ((c->fbounds & HS_FBOUND_LTE) && isnan(c->flte)) ||
            ((c->fbounds & HS_FBOUND_GT) && isnan(c->fgt)) ||
            ((c->fbounds & HS_FBOUND_LT) && isnan(c->flt)))
            return HS_REASON_NONFINITE;
        break;
    case HS_COND_PREFIX:
        break;
    default:
        return HS_REASON_UNKNOWN;
    }
    return c->key_len == 0 || !c->key ? HS_REASON_EMPTY : HS_REASON_NONE;
}

static const char *problem_text(hs_reason why, const hs_cond *bad)
{
    switch (why) {
    case HS_REASON_UNKNOWN:
        return " has an unknown kind";
    case HS_REASON_EMPTY:
        return bad->kind == HS_COND_NOT ? " must hold exactly one condition"
               : bad->kind == HS_COND_AND || bad->kind == HS_COND_OR
                   ? " must hold at least one condition"
                   : ": key must not be empty";
    case HS_REASON_TOO_MANY:
        return " is nested too deeply";
    case HS_REASON_TYPE:
        return " compares with a value that is not a finite scalar";
    default:
        return " has a bound that is not a number";
    }
}

static int check_list(const hs_cond *c, size_t n, const char *group, hs_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const hs_cond *bad;
        hs_reason why = cond_problem(&c[i], 1, &bad);
        if (why == HS_REASON_NONE)
            continue;
        hs_error_set(err, HS_EFILTER, "Invalid filter: %s[%zu]%s", group, i,
                     problem_text(why, bad));
        hs_error_key(err, group, strlen(group));
        if (err)
            err->item = (long)i;
        return hs_error_about(err, HS_EFILTER, HS_FIELD_FILTER, why);
    }
    return HS_OK;
}

int hs_where_check(const hs_where *w, hs_error *err)
{
    int rc = check_list(w->must, w->nmust, "must", err);
    if (rc == HS_OK)
        rc = check_list(w->should, w->nshould, "should", err);
    if (rc == HS_OK)
        rc = check_list(w->must_not, w->nmust_not, "must_not", err);
    return rc;
}
