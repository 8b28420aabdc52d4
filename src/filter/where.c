/* where.c: conditions evaluated against stored metadata (see filter.h). */
#include <limits.h>
#include <string.h>

#include "filter/filter.h"
#include "util/error.h"
#include "util/meta.h"
#include "util/numfmt.h"

static bool value_matches(const hs_cond *c, const char *v, uint32_t vl)
{
    if (c->kind == HS_COND_MATCH)
        return vl == c->value_len && (vl == 0 || !memcmp(v, c->value, vl));
    int64_t n;
    return hs_parse_int64(v, vl, &n) && (!c->has_gte || n >= c->gte) &&
           (!c->has_lte || n <= c->lte);
}

typedef struct key_probe {
    const hs_cond *c;
    int state; /* 0: key absent, 1: its value matches, 2: it does not */
} key_probe;

static int probe_entry(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    key_probe *kp = ctx;
    if (kl != kp->c->key_len || memcmp(k, kp->c->key, kl))
        return 0;
    kp->state = value_matches(kp->c, v, (uint32_t)vl) ? 1 : 2;
    return 1; /* keys are unique */
}

/* mem: the stored form, [u32 len][u32 count] entries (NULL = no metadata) */
bool hs_cond_match_blob(const hs_cond *c, const uint8_t *mem)
{
    key_probe kp = {c, 0};
    hs_meta_each_stored(mem, probe_entry, &kp);
    return kp.state == 1;
}

int hs_where_empty(const hs_where *w)
{
    for (size_t i = 0; i < w->nmust; i++) {
        const hs_cond *c = &w->must[i];
        if (c->kind == HS_COND_RANGE && c->has_gte && c->has_lte && c->gte > c->lte)
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

static int check_list(const hs_cond *c, size_t n, const char *group, hs_error *err)
{
    for (size_t i = 0; i < n; i++) {
        hs_reason why = c[i].kind != HS_COND_MATCH && c[i].kind != HS_COND_RANGE ? HS_REASON_UNKNOWN
                        : c[i].key_len == 0                                     ? HS_REASON_EMPTY
                                                                                : HS_REASON_NONE;
        if (why == HS_REASON_NONE)
            continue;
        hs_error_set(err, HS_EFILTER, why == HS_REASON_UNKNOWN
                                          ? "Invalid filter: %s[%zu] has an unknown kind"
                                          : "Invalid filter: %s[%zu]: key must not be empty",
                     group, i);
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
