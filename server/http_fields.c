/*
 * http_fields.c: typed fields of a parsed JSON body (http.md 4.3: the last duplicate member
 * wins, null is absent), with the spec's messages: integers, strings, booleans, vectors,
 * metadata objects, durability, and filter conditions (`filter`, `filters`, `must`, `should`,
 * `must_not`) collected into an hs_filter_set.
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

/* A member of an object: the last one with this name wins (http.md 4.3); null = absent. */
cJSON *hs_http_member(const cJSON *obj, const char *name)
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
    return hs_http_fail(c, HS_ERR_FIELD, "Missing field '%s'", field);
}

/* An integer field: any JSON number with an integral value in [lo, hi]. */
int hs_http_get_int(hctx *c, const cJSON *obj, const char *field, bool required, int64_t lo,
                   int64_t hi, int64_t *out, bool *present)
{
    cJSON *v = hs_http_member(obj, field);
    if (present)
        *present = v != NULL;
    if (!v)
        return required ? field_missing(c, field) : 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
        return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be an integer between %lld and %lld", field,
                            (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return 0;
}

int hs_http_kind(hctx *c) { return hs_op_id_type(hs_http_tenant(c), c->st->name); }

int hs_http_get_point_id(hctx *c, const cJSON *obj, const char *field, bool required, int kind,
                         uint64_t *id, hs_sid *sid, bool *present)
{
    *sid = (hs_sid){NULL, 0};
    *id = 0;
    if (kind != HS_ID_STRING) { /* as before string ids: also when the collection is missing */
        int64_t v = 0;
        int rc = hs_http_get_int(c, obj, field, required, 0, 4294967295LL, &v, present);
        *id = (uint64_t)v;
        return rc;
    }
    cJSON *v = hs_http_member(obj, field);
    if (present)
        *present = v != NULL;
    if (!v)
        return required ? field_missing(c, field) : 0;
    if (!cJSON_IsString(v))
        return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be a string: collection '%s' uses "
                            "string ids", field, c->st->name);
    *sid = (hs_sid){v->valuestring, strlen(v->valuestring)};
    return hs_op_check_sid(sid->str, sid->len, &c->f);
}

int hs_http_get_point_ids(hctx *c, const cJSON *arr, int kind, uint64_t **ids, hs_sid **sids,
                          size_t *n)
{
    bool str = kind == HS_ID_STRING;
    *ids = NULL;
    *sids = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr))
        return hs_http_fail(c, HS_ERR_FIELD, str ? "Field 'ids' must be an array of strings"
                                                 : "Field 'ids' must be an array of integers");
    size_t len = (size_t)cJSON_GetArraySize(arr), i = 0;
    if (len < 1 || len > HS_OP_IDS_MAX)
        return hs_http_fail(c, HS_ERR_PARAM_RANGE, "ids must be between 1 and %d (got %zu)",
                            HS_OP_IDS_MAX, len);
    uint64_t *iv = str ? NULL : malloc(len * sizeof(uint64_t));
    hs_sid *sv = str ? malloc(len * sizeof(hs_sid)) : NULL;
    if (!iv && !sv)
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    for (cJSON *it = arr->child; it; it = it->next, i++) {
        double d = it->valuedouble;
        if (str && !cJSON_IsString(it)) {
            hs_http_fail(c, HS_ERR_FIELD, "Field 'ids' must be an array of strings: collection "
                         "'%s' uses string ids", c->st->name);
        } else if (str) {
            sv[i] = (hs_sid){it->valuestring, strlen(it->valuestring)};
            if (hs_op_check_sid(sv[i].str, sv[i].len, &c->f))
                hs_http_fail_prefix(c, "ids", (long)i);
        } else if (!cJSON_IsNumber(it) || !isfinite(d) || d != floor(d) || d < 0 ||
                   d > 4294967295.0) {
            hs_http_fail(c, HS_ERR_FIELD,
                         "Field 'ids' must be an array of integers between 0 and 4294967295");
        } else {
            iv[i] = (uint64_t)d;
        }
        if (c->f.id) {
            free(iv);
            free(sv);
            return c->f.id;
        }
    }
    *ids = iv;
    *sids = sv;
    *n = len;
    return 0;
}

