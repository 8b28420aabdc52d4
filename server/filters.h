/*
 * filters.h: the conditions of one request (B4.3), evaluated by the engine (hs_where).
 *
 * A set is built from the gRPC SearchRequest (`filter` map + `filters` list, all ANDed) or from
 * the HTTP JSON forms (the same, plus the `must` / `should` / `must_not` groups), then handed to
 * the engine as an hs_where.  Keys and values are copied into the set.
 * Match: the value is byte-for-byte equal.  Range: the value parses as an int64 (whole value,
 * ^[+-]?[0-9]+$) within the inclusive bounds.  A missing key never matches.
 */
#ifndef HS_FILTERS_H
#define HS_FILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyperspace.h"
#include "server/server.h"

#define HS_FILTER_MAX_CONDITIONS 256

typedef enum hs_group {
    HS_GROUP_MUST = 0,     /* every condition */
    HS_GROUP_SHOULD = 1,   /* at least one (when any) */
    HS_GROUP_MUST_NOT = 2, /* none */
} hs_group;

typedef struct hs_filter_set {
    hs_cond *c[3]; /* per group; keys and values are malloc'd copies */
    size_t nc[3], cap[3];
    size_t n;      /* conditions in all groups */
    hs_where where; /* the groups as the engine takes them */
} hs_filter_set;

void hs_filter_init(hs_filter_set *fs);
void hs_filter_free(hs_filter_set *fs);

/* Adds a condition to group g (key and value are copied).  Fails with E_FILTER when the key is
 * empty or the set already holds 256 conditions; `where` names the condition in the message
 * ("filters[2]", "filter").  Returns 0 or the failure id. */
int hs_filter_add_match(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        const char *value, size_t value_len, const char *where, hs_fail *f);
int hs_filter_add_range(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        bool has_gte, int64_t gte, bool has_lte, int64_t lte, const char *where,
                        hs_fail *f);

/* True when a `must` condition can match nothing (a Range with gte > lte): the answer is empty
 * without a search. */
bool hs_filter_empty(const hs_filter_set *fs);

/* The engine accept callback: ctx is a const hs_filter_set *. */
int hs_filter_accept(void *ctx, const hs_point_view *p);

/* Installs the set as opts' conditions (nothing when it has none). */
void hs_filter_apply(const hs_filter_set *fs, hs_search_opts *opts);

#endif /* HS_FILTERS_H */
