/* filters.c: request conditions (see filters.h). */
#include "server/filters.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void hs_filter_init(hs_filter_set *fs) { memset(fs, 0, sizeof(*fs)); }

void hs_filter_free(hs_filter_set *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->c[i].key);
        free(fs->c[i].value);
    }
    free(fs->c);
    memset(fs, 0, sizeof(*fs));
}

static int add(hs_filter_set *fs, const char *key, size_t key_len, const char *where, hs_fail *f,
               hs_cond **out)
{
    if (key_len == 0)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s: key must not be empty", where);
    if (fs->n >= HS_FILTER_MAX_CONDITIONS)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 4;
        hs_cond *nc = realloc(fs->c, cap * sizeof(*nc));
        if (!nc)
            return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
        fs->c = nc;
        fs->cap = cap;
    }
    hs_cond *c = &fs->c[fs->n];
    memset(c, 0, sizeof(*c));
    c->key = malloc(key_len + 1);
    if (!c->key)
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    memcpy(c->key, key, key_len);
    c->key[key_len] = 0;
    c->key_len = key_len;
    fs->n++;
    *out = c;
    return 0;
}

int hs_filter_add_match(hs_filter_set *fs, const char *key, size_t key_len, const char *value,
                        size_t value_len, const char *where, hs_fail *f)
{
    hs_cond *c;
    if (add(fs, key, key_len, where, f, &c))
        return f->id;
    c->value = malloc(value_len + 1);
    if (!c->value)
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    memcpy(c->value, value, value_len);
    c->value[value_len] = 0;
    c->value_len = value_len;
    return 0;
}

int hs_filter_add_range(hs_filter_set *fs, const char *key, size_t key_len, bool has_gte,
                        int64_t gte, bool has_lte, int64_t lte, const char *where, hs_fail *f)
{
    hs_cond *c;
    if (add(fs, key, key_len, where, f, &c))
        return f->id;
    c->range = true;
    c->has_gte = has_gte;
    c->gte = gte;
    c->has_lte = has_lte;
    c->lte = lte;
    if (has_gte && has_lte && gte > lte)
        fs->empty = true;
    return 0;
}

bool hs_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return false;
    /* accumulate as a negative number so that INT64_MIN fits */
    int64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return false;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return false;
        v = -v;
    }
    *out = v;
    return true;
}

typedef struct cond_eval {
    const hs_cond *c;
    bool found, ok;
} cond_eval;

static int eval_kv(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    cond_eval *e = ctx;
    const hs_cond *c = e->c;
    if (kl != c->key_len || memcmp(k, c->key, kl))
        return 0;
    e->found = true;
    if (!c->range) {
        e->ok = vl == c->value_len && !memcmp(v, c->value, vl);
    } else {
        int64_t n;
        e->ok = hs_parse_int64(v, vl, &n) && (!c->has_gte || n >= c->gte) &&
                (!c->has_lte || n <= c->lte);
    }
    return 1; /* keys are unique: stop */
}

bool hs_filter_match(const hs_filter_set *fs, const hs_point_view *p)
{
    if (fs->empty)
        return false;
    for (size_t i = 0; i < fs->n; i++) {
        cond_eval e = {&fs->c[i], false, false};
        hs_meta_each(p, eval_kv, &e);
        if (!e.found || !e.ok)
            return false;
    }
    return true;
}

int hs_filter_accept(void *ctx, const hs_point_view *p) { return hs_filter_match(ctx, p); }

void hs_filter_apply(const hs_filter_set *fs, hs_search_opts *opts)
{
    if (fs->n == 0 && !fs->empty)
        return;
    opts->accept = hs_filter_accept;
    opts->accept_ctx = (void *)fs;
}