/* A required array member of the body (its items are checked one by one later). */
cJSON *hs_http_get_object_array(hctx *c, const char *field)
{
    cJSON *arr = hs_http_member(c->json, field);
    if (!arr)
        field_missing(c, field);
    else if (!cJSON_IsArray(arr))
        hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be an array of objects", field);
    return cJSON_IsArray(arr) ? arr : NULL;
}

int hs_http_get_string(hctx *c, const cJSON *obj, const char *field, bool required,
                      const char **out)
{
    cJSON *v = hs_http_member(obj, field);
    *out = NULL;
    if (!v)
        return required ? field_missing(c, field) : 0;
    if (!cJSON_IsString(v))
        return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be a string", field);
    *out = v->valuestring;
    return 0;
}

int hs_http_get_bool(hctx *c, const cJSON *obj, const char *field, bool dflt, bool *out)
{
    cJSON *v = hs_http_member(obj, field);
    *out = dflt;
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be a boolean", field);
    *out = cJSON_IsTrue(v);
    return 0;
}

int hs_http_get_oversampling(hctx *c, const cJSON *obj, double *out)
{
    cJSON *v = hs_http_member(obj, "oversampling");
    *out = 0;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'oversampling' must be a number between 1 "
                            "and %d", HS_OVERSAMPLING_MAX);
    *out = v->valuedouble;
    return hs_op_check_oversampling(*out, &c->f);
}

/* A vector: a JSON array of numbers (overflowing numbers are infinite; the engine rejects them
 * with E_NONFINITE).  *out is malloc'd. */
