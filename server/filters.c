/* filters.c: request conditions (see filters.h). */
#include "server/filters.h"

#include <stdlib.h>
#include <string.h>

void hs_filter_init(hs_filter_set *fs) { memset(fs, 0, sizeof(*fs)); }

void hs_filter_free(hs_filter_set *fs)
{
    for (size_t i = 0; i < fs->nowned; i++)
        free(fs->owned[i]);
    free(fs->owned);
    for (int g = 0; g < 3; g++)
        free(fs->c[g]);
    memset(fs, 0, sizeof(*fs));
}

static void *own(hs_filter_set *fs, size_t n);

static void sync_where(hs_filter_set *fs)
{
    fs->where = (hs_where){fs->c[0], fs->nc[0], fs->c[1], fs->nc[1], fs->c[2], fs->nc[2]};
}

void *hs_filter_own(hs_filter_set *fs, size_t n) { return own(fs, n); }

/* n bytes owned by the set (NULL: out of memory). */
static void *own(hs_filter_set *fs, size_t n)
{
    if (fs->nowned == fs->capowned) {
        size_t cap = fs->capowned ? fs->capowned * 2 : 16;
        void **no = realloc(fs->owned, cap * sizeof(*no));
        if (!no)
            return NULL;
        fs->owned = no;
        fs->capowned = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (p)
        fs->owned[fs->nowned++] = p;
    return p;
}

static const char *own_bytes(hs_filter_set *fs, const char *s, size_t n)
{
    char *d = own(fs, n + 1);
    if (d && n)
        memcpy(d, s, n);
    return d;
}

/* Nodes of c (itself and every sub-condition); stops counting past the limit. */
static size_t nodes(const hs_cond *c, int depth)
{
    size_t n = 1;
    bool tree = c->kind == HS_COND_AND || c->kind == HS_COND_OR || c->kind == HS_COND_NOT;
    for (size_t i = 0; tree && i < c->nsub && n <= HS_FILTER_MAX_CONDITIONS &&
                       depth <= HS_COND_MAX_DEPTH; i++)
        n += nodes(&c->sub[i], depth + 1);
    return n;
}

/* A leaf of c with an empty key, or NULL. */
static const hs_cond *empty_key(const hs_cond *c, int depth)
{
    if (c->kind != HS_COND_AND && c->kind != HS_COND_OR && c->kind != HS_COND_NOT)
        return c->key_len == 0 ? c : NULL;
    for (size_t i = 0; i < c->nsub && depth <= HS_COND_MAX_DEPTH; i++) {
        const hs_cond *e = empty_key(&c->sub[i], depth + 1);
        if (e)
            return e;
    }
    return NULL;
}

/* Copies src into dst with everything it points to owned by the set; false when out of memory.
 * The depth is bounded by the caller's nodes() count. */
static bool copy_cond(hs_filter_set *fs, hs_cond *dst, const hs_cond *src)
{
    *dst = *src;
    if (src->key && !(dst->key = own_bytes(fs, src->key, src->key_len)))
        return false;
    if (src->value && !(dst->value = own_bytes(fs, src->value, src->value_len)))
        return false;
    if (src->typed) {
        hs_value *v = own(fs, sizeof(*v));
        if (!v)
            return false;
        *v = *src->typed;
        v->items = NULL;
        v->count = 0;
        if (v->type == HS_VALUE_STRING && src->typed->str &&
            !(v->str = own_bytes(fs, src->typed->str, src->typed->len)))
            return false;
        dst->typed = v;
    }
    if (src->nsub) {
        hs_cond *sub = own(fs, src->nsub * sizeof(*sub));
        if (!sub)
            return false;
        for (size_t i = 0; i < src->nsub; i++)
            if (!copy_cond(fs, &sub[i], &src->sub[i]))
                return false;
        dst->sub = sub;
    }
    return true;
}

int hs_filter_add(hs_filter_set *fs, hs_group g, const hs_cond *c, const char *where, hs_fail *f)
{
    return hs_filter_add_counted(fs, g, c, 0, where, f);
}

int hs_filter_add_counted(hs_filter_set *fs, hs_group g, const hs_cond *c, size_t counted,
                          const char *where, hs_fail *f)
{
    if (empty_key(c, 1))
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s: key must not be empty", where);
    size_t n = counted ? counted : nodes(c, 1);
    if (fs->n + n > HS_FILTER_MAX_CONDITIONS)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    if (fs->nc[g] == fs->cap[g]) {
        size_t cap = fs->cap[g] ? fs->cap[g] * 2 : 4;
        hs_cond *nc = realloc(fs->c[g], cap * sizeof(*nc));
        if (!nc)
            return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
        fs->c[g] = nc;
        fs->cap[g] = cap;
    }
    hs_cond *d = &fs->c[g][fs->nc[g]];
    if (!copy_cond(fs, d, c))
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    fs->nc[g]++;
    fs->n += n;
    sync_where(fs);
    return 0;
}

int hs_filter_add_match(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        const char *value, size_t value_len, const char *where, hs_fail *f)
{
    hs_cond c = {.kind = HS_COND_MATCH, .key = key, .key_len = key_len,
                 .value = value ? value : "", .value_len = value_len};
    return hs_filter_add(fs, g, &c, where, f);
}

int hs_filter_add_range(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        bool has_gte, int64_t gte, bool has_lte, int64_t lte, const char *where,
                        hs_fail *f)
{
    hs_cond c = {.kind = HS_COND_RANGE, .key = key, .key_len = key_len, .has_gte = has_gte,
                 .gte = gte, .has_lte = has_lte, .lte = lte};
    return hs_filter_add(fs, g, &c, where, f);
}

bool hs_filter_empty(const hs_filter_set *fs) { return hs_where_empty(&fs->where); }

int hs_filter_accept(void *ctx, const hs_point_view *p)
{
    const hs_filter_set *fs = ctx;
    return hs_where_match(&fs->where, p);
}

void hs_filter_apply(const hs_filter_set *fs, hs_search_opts *opts)
{
    if (fs->n == 0)
        return;
    opts->where = &fs->where;
}
