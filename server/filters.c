/* filters.c: request conditions (see filters.h). */
#include "server/filters.h"

#include <stdlib.h>
#include <string.h>

void hs_filter_init(hs_filter_set *fs) { memset(fs, 0, sizeof(*fs)); }

void hs_filter_free(hs_filter_set *fs)
{
    for (int g = 0; g < 3; g++) {
        for (size_t i = 0; i < fs->nc[g]; i++) {
            free((char *)fs->c[g][i].key);
            free((char *)fs->c[g][i].value);
        }
        free(fs->c[g]);
    }
    memset(fs, 0, sizeof(*fs));
}

static void sync_where(hs_filter_set *fs)
{
    fs->where = (hs_where){fs->c[0], fs->nc[0], fs->c[1], fs->nc[1], fs->c[2], fs->nc[2]};
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int add(hs_filter_set *fs, hs_group g, const char *key, size_t key_len, const char *where,
               hs_fail *f, hs_cond **out)
{
    if (key_len == 0)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: %s: key must not be empty", where);
    if (fs->n >= HS_FILTER_MAX_CONDITIONS)
        return hs_fail_set(f, HS_ERR_FILTER, "Invalid filter: more than 256 conditions");
    if (fs->nc[g] == fs->cap[g]) {
        size_t cap = fs->cap[g] ? fs->cap[g] * 2 : 4;
        hs_cond *nc = realloc(fs->c[g], cap * sizeof(*nc));
        if (!nc)
            return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
        fs->c[g] = nc;
        fs->cap[g] = cap;
    }
    hs_cond *c = &fs->c[g][fs->nc[g]];
    memset(c, 0, sizeof(*c));
    if (!(c->key = dup_bytes(key, key_len)))
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    c->key_len = key_len;
    fs->nc[g]++;
    fs->n++;
    sync_where(fs);
    *out = c;
    return 0;
}

int hs_filter_add_match(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        const char *value, size_t value_len, const char *where, hs_fail *f)
{
    hs_cond *c;
    if (add(fs, g, key, key_len, where, f, &c))
        return f->id;
    c->kind = HS_COND_MATCH;
    if (!(c->value = dup_bytes(value, value_len)))
        return hs_fail_set(f, HS_ERR_NO_MEMORY, "Out of memory");
    c->value_len = value_len;
    return 0;
}

int hs_filter_add_range(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        bool has_gte, int64_t gte, bool has_lte, int64_t lte, const char *where,
                        hs_fail *f)
{
    hs_cond *c;
    if (add(fs, g, key, key_len, where, f, &c))
        return f->id;
    c->kind = HS_COND_RANGE;
    c->has_gte = has_gte;
    c->gte = gte;
    c->has_lte = has_lte;
    c->lte = lte;
    return 0;
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