int hs_http_get_vector(hctx *c, const cJSON *obj, const char *field, double **out, size_t *n)
{
    cJSON *v = hs_http_member(obj, field);
    *out = NULL;
    *n = 0;
    if (!v)
        return field_missing(c, field);
    if (!cJSON_IsArray(v))
        return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be an array of numbers", field);
    size_t len = (size_t)cJSON_GetArraySize(v);
    double *x = malloc((len ? len : 1) * sizeof(double));
    if (!x)
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    size_t i = 0;
    for (cJSON *it = v->child; it; it = it->next, i++) {
        if (!cJSON_IsNumber(it)) {
            free(x);
            return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be an array of numbers", field);
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

void hs_http_kvbuf_free(kvbuf *k)
{
    free(k->kv);
    free(k->texts);
    free(k->vals);
    free(k->items);
    memset(k, 0, sizeof(*k));
}

#define TWO63 9223372036854775808.0

/* A JSON string, number or boolean as a typed scalar (an integral number within int64 is an
 * integer, any other number a float); false for other values and for numbers that overflowed
 * (*overflow is then set). */
static bool json_scalar(const cJSON *v, hs_value *out, bool *overflow)
{
    memset(out, 0, sizeof(*out));
    *overflow = false;
    if (cJSON_IsString(v)) {
        out->type = HS_VALUE_STRING;
        out->str = v->valuestring;
        out->len = strlen(v->valuestring);
    } else if (cJSON_IsBool(v)) {
        out->type = HS_VALUE_BOOL;
        out->i = cJSON_IsTrue(v);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (v->valuestring && hs_parse_int64(v->valuestring, strlen(v->valuestring), &out->i)) {
            out->type = HS_VALUE_INT; /* an integer literal beyond 2^53, exact */
        } else if (!isfinite(d)) {
            *overflow = true;
            return false;
        } else if (d == floor(d) && d >= -TWO63 && d < TWO63) {
            out->type = HS_VALUE_INT;
            out->i = (int64_t)d;
        } else {
            out->type = HS_VALUE_FLOAT;
            out->f = d;
        }
    } else {
        return false;
    }
    return true;
}

static int typed_type_fail(hctx *c, const char *key)
{
    return hs_http_fail(c, HS_ERR_METADATA, "Invalid metadata: value of key '%.256s' must be a "
                        "string, number, boolean or a list of them", key);
}

/* One member of `typed_metadata` into *out (list elements into items). */
static int typed_value(hctx *c, const cJSON *it, hs_value *out, hs_value *items)
{
    bool overflow;
    if (!cJSON_IsArray(it)) {
        if (json_scalar(it, out, &overflow))
            return 0;
        if (overflow)
            return hs_http_fail(c, HS_ERR_FIELD, "Field 'typed_metadata.%.256s' must be a finite "
                                "number", it->string);
        return typed_type_fail(c, it->string);
    }
    memset(out, 0, sizeof(*out));
    out->type = HS_VALUE_LIST;
    out->items = items;
    for (const cJSON *e = it->child; e; e = e->next, out->count++) {
        if (json_scalar(e, &items[out->count], &overflow))
            continue;
        if (overflow)
            return hs_http_fail(c, HS_ERR_FIELD, "Field 'typed_metadata.%.256s[%zu]' must be a "
                                "finite number", it->string, out->count);
        return typed_type_fail(c, it->string);
    }
    return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds the `typed_metadata` object t to out; a key also among out's string entries keeps its
 * typed value. */
static int add_typed(hctx *c, const cJSON *t, kvbuf *out)
{
    size_t nt = (size_t)cJSON_GetArraySize(t), nitems = 0;
    for (const cJSON *it = t->child; it; it = it->next)
        nitems += cJSON_IsArray(it) ? (size_t)cJSON_GetArraySize(it) : 0;
    hs_kv *kv = calloc(out->n + nt, sizeof(hs_kv));
    const char **keys = malloc(nt * sizeof(char *));
    out->vals = calloc(nt, sizeof(hs_value));
    out->items = calloc(nitems ? nitems : 1, sizeof(hs_value));
    if (!kv || !keys || !out->vals || !out->items) {
        free(kv);
        free(keys);
        hs_http_kvbuf_free(out);
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    size_t i = 0, n = 0;
    hs_value *items = out->items;
    for (const cJSON *it = t->child; it; it = it->next, i++) {
        if (typed_value(c, it, &out->vals[i], items)) {
            free(kv);
            free(keys);
            hs_http_kvbuf_free(out);
            return c->f.id;
        }
        items += out->vals[i].type == HS_VALUE_LIST ? out->vals[i].count : 0;
        keys[i] = it->string;
    }
    qsort(keys, nt, sizeof(char *), cmp_cstr);
    for (size_t j = 0; j < out->n; j++)
        if (!bsearch(&out->kv[j].key, keys, nt, sizeof(char *), cmp_cstr))
            kv[n++] = out->kv[j];
    i = 0;
    for (const cJSON *it = t->child; it; it = it->next, i++)
        kv[n++] = (hs_kv){it->string, strlen(it->string), NULL, 0, &out->vals[i]};
    free(keys);
    free(out->kv);
    out->kv = kv;
    out->n = n;
    return 0;
}

int hs_http_get_metadata_obj(hctx *c, const cJSON *m, kvbuf *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = (size_t)cJSON_GetArraySize(m);
    if (!n)
        return 0;
    out->kv = calloc(n, sizeof(hs_kv));
    out->texts = malloc(n * 40);
    if (!out->kv || !out->texts) {
        hs_http_kvbuf_free(out);
        return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
    }
    size_t i = 0;
    for (cJSON *it = m->child; it; it = it->next, i++) {
        const char *text;
        size_t len;
        bool overflow;
        if (!scalar_text(it, out->texts + i * 40, 40, &text, &len, &overflow)) {
            hs_http_kvbuf_free(out);
            if (overflow)
                return hs_http_fail(c, HS_ERR_FIELD, "Field 'metadata.%.256s' must be a finite number",
                                    it->string);
            return hs_http_fail(c, HS_ERR_METADATA,
                                "Invalid metadata: value of key '%.256s' must be a string, number or "
                        "boolean", it->string);
        }
        out->kv[i] = (hs_kv){it->string, strlen(it->string), text, len};
    }
    out->n = n;
    return 0;
}

int hs_http_get_metadata(hctx *c, const cJSON *obj, kvbuf *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *m = hs_http_member(obj, "metadata"), *t = hs_http_member(obj, "typed_metadata");
    if (m && !cJSON_IsObject(m))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'metadata' must be an object");
    if (t && !cJSON_IsObject(t))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'typed_metadata' must be an object");
    if (m && hs_http_get_metadata_obj(c, m, out))
        return c->f.id;
    return t && t->child ? add_typed(c, t, out) : 0;
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
    return hs_http_fail(c, HS_ERR_PARAM_RANGE,
                        "durability must be one of default, async, batch, strict (got '%.64s')", got);
}

/* durability: the body member wins over the query parameter (http.md 4.4). */
int hs_http_get_durability(hctx *c, hs_durability *d)
{
    *d = HS_DURABILITY_DEFAULT;
    cJSON *v = c->json ? hs_http_member(c->json, "durability") : NULL;
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
    const char *q = hs_http_query_arg(c, "durability", buf, sizeof(buf));
    if (q && !durability_text(q, d))
        return durability_fail(c, q);
    return 0;
}

/* The conditions of a search / count / scroll / delete body (http.md 6.10).  `name[i]` names
 * the condition in messages. */

/* One Range bound: an integer (a number with an integral value within int64, or a string
 * holding an int64: *is_int) or a float (a number with a fraction: *f).  0 when absent. */
static int range_bound(hctx *c, const cJSON *v, const char *where, const char *which,
                       bool *has, bool *is_int, int64_t *out, double *f)
{
    *has = false;
    *is_int = true;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsNumber(v) && v->valuestring &&
        hs_parse_int64(v->valuestring, strlen(v->valuestring), out)) {
        *has = true; /* an integer literal beyond 2^53, exact */
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (isfinite(d) && d == floor(d) && d >= -TWO63 && d < TWO63) {
            *out = (int64_t)d;
            *has = true;
            return 0;
        }
        if (isfinite(d) && d != floor(d)) {
            *f = d;
            *has = true;
            *is_int = false;
            return 0;
        }
    } else if (cJSON_IsString(v) && hs_parse_int64(v->valuestring, strlen(v->valuestring), out)) {
        *has = true;
        return 0;
    }
    return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s %s must be an integer", where, which);
}

/* The bounds gte, lte, gt, lt of a Range body into c. */
static int range_bounds(hctx *c, const cJSON *body, const char *where, hs_cond *rc)
{
    static const char *const names[] = {"gte", "lte", "gt", "lt"};
    static const unsigned fbits[] = {HS_FBOUND_GTE, HS_FBOUND_LTE, HS_FBOUND_GT, HS_FBOUND_LT};
    int *has_int[] = {&rc->has_gte, &rc->has_lte, &rc->has_gt, &rc->has_lt};
    int64_t *ints[] = {&rc->gte, &rc->lte, &rc->gt, &rc->lt};
    double *floats[] = {&rc->fgte, &rc->flte, &rc->fgt, &rc->flt};
    for (int b = 0; b < 4; b++) {
        bool has, is_int;
        if (range_bound(c, hs_http_member(body, names[b]), where, names[b], &has, &is_int,
                        ints[b], floats[b]))
            return c->f.id;
        if (has && is_int)
            *has_int[b] = 1;
        else if (has)
            rc->fbounds |= fbits[b];
    }
    return 0;
}

/* A Match on a JSON value into c (sub: room for two nodes).  A string matches strings; a
 * number or a boolean matches that typed value and also the string a v2.0.0 client stored for
 * it (its text by http.md 4.3: 100 matches the integer 100 and the string "100"), one OR. */
static int match_of(hctx *c, const char *key, const cJSON *val, const char *where, hs_cond *cd,
                    hs_cond sub[2], hs_value *tv, char text[40], bool filter_map)
{
    const char *t;
    size_t len;
    bool overflow = false;
    bool ok = val && scalar_text(val, text, 40, &t, &len, &overflow);
    if (overflow)
        return hs_http_fail(c, HS_ERR_FIELD, filter_map ? "Field 'filter.%.256s' must be a "
                            "finite number" : "Field '%s.value' must be a finite number",
                            filter_map ? key : where);
    if (!ok && filter_map)
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: value of key '%.256s' must be a "
                            "string, number or boolean", key);
    if (!ok)
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s value must be a string, number "
                            "or boolean", where);
    size_t kl = strlen(key);
    sub[0] = (hs_cond){.kind = HS_COND_MATCH, .key = key, .key_len = kl, .value = t,
                       .value_len = len};
    if (cJSON_IsString(val)) {
        *cd = sub[0];
        return 0;
    }
    json_scalar(val, tv, &overflow);
    sub[1] = (hs_cond){.kind = HS_COND_MATCH, .key = key, .key_len = kl, .typed = tv};
    *cd = (hs_cond){.kind = HS_COND_OR, .sub = sub, .nsub = 2};
    return 0;
}

/* One condition object at path (nesting level depth) into *out, in memory fs owns; *count
 * counts the condition objects.  A leaf is {"type":"match"|"range"|"prefix", "key", ...} or
 * {"match":{...}} / {"range":{...}} / {"prefix":{...}}; a tree is {"and":[...]},
 * {"or":[...]} or {"not":{...}} (or "not" of an array: none of them). */
static int parse_node(hctx *c, const cJSON *it, const char *path, int depth, hs_filter_set *fs,
                      hs_cond *out, size_t *count)
{
    if (depth > HS_COND_MAX_DEPTH)
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s is nested deeper than %d "
                            "levels", path, HS_COND_MAX_DEPTH);
    if (++*count > HS_FILTER_MAX_CONDITIONS)
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    if (!cJSON_IsObject(it))
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s has no condition", path);
    static const char *const trees[] = {"and", "or", "not"};
    for (int t = 0; t < 3; t++) {
        cJSON *l = hs_http_member(it, trees[t]);
        if (!l || hs_http_member(it, "type"))
            continue;
        bool one = t == 2 && cJSON_IsObject(l);
        if (!one && !cJSON_IsArray(l))
            return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s.%s must be %s", path,
                                trees[t], t == 2 ? "a condition or an array of conditions"
                                                 : "an array of conditions");
        size_t n = one ? 1 : (size_t)cJSON_GetArraySize(l);
        if (n == 0)
            return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s.%s must hold at least one "
                                "condition", path, trees[t]);
        hs_cond *sub = hs_filter_own(fs, (n + 1) * sizeof(*sub));
        if (!sub)
            return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        size_t i = 0;
        for (const cJSON *e = one ? l : l->child; i < n; e = e->next, i++) {
            char p2[200];
            if (one)
                snprintf(p2, sizeof(p2), "%s.not", path);
            else
                snprintf(p2, sizeof(p2), "%s.%s[%zu]", path, trees[t], i);
            if (parse_node(c, e, p2, depth + 1, fs, &sub[i], count))
                return c->f.id;
        }
        if (t < 2) {
            *out = (hs_cond){.kind = t == 0 ? HS_COND_AND : HS_COND_OR, .sub = sub, .nsub = n};
        } else { /* none of them: NOT of their OR (of the one alone) */
            sub[n] = n == 1 ? sub[0] : (hs_cond){.kind = HS_COND_OR, .sub = sub, .nsub = n};
            *out = (hs_cond){.kind = HS_COND_NOT, .sub = &sub[n], .nsub = 1};
        }
        return 0;
    }
    const cJSON *body = it;
    const char *kind = NULL;
    cJSON *type = hs_http_member(it, "type");
    if (type) {
        if (!cJSON_IsString(type))
            return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s has unknown type", path);
        kind = type->valuestring;
    } else {
        static const char *const leaves[] = {"match", "range", "prefix"};
        for (int l = 0; l < 3 && !kind; l++)
            if ((body = hs_http_member(it, leaves[l])))
                kind = leaves[l];
        if (!kind)
            return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s has no condition", path);
    }
    if (!cJSON_IsObject(body))
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s has no condition", path);
    cJSON *key = hs_http_member(body, "key");
    if (!key || !cJSON_IsString(key))
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s key must be a string", path);
    size_t kl = strlen(key->valuestring);
    if (!strcasecmp(kind, "match")) {
        hs_cond *sub = hs_filter_own(fs, 2 * sizeof(*sub));
        hs_value *tv = hs_filter_own(fs, sizeof(*tv));
        char *text = hs_filter_own(fs, 40);
        if (!sub || !tv || !text)
            return hs_http_fail(c, HS_ERR_NO_MEMORY, "Out of memory");
        return match_of(c, key->valuestring, hs_http_member(body, "value"), path, out, sub, tv,
                        text, false);
    }
    if (!strcasecmp(kind, "range")) {
        *out = (hs_cond){.kind = HS_COND_RANGE, .key = key->valuestring, .key_len = kl};
        return range_bounds(c, body, path, out);
    }
    if (!strcasecmp(kind, "prefix")) {
        cJSON *v = hs_http_member(body, "value");
        if (!v)
            v = hs_http_member(body, "prefix");
        if (!v || !cJSON_IsString(v))
            return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s value must be a string",
                                path);
        *out = (hs_cond){.kind = HS_COND_PREFIX, .key = key->valuestring, .key_len = kl,
                         .value = v->valuestring, .value_len = strlen(v->valuestring)};
        return 0;
    }
    return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: %s has unknown type '%.64s'", path,
                        kind);
}

