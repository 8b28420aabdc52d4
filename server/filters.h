/*
 * filters.h: the conditions of one request (B4.3), evaluated by the engine (hs_where).
 *
 * A set is built from the gRPC SearchRequest (`filter` map + `filters` list, all ANDed) or from
 * the HTTP JSON forms (the same, plus the `must` / `should` / `must_not` groups), then handed to
 * the engine as an hs_where.  Conditions are copied into the set whole: keys, values, typed
 * values and the sub-conditions of trees.  What each kind means (typed Match, Range with integer
 * and float bounds, Prefix, AND / OR / NOT) is hs_cond's in include/hyperspace.h.
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
    hs_cond *c[3]; /* per group; what they point to is in `owned` */
    size_t nc[3], cap[3];
    size_t n;      /* conditions in all groups, every node of a tree counted */
    void **owned;  /* the copies: keys, values, typed values, sub-condition arrays */
    size_t nowned, capowned;
    hs_where where; /* the groups as the engine takes them */
} hs_filter_set;

void hs_filter_init(hs_filter_set *fs);
void hs_filter_free(hs_filter_set *fs);

/* Adds a copy of condition c (a leaf or a whole tree) to group g.  Fails with E_FILTER when a
 * key is empty or the set would hold more than 256 conditions (every node of a tree counts);
 * `where` names the condition in the message ("filters[2]", "filter").  Returns 0 or the
 * failure id. */
int hs_filter_add(hs_filter_set *fs, hs_group g, const hs_cond *c, const char *where,
                  hs_fail *f);
/* The same, counting c as `counted` conditions (what the client wrote, when the transport
 * expands one condition into several nodes). */
int hs_filter_add_counted(hs_filter_set *fs, hs_group g, const hs_cond *c, size_t counted,
                          const char *where, hs_fail *f);
/* The same for a Match on a string and a Range with integer bounds. */
int hs_filter_add_match(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        const char *value, size_t value_len, const char *where, hs_fail *f);
int hs_filter_add_range(hs_filter_set *fs, hs_group g, const char *key, size_t key_len,
                        bool has_gte, int64_t gte, bool has_lte, int64_t lte, const char *where,
                        hs_fail *f);

/* n zeroed bytes owned by the set, freed with it (NULL: out of memory): room for a transport
 * to build a condition tree before adding it. */
void *hs_filter_own(hs_filter_set *fs, size_t n);

/* True when a `must` condition can match nothing (a Range whose bounds admit no number): the
 * answer is empty without a search. */
bool hs_filter_empty(const hs_filter_set *fs);

/* The engine accept callback: ctx is a const hs_filter_set *. */
int hs_filter_accept(void *ctx, const hs_point_view *p);

/* Installs the set as opts' conditions (nothing when it has none). */
void hs_filter_apply(const hs_filter_set *fs, hs_search_opts *opts);

#endif /* HS_FILTERS_H */