/* One item of a condition list (name[i]) into group g. */
static int parse_cond(hctx *c, const cJSON *it, const char *name, size_t i, hs_group g,
                      hs_filter_set *fs)
{
    char where[48];
    snprintf(where, sizeof(where), "%s[%zu]", name, i);
    hs_cond cd;
    size_t count = fs->n;
    if (parse_node(c, it, where, 1, fs, &cd, &count) ||
        hs_filter_add_counted(fs, g, &cd, count - fs->n, where, &c->f))
        return c->f.id;
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

/* Whether obj names any condition (`filter` or one of the lists). */
bool hs_http_has_filter_member(const cJSON *obj)
{
    bool has = hs_http_member(obj, "filter") != NULL;
    for (size_t l = 0; l < sizeof(cond_lists) / sizeof(cond_lists[0]); l++)
        has = has || hs_http_member(obj, cond_lists[l].name);
    return has;
}

int hs_http_get_filters(hctx *c, const cJSON *obj, hs_filter_set *fs)
{
    hs_filter_init(fs);
    cJSON *map = hs_http_member(obj, "filter");
    if (map && !cJSON_IsObject(map))
        return hs_http_fail(c, HS_ERR_FIELD, "Field 'filter' must be an object");
    size_t total = (size_t)cJSON_GetArraySize(map);
    for (size_t l = 0; l < sizeof(cond_lists) / sizeof(cond_lists[0]); l++) {
        cJSON *list = hs_http_member(obj, cond_lists[l].name);
        if (list && !cJSON_IsArray(list))
            return hs_http_fail(c, HS_ERR_FIELD, "Field '%s' must be an array", cond_lists[l].name);
        total += (size_t)cJSON_GetArraySize(list);
    }
    if (total > HS_FILTER_MAX_CONDITIONS)
        return hs_http_fail(c, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    for (cJSON *it = map ? map->child : NULL; it; it = it->next) {
        hs_cond cd, sub[2];
        hs_value tv;
        char text[40];
        if (match_of(c, it->string, it, "filter", &cd, sub, &tv, text, true) ||
            hs_filter_add_counted(fs, HS_GROUP_MUST, &cd, 1, "filter", &c->f))
            return c->f.id;
    }
    for (size_t l = 0; l < sizeof(cond_lists) / sizeof(cond_lists[0]); l++) {
        cJSON *list = hs_http_member(obj, cond_lists[l].name);
        size_t i = 0;
        for (cJSON *it = list ? list->child : NULL; it; it = it->next, i++)
            if (parse_cond(c, it, cond_lists[l].name, i, cond_lists[l].group, fs))
                return c->f.id;
    }
    return 0;
}
